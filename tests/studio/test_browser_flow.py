"""A real browser from an empty workspace: synthetic corpus -> tokenizer -> tiny training run, tab by tab."""
from __future__ import annotations

import subprocess
import time
from types import SimpleNamespace

import pytest

from core.history import History
from tests.studio.conftest import ARTIFACTS, fill_until_used, start_studio

pytestmark = pytest.mark.browser

TYPED = "Where is the big red ball? The cat saw it."


@pytest.fixture
def empty_studio(workspace, tmp_path):
    """The studio as a subprocess over an EMPTY workspace (no corpus, no tokenizer, no runs)."""
    assert not workspace.corpora() and not workspace.tokenizers()
    log = tmp_path / "studio.log"
    proc, url = start_studio(workspace.root, log)
    yield SimpleNamespace(url=url, workspace=workspace, log=log)
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def _wait(page, predicate, timeout=120, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "flow-failure.png"), full_page=True)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _text(page, selector) -> str:
    node = page.query_selector(selector)
    return node.inner_text() if node else ""


def _choose(page, elem_id: str, value: str) -> None:
    """Open dropdown `#elem_id` (its focus handler may refresh the choices) and pick `value`."""
    page.click(f"#{elem_id} input")
    page.locator(f'[role=option][aria-label="{value}"]').click(timeout=30_000)
    _wait(page, lambda: page.input_value(f"#{elem_id} input") == value, 30, f"{value!r} in #{elem_id}")


def _first_column(page, elem_id: str) -> list[str]:
    """The first column of a Gradio Dataframe's body cells (the header row is separate)."""
    return page.evaluate(f"""() => Array.from(document.querySelectorAll('#{elem_id} [role=gridcell][data-col="0"]'))
        .map(cell => cell.innerText.trim())""")


def _plot_points(page) -> int:
    return page.evaluate("""() => {
        const plot = document.querySelector('#train-plot .js-plotly-plot');
        const loss = plot && plot.data ? plot.data.find(t => t.name === 'loss') : null;
        return loss ? loss.x.length : 0;
    }""")


def _no_problems(page, where: str) -> None:
    """No toast (error or warning) and no traceback on the page."""
    toasts = page.locator('[data-testid="toast-body"]')
    assert toasts.count() == 0, f"{where}: toast shown: {toasts.all_inner_texts()}"
    assert "Traceback" not in page.inner_text("body"), f"{where}: a traceback is shown"


def _status(ws, name):
    with History(ws.db_path) as h:
        run = h.get_run(name)
    return run["status"] if run else None


def test_empty_workspace_to_trained_model(empty_studio, browser):
    ws = empty_studio.workspace
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(empty_studio.url)

    # 1. Data: a small synthetic corpus as a background job; the table and the picker get it.
    page.click("#tab-data-button")
    page.wait_for_selector("#data-syn-start")
    page.fill("#data-syn-name textarea, #data-syn-name input", "syn")
    page.fill("#data-syn-words input", "30000")
    page.click("#data-syn-complexity label:has-text('medium')")
    page.click("#data-syn-start")
    _wait(page, lambda: "finished" in _text(page, "#data-status"), what="prepare job finished")
    _wait(page, lambda: "syn" in _first_column(page, "data-corpora"), 30, what="syn in the corpora table")
    _wait(page, lambda: page.input_value("#data-corpus input") == "syn", 30, what="syn selected")
    _wait(page, lambda: "synthetic:medium" in _text(page, "#data-summary"), 30, what="corpus summary")
    assert ws.corpora() == ["syn"]
    _no_problems(page, "data tab")
    page.screenshot(path=str(ARTIFACTS / "flow-1-data.png"), full_page=True)

    # 2. Tokenizer: the corpus list was empty at page load; opening the dropdown refreshes it.
    page.click("#tab-tokenizer-button")
    page.wait_for_selector("#tokenizer-start")
    _choose(page, "tokenizer-corpus", "syn")
    page.fill("#tokenizer-vocab input", "500")
    # Changing corpus and vocab suggests a name: let it land before typing ours over it.
    _wait(page, lambda: page.input_value("#tokenizer-name textarea, #tokenizer-name input") == "syn-bpe500",
          30, what="suggested tokenizer name")
    page.fill("#tokenizer-name textarea, #tokenizer-name input", "tok")
    page.click("#tokenizer-start")
    _wait(page, lambda: "finished" in _text(page, "#tokenizer-status"), what="tokenize job finished")
    _wait(page, lambda: page.input_value("#tokenizer-pick input") == "tok", 30, what="tok picked")
    assert ws.tokenizers() == ["tok"]

    # The live view: coloured spans, one per token, that tile the typed text exactly. Picking `tok`
    # first shows the sample text; wait for that view, else its late answer can overwrite the typed
    # text's (picker.change and text.change are separate events writing the same outputs).
    pieces = lambda: page.evaluate("""() => Array.from(document.querySelectorAll('#tokenizer-tokens .tok'))
        .map(s => s.firstElementChild.textContent)""")
    _wait(page, lambda: "".join(pieces()) == page.input_value("#tokenizer-text textarea"), 30, what="sample tokens")
    page.fill("#tokenizer-text textarea", "")
    page.locator("#tokenizer-text textarea").press_sequentially(TYPED, delay=20)
    _wait(page, lambda: "".join(pieces()) == TYPED, 30, what="tokens of the typed text")
    colours = page.evaluate("""() => new Set(Array.from(document.querySelectorAll('#tokenizer-tokens .tok'))
        .map(s => getComputedStyle(s).backgroundColor)).size""")
    assert len(pieces()) >= 5 and colours >= 2
    assert f"{len(pieces())} tokens" in _text(page, "#tokenizer-text-stats")
    _no_problems(page, "tokenizer tab")
    page.screenshot(path=str(ARTIFACTS / "flow-2-tokenizer.png"), full_page=True)

    # 3. Train: opening its dropdowns lists the corpus and tokenizer just made (no reload).
    page.click("#tab-train-button")
    page.wait_for_selector("#train-start")
    _choose(page, "train-corpus", "syn")
    _choose(page, "train-tokenizer", "tok")
    page.fill("#train-name textarea, #train-name input", "flow-run")
    page.click("text=Training settings")
    fill_until_used(page, "#train-training-max-steps input", "30", "training.max_steps=30")
    page.click("#train-start")
    _wait(page, lambda: "flow-run" in (page.input_value("#train-run input") or ""), 60, what="run selected")
    _wait(page, lambda: _plot_points(page) >= 2 or _status(ws, "flow-run") == "finished", what="loss points")
    page.screenshot(path=str(ARTIFACTS / "flow-3-train-live.png"), full_page=True)
    _wait(page, lambda: page.query_selector("#run-status-finished") is not None, 180, what="finished badge")
    assert _status(ws, "flow-run") == "finished"
    with History(ws.db_path) as h:
        assert h.get_run("flow-run")["config"]["training"]["max_steps"] == 30
    assert _plot_points(page) == 6  # tiny logs every 5 steps: 5, 10, ..., 30
    _no_problems(page, "train tab")
    page.screenshot(path=str(ARTIFACTS / "flow-4-train-finished.png"), full_page=True)
