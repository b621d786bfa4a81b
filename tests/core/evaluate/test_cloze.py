"""core.evaluate.cloze: the built-in set, user files with line-numbered errors, ranking by log-prob."""

from __future__ import annotations

import json

import pytest

from core.errors import UserError
from core.evaluate import cloze
from core.evaluate.scoring import encode_sentences, model_context, sequence_logprobs


def test_builtin_items_are_well_formed():
    assert len(cloze.BUILTIN) >= 20 and len({i.category for i in cloze.BUILTIN}) >= 4
    assert cloze.BUILTIN[0].text == "The early bird catches the ___." and cloze.BUILTIN[0].answer == "worm"
    for item in cloze.BUILTIN:
        assert item.text.count(cloze.BLANK) == 1, item.text
        assert item.answer in item.options and len(set(item.options)) == len(item.options) >= 2


def _file(tmp_path, rows):
    path = tmp_path / "items.jsonl"
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


GOOD = {"text": "The sky is ___.", "options": ["blue", "loud"], "answer": "blue", "category": "colour"}


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{oops", r"items.jsonl:2: not valid JSON"),
        ({**GOOD, "text": "No blank here."}, r":2: 'text' must be a string with exactly one blank"),
        ({**GOOD, "options": ["blue"]}, r":2: 'options' must be a list of at least 2"),
        ({**GOOD, "answer": "green"}, r":2: 'answer' 'green' is not one of the options"),
        ({**GOOD, "options": ["blue", "blue"]}, r":2: 'options' has duplicates"),
    ],
)
def test_bad_items_name_the_line(tmp_path, bad, message):
    with pytest.raises(UserError, match=message):
        cloze.load_cloze_file(_file(tmp_path, [GOOD, bad]))


def test_empty_file_is_an_error(tmp_path):
    with pytest.raises(UserError, match="holds no items"):
        cloze.load_cloze_file(_file(tmp_path, [""]))


def test_choice_is_the_option_with_the_highest_summed_logprob(tiny):
    model, tok = tiny
    items = list(cloze.BUILTIN[:6])
    out = cloze.score_cloze(model, tok, items, batch_size=5)
    for item, row in zip(items, out["items"]):
        texts = [item.filled(o) for o in item.options]
        scores = sequence_logprobs(model, encode_sentences(tok, texts, texts, model_context(model)))
        assert row["choice"] == item.options[scores.index(max(scores))]
        assert row["correct"] == (row["choice"] == item.answer)
    assert out["accuracy"] == pytest.approx(sum(r["correct"] for r in out["items"]) / 6)
    cats = out["by_category"]
    assert sum(c["n"] for c in cats.values()) == 6
    assert out["chance"] == pytest.approx(sum(1 / len(i.options) for i in items) / 6)


def test_user_items_and_categories(tmp_path, tiny):
    model, tok = tiny
    items = cloze.load_cloze_file(_file(tmp_path, [GOOD, {**GOOD, "category": "other"}, {**GOOD, "category": None}]))
    assert [i.category for i in items] == ["colour", "other", "general"]
    assert items[0].where.endswith("items.jsonl:1")
    out = cloze.score_cloze(model, tok, items)
    assert set(out["by_category"]) == {"colour", "other", "general"}
    # The same sentence and options everywhere: one choice for all three.
    assert len({r["choice"] for r in out["items"]}) == 1
