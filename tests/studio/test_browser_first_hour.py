"""The first hour in a real browser: the first loss point is drawn (a marker, on round ticks), and
after Start here every tab's list shows what the chain made, without a reload."""

from __future__ import annotations

import os
import time

import pytest

from core import jobs
from core.bench.browser import start_studio, stop_studio, text_of
from core.history import History
from tests.studio.conftest import ARTIFACTS
from tests.studio.test_browser_train import _wait

pytestmark = pytest.mark.browser
FIRST_LOSS = 5.981946563720702  # the value the first-hour report saw printed as an axis label


def _markers(page) -> int:
    """Marker points plotly drew in the loss panel (the first subplot)."""
    return page.evaluate("""() => {
        const plot = document.querySelector('#train-plot .js-plotly-plot');
        if (!plot) return 0;
        const trace = [...plot.querySelectorAll('.subplot.xy .scatterlayer .trace')][0];
        return trace ? trace.querySelectorAll('.points path.point').length : 0;
    }""")


def _y_ticks(page) -> list[str]:
    return page.evaluate("""() => [...document.querySelectorAll(
        '#train-plot .js-plotly-plot .subplot.xy .yaxislayer-above .ytick text')].map(t => t.textContent)""")


def test_one_logged_point_shows_as_a_marker_with_round_ticks(workspace, browser, tmp_path):
    """A live run (this test's own process plays its worker) with one point, then a second one:
    the first is drawn on a range around it, and the range follows once the curve has a span."""
    run_dir = workspace.run_dir("one-point")
    run_dir.mkdir(parents=True)
    with History(workspace.db_path) as h:
        h.create_run("one-point", "train", {}, run_dir)
        h.log_metrics("one-point", 5, {"loss": FIRST_LOSS, "lr": 0.0})
        h.set_status(
            "one-point", "running", pid=os.getpid(), pid_started=jobs.process_start_time(os.getpid()), heartbeat=time.time()
        )
    proc, url = start_studio(workspace.root, tmp_path / "studio.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)
        page.click("#tab-train-button")
        _wait(page, lambda: _markers(page) >= 1, what="a marker for the one loss point")
        page.screenshot(path=str(ARTIFACTS / "first-point.png"), full_page=True)
        ticks = _y_ticks(page)
        assert len(ticks) >= 2 and all(len(t) <= 5 for t in ticks), ticks
        assert str(FIRST_LOSS) not in page.inner_text("#train-plot")
        with History(workspace.db_path) as h:
            h.log_metrics("one-point", 10, {"loss": 3.0, "lr": 0.001})
        _wait(
            page,
            lambda: any(_number(t) <= 3.0 for t in _y_ticks(page)),
            what="the loss axis growing to the second point (no range left from the first)",
        )
    finally:
        with History(workspace.db_path) as h:
            h.set_status("one-point", "stopped")
        stop_studio(proc)


def _number(tick: str) -> float:
    try:
        return float(tick.replace("−", "-"))
    except ValueError:
        return float("inf")


def test_lists_show_what_start_here_made_without_a_reload(workspace, browser, tmp_path):
    proc, url = start_studio(workspace.root, tmp_path / "studio.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(url)  # every list is empty at page load
        page.click("#start-here-button")
        _wait(
            page,
            lambda: "tiny-sample" in (page.input_value("#train-run input") or ""),
            timeout=240,
            what="Start here handing over to the Train tab",
        )
        page.click("#tab-data-button")
        _wait(page, lambda: "sample" in text_of(page, "#data-corpora"), what="the corpus in the Data tab")
        page.click("#tab-tokenizer-button")
        _wait(page, lambda: "sample-bpe2000" in text_of(page, "#tokenizer-list"), what="the tokenizer listed")
        page.click("#tab-model-button")
        page.click("#model-tokenizer input")
        _wait(
            page,
            lambda: page.locator("ul[role='listbox'] li:has-text('sample-bpe2000')").count() > 0,
            what="the tokenizer among the Model tab's choices",
        )
        page.keyboard.press("Escape")
        page.click("#tab-compare-button")
        _wait(page, lambda: "tiny-sample" in text_of(page, "#compare-runs"), what="the run in the Compare tab")
        page.screenshot(path=str(ARTIFACTS / "lists-after-start-here.png"), full_page=True)
    finally:
        with History(workspace.db_path) as h:
            if h.get_run("tiny-sample"):
                jobs.stop("tiny-sample", h, kill_after=15)
        stop_studio(proc)
