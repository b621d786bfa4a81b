"""BabyLM fine-tuning (`--suite glue`): the head and the lr schedule against re-implementations of
the pipeline's rules written here without `core`, the task files, the scores and the official files,
best-epoch selection, and one tiny end-to-end fine-tuning through `babyllama eval`."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from core.errors import UserError
from core.evaluate.babylm.finetune import head, metrics, outputs, recipe, tasks, train

# ---- fixtures: tiny task files in the official format ----------------------------------------


def _rows(task: str, n: int, offset: int = 0) -> list[dict]:
    words = ["the cat sat", "a dog ran", "birds sing", "it rains", "we play", "they read"]
    out = []
    for i in range(offset, offset + n):
        a, b = words[i % len(words)], words[(i * 5 + 1) % len(words)]
        if task == "mnli":
            out.append({"premise": a, "hypothesis": b, "label": i % 3})
        elif task == "wsc":
            out.append({"text": f"{a} and it {b}", "span1_text": a.split()[-1], "span2_text": "it", "label": i % 2})
        elif task == "multirc":
            out.append({"paragraph": f"{a}. {b}.", "question": f"who {b}?", "answer": a, "label": i % 2})
        else:
            out.append({"sentence1": a, "sentence2": b, "label": i % 2})
    return out


def write_glue(root, counts: dict[str, tuple[int, int]]):
    """evaluation_data/full_eval/glue_filtered/<task>.{train,valid}.jsonl with (train, valid) examples."""
    folder = root / "evaluation_data" / "full_eval" / "glue_filtered"
    folder.mkdir(parents=True)
    for task, (n_train, n_valid) in counts.items():
        for split, n, offset in (("train", n_train, 0), ("valid", n_valid, 1000)):
            lines = [json.dumps(r) for r in _rows(task, n, offset)]
            (folder / f"{task}.{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root / "evaluation_data"


# ---- the head and the schedule, against the pipeline's rules re-written here -------------------


def reference_head(hidden: int, labels: int) -> nn.Module:
    """The pipeline's classifier: LayerNorm (no affine), Linear, GELU, LayerNorm (no affine), Dropout 0.1, Linear."""
    return nn.Sequential(
        nn.LayerNorm(hidden, 1e-5, elementwise_affine=False),
        nn.Linear(hidden, hidden),
        nn.GELU(),
        nn.LayerNorm(hidden, 1e-5, elementwise_affine=False),
        nn.Dropout(0.1),
        nn.Linear(hidden, labels),
    )


