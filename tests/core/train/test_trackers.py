"""core.train.trackers: W&B (offline) and TensorBoard as metric sinks, and the check that a
requested tracker's package is there before anything starts."""

from __future__ import annotations

import sys
import time

import pytest

from core import config, jobs
from core.config.presets import find
from core.errors import ConfigError
from core.history import FINAL, History
from core.train import trackers

DATA = ["data.train_path=syn", "data.tokenizer_path=tok"]


def test_names_follow_the_hf_trainer():
    assert trackers.metric_name("loss") == "train/loss"
    assert trackers.metric_name("eval_loss") == "eval/loss"
    assert trackers.metric_name("eval/pairs") == "eval/pairs"
    assert trackers.flatten({"training": {"lr": 1e-3, "fp16": False}, "x": None}) == {
        "training.lr": 1e-3,
        "training.fp16": False,
        "x": "None",
    }


def test_guide_flags_turn_trackers_on():
    cfg = config.load(find("tiny"), ["--wandb", "--wandb-project", "p", "--wandb-run-name", "n", "--tensorboard"])
    assert trackers.requested(cfg) == {"wandb": True, "tensorboard": True}
    assert (cfg.logging.project, cfg.logging.run_name) == ("p", "n")


def test_a_missing_package_stops_the_run_before_it_starts(ready_workspace, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` now raises ImportError
    cfg = config.load(find("tiny"), [*DATA, "--wandb"])
    with History(ready_workspace.db_path) as h:
        with pytest.raises(ConfigError) as err:
            jobs.start("train", cfg, ready_workspace, h, name="needs-wandb")
        assert h.get_run("needs-wandb") is None
    message = str(err.value)
    assert "logging.wandb (--wandb)" in message and "pip install -e '.[wandb]'" in message
    assert not (ready_workspace.models_dir / "needs-wandb").exists()


def test_wandb_mode_is_offline_without_credentials(tmp_path):
    home = {"HOME": str(tmp_path)}
    assert trackers.wandb_mode(home) == "offline"
    assert trackers.wandb_mode({**home, "WANDB_API_KEY": "k"}) == "online"
    assert trackers.wandb_mode({**home, "WANDB_MODE": "disabled", "WANDB_API_KEY": "k"}) == "disabled"
    (tmp_path / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    (tmp_path / ".netrc").chmod(0o600)
    assert trackers.wandb_mode(home) == "online"


def test_wandb_offline_run_under_trainer_names_and_resumed_with_the_same_id(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HOME", str(tmp_path))
    cfg = config.load(find("tiny"), ["--wandb", "--wandb-project", "proj"])
    (logger,) = trackers.make_trackers(cfg, tmp_path / "run", run_name="r1")
    logger.log_config(cfg.to_dict())
    logger.log_dict({"loss": 2.5}, 10, tokens=640, words=480)
    logger.log_dict({"eval_loss": 3.0}, 10)
    assert logger.run.summary["train/loss"] == 2.5 and logger.run.summary["eval/loss"] == 3.0
    assert logger.run.summary["train/global_step"] == 10 and logger.run.summary["train/tokens"] == 640
    assert logger.run.config["training"]["lr"] == cfg.training.lr
    assert logger.mode == "offline" and logger.run.name == "r1"
    logger.close()
    first = logger.run_id
    assert list((tmp_path / "run" / "wandb").glob(f"offline-run-*-{first}"))
    (again,) = trackers.make_trackers(cfg, tmp_path / "run", run_name="r1", resume_step=10)
    assert again.run_id == first
    again.close()


def _scalars(log_dir, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_tensorboard_scalars_and_a_resume_that_replaces_later_points(tmp_path):
    cfg = config.load(find("tiny"), ["--tensorboard"])
    (logger,) = trackers.make_trackers(cfg, tmp_path)
    logger.log_config(cfg.to_dict())
    for step in (5, 10, 15):
        logger.log_dict({"loss": float(step)}, step, tokens=step * 64)
    logger.log_samples([("Once upon a time", "there | was")], 15)
    logger.close()
    assert _scalars(tmp_path / "tensorboard", "train/loss") == [(5, 5.0), (10, 10.0), (15, 15.0)]
    time.sleep(1.1)  # event files are named by the second: a resumed writer opens a new one
    (resumed,) = trackers.make_trackers(cfg, tmp_path, resume_step=10)
    resumed.log_dict({"loss": 15.5}, 15)
    resumed.close()
    assert _scalars(tmp_path / "tensorboard", "train/loss") == [(5, 5.0), (10, 10.0), (15, 15.5)]


def test_a_training_run_writes_tensorboard_events(ready_workspace):
    cfg = config.load(
        find("tiny"),
        [
            *DATA,
            "--tensorboard",
            "training.max_steps=6",
            "training.logging_steps=2",
            "training.eval_steps=0",
            "training.save_steps=0",
        ],
    )
    with History(ready_workspace.db_path) as h:
        run = jobs.start("train", cfg, ready_workspace, h, name="tb")
        deadline = time.monotonic() + 120
        while jobs.refresh(h, "tb").status not in FINAL and time.monotonic() < deadline:
            time.sleep(0.3)
        assert h.get_run("tb").status == "finished"
    points = _scalars(ready_workspace.models_dir / "tb" / "tensorboard", "train/loss")
    assert [step for step, _ in points] == [2, 4, 6]
    assert run.run_dir.endswith("tb")
