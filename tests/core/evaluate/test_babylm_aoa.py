"""`--suite aoa`: the BabyLM AoA evaluation over chck_* checkpoints, checked against the official
rule re-implemented here without `core` (one context at a time, scipy's fits)."""

from __future__ import annotations

import csv
import json
import math
import re

import numpy as np
import pytest
import torch

from core.cli import main
from core.errors import UserError
from core.evaluate.babylm import aoa, aoa_fit, aoa_surprisal
from core.evaluate.options import EvalOptions
from core.evaluate.runner import run_eval
from core.workspace import Workspace
from tests.core.evaluate import babylm_fixtures as fx

MARKS = ("chck_1M", "chck_2M", "chck_5M", "chck_10M")
# 20 contexts each (the pipeline's minimum); "giraffe" is not in the tokenizer's text, so it is
# several tokens; "a" (one letter) and "cat" (3 contexts) are dropped by the official filter.
STEMS = [
    "the girl saw",
    "what did the",
    "many dogs ran to",
    "a robin can see",
    "the boy had",
    "ann is kind to",
    "box 1 contains",
    "  the cup is in the  ",
    "a fish can swim to",
    "who left the",
]
WORDS = ["dog", "ball", "giraffe", "cup", "fish", "box"]


def _contexts(word: str) -> list[str]:
    return [f"{stem} {n}" if n else stem for n in ("", "one") for stem in STEMS] + [STEMS[0]]  # a repeated context


