"""core/submission/hand_in.py: the table of the pipeline's calculate_results_from_pred.py, on a
hand-made collated file whose every number is worked out here by hand."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from core.errors import UserError
from core.submission.hand_in import format_table, hand_in_scores
from core.submission.scores import reading_gains
from tests.core.submission.fixtures import EEG_COLUMNS, READING_COLUMNS, reading_rows


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _preds(texts: list, key: str = "pred") -> dict:
    return {"predictions": [{"id": str(i), key: t} for i, t in enumerate(texts)]}


def _et(numops: list[int]) -> list[dict]:
    return [{"input_prefix": "Box 1 has the", "options": [f" thing{i}.", " nothing."], "numops": n} for i, n in enumerate(numops)]


@pytest.fixture
def hand_in(tmp_path) -> tuple[Path, Path]:
    data = tmp_path / "evaluation_data"
    full = data / "full_eval"
    good = [{"sentence_good": f"Good {i}.", "sentence_bad": f"Bad {i}."} for i in range(3)]
    _jsonl(full / "blimp_filtered" / "uid_a.jsonl", good)
    _jsonl(full / "blimp_filtered" / "uid_b.jsonl", good[:1])
    _jsonl(full / "supplement_filtered" / "hypernym.jsonl", good[:2])
    _jsonl(full / "ewok_filtered" / "agent-properties.jsonl", [{"Target1": "It rolls.", "Target2": "It sits."}] * 2)
    _jsonl(full / "entity_tracking" / "regular.jsonl", _et([0, 0, 1]))
    _jsonl(full / "entity_tracking" / "ambiref.jsonl", _et([0, 1, 1, 2]))
    ratios = [{"sentences": "a\tb", "ratio": r} for r in (0.1, 0.5, 0.9)]
    _jsonl(full / "wug_adj_nominalization" / "wug_adj_nominalization.jsonl", ratios)
    _jsonl(full / "wug_past_tense" / "wug_past_tense.jsonl", ratios)
    comps = [{"prefix_acceptable": "A robin", "prefix_unacceptable": "A table", "property_phrase": "can fly."}] * 2
    _jsonl(full / "comps" / "comps_base.jsonl", comps)
    for task, labels in {"boolq": [0, 1], "mrpc": [1, 1, 0, 0]}.items():
        _jsonl(full / "glue_filtered" / f"{task}.valid.jsonl", [{"label": label} for label in labels])
    (full / "reading").mkdir()
    rows = reading_rows(48)
    with (full / "reading" / "reading_data.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, READING_COLUMNS + EEG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (full / "cdi_childes").mkdir()
    (full / "cdi_childes" / "cdi_human.csv").write_text("word,16,17,18\nball,0.1,0.5,0.9\n", encoding="utf-8")
    reading = [{"id": str(i), "pred": 3.0 + (i * 7 % 5), "prev_pred": None if i % 8 == 0 else 2.0 + i % 3} for i in range(48)]
    collated = {
        # uid_a: 2 of 3 (a trailing space is stripped), uid_b: 1 of 1 -> (66.67 + 100) / 2
        "blimp": {"uid_a": _preds(["Good 0.", "Bad 1.", "Good 2. "]), "uid_b": _preds(["Good 0."])},
        "blimp_supplement": {"hypernym": _preds(["Good 0.", "Bad 1."])},  # 50
        "ewok": {"agent-properties": _preds([" It rolls.", " It rolls."])},  # the pipeline's leading space: 100
        # runs: regular 0 (1 of 2), regular 1 (1 of 1), ambiref 0 (0 of 1), 1 (2 of 2), 2 (1 of 1): flat mean 70
        # (the split means would give (75 + 66.67) / 2 = 70.83)
        "entity_tracking": {
            "regular_0_ops": _preds([" thing0.", " nothing."]),
            "regular_1_ops": _preds([" thing2."]),
            "ambiref_0_ops": _preds([" nothing."]),
            "ambiref_1_ops": _preds([" thing1.", " thing2."]),
            "ambiref_2_ops": _preds([" thing3."]),
        },
        "wug_adj": {"wug_adj": _preds([0.2, 0.3, 0.8], "prob")},  # rho 1 -> 100
        "wug_past": {"wug_past": _preds([0.9, 0.5, 0.1], "prob")},  # rho -1 -> -100
        "comps": {"base": _preds(["A robin can fly.", "can fly."])},  # 50: the whole sentence is the target
        "reading": {"reading": {"predictions": reading}},
        "aoa": {"results": [{"target_word": "ball", "step": "chck_1M", "surprisal": 9.0}]},  # < 3 words: 0.0
        # boolq 2 of 2, mrpc 1 of 4 (accuracy, not F1): (100 + 25) / 2
        "glue": {"boolq": _preds([0, 1]), "mrpc": _preds([1, 0, 1, 1])},
        "fast_eval_results": {},
    }
    path = tmp_path / "all_full_preds_and_fast_scores_causal.json"
    path.write_text(json.dumps(collated), encoding="utf-8")
    return path, data


def test_every_line_of_the_table_by_the_scripts_rules(hand_in):
    path, data = hand_in
    got = {s.label: s.value for s in hand_in_scores(path, data)}
    gains = reading_gains(json.loads(path.read_text())["reading"], data / "full_eval" / "reading" / "reading_data.csv")
    assert got == pytest.approx(
        {
            "BLIMP": (200 / 3 + 100) / 2,
            "SUPPLEMENT": 50.0,
            "EWOK": 100.0,
            "ENTITY TRACKING": 70.0,
            "WUG ADJ": 100.0,
            "WUG PAST": -100.0,
            "COMPS": 50.0,
            "READING (SPR)": gains["spr"] * 100,
            "READING (ET)": gains["rt"] * 100,
            "GLUE": 62.5,
            "AoA": 0.0,
        }
    )
    table = format_table(hand_in_scores(path, data)).splitlines()
    assert table[:3] == ["###### RESULTS ######", "=====================", "BLIMP\t\t83.33"]
    assert "WUG PAST\t-100.00" in table and "ENTITY TRACKING\t70.00" in table and table[-1] == "AoA\t\t0.00"


def test_an_entity_tracking_file_not_sorted_by_numops_is_named(hand_in):
    path, data = hand_in
    _jsonl(data / "full_eval" / "entity_tracking" / "regular.jsonl", _et([1, 0, 0]))
    with pytest.raises(UserError, match=r"regular.jsonl does not fit regular_0_ops .*sorted by numops"):
        hand_in_scores(path, data)


def test_a_task_file_the_scorer_reads_by_uid_must_exist(hand_in):
    path, data = hand_in
    (data / "full_eval" / "blimp_filtered" / "uid_b.jsonl").unlink()
    with pytest.raises(UserError, match=r"uid_b.jsonl: missing"):
        hand_in_scores(path, data)


def test_a_task_with_no_predictions_is_named(hand_in):
    path, data = hand_in
    collated = json.loads(path.read_text())
    collated["glue"] = {}
    path.write_text(json.dumps(collated))
    with pytest.raises(UserError, match=r"glue: the collated file holds no predictions for it"):
        hand_in_scores(path, data)
