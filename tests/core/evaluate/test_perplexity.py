"""core.evaluate.perplexity: equal to transformers' own loss, independent of batch size, exact bytes."""

from __future__ import annotations

import math

import pytest
import torch

from core.errors import UserError
from core.evaluate import perplexity as ppl


def _hf_mean_loss(model, ids, length):
    """exp() of this is the reference: HF's mean loss per window, weighted by predicted tokens."""
    total = count = 0
    for start, end in ppl.windows(len(ids), length):
        window = torch.as_tensor(ids[start:end]).unsqueeze(0)
        with torch.no_grad():
            loss = model(input_ids=window, labels=window).loss.item()
        total += loss * (end - start - 1)
        count += end - start - 1
    return total / count, count


def test_windows_predict_every_token_once():
    spans = ppl.windows(10, 4)
    assert spans == [(0, 4), (3, 7), (6, 10)]
    targets = [t for s, e in spans for t in range(s + 1, e)]
    assert targets == list(range(1, 10))
    assert ppl.windows(11, 4)[-1] == (9, 11)  # a short last window
    with pytest.raises(UserError):
        ppl.windows(10, 1)


def test_stream_bytes_and_documents_are_exact(tmp_path, tiny):
    _, tok = tiny
    text = "The cat sat.\nThe dog ran — fast.\n\n\nÜber alles.\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    stream = ppl.read_stream([tmp_path / "a.txt"], tok)
    assert stream.n_bytes == len("The cat sat.\nThe dog ran — fast.\nÜber alles.\n".encode())
    assert stream.n_lines == 3 and stream.n_documents == 2
    eos = tok.eos_token_id
    assert stream.ids[0] == eos and list(stream.ids).count(eos) == 3  # context + two document ends
    decoded = tok.decode([i for i in stream.ids if i != eos])
    assert decoded == "The cat sat.\nThe dog ran — fast.\nÜber alles.\n"


@pytest.mark.parametrize("batch_size", [1, 4])
def test_perplexity_equals_transformers_loss(eval_ws, tiny, batch_size):
    model, tok = tiny
    files = sorted((eval_ws.data_dir / "syn" / "dev").glob("*.txt"))
    out = ppl.perplexity(model, tok, files, seq_length=32, batch_size=batch_size, max_tokens=3000)
    stream = ppl.read_stream(files, tok, max_tokens=3000)
    mean, count = _hf_mean_loss(model, stream.ids, 32)
    assert out["tokens"] == count == len(stream.ids) - 1
    assert (len(stream.ids) - 1) % 31 != 0  # the last window is short: batches of 4 pad it
    assert abs(out["perplexity"] - math.exp(mean)) / math.exp(mean) < 1e-4
    assert out["bits_per_byte"] == pytest.approx(mean * count / math.log(2) / stream.n_bytes, rel=1e-6)
    assert out["truncated"] and 3000 <= count < 3000 + 64 * 40


def test_batch_size_does_not_change_the_numbers(tiny):
    model, _ = tiny
    ids = torch.randint(4, 500, (301,), generator=torch.Generator().manual_seed(0)).numpy()
    results = [ppl.stream_nll(model, ids, 24, bs) for bs in (1, 3, 8)]
    assert len({count for _, count in results}) == 1 and results[0][1] == 300
    assert max(abs(total - results[0][0]) for total, _ in results) < 1e-3


def test_no_text_is_a_user_error(tmp_path, tiny):
    model, tok = tiny
    (tmp_path / "empty.txt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(UserError, match="no text"):
        ppl.perplexity(model, tok, [tmp_path / "empty.txt"], 32)
