"""A real browser on the real studio: train, reload and stay attached, stop, resume, finish."""

from __future__ import annotations

import time

import pytest

from core.bench.browser import fill_until_shown
from core.history import History
from tests.studio.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def _plot_points(page) -> int:
    """Points drawn in the loss panel of the Plotly figure (0 before the first log)."""
    return page.evaluate("""() => {
        const plot = document.querySelector('#train-plot .js-plotly-plot');
        if (!plot || !plot.data) return 0;
        const loss = plot.data.find(t => t.name === 'loss');
        return loss ? loss.x.length : 0;
    }""")


def _wait(page, predicate, timeout=60, what=""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "browser-failure.png"), full_page=True)
    raise AssertionError(f"timed out waiting for {what}")


def _status(ws, name):
    with History(ws.db_path) as h:
        run = h.get_run(name)
    return run.status if run else None


def test_train_reload_stop_resume_finish(studio, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(studio.url)
    page.click("#tab-train-button")
    page.wait_for_selector("#train-start")
    page.fill("#train-name textarea, #train-name input", "browser-run")
    # Long enough to interrupt (300 steps of tiny, logged every 5), short enough to finish.
    page.click("text=Training settings")
    fill_until_shown(page, "#train-training-max-steps input", "300", ["training.max_steps=300"])
    page.click("#train-start")
    _wait(page, lambda: _status(studio.workspace, "browser-run") == "running", what="run started")
    _wait(page, lambda: _plot_points(page) >= 2, what="loss points in the plot")
    page.screenshot(path=str(ARTIFACTS / "train-live.png"), full_page=True)

    page.reload()
    page.click("#tab-train-button")
    _wait(page, lambda: "browser-run" in (page.input_value("#train-run input") or ""), what="re-attached after reload")
    first = _plot_points(page)
    _wait(
        page,
        lambda: _plot_points(page) > first or _status(studio.workspace, "browser-run") == "finished",
        what="plot continues after reload",
    )

    page.click("#train-stop")
    _wait(page, lambda: _status(studio.workspace, "browser-run") == "stopped", what="stopped")
    _wait(page, lambda: page.query_selector("#run-status-stopped") is not None, what="stopped badge")
    page.screenshot(path=str(ARTIFACTS / "train-stopped.png"), full_page=True)

    studio.restart()  # a new studio process finds the run in SQLite
    page.goto(studio.url)
    page.click("#tab-train-button")
    _wait(page, lambda: "browser-run" in (page.input_value("#train-run input") or ""), what="attached after restart")
    page.click("#train-resume")
    _wait(page, lambda: _status(studio.workspace, "browser-run") in ("finished",), timeout=240, what="finished")
    _wait(page, lambda: page.query_selector("#run-status-finished") is not None, what="finished badge")
    page.screenshot(path=str(ARTIFACTS / "train-finished.png"), full_page=True)