def write_cdi(folder, *, human: bool = True) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    data = {w: [{"context": c} for c in _contexts(w)] for w in WORDS}
    data["a"] = data["dog"]
    data["cat"] = [{"context": "the cat"}] * 3
    (folder / "cdi_childes.json").write_text(json.dumps(data), encoding="utf-8")
    if human:
        with open(folder / "cdi_human.csv", "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["word", "category", *range(16, 31)])
            for i, word in enumerate(WORDS + ["cat"]):
                props = [1 / (1 + math.exp(-0.6 * (age - 19 - 1.5 * i))) for age in range(16, 31)]
                row = [f"{p:.4f}" for p in props]
                if word == "cup":
                    row[3] = ""  # a missing cell
                w.writerow([word, "noun", *row])


@pytest.fixture(scope="module")
def aoa_run(tmp_path_factory):
    """A workspace with run `r` (final model + 4 chck_* tiny random Llamas) and the CDI files."""
    root = tmp_path_factory.mktemp("aoa")
    ws = Workspace(root / "ws").ensure()
    tok = fx.make_tokenizer(root / "tok", add_bos=True)
    run = ws.run_dir("r")
    for i, name in enumerate(("", *MARKS)):
        folder = run / name if name else run
        fx.make_model(len(tok), seed=i).save_pretrained(folder)
        tok.save_pretrained(folder)
    write_cdi(root / "evaluation_data" / "full_eval" / "cdi_childes")
    return ws, run, root / "evaluation_data"


# ---- the official rule, re-implemented without core -------------------------------------------


def reference_surprisal(model, tokenizer, context: str, word: str) -> float:
    text = context.strip() + " " + word.strip()
    out = tokenizer(text=text, return_offsets_mapping=True)
    start = len(text) - len(word.strip())
    mask = [1 if end > start else 0 for _, end in out["offset_mapping"]]
    tokens = torch.tensor(out["input_ids"])[None]
    with torch.no_grad():
        logits = model(input_ids=tokens[:, :-1], attention_mask=torch.tensor(out["attention_mask"])[None, :-1]).logits
    logp = torch.log_softmax(logits, -1).gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return -(logp * torch.tensor(mask)[None, 1:]).sum(1)[0].item()


def _sig(x, a, b, c, d):
    return a / (1 + np.exp(-b * (x - c))) + d


def reference_child(ages, props):
    from scipy.optimize import curve_fit

    props = np.asarray(props, dtype=float)
    ok = ~np.isnan(props)
    if ok.sum() < 3:
        return None
    x, y = np.asarray(ages)[ok], props[ok]
    try:
        (a, b, c, d), _ = curve_fit(
            _sig, x, y, p0=[1.0, 0.1, np.mean(x), 0.0], bounds=([0, 0, x[0], -0.5], [2.0, 1.0, x[-1], 0.5]), maxfev=1000
        )
    except Exception:
        return None
    if b <= 0 or a <= 0 or not d < 0.5 < a + d:
        return None
    age = c - np.log(a / (0.5 - d) - 1) / b
    return None if age < x[0] or age > x[-1] else age


def reference_model(surprisals, steps):
    from scipy.optimize import curve_fit

    if len(surprisals) < 3:
        return None
    s, st = np.asarray(surprisals, dtype=float), np.asarray(steps, dtype=float)
    st, s = st[~np.isnan(s)], s[~np.isnan(s)]
    if not len(s):
        return None
    chance = np.log2(300_000)
    level = -(chance - 0.5 * (chance - s.min()))
    x = np.log10(st + 1)
    try:
        (a, b, c, d), _ = curve_fit(_sig, x, -s, p0=[s.max() - s.min(), 1.0, x.mean(), -s.max()], maxfev=1000)
    except Exception:
        return None
    if b <= 0 or a <= 0 or not d < level < a + d:
        return None
    log_step = c - np.log(a / (level - d) - 1) / b
    return None if 10**log_step - 1 < st[0] or 10**log_step - 1 > st[-1] else log_step


def reference_score(surprisal_json: dict, csv_path) -> tuple[float, list[str]]:
    from scipy.stats import pearsonr

    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    ages = [a for a in range(16, 31) if str(a) in rows[0]]
    human = {r["word"]: [float(r[str(a)]) if r[str(a)] else np.nan for a in ages] for r in reversed(rows)}
    points = {}
    for e in surprisal_json["results"]:
        m = re.search(r"(\d+(?:\.\d+)?)\s*([KMB]?)", e["step"], re.I)
        steps, values = points.setdefault(e["target_word"], ([], []))
        steps.append(float(m.group(1)) * {"K": 1e3, "M": 1e6, "B": 1e9, "": 1}[m.group(2).upper()])
        values.append(e["surprisal"])
    model, child, words = [], [], []
    for word, (steps, values) in points.items():
        if (
            word in human
            and (c := reference_child(ages, human[word])) is not None
            and (m := reference_model(values, steps)) is not None
        ):
            model.append(m)
            child.append(c)
            words.append(word)
    return (float(pearsonr(model, child)[0]) if len(model) >= 3 else 0.0), words


# ---- tests ----------------------------------------------------------------------------------


def test_batched_surprisal_equals_one_context_at_a_time(tmp_path):
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok), seed=3)
    contexts = [c for w in WORDS for c in _contexts(w)]
    words = [w for w in WORDS for _ in _contexts(w)]
    assert len(tok(" giraffe", add_special_tokens=False)["input_ids"]) > 1  # a word split across tokens
    got = aoa_surprisal.surprisals(model, aoa_surprisal.encode(tok, contexts, words), batch_size=7)
    want = [reference_surprisal(model, tok, c, w) for c, w in zip(contexts, words)]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-4)
    assert min(got) > 0


def test_surprisal_without_bos_skips_the_first_token(tmp_path):
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=False)
    model = fx.make_model(len(tok), seed=1)
    contexts, words = ["the girl saw", "", "  a dog  "], ["ball", "giraffe", "dog"]
    got = aoa_surprisal.surprisals(model, aoa_surprisal.encode(tok, contexts, words), batch_size=2)
    want = [reference_surprisal(model, tok, c, w) for c, w in zip(contexts, words)]
    assert np.allclose(got, want, rtol=1e-5, atol=1e-4)


