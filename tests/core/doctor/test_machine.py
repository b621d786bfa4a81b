"""core.doctor.machine and `babyllama doctor`: every check present, statuses honest, exit code from failures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from core.cli import main
from core.doctor import machine as doctor

EXPECTED = [
    "python",
    "torch",
    "transformers",
    "datasets",
    "tokenizers",
    "accelerate",
    "gradio",
    "plotly",
    "sqlite-utils",
    "safetensors",
    "device",
    "cpu threads",
    "ram",
    "disk",
    "accelerate config",
    "sqlite",
]


def test_run_checks_covers_everything(workspace):
    checks = doctor.run_checks(workspace)
    assert [c.name for c in checks] == EXPECTED
    for c in checks:
        assert c.status in (doctor.OK, doctor.WARN, doctor.FAIL) and c.detail
        assert c.status == doctor.OK or c.fix, f"{c.name} reports a problem without a fix"
    by_name = {c.name: c for c in checks}
    import torch

    assert by_name["torch"].detail == torch.__version__
    assert f"{torch.get_num_threads()} of" in by_name["cpu threads"].detail
    assert by_name["python"].status == doctor.OK  # the project requires 3.11+


def test_doctor_json_keys_and_exit_code(workspace, capsys):
    code = main(["doctor", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"checks", "system", "ok"}
    assert [c["name"] for c in report["checks"]] == EXPECTED
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in report["checks"])
    failed = any(c["status"] == "fail" for c in report["checks"])
    assert code == (1 if failed else 0) and report["ok"] is not failed
    assert set(report["system"]) >= {"device", "threads", "ram_gb", "gpu_mem_gb", "free_disk_gb"}


def test_a_failed_check_prints_its_fix_and_exits_1(workspace, capsys, monkeypatch):
    monkeypatch.setattr(doctor, "check_sqlite", lambda: doctor.Check("sqlite", doctor.FAIL, "SQLite 3.1", "upgrade it"))
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[FAIL] sqlite" in out and "fix: upgrade it" in out and "[ok]   python" in out


def test_version_checks():
    assert doctor.check_python((3, 10, 12)).status == doctor.FAIL
    assert doctor.check_python((3, 12, 0)).status == doctor.OK
    missing = doctor.check_package("surely-not-installed-pkg", "1.0")
    assert missing.status == doctor.FAIL and "not installed" in missing.detail and "pip install" in missing.fix
    assert doctor.check_package("pytest", "999").status == doctor.FAIL
    assert doctor.check_package("pytest", "1", "2").status == doctor.FAIL
    assert doctor.check_package("pytest", "1").status == doctor.OK


def test_accelerate_config_only_matters_with_several_gpus(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    assert doctor.accelerate_config_path() == tmp_path / "hf" / "accelerate" / "default_config.yaml"
    one = doctor.check_accelerate(1)
    assert one.status == doctor.OK and "not needed" in one.detail
    two = doctor.check_accelerate(2)
    assert two.status == doctor.WARN and two.fix.startswith("run `accelerate config`")
    doctor.accelerate_config_path().parent.mkdir(parents=True)
    doctor.accelerate_config_path().write_text("compute_environment: LOCAL_MACHINE\n")
    assert doctor.check_accelerate(2).status == doctor.OK


def test_accelerate_path_matches_accelerate(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    code = "from accelerate.commands.config.config_args import default_yaml_config_file as f; print(f)"
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert found == str(doctor.accelerate_config_path())


def test_disk_and_summary_for_a_workspace_not_yet_created(tmp_path):
    from core.workspace import Workspace

    ws = Workspace(tmp_path / "not" / "yet")
    assert doctor.check_disk(ws.root).status in (doctor.OK, doctor.WARN, doctor.FAIL)
    summary = doctor.system_summary(ws)
    assert summary["free_disk_gb"] == pytest.approx(doctor.free_disk_gb(tmp_path), abs=0.2)
    assert summary["threads"] >= 1 and summary["ram_gb"] > 0 and summary["gpu_mem_gb"] >= 0
    assert not ws.root.exists()  # the doctor looks, it does not create


def test_doctor_and_tokenizer_modules_do_not_import_gradio():
    code = (
        "import sys, core.doctor.machine, core.tokenizer, core.cli.doctor_cmds, core.cli.tokenizer_cmds;"
        "core.doctor.machine.run_checks(); print('gradio' in sys.modules, 'studio' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[3]
    ).stdout
    assert out.split() == ["False", "False"]


def test_gpu_paths_with_faked_devices(workspace, tmp_path, monkeypatch):
    # No GPU on the test machines: feed the checks what torch.cuda would report on a 2-GPU box.
    monkeypatch.setattr(doctor, "_gpus", lambda: [("NVIDIA H100", 79.2), ("NVIDIA H100", 79.2)])
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    by_name = {c.name: c for c in doctor.run_checks(workspace)}
    assert by_name["device"].status == doctor.OK and "CUDA x2: NVIDIA H100 (79.2 GB)" in by_name["device"].detail
    assert by_name["accelerate config"].status == doctor.WARN
    summary = doctor.system_summary(workspace)
    assert summary["device"] == "cuda x2: NVIDIA H100, NVIDIA H100" and summary["gpu_mem_gb"] == 158.4
    assert doctor.check_device([("Tiny GPU", 2.0)]).status == doctor.WARN
