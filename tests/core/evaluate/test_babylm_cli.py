"""`babyllama eval --suite babylm` end to end: the official results layout, results.json's rule
record, the report's scoreboard, history rows and readable plots."""

from __future__ import annotations

import json

from PIL import Image

from core.cli import main
from core.evaluate import plots
from core.history import open_history
from tests.core.evaluate import babylm_fixtures as fx


def test_eval_babylm_writes_the_official_layout(eval_ws, tmp_path, capsys):
    data = fx.write_evaluation_data(tmp_path)
    out = tmp_path / "out"
    rc = main(
        [
            "eval",
            "r1",
            "--suite",
            "babylm",
            "--babylm-data",
            str(data),
            "--temperatures",
            "1,2",
            "--output",
            str(out),
            "--workspace",
            str(eval_ws.root),
        ]
    )
    assert rc == 0
    log = capsys.readouterr().out
    assert "mystery_task" in log and "BabyLM: blimp/blimp_filtered" in log
    base = out / "results" / "r1" / "main" / "zero_shot" / "causal"
    for task, folder in [
        ("blimp", "blimp_filtered"),
        ("blimp", "supplement_filtered"),
        ("ewok", "ewok_filtered"),
        ("entity_tracking", "entity_tracking"),
        ("wug_adj", "wug_adj_nominalization"),
        ("comps", "comps"),
    ]:
        report = (base / task / folder / "best_temperature_report.txt").read_text()
        assert report.startswith("TEMPERATURE: ") and report.endswith("\n\n")
        preds = json.loads((base / task / folder / "predictions.json").read_text())
        assert all(p["id"].startswith(uid + "_") for uid, b in preds.items() for p in b["predictions"])
    blimp = (base / "blimp" / "blimp_filtered" / "best_temperature_report.txt").read_text()
    blocks = [line for line in blimp.splitlines() if line.startswith("###")]
    assert blocks == ["### FIELD ACCURACY", "### UID ACCURACY", "### LINGUISTICS_TERM ACCURACY", "### AVERAGE ACCURACY"]
    assert "syntax/semantics: " in blimp
    wug = (base / "wug_adj" / "wug_adj_nominalization" / "best_temperature_report.txt").read_text()
    assert "### UID SPEARMAN'S RHO\navg: " in wug
    predictions = json.loads((base / "wug_adj" / "wug_adj_nominalization" / "predictions.json").read_text())
    assert "prob" in predictions["wug_adj"]["predictions"][0]
    results = json.loads((out / "results.json").read_text())
    b = results["suites"]["babylm"]
    assert "_files" not in b and b["layout"] == "results/r1/main/zero_shot/causal"
    assert b["rule"]["tokenizer_adds_bos"] is True and b["rule"]["first_token_scored"] is True
    assert b["rule"]["context_token"] == "<s>" and "first candidate wins" in b["rule"]["tie_rule"]
    assert set(b["scoreboard"]) == {
        f"{t}/{f}"
        for t, f in [
            ("blimp", "blimp_filtered"),
            ("blimp", "supplement_filtered"),
            ("ewok", "ewok_filtered"),
            ("entity_tracking", "entity_tracking"),
            ("wug_adj", "wug_adj_nominalization"),
            ("comps", "comps"),
        ]
    }
    assert all(t["temperature"] in (1.0, 2.0) for t in b["tasks"].values())
    scores = (out / "babylm_scores" / "blimp" / "blimp_filtered.jsonl").read_text().splitlines()
    assert len(scores) == 6 and json.loads(scores[0])["label"] == 0
    html = (out / "report.html").read_text()
    assert "BabyLM 2025 zero-shot (official rule)" in html and "<details>" in html
    # Run r1 trained at 32 tokens: two entity-tracking candidates are longer, scored and counted.
    assert b["trained_context"] == 32 and b["past_trained_context"] == 2
    assert b["tasks"]["entity_tracking/entity_tracking"]["past_trained_context"] == 2
    assert "Candidates longer than the trained context of 32 tokens: <b>2</b>" in html
    with open_history(eval_ws) as history:
        rows = {(r["suite"], r["name"]): r["value"] for r in history.evals("r1")}
    assert rows[("babylm", "blimp/blimp_filtered")] == b["scoreboard"]["blimp/blimp_filtered"]


def test_eval_babylm_fast_names_the_revision(eval_ws, tmp_path):
    data = fx.write_evaluation_data(tmp_path)
    out = tmp_path / "fast"
    assert (
        main(
            [
                "eval",
                "r1",
                "--suite",
                "babylm",
                "--babylm-data",
                str(data),
                "--fast",
                "--revision",
                "chck_1M",
                "--output",
                str(out),
                "--workspace",
                str(eval_ws.root),
            ]
        )
        == 0
    )
    base = out / "results" / "r1" / "chck_1M" / "zero_shot" / "causal"
    assert sorted(p.name for p in (base / "blimp").iterdir()) == ["blimp_fast"]
    assert (base / "entity_tracking" / "entity_tracking_fast" / "predictions.json").is_file()


def test_eval_babylm_without_data_is_refused_when_asked_for(eval_ws, capsys):
    rc = main(["eval", "r1", "--suite", "babylm", "--workspace", str(eval_ws.root)])
    assert rc == 2 and "--babylm-data" in capsys.readouterr().err


