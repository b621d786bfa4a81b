"""core.train.probes: minimal-pair accuracy during training (`eval.pairs_every`), in the loop,
through a real job, and the bad input that must be refused before a run starts."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core import config, jobs
from core.config.presets import find
from core.config.resolve import pin_paths
from core.errors import ConfigError, UserError
from core.evaluate.pairs import load_pairs_dir, score_pairs
from core.history import FINAL, History
from core.train.callbacks import Callback
from core.train.data import load_train_data
from core.train.loop import train
from core.train.machine import make_accelerator
from core.train.probes import PAIRS_METRIC, Probe, pairs_probe

BASE = [
    "data.train_path=syn",
    "data.tokenizer_path=tok",
    "training.max_steps=24",
    "training.logging_steps=4",
    "training.eval_steps=0",
    "training.save_steps=0",
    "model.dropout=0.1",
]  # dropout: RNG would show


class Evals(Callback):
    def __init__(self):
        self.at, self.logs = {}, []

    def on_log(self, state, control, logs):
        self.logs.append(dict(logs))

    def on_evaluate(self, state, control, metrics):
        self.at[state.step] = (dict(metrics), state.tokens_seen, state.words_seen)


def _train(ws, run_dir, probes=(), extra=()):
    cfg = config.load(find("tiny"), [*BASE, *extra])
    data, tokenizer = load_train_data(cfg, ws)
    rec = Evals()
    status = train(cfg, data, tokenizer, run_dir, [rec], accelerator=make_accelerator(cfg)[0], probes=probes)
    assert status == "finished"
    return cfg, tokenizer, rec


def test_pairs_are_scored_at_zero_every_n_and_at_the_end_without_changing_training(ready_workspace, shared_data, tmp_path):
    pairs = ["eval.pairs_every=10", f"eval.pairs_dir={shared_data / 'blimp-sample'}", "eval.pairs_limit=8"]
    cfg = config.load(find("tiny"), [*BASE, *pairs])
    _, tokenizer = load_train_data(cfg, ready_workspace)
    probe = pairs_probe(cfg, ready_workspace, tokenizer)
    assert "6 paradigms, 48 pairs" in probe.describe
    _, _, rec = _train(ready_workspace, tmp_path / "with", [probe])
    assert sorted(rec.at) == [0, 10, 20, 24]
    first, tokens0, words0 = rec.at[0]
    last, tokens, words = rec.at[24]
    assert tokens0 == words0 == 0 and tokens > words > 0  # the x-axes of "learned vs words seen"
    assert {PAIRS_METRIC, f"{PAIRS_METRIC}/morphology", f"{PAIRS_METRIC}/syntax"} <= set(last)
    assert all(0.0 <= v <= 1.0 for v in last.values())
    # The logged number is what `babyllama eval --suite pairs` gives for the saved final model.
    from transformers import AutoModelForCausalLM

    final = AutoModelForCausalLM.from_pretrained(tmp_path / "with").eval()
    expected = score_pairs(final, tokenizer, load_pairs_dir(shared_data / "blimp-sample", 8))
    assert last[PAIRS_METRIC] == pytest.approx(expected["mean"], abs=1e-12)
    # Scoring draws no randomness and leaves the model training: same weights as a run without it.
    _train(ready_workspace, tmp_path / "without")
    a, b = load_file(str(tmp_path / "with" / "model.safetensors")), load_file(str(tmp_path / "without" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_probe_schedule():
    probe = Probe(10, lambda lm: {})
    assert [s for s in range(1, 26) if probe.due(s, 25)] == [10, 20, 25]
    assert not Probe(0, lambda lm: {}).due(10, 10)


def test_a_job_logs_pairs_accuracy_with_words_seen(ready_workspace, shared_data):
    cfg = config.load(
        find("tiny"),
        [
            *BASE,
            "training.max_steps=12",
            "eval.pairs_every=6",
            f"eval.pairs_dir={shared_data / 'blimp-sample'}",
            "eval.pairs_limit=4",
        ],
    )
    with History(ready_workspace.db_path) as history:
        jobs.start("train", cfg, ready_workspace, history, name="grammar")
        deadline = time.monotonic() + 600  # a loaded machine slows tiny runs a lot
        while (run := jobs.refresh(history, "grammar")).status not in FINAL:
            assert time.monotonic() < deadline, Path(run.run_dir, "run.log").read_text()[-2000:]
            time.sleep(0.3)
        assert run.status == "finished", run.error
        rows = [r for r in history.metrics_since("grammar", -1) if r["name"] == PAIRS_METRIC]
    assert [r["step"] for r in rows] == [0, 6, 12]
    assert rows[0]["words"] == 0 and rows[-1]["words"] > 0 and rows[-1]["tokens"] > rows[-1]["words"]
    assert "minimal pairs every 6 steps: 6 paradigms, 24 pairs" in Path(run.run_dir, "run.log").read_text()


def test_missing_or_malformed_pairs_are_refused_before_anything_is_written(ready_workspace, tmp_path):
    with History(ready_workspace.db_path) as history:
        with pytest.raises(ConfigError, match=r"eval.pairs_dir.*blimp"):  # default <workspace>/blimp/ absent
            jobs.start("train", config.load(find("tiny"), [*BASE, "eval.pairs_every=5"]), ready_workspace, history, name="p1")
        bad = tmp_path / "pairs"
        bad.mkdir()
        (bad / "x.jsonl").write_text('{"sentence_good": "A cat sleeps.", "sentence_bad": "A cat sleep."}\n{oops\n')
        with pytest.raises(UserError, match=r"x.jsonl:2: not valid JSON"):
            jobs.start(
                "train",
                config.load(find("tiny"), [*BASE, "eval.pairs_every=5", f"eval.pairs_dir={bad}"]),
                ready_workspace,
                history,
                name="p2",
            )
        empty = tmp_path / "empty"
        empty.mkdir()
        with pytest.raises(UserError, match=r"^eval.pairs_dir: .*holds no .jsonl files"):
            jobs.start(
                "train",
                config.load(find("tiny"), [*BASE, "eval.pairs_every=5", f"eval.pairs_dir={empty}"]),
                ready_workspace,
                history,
                name="p3",
            )
        assert [history.get_run(n) for n in ("p1", "p2", "p3")] == [None, None, None]
    assert not any((ready_workspace.models_dir / n).exists() for n in ("p1", "p2", "p3"))


def test_a_sentence_longer_than_the_context_fails_before_training(ready_workspace, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    long = " ".join(["the cat sleeps"] * 200)
    (folder / "p.jsonl").write_text(
        f'{{"sentence_good": "A cat sleeps.", "sentence_bad": "A cat sleep."}}\n'
        f'{{"sentence_good": "{long}", "sentence_bad": "A cat sleep."}}\n'
    )
    cfg = config.load(find("tiny"), [*BASE, "eval.pairs_every=5", f"eval.pairs_dir={folder}"])
    _, tokenizer = load_train_data(cfg, ready_workspace)
    with pytest.raises(UserError, match=r"eval.pairs_dir: .*p.jsonl:2 sentence_good: \d+ tokens, longer than"):
        pairs_probe(cfg, ready_workspace, tokenizer)


def test_pairs_every_is_a_guide_style_flag_and_checked():
    assert config.load(find("tiny"), ["--pairs_every", "50"]).eval.pairs_every == 50
    with pytest.raises(ConfigError, match="eval.pairs_every"):
        config.load(find("tiny"), ["eval.pairs_every=-1"])


def test_paths_relative_to_the_current_folder_are_pinned_workspace_names_stay(ready_workspace, tmp_path, monkeypatch):
    (tmp_path / "my_pairs").mkdir()
    monkeypatch.chdir(tmp_path)
    cfg = config.load(find("tiny"), [*BASE, "eval.pairs_dir=./my_pairs"])
    (tmp_path / "teachers" / "big").mkdir(parents=True)
    (ready_workspace.models_dir / "small").mkdir(parents=True)
    cfg = dataclasses.replace(cfg, distillation=dataclasses.replace(cfg.distillation, teacher_models="teachers/big, small"))
    pinned = pin_paths(cfg, ready_workspace)
    assert pinned.eval.pairs_dir == str(tmp_path / "my_pairs")
    assert (pinned.data.train_path, pinned.data.tokenizer_path) == ("syn", "tok")
    assert pinned.distillation.teachers == [str(tmp_path / "teachers" / "big"), "small"]  # a run stays a name


def test_time_spent_probing_does_not_count_against_tokens_per_s(ready_workspace, tmp_path, monkeypatch):
    import core.train.loop as loop

    class Clock:  # every reading is one second later: both runs read it equally often per step
        now = 0.0

        def __call__(self):
            self.now += 1.0
            return self.now

    def slow(lm):
        clock.now += 1000.0  # a probe that "takes" 1000 s
        return {"probe": 1.0}

    rates = []
    for probes in ([], [Probe(3, slow)]):
        clock = Clock()
        monkeypatch.setattr(loop.time, "perf_counter", clock)
        _, _, rec = _train(ready_workspace, tmp_path / f"run{len(rates)}", probes, extra=["training.max_steps=12"])
        rates.append([logs["tokens_per_s"] for logs in rec.logs])
    assert rates[0] == rates[1] and len(rates[0]) == 3


def test_babylm_fast_suite_is_scored_at_zero_and_the_end_as_eval_gives_it(ready_workspace, tmp_path):
    from core.evaluate.babylm import suite
    from core.train.probes import BABYLM_METRIC, babylm_probe
    from tests.core.evaluate.babylm_fixtures import write_evaluation_data

    data = write_evaluation_data(tmp_path / "d")
    cfg = config.load(find("tiny"), [*BASE, f"eval.babylm_fast_dir={data}"])
    _, tokenizer = load_train_data(cfg, ready_workspace)
    probe = babylm_probe(cfg, ready_workspace, tokenizer)
    assert probe.at_challenge and "blimp/blimp_fast" in probe.describe
    assert [s for s in range(0, 25) if probe.due(s, 24)] == [0, 24]  # every 0: start and end (and chck_)
    _, _, rec = _train(ready_workspace, tmp_path / "run", [probe])
    assert sorted(rec.at) == [0, 24]
    last, tokens, words = rec.at[24]
    assert set(last) == {f"{BABYLM_METRIC}/blimp_fast", f"{BABYLM_METRIC}/entity_tracking_fast"} and words > 0
    from transformers import AutoModelForCausalLM

    final = AutoModelForCausalLM.from_pretrained(tmp_path / "run").eval()
    expected = suite.run(final, tokenizer, suite.plan(data, fast=True), log=lambda m: None)["scoreboard"]
    assert last[f"{BABYLM_METRIC}/blimp_fast"] == pytest.approx(expected["blimp/blimp_fast"], abs=1e-9)


def test_a_missing_babylm_folder_is_a_config_issue(ready_workspace):
    from core.config.resolve import resolve_babylm

    cfg = config.load(find("tiny"), [*BASE, "eval.babylm_fast_dir=no_such_folder"])
    with pytest.raises(ConfigError, match="eval.babylm_fast_dir"):
        resolve_babylm(cfg, ready_workspace)


def test_babylm_probe_scores_reading_when_the_fast_folder_has_it(ready_workspace, tmp_path):
    from core.evaluate.babylm import suite
    from core.model.build import build_model
    from core.train.probes import BABYLM_METRIC, babylm_probe
    from tests.core.evaluate.babylm_fixtures import write_evaluation_data
    from tests.core.evaluate.test_babylm_reading import write_reading_csv

    data = write_evaluation_data(tmp_path / "d")
    write_reading_csv(data / "fast_eval" / "reading" / "reading_data.csv")
    cfg = config.load(find("tiny"), [*BASE, f"eval.babylm_fast_dir={data}"])
    _, tokenizer = load_train_data(cfg, ready_workspace)
    probe = babylm_probe(cfg, ready_workspace, tokenizer)
    assert "reading (" in probe.describe
    torch.manual_seed(0)
    lm = build_model(cfg.model, len(tokenizer)).eval()
    got = probe.measure(lm)
    expected = suite.run(lm, tokenizer, suite.plan(data, fast=True), log=lambda m: None)["reading"]
    assert got[f"{BABYLM_METRIC}/reading_eye"] == pytest.approx(expected["eye_tracking"], abs=1e-9)
    assert got[f"{BABYLM_METRIC}/reading_spr"] == pytest.approx(expected["self_paced"], abs=1e-9)
