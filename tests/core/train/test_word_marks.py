"""BabyLM word marks (`training.checkpoint_words`) and track budgets: the schedule and its names,
config forms and errors, `chck_*` checkpoints in a tiny run (kept by rotation, exact on resume),
and a budget that stops the run as finished."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from core import config
from core.config.presets import find
from core.errors import ConfigError
from core.train import checkpoint as ckpt
from core.train import word_marks
from core.train.callbacks import StopAfter, TrainControl, TrainState, WordBudget
from core.train.data import load_train_data
from core.train.loop import train
from core.train.machine import make_accelerator

BASE = [
    "data.train_path=syn",
    "data.tokenizer_path=tok",
    "training.max_steps=12",
    "training.logging_steps=4",
    "training.eval_steps=0",
    "training.save_steps=0",
    "training.save_total_limit=1",
]


def test_babylm_schedule_has_the_challenges_names():
    names = [word_marks.mark_name(m) for m in word_marks.parse_marks("babylm")]
    assert names == (
        [f"chck_{n}M" for n in range(1, 10)]
        + [f"chck_{n}M" for n in range(10, 100, 10)]
        + [f"chck_{n}M" for n in range(100, 1001, 100)]
    )
    assert word_marks.parse_marks("10k, 2.5M,1B") == (10_000, 2_500_000, 1_000_000_000)
    assert [word_marks.mark_name(w) for w in (10_000, 1_500_000, 12_345)] == ["chck_10k", "chck_1500k", "chck_12345"]


@pytest.mark.parametrize("given", [["training.checkpoint_words=10k,20k"], ["--checkpoint-words", "10000,20000"]])
def test_checkpoint_words_from_overrides_and_flags(given):
    assert word_marks.parse_marks(config.load(overrides=given).training.checkpoint_words) == (10_000, 20_000)


def test_checkpoint_words_from_a_yaml_list_and_bad_values_name_the_field(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("training:\n  checkpoint_words: [10000, 20000]\n  babylm_track: strict-small\n")
    cfg = config.load(path)
    assert word_marks.parse_marks(cfg.training.checkpoint_words) == (10_000, 20_000)
    assert word_marks.TRACK_BUDGETS[cfg.training.babylm_track] == 100_000_000
    for bad in ("20k,10k", "0", "ten", "-5", "1.5"):
        with pytest.raises(ConfigError) as err:
            config.load(overrides=[f"training.checkpoint_words={bad}"])
        assert len(err.value.issues) == 1 and err.value.issues[0].where == "training.checkpoint_words"


def _run(ws, run_dir, extra=(), callbacks=(), resume_from=None):
    cfg = config.load(find("tiny"), [*BASE, *extra])
    data, tokenizer = load_train_data(cfg, ws)
    status = train(cfg, data, tokenizer, run_dir, list(callbacks), resume_from=resume_from, accelerator=make_accelerator(cfg)[0])
    return status, data


def _marks(run_dir):
    return {m["name"]: (m["step"], m["words"]) for m in word_marks.list_marks(run_dir)}


def test_word_marks_are_kept_and_exact_after_stop_and_resume(ready_workspace, tmp_path):
    cfg = config.load(find("tiny"), BASE)
    data, _ = load_train_data(cfg, ready_workspace)
    per_step = 8 * 64 * data.words_per_token  # batch x seq_length tokens, in words
    words = lambda step: int(step * 8 * 64 * data.words_per_token)  # noqa: E731  (the loop's count)
    # Marks at 2.5 and 5.5 steps' words, and two more that one step (the 9th) passes together.
    marks = [round(per_step * x) for x in (2.5, 5.5, 8.2, 8.6)]
    spec = [f"training.checkpoint_words={','.join(map(str, marks))}"]
    expected = {word_marks.mark_name(m): min(s for s in range(1, 13) if words(s) >= m) for m in marks}
    assert sorted(expected.values()) == [3, 6, 9, 9]

    assert _run(ready_workspace, tmp_path / "a", spec)[0] == "finished"
    straight = _marks(tmp_path / "a")
    assert {name: step for name, (step, _) in straight.items()} == expected
    assert all(w == words(s) for s, w in straight.values())
    # save_total_limit=1 keeps one checkpoint-<step>; every chck_* stays, each a full checkpoint.
    assert [p.name for p in ckpt.list_checkpoints(tmp_path / "a")] == ["checkpoint-12"]
    assert all(ckpt.verify(tmp_path / "a" / name) is None for name in straight)

    # Stopped at step 5 (after the first mark), then resumed: the same marks at the same steps.
    assert _run(ready_workspace, tmp_path / "b", spec, callbacks=[StopAfter(5)])[0] == "stopped"
    assert set(_marks(tmp_path / "b")) == {word_marks.mark_name(marks[0])}
    assert _run(ready_workspace, tmp_path / "b", spec, resume_from=tmp_path / "b" / "checkpoint-5")[0] == "finished"
    assert _marks(tmp_path / "b") == straight
    for name in straight:
        a = load_file(str(tmp_path / "a" / name / "model.safetensors"))
        b = load_file(str(tmp_path / "b" / name / "model.safetensors"))
        assert all(torch.equal(a[k], b[k]) for k in a)


def test_word_budget_warns_once_and_stops_as_finished(capsys):
    cb, control = WordBudget("strict-small", 1000, stop=True), TrainControl()
    cb.on_train_begin(TrainState(words_seen=0), control)
    cb.on_step_end(TrainState(step=3, words_seen=900), control)
    assert not control.should_finish
    cb.on_step_end(TrainState(step=4, words_seen=1200), control)
    cb.on_step_end(TrainState(step=5, words_seen=1500), control)
    out = capsys.readouterr().out
    assert control.should_finish and out.count("warning:") == 1 and "strict-small budget of 1,000 words" in out
    warn_only, control = WordBudget("strict", 1000, stop=False), TrainControl()
    warn_only.on_step_end(TrainState(step=4, words_seen=1200), control)
    assert not control.should_finish and "stop_at_budget" in capsys.readouterr().out


def test_a_reached_budget_ends_the_run_finished_with_a_checkpoint(ready_workspace, tmp_path):
    cfg = config.load(find("tiny"), BASE)
    data, _ = load_train_data(cfg, ready_workspace)
    budget = int(4 * 8 * 64 * data.words_per_token) - 1  # reached at step 4
    status, _ = _run(ready_workspace, tmp_path, callbacks=[WordBudget("test", budget, stop=True)])
    assert status == "finished"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-4"]
    assert (tmp_path / "model.safetensors").is_file()  # the final model, as for any finished run
    assert json.loads((tmp_path / "checkpoint-4" / ckpt.MANIFEST).read_text())["words_seen"] >= budget


def test_babylm_probes_measure_every_word_mark(ready_workspace, tmp_path):
    """`at_challenge` probes run at the steps that save chck_* (and at 0 and the end); the others keep
    their own schedule."""
    from core.train.callbacks import Callback
    from core.train.probes import Probe

    class Evals(Callback):
        def __init__(self):
            self.steps = []

        def on_evaluate(self, state, control, metrics):
            if "probe" in metrics:
                self.steps.append(state.step)

    cfg = config.load(find("tiny"), BASE)
    data, _ = load_train_data(cfg, ready_workspace)
    per_step = 8 * 64 * data.words_per_token
    spec = [f"training.checkpoint_words={round(per_step * 2.5)},{round(per_step * 5.5)}"]
    rec = Evals()
    cfg = config.load(find("tiny"), [*BASE, *spec])
    data, tokenizer = load_train_data(cfg, ready_workspace)
    probe = Probe(0, lambda lm: {"probe": 1.0}, at_challenge=True)
    train(cfg, data, tokenizer, tmp_path / "r", [rec], accelerator=make_accelerator(cfg)[0], probes=[probe])
    marks = sorted(m["step"] for m in word_marks.list_marks(tmp_path / "r"))
    assert marks == [3, 6] and rec.steps == [0, 3, 6, 12]


def test_forecast_names_the_marks_reached_and_missed():
    babylm = word_marks.parse_marks("babylm")
    none = word_marks.forecast(babylm, 240_000, "80,000 words per epoch x 3 epochs")
    assert "240,000 words (80,000 words per epoch x 3 epochs)" in none
    assert "NO chck_ checkpoint will be saved" in none and "chck_1M" in none
    some = word_marks.forecast(babylm, 2_400_000, "b")
    assert "saves chck_1M, chck_2M but not chck_3M, chck_4M ... chck_1000M (26 marks)" in some
    assert word_marks.forecast((10_000, 20_000), 20_000, "b").endswith("every mark left, chck_10k, chck_20k")
    assert word_marks.forecast((10_000,), 5_000, "b", already=10_000) is None  # a resumed run past every mark
    # The suggested marks parse and fit in the run.
    suggested = none.rsplit("training.checkpoint_words=", 1)[1]
    assert max(word_marks.parse_marks(suggested)) <= 240_000


def test_training_says_which_marks_a_small_corpus_reaches(ready_workspace, tmp_path, capsys):
    cfg = config.load(find("tiny"), BASE)
    data, _ = load_train_data(cfg, ready_workspace)
    total = int(12 * 8 * 64 * data.words_per_token)  # the loop's words seen after max_steps=12
    spec = [f"training.checkpoint_words={total // 2},{total + 1},1M"]
    capsys.readouterr()
    assert _run(ready_workspace, tmp_path / "r", spec)[0] == "finished"
    log = capsys.readouterr().out
    note = next(line for line in log.splitlines() if "training.checkpoint_words:" in line)
    assert f"about {total:,} words (training.max_steps=12)" in note
    assert f"saves {word_marks.mark_name(total // 2)} but not {word_marks.mark_name(total + 1)}, chck_1M" in note
    assert set(_marks(tmp_path / "r")) == {word_marks.mark_name(total // 2)}  # the forecast held


def test_config_check_forecasts_the_marks_from_the_corpus(ready_workspace, capsys):
    from core.cli import main
    from core.data.corpus import read_manifest

    words = read_manifest(ready_workspace.corpus_dir("syn"))["splits"]["train"]["words"]
    assert (
        main(
            [
                "config",
                "check",
                "tiny",
                "data.train_path=syn",
                "training.checkpoint_words=babylm",
                "training.num_epochs=2",
                "training.max_steps=0",
                "--workspace",
                str(ready_workspace.root),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"# training.checkpoint_words: this run will see about {2 * words:,} words" in out
    assert "NO chck_ checkpoint will be saved" in out
    assert main(["config", "check", "tiny", "data.train_path=syn", "--workspace", str(ready_workspace.root)]) == 0
    assert "# training.checkpoint_words" not in capsys.readouterr().out