def test_fits_match_the_reference_on_learning_curves():
    steps = [1e6, 2e6, 3e6, 5e6, 1e7, 2e7, 5e7, 1e8]
    rng = np.random.default_rng(0)
    points = {}
    for i, word in enumerate(WORDS):  # surprisal falls from ~14 to ~3 nats around a word-specific point
        mid = 6.2 + 0.25 * i
        curve = [3 + 11 / (1 + math.exp(4 * (math.log10(s) - mid))) for s in steps]
        points[word] = ([s for s in steps for _ in range(3)], [v + rng.normal(0, 0.1) for v in curve for _ in range(3)])
    human = aoa.ChildData(
        None,
        list(range(16, 31)),
        WORDS,
        [[1 / (1 + math.exp(-0.6 * (a - 19 - 1.5 * i))) for a in range(16, 31)] for i in range(len(WORDS))],
    )
    fit = aoa_fit.curve_fitness(points, human)
    for word, (st, values) in points.items():
        ours, ref = aoa_fit.model_aoa(values, st), reference_model(values, st)
        assert ours is not None and ref is not None and ours == pytest.approx(ref, abs=1e-9)
    assert fit.n_words == len(WORDS) and fit.curve_fitness > 0.9
    assert fit.child_aoas == pytest.approx([reference_child(human.ages, r) for r in human.rows], abs=1e-9)


def _reference_params(x, y, p0, **kwargs):
    from scipy.optimize import curve_fit

    return curve_fit(_sig, np.asarray(x, dtype=float), np.asarray(y, dtype=float), p0=p0, maxfev=1000, **kwargs)[0]


def test_the_report_draws_the_fitted_curves_the_score_reads():
    from core.evaluate.outputs import aoa_charts

    marks = {"chck_1M": 1e6, "chck_2M": 2e6, "chck_5M": 5e6, "chck_10M": 1e7, "chck_20M": 2e7, "chck_50M": 5e7, "chck_100M": 1e8}
    rng = np.random.default_rng(1)
    entries = []
    for name, seen in marks.items():
        for i, word in enumerate(WORDS):
            mid = 6.2 + 0.25 * i
            for cid in range(3):
                entries.append(
                    {
                        "step": name,
                        "word_count": int(seen),
                        "target_word": word,
                        "context_id": cid,
                        "context": f"c{cid}",
                        "surprisal": 3 + 11 / (1 + math.exp(4 * (math.log10(seen) - mid))) + rng.normal(0, 0.1),
                    }
                )
    rows = [[1 / (1 + math.exp(-0.6 * (a - 19 - 1.5 * i))) for a in range(16, 31)] for i in range(len(WORDS))]
    rows[1][4] = float("nan")  # a missing cell: the fit skips it
    human = aoa.ChildData(None, list(range(16, 31)), WORDS, rows)
    the_plan = aoa.AoAPlan(aoa.Words(None, WORDS, [["c0", "c1", "c2"]] * len(WORDS)), human, [], "r")
    fitness = aoa_fit.curve_fitness(aoa.fit_points(entries), human).as_dict()
    curves = aoa.plot_curves(the_plan, entries, fitness)
    assert list(curves["model_fit"]) == fitness["valid_words"][: aoa.PLOT_WORDS]
    for i, word in enumerate(curves["model_fit"]):
        mine = [e for e in entries if e["target_word"] == word]
        steps, values = [marks[e["step"]] for e in mine], [e["surprisal"] for e in mine]
        y, x = -np.asarray(values), np.log10(np.asarray(steps) + 1)
        a, b, c, d = _reference_params(x, y, [y.max() - y.min(), 1.0, x.mean(), y.min()])
        fitted = curves["model_fit"][word]
        assert fitted[0][0] == pytest.approx(1e6) and fitted[-1][0] == pytest.approx(1e8) and len(fitted) == 25
        assert [v for _, v in fitted] == pytest.approx([-_sig(np.log10(w + 1), a, b, c, d) for w, _ in fitted], abs=1e-6)
        assert curves["aoa"][word]["model_words"] == pytest.approx(10 ** reference_model(values, steps) - 1, rel=1e-9)
        ages = np.arange(16, 31)[~np.isnan(rows[i])]
        ca, cb, cc, cd = _reference_params(
            ages,
            np.asarray(rows[i])[~np.isnan(rows[i])],
            [1.0, 0.1, ages.mean(), 0.0],
            bounds=([0, 0, 16, -0.5], [2.0, 1.0, 30, 0.5]),
        )
        child = dict(map(tuple, curves["children_fit"][word]))
        assert set(child) >= set(range(16, 31)) and 16.5 in child
        assert [child[age] for age in range(16, 31)] == pytest.approx(
            [_sig(age, ca, cb, cc, cd) for age in range(16, 31)], abs=1e-6
        )
        assert curves["aoa"][word]["child_months"] == pytest.approx(reference_child(human.ages, rows[i]), abs=1e-9)
        assert len(curves["children"][word]) == 15 - (word == WORDS[1])
    model_chart, child_chart = aoa_charts({"curves": curves})
    for chart in (model_chart, child_chart):
        dashed = [item for item in chart.items if item[0] == "line" and item[-1] is True]
        assert len(dashed) >= len(curves["model_fit"]) * 14
        assert sum("(AoA " in item[3] for item in chart.items if item[0] == "text") == len(curves["model_fit"])
    assert "fitted" in model_chart.title and "fitted" in child_chart.title


