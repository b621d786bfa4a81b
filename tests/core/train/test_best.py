"""core.train.best: with training.keep_best=eval_loss the final model is the checkpoint with the
lowest eval loss, on a run whose eval loss rises at the end; `runs show` names it."""

from __future__ import annotations

import json

import torch

from core.train.best import BEST_FILE, read_best
from tests.core.train.test_loop import _run, _weights

# A learning rate that warms up to far too high: the eval loss falls, then rises at the end.
RISING = [
    "training.keep_best=eval_loss",
    "training.eval_steps=4",
    "training.save_steps=0",
    "training.save_total_limit=0",
    "training.lr=4.0",
    "training.warmup_steps=240",
    "training.lr_scheduler=constant",
]


def test_keep_best_keeps_the_checkpoint_with_the_lowest_eval_loss(ready_workspace, tmp_path, capsys):
    run = tmp_path / "run"
    status, rec = _run(ready_workspace, run, RISING)
    assert status == "finished"
    losses = {step: m["eval_loss"] for step, m in rec.evals.items() if "eval_loss" in m}
    assert sorted(losses) == [4, 8, 12, 16, 20, 24]
    best_step = min(losses, key=losses.get)
    assert losses[24] > losses[best_step], losses  # the run this test needs: eval loss rose at the end
    assert set(rec.saves) >= set(losses)  # every evaluation was also a checkpoint
    best = read_best(run)
    assert (best.step, best.metric) == (best_step, "eval_loss") and abs(best.value - losses[best_step]) < 1e-12
    final, kept, last = _weights(run), _weights(run / f"checkpoint-{best_step}"), _weights(run / "checkpoint-24")
    assert all(torch.equal(final[k], kept[k]) for k in final)
    assert not all(torch.equal(final[k], last[k]) for k in final)
    assert json.loads((run / BEST_FILE).read_text())["step"] == best_step

    from core.cli import main
    from core.history import History

    # `runs show` reads best.json from the run folder of a registered run.
    with History(ready_workspace.db_path) as h:
        h.create_run("kept", "train", {}, str(run), command="test")
    capsys.readouterr()
    assert main(["runs", "show", "kept", "--workspace", str(ready_workspace.root)]) == 0
    assert f"kept model: step {best_step}, the lowest eval_loss" in capsys.readouterr().out
    assert main(["runs", "show", "kept", "--json", "--workspace", str(ready_workspace.root)]) == 0
    assert json.loads(capsys.readouterr().out)["best"]["step"] == best_step


def test_without_keep_best_the_final_model_is_the_last_step(ready_workspace, tmp_path):
    run = tmp_path / "run"
    _run(ready_workspace, run, [r for r in RISING if not r.startswith("training.keep_best")])
    assert read_best(run) is None
    final, last = _weights(run), _weights(run / "checkpoint-24")
    assert all(torch.equal(final[k], last[k]) for k in final)
