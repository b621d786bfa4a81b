"""A real browser on two runs with real BabyLM evaluations: Compare's scoreboard lists a row per
evaluated run or checkpoint, and its figure draws each run against words seen."""

from __future__ import annotations

import pytest

from core.bench.browser import start_studio, stop_studio
from studio.context import StudioContext
from tests.core.evaluate.babylm_fixtures import write_evaluation_data
from tests.studio.conftest import ARTIFACTS
from tests.studio.test_babylm_board import babylm_eval, fake_run

pytestmark = pytest.mark.browser


def _cells(page, col: int) -> list[str]:
    return page.evaluate(f"""() => Array.from(document.querySelectorAll(
        '#compare-babylm-table [role=gridcell][data-col="{col}"]')).map(cell => cell.innerText.trim())""")


def _traces(page) -> list[list]:
    return page.evaluate("""() => {
        const plot = document.querySelector('#compare-babylm-plot .js-plotly-plot');
        return plot && plot.data ? plot.data.map(t => [t.name, t.x]) : [];
    }""")


def test_babylm_scoreboard_in_the_browser(workspace, browser, tmp_path):
    ctx = StudioContext(workspace)
    write_evaluation_data(workspace.root)
    for name, words_per_step in (("small", 100), ("big", 300)):
        fake_run(ctx, name, words_per_step=words_per_step)
        babylm_eval(ctx, f"{name}/checkpoint-5")
        babylm_eval(ctx, name)
    proc, url = start_studio(workspace.root, tmp_path / "studio.log")
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        page.goto(url)
        page.click("#tab-compare-button")
        page.wait_for_selector("#compare-babylm-table [role=gridcell]", timeout=60_000)
        # Nothing selected: every evaluated run, newest run first, each evaluation oldest first.
        assert _cells(page, 0) == ["big", "big", "small", "small"]
        assert _cells(page, 1) == ["checkpoint-5", "main"] * 2
        assert _cells(page, 3) == ["1,500", "3,000", "500", "1,000"]
        page.wait_for_function("() => document.querySelector('#compare-babylm-plot .js-plotly-plot')", timeout=30_000)
        traces = _traces(page)
        assert {name for name, _ in traces} == {"big", "small"} and len(traces) == 4  # 2 runs x 2 tasks
        assert [1500, 3000] in [x for name, x in traces if name == "big"]
        page.locator("#compare-babylm").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "compare-babylm-scoreboard.png"), full_page=True)
        assert page.locator('[data-testid="toast-body"]').count() == 0
    finally:
        stop_studio(proc)