def test_failed_fits_and_names():
    assert aoa_fit.child_aoa(range(16, 31), [np.nan] * 13 + [0.5, 0.6]) is None  # under 3 values
    assert aoa_fit.model_aoa([5.0, 5.0], [1e6, 2e6]) is None
    assert aoa_fit.model_aoa([5.0, 5.0, 5.0], [1e6, 2e6, 3e6]) is None  # a flat curve never crosses
    assert aoa_fit.step_words("chck_10M") == 1e7 and aoa_fit.step_words("chck_20k") == 2e4
    assert aoa_fit.step_words("main") is None
    human = aoa.ChildData(None, [16, 17, 18], ["x"], [[0.1, 0.5, 0.9]])
    assert aoa_fit.curve_fitness({"x": ([1e6] * 3, [1.0, 2.0, 3.0])}, human).curve_fitness == 0.0


def test_eval_aoa_writes_surprisal_json_as_the_pipeline(aoa_run, tmp_path):
    ws, run, data = aoa_run
    out = tmp_path / "out"
    lines = []
    results, folder = run_eval(
        EvalOptions(
            model="r", suites=("aoa",), babylm_data=str(data), output=str(out), device="cpu", batch_size=16, suites_given=True
        ),
        ws,
        log=lines.append,
    )
    path = out / "results" / "r" / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json"
    got = json.loads(path.read_text())
    assert got["metadata"] == {"model_name": "r", "use_bos_only": False, "total_steps": 4, "completed_steps": 4}
    assert [e["step"] for e in got["results"][:: len(got["results"]) // 4]] == list(MARKS)
    assert {e["target_word"] for e in got["results"]} == set(WORDS)  # "a" and "cat" dropped
    assert got["results"][7]["context"] == "  the cup is in the  "  # written as given, stripped when scored
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    for name, words_seen in zip(MARKS, (1_000_000, 2_000_000, 5_000_000, 10_000_000)):
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(run / name).eval()
        mine = [e for e in got["results"] if e["step"] == name]
        assert all(e["word_count"] == words_seen for e in mine)
        for e in mine[::5]:
            assert e["surprisal"] == pytest.approx(
                reference_surprisal(model, tok, e["context"], e["target_word"]), rel=1e-5, abs=1e-4
            )
    score, words = reference_score(got, data / "full_eval" / "cdi_childes" / "cdi_human.csv")
    s = results["suites"]["aoa"]
    assert s["score"] == pytest.approx(score, abs=1e-9) and s["fitness"]["valid_words"] == words
    # Random checkpoints learn nothing: no word's surprisal falls through the threshold, so no model
    # AoA, under 3 words, and the pipeline's 0.0 (docs/evaluation.md, "AoA on untrained checkpoints").
    assert s["score"] == 0.0 and s["fitness"]["n_words"] < 3
    assert all(v["model_words"] is None for v in s["curves"]["aoa"].values())
    assert "_files" not in s and s["contexts"] == 4 * len(WORDS) * 21
    assert json.loads((path.parent / "aoa_score.json").read_text())["aoa"] == pytest.approx(score, abs=1e-9)
    saved = json.loads((out / "results.json").read_text())["suites"]["aoa"]
    assert saved["layout"] == "results/r/main/zero_shot/causal/AoA_word" and len(saved["checkpoints"]) == 4
    assert any("ETA" in line for line in lines) and any("a submission needs the official 19" in line for line in lines)
    html = (out / "report.html").read_text()
    assert "Age of acquisition" in html and "AoA: model surprisal by words seen" in html


# Nonsense words of 6-8 tokens: a random model's surprisal of each (~25-40 nats) is far above the
# threshold, so a model that learns them crosses it; word i is drawn with weight 2^-i, so it is
# learned later the larger i is, and the children's curves (write_cdi's rows) rise later too.
LEARNED_WORDS = ["zorblat", "quimble", "vexnor", "plindar", "growzek", "thrumble"]
LEARNED_MARKS = {5: "chck_1M", 10: "chck_2M", 25: "chck_5M", 50: "chck_10M", 100: "chck_20M", 250: "chck_50M", 500: "chck_100M"}


def _train_and_save(model, tok, optimizer, rng, p, run) -> None:
    for step in range(1, max(LEARNED_MARKS) + 1):
        words = rng.choice(LEARNED_WORDS, size=16, p=p)
        texts = [_contexts(w)[rng.integers(21)].strip() + " " + w for w in words]
        batch = tok(texts, return_tensors="pt", padding=True)
        loss = model(**batch, labels=batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in LEARNED_MARKS:
            for folder in (run / LEARNED_MARKS[step], run):
                model.save_pretrained(folder)
                tok.save_pretrained(folder)


@pytest.fixture(scope="module")
def learned_run(tmp_path_factory):
    """Run `learn`: a tiny Llama trained 500 steps on the CDI contexts followed by their word (the
    frequency ramp above), its weights saved at 7 steps as chck_1M ... chck_100M; and the CDI files."""
    root = tmp_path_factory.mktemp("aoa-learned")
    ws = Workspace(root / "ws").ensure()
    tok = fx.make_tokenizer(root / "tok", add_bos=True)
    run = ws.run_dir("learn")
    model = fx.make_model(len(tok), seed=0).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    weights = np.array([2.0**-i for i in range(len(LEARNED_WORDS))])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small only loses to thread hand-offs on a busy machine
    try:
        _train_and_save(model, tok, optimizer, rng, weights / weights.sum(), run)
    finally:
        torch.set_num_threads(threads)
    cdi = root / "evaluation_data" / "full_eval" / "cdi_childes"
    cdi.mkdir(parents=True)
    (cdi / "cdi_childes.json").write_text(json.dumps({w: [{"context": c} for c in _contexts(w)] for w in LEARNED_WORDS}))
    with open(cdi / "cdi_human.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["word", "category", *range(16, 31)])
        for i, word in enumerate(LEARNED_WORDS):
            writer.writerow([word, "noun", *(f"{1 / (1 + math.exp(-0.6 * (a - 19 - 1.5 * i))):.4f}" for a in range(16, 31))])
    return ws, run, root / "evaluation_data"


def test_eval_aoa_on_checkpoints_that_learn(learned_run, tmp_path):
    """Surprisal falls checkpoint by checkpoint, later for the rarer words: every word gets a model
    AoA, in the children's order, and the score is the reference's, well above 0."""
    ws, run, data = learned_run
    out = tmp_path / "out"
    results, _ = run_eval(
        EvalOptions(
            model="learn", suites=("aoa",), babylm_data=str(data), output=str(out), device="cpu", batch_size=64, suites_given=True
        ),
        ws,
        log=lambda *_: None,
    )
    got = json.loads((out / "results" / "learn" / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json").read_text())
    assert [c["name"] for c in results["suites"]["aoa"]["checkpoints"]] == list(LEARNED_MARKS.values())
    means = [c["mean_surprisal"] for c in results["suites"]["aoa"]["checkpoints"]]
    assert means[0] > 20 > 5 > means[-1]  # it learned
    score, words = reference_score(got, data / "full_eval" / "cdi_childes" / "cdi_human.csv")
    s = results["suites"]["aoa"]
    assert s["score"] == pytest.approx(score, abs=1e-9) and s["fitness"]["valid_words"] == words
    assert s["fitness"]["n_words"] >= 5 and s["score"] > 0.8
    assert all(s["curves"]["aoa"][w]["model_words"] is not None for w in s["curves"]["model_fit"])


def test_eval_aoa_cli_errors(aoa_run, tmp_path, capsys):
    ws, run, data = aoa_run
    lone = ws.run_dir("lone")
    tok = fx.make_tokenizer(lone, add_bos=True)
    fx.make_model(len(tok), seed=9).save_pretrained(lone)
    rc = main(["eval", "lone", "--suite", "aoa", "--babylm-data", str(data), "--workspace", str(ws.root)])
    assert rc == 2 and "training.checkpoint_words: babylm" in capsys.readouterr().err
    rc = main(["eval", "r", "--suite", "aoa", "--babylm-data", str(tmp_path), "--workspace", str(ws.root)])
    assert rc == 2 and "no cdi_childes.json" in capsys.readouterr().err


def test_bad_cdi_files_name_the_file_and_column(tmp_path):
    (tmp_path / "cdi_childes.json").write_text('{"dog": [{"text": "a"}]}')
    with pytest.raises(UserError, match=r"cdi_childes.json: word 'dog'"):
        aoa.read_words(tmp_path / "cdi_childes.json")
    (tmp_path / "cdi_human.csv").write_text("lemma,16,17\ndog,0.1,0.2\n")
    with pytest.raises(UserError, match=r"no 'word' column"):
        aoa.read_human(tmp_path / "cdi_human.csv")
    (tmp_path / "cdi_human.csv").write_text("word,16,17\ndog,0.1,lots\n")
    with pytest.raises(UserError, match=r"line 2, column '17'"):
        aoa.read_human(tmp_path / "cdi_human.csv")
    (tmp_path / "cdi_human.csv").write_text("word,age\ndog,0.1\n")
    with pytest.raises(UserError, match=r"no age columns"):
        aoa.read_human(tmp_path / "cdi_human.csv")


def test_an_export_folder_is_evaluated_through_main(aoa_run, tmp_path):
    import shutil

    ws, run, data = aoa_run
    export = tmp_path / "myexport"
    shutil.copytree(run / "chck_1M", export / "main")
    for name in MARKS[:3]:
        shutil.copytree(run / name, export / name)
    results, _ = run_eval(
        EvalOptions(
            model=str(export), suites=("aoa",), babylm_data=str(data), output=str(tmp_path / "o"), device="cpu", suites_given=True
        ),
        ws,
        log=lambda _: None,
    )
    assert [c["name"] for c in results["suites"]["aoa"]["checkpoints"]] == list(MARKS[:3])
    assert (tmp_path / "o" / "results" / "myexport" / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json").is_file()
