"""A real browser on two finished runs (made through core): Compare overlays and diffs them, Chat asks both."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from core import config, jobs
from core.bench.browser import start_studio, stop_studio, text_of
from core.config import presets
from core.history import FINAL, History
from tests.studio.conftest import ARTIFACTS

pytestmark = pytest.mark.browser

RUN_ARGS = [
    "data.train_path=syn",
    "data.tokenizer_path=tok",
    "training.max_steps=20",
    "training.logging_steps=5",
    "training.eval_steps=0",
    "training.save_steps=0",
]
LRS = {"a": "1e-3", "b": "3e-3"}


@pytest.fixture
def two_runs_studio(ready_workspace, tmp_path):
    """Runs `a` and `b` (tiny, 20 steps, different lr) finished through core, then the studio over them."""
    ws = ready_workspace
    with History(ws.db_path) as h:
        for name, lr in LRS.items():
            cfg = config.load(presets.find("tiny"), [*RUN_ARGS, f"training.lr={lr}"])
            jobs.start("train", cfg, ws, h, name=name)
        deadline = time.monotonic() + 240
        while not all(jobs.refresh(h, n).status in FINAL for n in LRS):
            assert time.monotonic() < deadline, [jobs.refresh(h, n) for n in LRS]
            time.sleep(0.3)
        runs = {n: jobs.refresh(h, n) for n in LRS}
    assert all(r.status == "finished" for r in runs.values()), {n: r.error for n, r in runs.items()}
    log = tmp_path / "studio.log"
    proc, url = start_studio(ws.root, log)
    yield SimpleNamespace(url=url, workspace=ws, log=log)
    stop_studio(proc)


def _wait(page, predicate, timeout=120, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "compare-chat-failure.png"), full_page=True)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def _column(page, elem_id: str, col: int = 0) -> list[str]:
    """One column of a Gradio Dataframe's body cells (the header row is separate)."""
    return page.evaluate(f"""() => Array.from(document.querySelectorAll(
        '#{elem_id} [role=gridcell][data-col="{col}"]')).map(cell => cell.innerText.trim())""")


def _tokens(page, elem_id: str) -> list[str]:
    """The values chosen in a multiselect dropdown (its tokens)."""
    return [t.strip() for t in page.locator(f"#{elem_id} .token").all_inner_texts()]


def _add(page, elem_id: str, value: str) -> None:
    """Add `value` to multiselect `#elem_id` unless it is already chosen."""
    if value in _tokens(page, elem_id):
        return
    box = page.locator(f"#{elem_id} input")
    box.evaluate("e => e.blur()")  # the options open on focus: a still-focused box would stay shut
    box.click()
    page.locator(f'[role=option][aria-label="{value}"]').click(timeout=30_000)
    box.evaluate("e => e.blur()")
    _wait(page, lambda: value in _tokens(page, elem_id), 30, what=f"{value!r} chosen in #{elem_id}")


def _traces(page) -> list[tuple[str, int]]:
    return page.evaluate("""() => {
        const plot = document.querySelector('#compare-plot .js-plotly-plot');
        return plot && plot.data ? plot.data.map(t => [t.name, (t.x || []).length]) : [];
    }""")


def _answer(page, pane: int) -> str:
    bots = page.locator(f"#chat-pane-{pane} [data-testid=bot]")
    return bots.last.inner_text().strip() if bots.count() else ""


def _no_problems(page, where: str) -> None:
    """No toast (error or warning) and no traceback on the page."""
    toasts = page.locator('[data-testid="toast-body"]')
    assert toasts.count() == 0, f"{where}: toast shown: {toasts.all_inner_texts()}"
    assert "Traceback" not in page.inner_text("body"), f"{where}: a traceback is shown"


def test_compare_and_chat_two_runs(two_runs_studio, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(two_runs_studio.url)

    # Compare: both runs in the table, both selected -> two curves named after them, lr differs.
    page.click("#tab-compare-button")
    page.wait_for_selector("#compare-runs")
    _wait(page, lambda: sorted(_column(page, "compare-runs")) == ["a", "b"], 60, what="runs a and b in the table")
    assert _column(page, "compare-runs", 1) == ["finished", "finished"]
    assert _column(page, "compare-runs", 4) == ["20/20", "20/20"]
    _add(page, "compare-select", "a")
    _add(page, "compare-select", "b")
    _wait(page, lambda: [n for n, _ in _traces(page)] == ["a", "b"], 60, what="overlay traces a and b")
    assert all(points == 4 for _, points in _traces(page)), _traces(page)  # loss at steps 5, 10, 15, 20
    _wait(page, lambda: "training.lr" in _column(page, "compare-diff"), 30, what="training.lr in the config diff")
    assert _column(page, "compare-diff") == ["training.lr"]  # the only difference
    assert _column(page, "compare-diff", 1) == ["0.001"] and _column(page, "compare-diff", 2) == ["0.003"]
    _no_problems(page, "compare tab")
    page.screenshot(path=str(ARTIFACTS / "compare-two-runs.png"), full_page=True)

    # Chat: both models, one prompt, Send -> an answer in each pane.
    page.click("#tab-chat-button")
    page.wait_for_selector("#chat-send")
    _wait(page, lambda: bool(_tokens(page, "chat-models")), 60, what="a model preselected")
    _add(page, "chat-models", "a")
    _add(page, "chat-models", "b")
    page.wait_for_selector("#chat-pane-2", state="visible", timeout=30_000)
    page.fill("#chat-prompt textarea", "The little cat")
    page.click("#chat-send")
    _wait(page, lambda: _answer(page, 1) and _answer(page, 2), what="answers in both panes")
    _wait(page, lambda: text_of(page, "#chat-status").strip().startswith("Done."), what="generation done")
    for pane in (1, 2):
        user = page.locator(f"#chat-pane-{pane} [data-testid=user]").all_inner_texts()
        assert [u.strip() for u in user] == ["The little cat"], user
        assert _answer(page, pane)
    labels = page.locator("#chat-pane-1 [data-testid=block-label], #chat-pane-2 [data-testid=block-label]")
    assert sorted(t.strip() for t in labels.all_inner_texts()) == ["a", "b"]
    _no_problems(page, "chat tab")
    page.screenshot(path=str(ARTIFACTS / "chat-two-models.png"), full_page=True)
