"""The BabyLM suite against an independent re-implementation of the official pipeline's rule
(`babylm_reference`, no `core` import), on hand-written items of every task format."""

from __future__ import annotations

import json

import pytest
import torch

from core.errors import UserError
from core.evaluate.babylm import results as res
from core.evaluate.babylm import scorer, suite, tasks
from tests.core.evaluate import babylm_fixtures as fx
from tests.core.evaluate import babylm_reference as ref

TEMPS = [1.0, 1.5, 2.0]
FOLDERS = [
    ("blimp", "blimp_filtered"),
    ("blimp", "supplement_filtered"),
    ("ewok", "ewok_filtered"),
    ("entity_tracking", "entity_tracking"),
    ("wug_adj", "wug_adj_nominalization"),
    ("comps", "comps"),
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return fx.write_evaluation_data(tmp_path_factory.mktemp("babylm"))


@pytest.fixture(scope="module", params=["bos", "nobos"])
def lm(request, tmp_path_factory):
    tok = fx.make_tokenizer(tmp_path_factory.mktemp(request.param), add_bos=request.param == "bos")
    return fx.make_model(len(tok)), tok


@pytest.mark.parametrize("task,folder", FOLDERS)
def test_scores_decisions_and_files_equal_the_official_rule(data, lm, task, folder):
    model, tok = lm
    path = data / "full_eval" / folder
    items = ref.read_items(path, task)
    expected = ref.candidate_scores(model, tok, items, TEMPS, batch_size=2)  # padded batches of 2 items
    ours_task = tasks.read_task(path, task)
    sentences = [s for it in ours_task.items for s in it.sentences]
    completions = [c for it in ours_task.items for c in it.completions]
    flat = scorer.score_all(model, scorer.encode_all(tok, sentences, completions), TEMPS, batch_size=3)
    item_scores, at = [], 0
    for it in ours_task.items:
        item_scores.append(flat[at : at + len(it.sentences)])
        at += len(it.sentences)
    for t in range(len(TEMPS)):
        for i, cands in enumerate(item_scores):
            assert [c[t] for c in cands] == pytest.approx(expected[t][i], abs=1e-4), (t, i)
    result = res.evaluate_task(ours_task, item_scores, TEMPS)
    official = ref.evaluate(items, expected, TEMPS, task)
    assert result["chosen"] == official["chosen"]
    assert result["temperature"] == official["temperature"]
    assert res.report_text(result) == official["report"]
    mine = json.loads(res.predictions_json(ours_task, result))
    assert [r["id"] for u in mine.values() for r in u["predictions"]] == [
        r["id"] for u in official["predictions"].values() for r in u["predictions"]
    ]
    for uid, block in official["predictions"].items():
        for got, want in zip(mine[uid]["predictions"], block["predictions"]):
            assert got["pred"] == want["pred"]
            assert got.get("prob", 0.0) == pytest.approx(want.get("prob", 0.0), abs=1e-5)


def test_a_tie_goes_to_the_first_candidate(data, lm):
    model, tok = lm
    t = tasks.read_task(data / "full_eval" / "blimp_filtered", "blimp")
    tie = next(i for i, it in enumerate(t.items) if it.sentences[0] == it.sentences[1])
    enc = scorer.encode_all(tok, t.items[tie].sentences, t.items[tie].completions)
    a, b = scorer.score_all(model, enc, [1.0])
    assert a == b  # identical candidates score identically, whatever the batching
    assert res.first_argmax([a[0], b[0]]) == 0


def test_first_token_is_scored_only_after_a_bos(lm):
    model, tok = lm
    sentence = "Zyxglorbington admired himself."
    (enc,) = scorer.encode_all(tok, [sentence], [sentence])
    plain = tok(sentence, add_special_tokens=False)["input_ids"]
    has_bos = enc.tokens[0] == tok.bos_token_id
    assert len(plain) > 3  # a multi-token first word
    assert sum(enc.scored[1:]) == len(plain) - (0 if has_bos else 1)
    assert suite.scoring_rule(tok)["first_token_scored"] is has_bos


def test_completion_starting_mid_token_scores_the_whole_token(lm):
    _, tok = lm
    sentence, completion = "Box 1 contains the apple.", "le."
    (enc,) = scorer.encode_all(tok, [sentence], [completion])
    offsets = tok(sentence, return_offsets_mapping=True)["offset_mapping"]
    start = len(sentence) - len(completion)
    straddling = [i for i, (a, b) in enumerate(offsets) if a < start < b]
    assert straddling, "the fixture must put the completion's start inside a token"
    assert all(enc.scored[i] for i in straddling)


def test_bos_tokenizer_decisions_equal_a_plain_transformers_loop(data, tmp_path):
    """lm-eval's convention (BOS prepended by hand, all sentence tokens scored) gives the same
    BLiMP decisions as the suite when the tokenizer adds BOS itself."""
    tok = fx.make_tokenizer(tmp_path / "tok", add_bos=True)
    model = fx.make_model(len(tok), seed=3)
    t = tasks.read_task(data / "full_eval" / "blimp_filtered", "blimp")
    sentences = [s for it in t.items for s in it.sentences]
    flat = scorer.score_all(model, scorer.encode_all(tok, sentences, sentences), [1.0], batch_size=4)
    with torch.no_grad():
        loop = []
        for s in sentences:
            ids = torch.tensor([[tok.bos_token_id] + tok(s, add_special_tokens=False)["input_ids"]])
            lp = torch.log_softmax(model(ids).logits[0, :-1], -1).gather(1, ids[0, 1:, None]).sum().item()
            loop.append(lp)
    assert [f[0] for f in flat] == pytest.approx(loop, abs=1e-4)
    ours = [res.first_argmax([flat[2 * i][0], flat[2 * i + 1][0]]) for i in range(len(t.items))]
    theirs = [0 if loop[2 * i] >= loop[2 * i + 1] else 1 for i in range(len(t.items))]
    assert ours == theirs


def test_discover_warns_about_unknown_folders_and_picks_fast(data):
    layout = tasks.discover(data)
    assert {f.name for _, f in layout.tasks} == {f for _, f in FOLDERS}
    assert any("mystery_task" in w and "unknown" in w for w in layout.warnings)
    assert any("reading" in w for w in layout.warnings)
    fast = tasks.discover(data, fast=True)
    assert [(t, f.name) for t, f in fast.tasks] == [("blimp", "blimp_fast"), ("entity_tracking", "entity_tracking_fast")]
    assert tasks.discover(data / "full_eval" / "comps").tasks[0][0] == "comps"


def test_bad_items_name_their_file_and_line(tmp_path):
    folder = tmp_path / "blimp_filtered"
    folder.mkdir()
    (folder / "x.jsonl").write_text('{"sentence_good": "a b.", "sentence_bad": "b a."}\n{"sentence_good": 3}\n')
    with pytest.raises(UserError, match=r"x.jsonl:2"):
        tasks.read_task(folder, "blimp")
    with pytest.raises(UserError, match="--babylm-data"):
        tasks.discover(tmp_path / "nowhere")


def test_temperatures_follow_the_pipeline_range():
    assert suite.parse_temperatures("") == [1.0]
    assert suite.parse_temperatures("1,1.5") == [1.0, 1.5]
    assert suite.parse_temperatures("1:1.2:0.05") == torch.arange(1.0, 1.25, 0.05).tolist()
    for bad in ("0", "nan", "1:0.5", "x", "1:2:0"):
        with pytest.raises(UserError, match="--temperatures"):
            suite.parse_temperatures(bad)


def test_entity_tracking_average_is_over_splits(data, lm):
    model, tok = lm
    plan = suite.plan(data / "full_eval" / "entity_tracking")
    out = suite.run(model, tok, plan, log=lambda m: None)
    result = out["tasks"]["entity_tracking/entity_tracking"]
    uids = result["blocks"]["UID"]
    assert {"regular", "ambiref"} <= set(uids)
    assert result["average"] == pytest.approx((uids["regular"] + uids["ambiref"]) / 2)
    assert "results/model/main/zero_shot/causal/entity_tracking/entity_tracking/predictions.json" in out["_files"]