def test_paradigm_plots_stay_readable_at_67_paradigms(tmp_path):
    rows = [(f"paradigm_name_number_{i}_long", 0.5 + i / 200, ("morphology", "syntax", "semantics")[i % 3]) for i in range(67)]
    chart = plots.hbar_chart("67 paradigms", rows, xlabel="accuracy", ref=(0.5, "chance"), xmax=1.0)
    assert chart.width <= 800 and chart.height >= 67 * plots.ROW
    labels = [item for item in chart.items if item[0] == "text" and item[3].startswith("paradigm_name")]
    assert len(labels) == 67 and all(item[3].endswith("_long") for item in labels)  # none cut short
    ys = sorted(item[2] for item in labels)
    assert min(b - a for a, b in zip(ys, ys[1:])) >= plots.ROW  # no two labels overlap
    assert plots.save_png([chart, plots.bar_chart("small", ["a"], [1.0])], tmp_path / "p.png")
    width, height = Image.open(tmp_path / "p.png").size
    assert width <= 1400 and height == chart.height


def test_eval_babylm_scores_reading_in_the_same_run(eval_ws, tmp_path, capsys):
    from tests.core.evaluate.test_babylm_reading import write_reading_csv

    data = fx.write_evaluation_data(tmp_path)
    write_reading_csv(data / "full_eval" / "reading" / "reading_data.csv")
    out = tmp_path / "out"
    assert (
        main(
            [
                "eval",
                "r1",
                "--suite",
                "babylm",
                "--babylm-data",
                str(data),
                "--revision",
                "chck_2M",
                "--output",
                str(out),
                "--workspace",
                str(eval_ws.root),
            ]
        )
        == 0
    )
    log = capsys.readouterr().out
    assert "reading/reading_eye" in log and "contexts/s" in log
    folder = out / "results" / "r1" / "chck_2M" / "zero_shot" / "causal" / "reading"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [
            "prediction.jsonl",
            "predictions.json",
            "correlations.txt",
            "predictive_power.jsonl",
            "predictive_power_spillover.jsonl",
            "report.txt",
        ]
    )
    b = json.loads((out / "results.json").read_text())["suites"]["babylm"]
    report = (folder / "report.txt").read_text()
    assert report == (
        f"EYE TRACKING SCORE: {b['reading']['eye_tracking']:.2f}\nSELF-PACED READING SCORE: {b['reading']['self_paced']:.2f}\n"
    )
    assert b["scoreboard"]["reading/reading_spr"] == b["reading"]["self_paced"]
    assert "Reading (official rule)" in (out / "report.html").read_text()
    with open_history(eval_ws) as history:
        rows = {(r["suite"], r["name"]): r["value"] for r in history.evals("r1")}
    assert rows[("babylm", "reading/reading_eye")] == b["reading"]["eye_tracking"]


def test_a_stopped_runs_checkpoint_is_written_as_main_and_chck_keeps_its_name(eval_ws, tmp_path, make_run):
    import shutil

    from core.evaluate.plan import babylm_revision
    from core.tokenizer import load_tokenizer

    make_run(eval_ws, "stopped", load_tokenizer("tok", eval_ws))
    run_dir = eval_ws.run_dir("stopped")
    step = run_dir / "checkpoint-36"
    step.mkdir()
    for path in list(run_dir.iterdir()):
        if path.is_file() and path.name != "config.yaml":
            path.rename(step / path.name)  # no final model: the run stopped after its checkpoint at step 36
    shutil.copytree(step, run_dir / "chck_1M")
    data = fx.write_evaluation_data(tmp_path)
    for model, revision, expected in [
        ("stopped", [], "main"),
        (str(run_dir / "chck_1M"), [], "chck_1M"),
        ("stopped", ["--revision", "chck_2M"], "chck_2M"),
    ]:
        out = tmp_path / f"out-{expected}"
        assert (
            main(
                [
                    "eval",
                    model,
                    "--suite",
                    "babylm",
                    "--babylm-data",
                    str(data / "fast_eval"),
                    "--fast",
                    *revision,
                    "--output",
                    str(out),
                    "--workspace",
                    str(eval_ws.root),
                ]
            )
            == 0
        )
        assert [p.name for p in (out / "results" / "stopped").iterdir()] == [expected]
    assert babylm_revision("", step, "stopped") == "main" and babylm_revision("", run_dir / "chck_10M") == "chck_10M"
    assert babylm_revision("", step, "stopped/checkpoint-36") == "checkpoint-36"  # named by the user: kept


def test_no_exact_is_recorded_in_the_rule_and_the_report(eval_ws, tmp_path, capsys):
    data = fx.write_evaluation_data(tmp_path)
    results = {}
    for flag in ("--exact", "--no-exact"):
        out = tmp_path / flag
        assert (
            main(
                [
                    "eval",
                    "r1",
                    "--suite",
                    "babylm",
                    "--babylm-data",
                    str(data / "full_eval" / "ewok_filtered"),
                    flag,
                    "--output",
                    str(out),
                    "--workspace",
                    str(eval_ws.root),
                ]
            )
            == 0
        )
        results[flag] = json.loads((out / "results.json").read_text())
        assert ("float32" if flag == "--exact" else "float64") in (out / "report.html").read_text()
    assert results["--exact"]["suites"]["babylm"]["rule"]["exact"] is True
    assert results["--no-exact"]["suites"]["babylm"]["rule"]["exact"] is False
    assert results["--no-exact"]["options"]["exact"] is False
    assert results["--exact"]["suites"]["babylm"]["past_trained_context"] == 0
    log = capsys.readouterr().out
    assert "exact)" in log and "fast)" in log


def test_a_detached_eval_job_shows_no_exact_as_its_flag():
    from core.cli.eval_cmds import _command
    from core.evaluate.options import EvalOptions

    assert _command(EvalOptions(model="r1", suites=("babylm",), exact=False)) == "babyllama eval r1 --suite babylm --no-exact"
    assert "exact" not in _command(EvalOptions(model="r1", suites=("babylm",)))
    assert EvalOptions.from_dict(EvalOptions(model="r1", exact=False).to_dict()).exact is False
