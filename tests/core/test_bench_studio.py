"""core.bench.studio: run figures from history rows, the run order, the CLI, and (slow, browser) a
real tiny bench: one CLI run and one studio run with chromium polling the plot."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from core.bench import studio as bench_studio
from core.bench.studio import StudioBenchOptions, format_report, run_figures, run_studio_bench
from core.cli import bench_studio_cmds
from core.history import History

ROOT_ARTIFACTS = bench_studio.ROOT / "test-artifacts"
KEYS = ("cli_tokens_per_s", "studio_tokens_per_s", "ratio", "plot_latency_s", "studio_server_cores", "browser_cores")


def _parser():
    parser = argparse.ArgumentParser(prog="babyllama")
    bench_studio_cmds.register(parser.add_subparsers(dest="verb", required=True))
    return parser


def test_cli_defaults_and_options(capsys):
    args = _parser().parse_args(["bench", "studio"])
    # Unset flags parse as None, so StudioBenchOptions' defaults apply; --help shows them.
    assert (args.preset, args.steps, args.rounds, args.refresh, args.json) == (None, None, None, None, False)
    with pytest.raises(SystemExit):
        _parser().parse_args(["bench", "studio", "--help"])
    usage = " ".join(capsys.readouterr().out.split())
    assert "(default llama-10M)" in usage and "(default 100)" in usage and "(default 1)" in usage
    args = _parser().parse_args(["bench", "studio", "--preset", "tiny", "--steps", "7", "--json", "--workspace", "w"])
    assert (args.preset, args.steps, args.json, args.workspace) == ("tiny", 7, True, "w")


def test_bench_studio_is_in_the_full_cli():
    from core.cli import build_parser

    args = build_parser().parse_args(["bench", "studio", "--rounds", "2"])
    assert args.func is bench_studio_cmds._cmd_studio and args.rounds == 2


def test_rounds_alternate_so_drift_favours_neither_side():
    assert bench_studio._order(1) == ["cli", "studio"]
    assert bench_studio._order(2) == ["cli", "studio", "studio", "cli"]


def test_steps_and_rounds_must_be_positive(workspace):
    from core.errors import UserError

    with pytest.raises(UserError, match="--steps"):
        run_studio_bench(StudioBenchOptions(steps=0), workspace)


def test_run_figures_skip_the_first_window(workspace):
    with History(workspace.db_path) as h:
        h.create_run("r", "train", {"model": {"name": "r"}}, workspace.run_dir("r"))
        for step, rate, t in ((5, 100.0, 10.0), (10, 400.0, 11.0), (15, 600.0, 12.0), (20, 500.0, 14.0)):
            h.log_metrics("r", step, {"loss": 1.0, "tokens_per_s": rate}, tokens=step * 64, time=t)
    figures = run_figures(workspace, "r")
    assert figures["tokens_per_s"] == 500.0  # median of 400, 600, 500: the set-up window is left out
    assert figures["span_tokens_per_s"] == pytest.approx((20 - 5) * 64 / 4.0)
    assert [r["step"] for r in figures["loss_rows"]] == [5, 10, 15, 20] and figures["steps"] == 20


def test_configs_must_match_apart_from_the_name():
    a = {"model": {"name": "a", "n_layer": 2}, "training": {"seed": 1}}
    b = {"model": {"name": "b", "n_layer": 2}, "training": {"seed": 1}}
    c = {"model": {"name": "c", "n_layer": 2}, "training": {"seed": 2}}
    assert bench_studio._same_config({"cli": [{"config": a}], "studio": [{"config": b}]})
    assert not bench_studio._same_config({"cli": [{"config": a}], "studio": [{"config": c}]})


@pytest.mark.slow
@pytest.mark.browser
def test_tiny_bench_runs_both_sides_and_sees_rows_in_the_plot(workspace):
    pytest.importorskip("playwright.sync_api")
    if shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    ROOT_ARTIFACTS.mkdir(exist_ok=True)
    shot = ROOT_ARTIFACTS / "bench-studio.png"
    shot.unlink(missing_ok=True)
    result = run_studio_bench(StudioBenchOptions(preset="tiny", steps=10, screenshot=shot), workspace, log=print)
    assert set(KEYS) <= set(result)
    json.loads(json.dumps(result))  # --json prints it as one object
    assert result["cli_steps"] == result["studio_steps"] == [10]
    assert result["cli_tokens_per_s"] > 0 and result["studio_tokens_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["studio_tokens_per_s"] / result["cli_tokens_per_s"])
    assert result["plot_rows_seen"] >= 1 and len(result["plot_latencies_s"]) == result["plot_rows_seen"]
    assert result["plot_rows_seen"] <= result["plot_rows_logged"] == 2  # tiny logs every 5 steps
    assert result["plot_latency_s"] > 0  # seen after it was logged, never before
    assert result["same_config"] and "--model_name bench-studio-1" in result["studio_command"]
    assert result["vocab_size"] > 4 and shot.is_file()
    assert "ratio studio / CLI" in format_report(result)
    assert result["studio_server_cores"] > 0 and result["browser_cores"] > 0  # both polled the whole run
    assert result["studio_helper_cores"] == pytest.approx(result["studio_server_cores"] + result["browser_cores"])
    assert "studio server CPU" in format_report(result) and "browser CPU" in format_report(result)


def test_helper_cpu_splits_the_studio_server_from_the_browser():
    assert bench_studio.helper_side(["/venv/bin/python", "/repo/launch.py", "--port", "7860"]) == "server"
    assert bench_studio.helper_side(["/usr/lib/chromium/chromium", "--headless", "--type=renderer"]) == "browser"
    assert bench_studio.helper_side(["node", "/venv/playwright/driver/package/cli.js", "run-driver"]) == "browser"
    assert bench_studio.helper_side(["/venv/bin/python", "-m", "core.jobs.worker", "--run", "r"]) is None
    cpu = bench_studio.helper_cpu_seconds()  # this test process has no studio children: zeros per side
    assert set(cpu) == {"server", "browser"} and all(v >= 0 for v in cpu.values())


def test_bench_studio_modules_import_neither_gradio_nor_playwright():
    import subprocess
    import sys

    code = (
        "import sys, core.bench.studio, core.bench.page, core.bench.browser, core.cli.bench_studio_cmds; "
        "print(sorted({'gradio', 'studio', 'playwright', 'torch'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=bench_studio.ROOT
    ).stdout.strip()
    assert out == "[]"


def test_refresh_choices_match_the_train_tab_and_are_checked(workspace):
    from core.bench.page import REFRESH_LABELS
    from core.errors import UserError
    from studio.tabs.train_dashboard import REFRESH_CHOICES, refresh_interval

    assert REFRESH_LABELS == {seconds: label for label, seconds in REFRESH_CHOICES}
    assert _parser().parse_args(["bench", "studio", "--refresh", "5"]).refresh == 5.0
    with pytest.raises(UserError, match="--refresh"):
        run_studio_bench(StudioBenchOptions(refresh=2.0), workspace)
    assert refresh_interval(30.0) == 30.0 and refresh_interval(None) == 1.0
