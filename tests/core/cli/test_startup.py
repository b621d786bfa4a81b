"""A fast CLI: building the parser (`babyllama --help`) and `runs list` import none of the heavy
packages, checked in fresh processes; and the start-up bench's parsing and report. Timing is the
bench's job (`python -m benchmarks.cli_startup`), never a test's: a busy machine would make it flaky.

Before the lazy imports, the parser imported torch (bench eval, serve defaults), and every verb
that opens the history imported pandas through sqlite_utils (the history now opens with sqlite3
alone): both tests below failed then.
"""

from __future__ import annotations

import pytest

from benchmarks import run
from benchmarks.cli_startup import HEAVY, PARSER_CODE, format_report, heavy_modules, main, parse_importtime


def test_parser_imports_no_heavy_package():
    assert heavy_modules(PARSER_CODE) == []


def test_runs_list_imports_no_heavy_package(tmp_path):
    code = f"from core.cli import main; assert main(['runs', 'list', '--workspace', {str(tmp_path)!r}]) == 0"
    assert heavy_modules(code) == []


def test_the_check_sees_a_heavy_import():
    # The check itself must be able to fail: a process that imports plotly is reported.
    assert "plotly" in HEAVY and heavy_modules("import plotly") == ["plotly"]


def test_parse_importtime_sums_self_times_per_package():
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       120 |        120 |     yaml.error\n"
        "import time:      3000 |       3120 |   yaml\n"
        "import time:        50 |       3170 | core.config\n"
        "something else on stderr\n"
    )
    assert parse_importtime(text) == {"yaml": 3120, "core": 50}


def test_report_names_commands_offenders_and_verdict():
    cmd = {"median_s": 0.4, "min_s": 0.3, "max_s": 0.5, "cpu_median_s": 0.2, "samples_s": [0.4]}
    result = {
        "date": "2026-12-02 17:00 UTC",
        "cpu": "Xeon",
        "cpu_count": 2,
        "load_avg_1m": 1.0,
        "python": "3.11.7",
        "runs": 1,
        "target_s": 1.0,
        "meets_target": True,
        "commands": {"python": cmd, "help": cmd, "runs_list": {**cmd, "median_s": 0.9}},
        "import_offenders": {"help": [{"package": "yaml", "ms": 40.0}], "runs_list": [{"package": "numpy", "ms": 90.0}]},
        "heavy_modules": {"help": [], "runs_list": ["pandas"]},
    }
    text = format_report(result)
    assert "babyllama --help" in text and "0.900 s" in text and "numpy 90" in text
    assert "heavy packages loaded: pandas" in text and "meet the 1 s target" in text


@pytest.mark.parametrize("flag", ["--runs", "--top"])
def test_startup_bench_rejects_counts_below_one(capsys, flag):
    assert run(main, [flag, "0"]) == 2
    assert f"{flag}: 0 must be at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_startup_bench_json_end_to_end(capsys):
    import json

    assert main(["--runs", "1", "--top", "3", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["commands"]) == {"python", "help", "runs_list"}
    assert all(c["median_s"] > 0 for c in result["commands"].values())
    assert len(result["import_offenders"]["help"]) == 3 and result["heavy_modules"] == {"help": [], "runs_list": []}
