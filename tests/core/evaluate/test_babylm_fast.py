"""The BabyLM fast path's batching (one length a batch, rare lengths padded together, chunked output
layer, shared prefixes) against a plain full forward of each candidate alone, whose arithmetic is
written here (log_softmax of the model's logits, float64 sums; no `core` import for it)."""

from __future__ import annotations

import random

import pytest
import torch

from core.evaluate.babylm import prefix, scorer
from core.evaluate.babylm.scorer import Encoded
from tests.core.evaluate import babylm_fixtures as fx

VOCAB = 300
TEMPS = [1.0, 1.7]


def _reference(model, e: Encoded) -> list[float]:
    """The candidate alone, no padding: sum of log_softmax(logits / T) at its scored targets."""
    if len(e.tokens) < 2:
        return [0.0] * len(TEMPS)
    with torch.no_grad():
        ids = torch.tensor([e.tokens])
        logits = model(input_ids=ids[:, :-1]).logits[0].double()
    out = []
    for t in TEMPS:
        logp = torch.log_softmax(logits / t, dim=-1).gather(1, ids[0, 1:, None])[:, 0]
        out.append(sum(v for v, s in zip(logp.tolist(), e.scored[1:]) if s))
    return out


def _candidate(tokens: list[int], scored_from: int = 1) -> Encoded:
    return Encoded(tuple(tokens), tuple(j >= scored_from for j in range(len(tokens))))


def _items(seed: int = 0) -> list[list[Encoded]]:
    """BLiMP-like pairs of mixed lengths (one or two tokens swapped, a word split in two), pairs where
    one candidate is a prefix of the other, lengths seen once or twice (padded together with
    others), EWoK-like items with a long unscored shared context, an identical pair, one-token ones."""
    rng = random.Random(seed)
    items = []
    for _ in range(40):
        n = rng.randint(4, 16)
        good = [1] + [rng.randrange(4, VOCAB) for _ in range(n - 1)]
        bad = list(good)
        j = rng.randrange(1, n)
        bad[j : j + 1] = [rng.randrange(4, VOCAB)] * rng.choice([1, 1, 2])
        items.append([_candidate(good), _candidate(bad)])
    for n in (5, 9, 23):  # one candidate is the other's prefix
        long = [1] + [rng.randrange(4, VOCAB) for _ in range(n)]
        items.append([_candidate(long[: n - 2]), _candidate(long)])
    for n in (27, 31, 33):  # rare lengths: a batch of different widths, right-padded
        items.append([_candidate([1] + [rng.randrange(4, VOCAB) for _ in range(n)]) for _ in range(2)])
    context = [1] + [rng.randrange(4, VOCAB) for _ in range(20)]
    for _ in range(4):  # a long shared context, only the targets scored
        items.append([_candidate(context + [rng.randrange(4, VOCAB) for _ in range(rng.randint(1, 3))], 21) for _ in range(2)])
    same = _candidate([1, 5, 6, 7])
    items.append([same, same])
    items.append([_candidate([1]), _candidate([1, 9])])
    return items


@pytest.fixture(scope="module")
def model():
    return fx.make_model(VOCAB)


@pytest.mark.parametrize(
    "tokens,min_saved,head", [(prefix.FAST_TOKENS, prefix.MIN_SAVED, None), (60, 1, 7), (0, 10**6, None), (1, 10**6, 1)]
)
def test_fast_path_equals_each_candidate_alone(model, monkeypatch, tokens, min_saved, head):
    if head:  # the output layer in chunks of `head` rows
        monkeypatch.setattr(scorer, "HEAD_ELEMENTS", head * VOCAB)
    items = _items()
    got = prefix.score_items(model, items, TEMPS, batch_size=8, min_saved=min_saved, tokens=tokens)
    for i, (cands, scores) in enumerate(zip(items, got)):
        want = [_reference(model, e) for e in cands]
        for g, w in zip(scores, want):
            assert g == pytest.approx(w, abs=1e-5), i
        for t in range(len(TEMPS)):  # the same decision wherever the reference is not a near-tie
            if len(cands) == 2 and abs(want[0][t] - want[1][t]) > 1e-4:
                assert (scores[0][t] >= scores[1][t]) == (want[0][t] >= want[1][t]), i
    tie = next(scores for cands, scores in zip(items, got) if cands[0] == cands[1])
    assert tie[0] == tie[1]


def test_batches_hold_one_length_and_pad_only_rare_lengths():
    lengths = [12] * 40 + [11] * 300 + [30, 29, 22] + [5] * 3 + [4]
    batches = scorer.length_batches(lengths, batch_size=8, tokens=1200)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    widths = [[lengths[i] for i in b] for b in batches]
    # 30 and 29 pad together (a pass of two beats two passes of one); 22 is under 3/4 of 30;
    # 1200 tokens hold 109 candidates of 11.
    assert widths == [[30, 29], [22], [12] * 40, [11] * 109, [11] * 109, [11] * 82, [5, 5, 5, 4]]
    assert [len(b) for b in scorer.length_batches(lengths, batch_size=64)] == [64] * 5 + [27]
    assert [len(b) for b in scorer.length_batches([12] * 30, batch_size=8, tokens=60)] == [8] * 3 + [6]


def test_a_pairs_common_start_goes_through_the_output_layer_once():
    pair = [_candidate([1, 7, 8, 9, 10]), _candidate([1, 7, 8, 11, 10]), _candidate([1, 7, 5])]
    rows = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    cols = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    firsts, inverse = scorer._distinct_picks(pair, rows, cols)
    # 7 after <s> (all three), 8 after <s> 7 (the pair); 11 after <s> 7 8 is not 9; 10 after
    # different contexts; 5 after <s> 7 is not 8.
    assert firsts == [0, 1, 2, 3, 6, 7, 9]
    assert inverse == [0, 1, 2, 3, 0, 1, 4, 5, 0, 6]


def test_output_layer_chunks_give_the_full_log_softmax():
    torch.manual_seed(0)
    head = torch.nn.Linear(16, 50)
    rows, targets = torch.randn(37, 16), torch.randint(0, 50, (37,))
    got = scorer.target_log_probs(head, rows, targets, [1.0, 0.5], vocab=50 * 5 // 4)  # uneven chunks
    for t, temp in enumerate([1.0, 0.5]):
        want = torch.log_softmax(head(rows).double() / temp, -1).gather(1, targets[:, None])[:, 0]
        assert torch.allclose(got[:, t], want, atol=1e-5)
    assert got.dtype == torch.float64