def reference_factor(step: int, warmup: int, total: int, floor: float = 0.1) -> float:
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(floor, floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def test_head_gives_the_reference_logits_from_the_same_seed():
    torch.manual_seed(3)
    ours = head.ClassifierHead(16, 3).eval()
    torch.manual_seed(3)
    ref = reference_head(16, 3).eval()
    x = torch.randn(5, 16)
    assert torch.equal(ours(x), ref(x))
    assert [type(m).__name__ for m in ours.nonlinearity] == [type(m).__name__ for m in ref]
    assert sum(p.numel() for p in ours.parameters()) == 16 * 16 + 16 + 16 * 3 + 3  # no LayerNorm weights
    ours.train()
    torch.manual_seed(0)
    a = ours(x)
    torch.manual_seed(0)
    assert not torch.equal(a, ours.eval()(x))  # dropout acts in training mode only


def test_first_pooling_reads_position_0_and_last_the_last_real_token():
    hidden = torch.arange(2 * 4 * 3, dtype=torch.float).reshape(2, 4, 3)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    assert torch.equal(head.pool(hidden, mask, "first"), hidden[:, 0])
    assert torch.equal(head.pool(hidden, mask, "last"), torch.stack([hidden[0, 3], hidden[1, 1]]))


@pytest.mark.parametrize("warmup,total", [(6, 100), (0, 3), (1, 20), (30, 500)])
def test_schedule_matches_the_reference_at_every_step(warmup, total):
    for step in range(total + 3):
        assert recipe.lr_factor(step, warmup, total, 0.1) == pytest.approx(reference_factor(step, warmup, total))
    # and through LambdaLR as the loop uses it: lr before each optimizer step
    opt = torch.optim.AdamW([nn.Parameter(torch.zeros(1))], lr=3e-5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: recipe.lr_factor(s, warmup, total, 0.1))
    for step in range(total):
        assert opt.param_groups[0]["lr"] == pytest.approx(3e-5 * reference_factor(step, warmup, total))
        opt.step()
        sched.step()


def test_official_recipes_follow_the_script():
    r = {t: recipe.official(t, tasks.SPECS[t].num_labels) for t in tasks.TASKS}
    assert [r[t].batch_size for t in tasks.TASKS] == [16, 16, 32, 32, 32, 32, 32]
    assert [r[t].epochs for t in tasks.TASKS] == [10, 10, 10, 30, 10, 10, 10]
    assert [r[t].metric_for_valid for t in tasks.TASKS] == ["accuracy"] * 4 + ["f1", "f1", "accuracy"]
    assert r["mnli"].metrics == ("accuracy",) and r["mnli"].num_labels == 3
    assert r["rte"].metrics == ("accuracy", "f1", "mcc")
    assert (r["rte"].lr, r["rte"].seed, r["rte"].weight_decay, r["rte"].max_length) == (3e-5, 42, 0.01, 512)
    # 100 examples at batch 32: 3 full batches an epoch, 30 steps, int(0.06 * 30) = 1 warm-up step
    assert (r["rte"].total_steps(100), r["rte"].warmup_steps(100)) == (30, 1)


# ---- task files --------------------------------------------------------------------------------


def test_pairs_are_built_per_task(tmp_path):
    root = write_glue(tmp_path, {"wsc": (2, 1), "multirc": (2, 1), "mnli": (3, 3), "rte": (1, 1)})
    data = {d.spec.name: d for d in tasks.load_tasks(root, ("rte", "wsc", "multirc", "mnli"))}
    wsc = data["wsc"].train[0]
    assert wsc.a == 'Does "it" refer to "sat" in this passage?' and wsc.b == "the cat sat and it a dog ran"
    mrc = data["multirc"].train[0]
    assert mrc.a == "Question: who a dog ran? Answer: the cat sat" and mrc.b == "the cat sat. a dog ran."
    assert [e.label for e in data["mnli"].train] == [0, 1, 2]
    assert (data["rte"].train[0].a, data["rte"].train[0].b) == ("the cat sat", "a dog ran")
    # the folder can be given as evaluation_data/, full_eval/ or glue_filtered/ itself
    assert tasks.find_folder(root) == tasks.find_folder(root / "full_eval") == root / "full_eval" / "glue_filtered"
    with pytest.raises(UserError, match="fast_eval/ has no GLUE"):
        tasks.find_folder(tmp_path)


@pytest.mark.parametrize(
    "line,message",
    [
        ('{"sentence1": "a", "label": 1}', "field 'sentence2' is missing"),
        ('{"sentence1": "a", "sentence2": 3, "label": 1}', "field 'sentence2' is a int"),
        ('{"sentence1": "a", "sentence2": "b", "label": 2}', "labels are the integers 0..1"),
        ('{"sentence1": "a", "sentence2": "b", "label": true}', "field 'label' is True"),
        ('{"sentence1": "a", "sentence2": ', "not valid JSON"),
    ],
)
def test_bad_lines_name_the_file_line_and_field(tmp_path, line, message):
    root = write_glue(tmp_path, {"rte": (2, 1)})
    path = root / "full_eval" / "glue_filtered" / "rte.train.jsonl"
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(UserError, match=message) as err:
        tasks.load_tasks(root, ("rte",))
    assert f"{path}:3" in str(err.value)


def test_mnli_accepts_three_labels_and_rejects_a_fourth(tmp_path):
    root = write_glue(tmp_path, {"mnli": (3, 1)})
    path = root / "full_eval" / "glue_filtered" / "mnli.valid.jsonl"
    path.write_text('{"premise": "a", "hypothesis": "b", "label": 3}\n')
    with pytest.raises(UserError, match=r"mnli.valid.jsonl:1: field 'label' is 3; mnli labels are the integers 0..2"):
        tasks.load_tasks(root, ("mnli",))


def test_unknown_task_and_missing_file(tmp_path):
    with pytest.raises(UserError, match="--tasks: unknown task"):
        tasks.parse_tasks("rte,cola")
    assert tasks.parse_tasks("mnli, RTE") == ("rte", "mnli")  # the script's order
    root = write_glue(tmp_path, {"rte": (2, 1)})
    with pytest.raises(UserError, match="mrpc.train.jsonl: missing"):
        tasks.load_tasks(root, ("mrpc",))


# ---- scores and files --------------------------------------------------------------------------


def test_scores_match_hand_computed_values():
    labels, preds = [1, 1, 0, 0], [1, 0, 0, 0]  # tp 1, fn 1, tn 2, fp 0
    got = metrics.scores(labels, preds, ("accuracy", "f1", "mcc"))
    assert got == pytest.approx({"accuracy": 0.75, "f1": 2 / 3, "mcc": 2 / math.sqrt(12)})
    assert list(got) == ["accuracy", "f1", "mcc"]
    assert metrics.f1([0, 0], [0, 0]) == 0.0 and metrics.mcc([1, 1], [1, 1]) == 0.0  # undefined -> 0.0
    assert metrics.mcc([0, 1, 2], [0, 1, 2]) == pytest.approx(1.0)


def test_official_files_are_written_as_the_pipeline_writes_them():
    assert outputs.results_text({"accuracy": 0.5, "f1": 0.25, "mcc": 0.0}) == "accuracy: 0.5\nf1: 0.25\nmcc: 0.0"
    text = outputs.predictions_json("rte", [1, 0])
    assert text == '{"rte": {"predictions": [{"id": "rte_0", "pred": 1}, {"id": "rte_1", "pred": 0}]}}'
    assert set(outputs.task_files(outputs.layout("m", ""), "rte", {"accuracy": 1.0}, [1])) == {
        "results/m/main/finetune/rte/results.txt",
        "results/m/main/finetune/rte/predictions.json",
    }


# ---- the loop: best epoch, determinism, the caller's model untouched -----------------------------


def _scripted_predict(monkeypatch, epochs: list[list[int]]):
    """train.predict returns these predictions, one list per epoch (the loop itself runs for real)."""
    calls = iter(epochs)
    monkeypatch.setattr(train, "predict", lambda *args, **kwargs: list(next(calls)))


def test_best_epoch_is_kept_when_a_later_one_is_worse(tiny, monkeypatch):
    model, tok = tiny
    data = [tasks.Example("a b", "c", i % 2) for i in range(8)]
    valid = [tasks.Example("a", "b", y) for y in (1, 0, 1, 0)]
    # epoch accuracies 0.5, 1.0, 0.0, 1.0 (a tie later: the first best stays)
    _scripted_predict(monkeypatch, [[1, 1, 1, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
    r = recipe.Recipe(task="rte", batch_size=4, epochs=4)
    got = train.finetune(model, tok, data, valid, r, log=lambda m: None)
    assert got.best_epoch == 2 and got.predictions == [1, 0, 1, 0] and got.scores["accuracy"] == 1.0
    assert [e.scores["accuracy"] for e in got.epochs] == [0.5, 1.0, 0.0, 1.0]
    assert got.steps == 8 and all(e.examples_per_s > 0 for e in got.epochs)


def test_f1_picks_the_best_epoch_for_mrpc(tiny, monkeypatch):
    model, tok = tiny
    data = [tasks.Example("a b", "c", i % 2) for i in range(4)]
    valid = [tasks.Example("a", "b", y) for y in (1, 0, 0, 0)]
    # epoch 1: accuracy 0.75, f1 0; epoch 2: accuracy 0.5, f1 0.5
    _scripted_predict(monkeypatch, [[0, 0, 0, 0], [1, 1, 1, 0]])
    r = recipe.Recipe(task="mrpc", batch_size=4, epochs=2, metric_for_valid="f1")
    got = train.finetune(model, tok, data, valid, r, log=lambda m: None)
    assert got.best_epoch == 2 and got.scores["f1"] == pytest.approx(0.5)


def test_training_is_seeded_trains_the_body_and_leaves_the_model_alone(tiny, monkeypatch):
    model, tok = tiny
    built = []
    real_build = train.build_classifier
    monkeypatch.setattr(train, "build_classifier", lambda *a: built.append(real_build(*a)) or built[-1])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = [tasks.Example(f"w{i} a b", "c d", i % 2) for i in range(16)]
    valid = [tasks.Example(f"w{i} c", "d", i % 2) for i in range(6)]
    r = recipe.Recipe(task="rte", batch_size=8, epochs=2, lr=1e-3)
    one = train.finetune(model, tok, data, valid, r, log=lambda m: None)
    two = train.finetune(model, tok, data, valid, r, log=lambda m: None)
    assert [e.loss for e in one.epochs] == [e.loss for e in two.epochs]
    assert one.predictions == two.predictions and one.epochs[0].loss > 0
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # the body is trained, not frozen: every body weight moved away from the model's
    tuned = built[0].body.state_dict()
    assert all(not torch.equal(before[f"model.{k}"], v) for k, v in tuned.items() if "inv_freq" not in k)


def test_first_pooling_ignores_padding_and_last_reads_the_end(tiny):
    model, tok = tiny
    r = recipe.Recipe(task="rte")
    for pooling in ("first", "last"):
        clf = train.build_classifier(model, r, pooling, model.device).eval()
        rows = train.encode(tok, [tasks.Example("the cat", "sat down", 0)], 512)
        alone = clf(*train._batch(rows, 0, model.device))
        padded = clf(*train._batch(rows + [rows[0] + [5, 6, 7]], 0, model.device))[:1]
        assert torch.allclose(alone, padded, atol=1e-5)
    ids = rows[0]
    assert ids[0] == tok.bos_token_id and ids.count(tok.bos_token_id) == 2  # "<s> A <s> B": the tokenizer's pair


# ---- end to end through `babyllama eval` -------------------------------------------------------


def test_eval_glue_writes_the_official_files(eval_ws, tmp_path, capsys):
    from core.cli import main
    from core.history import open_history

    data = write_glue(tmp_path, {"rte": (40, 6), "mnli": (36, 9), "wsc": (3, 2)})
    out = tmp_path / "out"
    rc = main(
        [
            "eval",
            "r1",
            "--suite",
            "glue",
            "--babylm-data",
            str(data),
            "--tasks",
            "rte,mnli",
            "--epochs",
            "2",
            "--output",
            str(out),
            "--workspace",
            str(eval_ws.root),
        ]
    )
    assert rc == 0
    log = capsys.readouterr().out
    assert "glue rte: epoch 2/2" in log and "examples/s, ETA" in log and "NOT the official run" in log
    base = out / "results" / "r1" / "main" / "finetune"
    assert sorted(p.name for p in base.iterdir()) == ["mnli", "rte"]
    rte = (base / "rte" / "results.txt").read_text()
    assert [line.split(": ")[0] for line in rte.split("\n")] == ["accuracy", "f1", "mcc"] and not rte.endswith("\n")
    mnli = (base / "mnli" / "results.txt").read_text()
    assert mnli.startswith("accuracy: ") and "f1" not in mnli
    preds = json.loads((base / "mnli" / "predictions.json").read_text())
    assert [p["id"] for p in preds["mnli"]["predictions"]] == [f"mnli_{i}" for i in range(9)]
    assert all(p["pred"] in (0, 1, 2) for p in preds["mnli"]["predictions"])
    g = json.loads((out / "results.json").read_text())["suites"]["glue"]
    assert "_files" not in g and g["official"] is False and g["pooling"] == "first"
    assert any("--epochs 2" in d for d in g["deviations"]) and any("context" in d for d in g["deviations"])
    assert g["tasks"]["rte"]["steps"] == 2 and len(g["tasks"]["mnli"]["epochs"]) == 2
    accuracy = float(rte.split("\n")[0].split(": ")[1])
    assert g["tasks"]["rte"]["scores"]["accuracy"] == accuracy
    assert "BabyLM fine-tuning (GLUE)" in (out / "report.html").read_text()
    with open_history(eval_ws) as history:
        rows = {(r["suite"], r["name"]): r["value"] for r in history.evals("r1")}
    assert rows[("glue", "rte/accuracy")] == accuracy


def test_eval_glue_refuses_bad_options_and_too_little_data(eval_ws, tmp_path, capsys):
    from core.cli import main

    data = write_glue(tmp_path, {"rte": (10, 2)})
    args = ["eval", "r1", "--suite", "glue", "--babylm-data", str(data), "--workspace", str(eval_ws.root)]
    assert main(args + ["--tasks", "cola"]) == 2
    assert "--tasks: unknown task(s) cola" in capsys.readouterr().err
    assert main(args + ["--tasks", "rte"]) == 2  # 10 examples < one batch of 32
    assert "fewer than one batch of 32" in capsys.readouterr().err
    assert main(args + ["--tasks", "rte", "--epochs", "-1"]) == 2
    assert "--epochs: must be 0 or more" in capsys.readouterr().err


def test_eval_glue_job_command_records_the_flags():
    from core.cli.eval_cmds import _command
    from core.evaluate.options import EvalOptions

    opts = EvalOptions(model="r1", suites=("glue",), tasks="rte", pooling="last", epochs=1, max_train_examples=64)
    command = _command(EvalOptions.from_dict(opts.to_dict()))
    assert command == "babyllama eval r1 --suite glue --tasks rte --pooling last --epochs 1 --max-train-examples 64"


def test_glue_job_through_the_worker_reports_training_steps(eval_ws, tmp_path, monkeypatch, capsys):
    """What `--detach` starts, run in-process: the job records optimizer steps while it fine-tunes."""
    from core.evaluate.options import EvalOptions
    from core.history import History, open_history
    from core.jobs import worker

    calls = []
    real = History.update_progress

    def spy(self, name, step, total=None):
        calls.append((name, step, total))
        real(self, name, step, total)

    monkeypatch.setattr(History, "update_progress", spy)
    data = write_glue(tmp_path, {"rte": (40, 4)})
    params = EvalOptions(
        model="r1",
        suites=("glue",),
        babylm_data=str(data),
        tasks="rte",
        epochs=3,
        output=str(tmp_path / "out"),
        suites_given=True,
    ).to_dict()
    job_dir = eval_ws.root / "jobs" / "eval-glue-test"
    job_dir.mkdir(parents=True)
    job = {"kind": "eval", "name": "eval-glue-test", "workspace": str(eval_ws.root), "num_processes": 1, "params": params}
    (job_dir / "job.json").write_text(json.dumps(job))
    with open_history(eval_ws) as history:
        history.create_run("eval-glue-test", "eval", params, job_dir)
    assert worker.run_job(job_dir) == 0
    assert ("eval-glue-test", 3, 3) in calls  # 3 epochs x 1 full batch of 32: the training steps
    assert "glue rte: epoch 3/3" in capsys.readouterr().out
    assert (tmp_path / "out" / "results" / "r1" / "main" / "finetune" / "rte" / "predictions.json").is_file()
    with open_history(eval_ws) as history:
        assert history.get_run("eval-glue-test").status == "finished"


@pytest.mark.slow
def test_a_detached_glue_job_shows_progress_and_eta_in_runs_show_and_the_studio(eval_ws, tmp_path, capsys):
    """A real background fine-tuning job: while it runs, `runs show` and the studio's job status
    give its optimizer steps and an ETA; once finished, no ETA."""
    import time

    from core.cli import main
    from studio.context import StudioContext
    from studio.shared import job_view

    data = write_glue(tmp_path, {"rte": (320, 4)})
    args = [
        "eval",
        "r1",
        "--suite",
        "glue",
        "--babylm-data",
        str(data),
        "--tasks",
        "rte",
        "--epochs",
        "3",
        "--output",
        str(tmp_path / "out"),
        "--workspace",
        str(eval_ws.root),
        "--detach",
    ]
    assert main(args) == 0
    job = capsys.readouterr().out.split("eval job ")[1].split()[0]
    seen_cli = seen_studio = ""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (seen_cli and seen_studio):
        assert main(["runs", "show", job, "--workspace", str(eval_ws.root)]) == 0
        out = capsys.readouterr().out
        if "eta: " in out:
            seen_cli = out
        status, _, run = job_view(StudioContext(eval_ws), job)
        if "ETA " in status:
            seen_studio = status
        if run.status not in ("queued", "running"):
            break
        time.sleep(0.3)
    assert "total_steps: 30" in seen_cli and "(at its pace since it started)" in seen_cli, seen_cli
    assert "/30 · ETA " in seen_studio, seen_studio  # 3 epochs x 10 batches of 32
    while main(["runs", "show", job, "--workspace", str(eval_ws.root)]) == 0 and time.monotonic() < deadline:
        out = capsys.readouterr().out
        if "status: finished" in out or "status: failed" in out:
            break
        time.sleep(0.5)
    assert "status: finished" in out and "eta: " not in out, out
