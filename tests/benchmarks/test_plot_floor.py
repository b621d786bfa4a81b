"""benchmarks.plot_floor: every update mode measured in a real headless chromium, and its command line."""

from __future__ import annotations

import pytest

from benchmarks.plot_floor import MODES, format_floor, main, measure_plot_floor
from core.bench.browser import chromium_path


def test_help_names_the_modes(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0 and "extendTraces" in capsys.readouterr().out


@pytest.mark.browser
def test_plot_floor_measures_each_update_mode(tmp_path):
    pytest.importorskip("playwright.sync_api")
    if chromium_path() is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    result = measure_plot_floor(tmp_path, seconds=2.0, log=print)
    assert list(result["cores"]) == list(MODES) and all(c >= 0 for c in result["cores"].values())
    # Redrawing the whole figure every second costs the browser more than leaving it alone.
    assert result["cores"]["react+resize"] > result["cores"]["idle"]
    assert "extend - idle" in format_floor(result)
