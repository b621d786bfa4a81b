"""`babyllama distill` with the guide's flags, a real teacher run and a real worker process."""

from __future__ import annotations

import time

import pytest

from core import config
from core.cli import main
from core.config.presets import find
from core.history import History

DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


def test_student_config_gives_the_model_and_a_distilled_name():
    cfg = config.load_distillation(find("distillation"), find("tiny"), ["--teacher-models", "a,b", "--alpha", "0.7"])
    assert (cfg.model.hidden_size, cfg.model.n_layer, cfg.model.name) == (64, 2, "tiny-distilled")
    assert cfg.training.lr == 2.5e-4  # training from the distillation config, not the student's preset
    assert cfg.distillation.teachers == ["a", "b"] and cfg.distillation.alpha == 0.7
    assert cfg.distillation.kl_reduction == "sequence"  # the guide's distillation: timinar's loss
    assert config.load(find("tiny")).distillation.kl_reduction == "token"
    named = config.load_distillation(find("distillation"), find("tiny"), ["--model_name", "mine"])
    assert named.model.name == "mine"
    plain = config.load_distillation(find("distillation"))
    assert plain.model.hidden_size == 512  # the BabyLlama student when no --student-config is given


def test_distill_from_a_finished_run(ready_workspace, capsys):
    assert main(["train", "--config", "tiny", *DATA, "--model_name", "teacher", "training.max_steps=12"]) == 0
    code = main(
        [
            "distill",
            "--config",
            "distillation",
            "--teacher-models",
            "teacher",
            "--student-config",
            "tiny",
            *DATA,
            "training.max_steps=8",
            "training.logging_steps=2",
            "training.warmup_steps=2",
            "training.batch_size=8",
            "data.seq_length=64",
            "data.eval_samples=16",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "distilling from 1 teacher(s): teacher" in out
    with History(ready_workspace.db_path) as h:
        run = h.get_run("tiny-distilled")
        metrics = h.last_metrics("tiny-distilled")
        series = [r for r in h.metrics_since("tiny-distilled", -1) if r["name"] == "kl_loss"]
    assert run.kind == "distill" and run.status == "finished" and run.step == 8
    assert run.command.startswith("babyllama distill --config distillation --teacher-models teacher")
    assert {"loss", "ce_loss", "kl_loss", "eval_loss"} <= set(metrics)
    assert [r["step"] for r in series] == [2, 4, 6, 8] and all(r["value"] >= 0 for r in series)
    # loss = alpha x ce_loss + (1 - alpha) x kl_loss (kl_loss is T^2 x KL) at every logged window
    assert abs(metrics["loss"] - (0.5 * metrics["ce_loss"] + 0.5 * metrics["kl_loss"])) < 1e-3

    from transformers import AutoModelForCausalLM

    student = AutoModelForCausalLM.from_pretrained(str(ready_workspace.models_dir / "tiny-distilled"))
    assert student.config.hidden_size == 64


def test_bad_teachers_exit_2_and_start_nothing(ready_workspace, capsys):
    args = ["distill", "--config", "distillation", "--student-config", "tiny", *DATA, "--detach"]
    assert main(args) == 2
    assert "--teacher-models: no teachers given" in capsys.readouterr().err
    assert main([*args, "--teacher-models", "ghost"]) == 2
    err = capsys.readouterr().err
    assert "distillation.teacher_models" in err and "ghost" in err
    with History(ready_workspace.db_path) as h:
        assert h.list_runs() == []
    assert not (ready_workspace.models_dir / "tiny-distilled").exists()


@pytest.mark.slow
def test_a_stopped_distillation_resumes_bit_exact(ready_workspace):
    import torch
    from safetensors.torch import load_file

    from core import jobs
    from core.history import FINAL
    from core.model.build import build_model
    from core.tokenizer import load_tokenizer

    tok = load_tokenizer("tok", ready_workspace)
    torch.manual_seed(7)
    teacher = build_model(config.load(find("tiny")).model, len(tok))
    teacher.save_pretrained(ready_workspace.root / "teacher")
    tok.save_pretrained(ready_workspace.root / "teacher")
    overrides = [
        *DATA,
        "distillation.teacher_models=teacher",
        "training.max_steps=80",
        "training.save_steps=0",
        "training.eval_steps=0",
        "training.logging_steps=5",
        "model.dropout=0.1",
    ]
    cfg = config.load(find("tiny"), overrides)

    def final(h, name):
        deadline = time.monotonic() + 300
        while (run := jobs.refresh(h, name)).status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.2)
        return run

    with History(ready_workspace.db_path) as h:
        jobs.start("distill", cfg, ready_workspace, h, name="straight")
        assert final(h, "straight").status == "finished"
        jobs.start("distill", cfg, ready_workspace, h, name="stopped")
        while (jobs.refresh(h, "stopped").step or 0) < 10:
            time.sleep(0.1)
        assert jobs.stop("stopped", h) == "requested"
        run = final(h, "stopped")
        assert run.status == "stopped" and run.step < 80
        jobs.resume("stopped", ready_workspace, h)
        run = final(h, "stopped")
        assert run.status == "finished" and run.kind == "distill"
        assert h.metric_series("stopped", "kl_loss")[-1] == h.metric_series("straight", "kl_loss")[-1]
    a = load_file(str(ready_workspace.models_dir / "straight" / "model.safetensors"))
    b = load_file(str(ready_workspace.models_dir / "stopped" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
