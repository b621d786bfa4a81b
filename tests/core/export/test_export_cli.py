"""`babyllama export` end to end: progress lines, history, bad input (exit 2), --detach as a job."""

from __future__ import annotations

import json
import time

from core import jobs
from core.cli import main
from core.history import FINAL, open_history


def test_export_hf_from_the_cli(export_ws, tmp_path, capsys):
    out_dir = tmp_path / "out"
    rc = main(["export", "r1", "--format", "hf", "--output", str(out_dir), "--workspace", str(export_ws.root)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "loading r1" in printed and f"exported to {out_dir}" in printed
    assert json.loads((out_dir / "export.json").read_text())["run"] == "r1"
    with open_history(export_ws) as history:
        assert any(a["path"] == str(out_dir) and a["extra"]["format"] == "hf" for a in history.artifacts("r1", "export"))


def test_existing_output_is_refused_and_untouched(export_ws, tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    rc = main(["export", "r1", "--format", "onnx", "--output", str(taken), "--workspace", str(export_ws.root)])
    err = capsys.readouterr().err
    assert rc == 2 and f"--output: {taken} already exists and is not empty" in err and "give --output NEW_FOLDER" in err
    assert [p.name for p in taken.iterdir()] == ["keep.txt"] and (taken / "keep.txt").read_text() == "mine"


def test_default_output_taken_is_refused(export_ws, capsys):
    target = export_ws.root / "exports" / "r1-int8"
    target.mkdir(parents=True)
    (target / "x").write_text("earlier export")
    rc = main(["export", "r1", "--format", "int8", "--workspace", str(export_ws.root)])
    assert rc == 2 and f"output folder: {target} already exists" in capsys.readouterr().err


def test_unknown_run_and_format_exit_2(export_ws, capsys):
    rc = main(["export", "nope", "--format", "hf", "--workspace", str(export_ws.root)])
    err = capsys.readouterr().err
    assert rc == 2 and "model 'nope': no run or folder of that name" in err
    rc = main(["export", "r1", "--format", "tflite", "--workspace", str(export_ws.root)])
    err = capsys.readouterr().err
    assert rc == 2 and "--format: unknown format 'tflite'; choose one of hf, onnx, int8" in err
    rc = main(["export", "r1", "--format", "hf", "--max-tokens", "-1", "--workspace", str(export_ws.root)])
    assert rc == 2 and "--max-tokens: must be 0 (all) or more" in capsys.readouterr().err


def test_detach_runs_an_export_job(export_ws, capsys):
    rc = main(
        [
            "export",
            "r1",
            "--format",
            "hf",
            "--output",
            str(export_ws.root / "detached"),
            "--detach",
            "--workspace",
            str(export_ws.root),
        ]
    )
    assert rc == 0
    name = capsys.readouterr().out.strip().splitlines()[-1]
    with open_history(export_ws) as history:
        deadline = time.monotonic() + 180
        while jobs.refresh(history, name).status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.3)
        run = history.get_run(name)
        assert run.status == "finished", (run.error, (export_ws.root / "jobs" / name / "run.log").read_text()[-2000:])
        assert run.kind == "export" and run.command.startswith("babyllama export r1 --format hf --output ")
        assert (export_ws.root / "detached" / "model.safetensors").is_file()
        assert [a["path"] for a in history.artifacts(name, "export")] == [str(export_ws.root / "detached")]


def test_a_failed_onnx_check_keeps_the_files_and_exits_1(export_ws, tmp_path, monkeypatch, capsys):
    from core.export import onnx_model

    monkeypatch.setattr(onnx_model, "RELATIVE_TOLERANCE", -1.0)  # no difference can pass
    out_dir = tmp_path / "failed"
    rc = main(["export", "r1", "--format", "onnx", "--output", str(out_dir), "--workspace", str(export_ws.root)])
    printed = capsys.readouterr()
    assert rc == 1 and "FAIL (4 shapes)" in printed.out and "onnxruntime logits differ from PyTorch" in printed.err
    check = json.loads((out_dir / "onnx_check.json").read_text())
    assert check["passed"] is False and "FAILED" in (out_dir / "README.md").read_text()
    with open_history(export_ws) as history:
        assert any(a["path"] == str(out_dir) and a["extra"]["passed"] is False for a in history.artifacts("r1", "export"))
