"""Collation of a strict-small submission from official-format part files: the file the
pipeline's `collate_preds --fast` writes (checked by re-implementing its checks), the hand-in tree,
per-revision scores, and a short or missing part named with its command."""

from __future__ import annotations

import json
import shutil

import pytest

import tests.core.submission.fixtures as fx
from core.errors import UserError
from core.submission.collate import collate, output_path
from core.submission.plan import make_plan
from tests.core.submission.pipeline_check import check_collated
from tests.core.submission.test_plan import SCALE, fake_run


def _all_parts(ws, history, tmp_path, drop_in=None):
    data = fx.write_data(tmp_path)
    run_dir = fake_run(ws, history, "r", fx.STRICT_SMALL)
    parts = run_dir / "submission" / "parts"
    for rev in fx.STRICT_SMALL:
        fx.write_part(parts / f"fast-{rev}", "r", rev, "fast", data, seed=len(rev), drop=1 if rev == drop_in else 0)
    for kind in ("full", "aoa", "glue"):
        fx.write_part(parts / f"{kind}-main", "r", "main", kind, data)
    return data, run_dir


def _full_sizes(data):
    sizes = {}
    for key, (_, folder) in fx.FOLDERS.items():
        counts = {}
        for uid, *_ in fx.read_items(data / "full_eval" / folder, key):
            counts[uid.lower()] = counts.get(uid.lower(), 0) + 1
        sizes[key] = counts
    sizes["reading"] = {"reading": len(fx.reading_rows())}
    sizes.update({t: {t: 3 + k} for k, t in enumerate(fx.GLUE)})
    return sizes


def test_collated_file_passes_the_pipelines_checks(workspace, history, tmp_path):
    data, run_dir = _all_parts(workspace, history, tmp_path)
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    assert plan.counts() == {"done": 22, "missing": 1}  # the export is not made here
    out = collate(plan, log=lambda m: None)
    assert out == run_dir / "submission" / "results" / "r" / "all_full_preds_and_fast_scores_causal.json"
    assert check_collated(out, _full_sizes(data), fx.STRICT_SMALL, aoa_size=5) == []
    collated = json.loads(out.read_text())
    # main's predictions are the part's files, unchanged; glue is the seven tasks merged
    main = run_dir / "submission" / "parts" / "full-main" / "results" / "r" / "main" / "zero_shot" / "causal"
    assert collated["blimp"] == json.loads((main / "blimp" / "blimp_filtered" / "predictions.json").read_text())
    assert sorted(collated["glue"]) == sorted(fx.GLUE)
    # a per-revision accuracy: the share of predictions equal to sentence_good, from the data
    rev = fx.STRICT_SMALL[3]
    preds = json.loads(
        (
            run_dir
            / "submission"
            / "parts"
            / f"fast-{rev}"
            / "results"
            / "r"
            / rev
            / "zero_shot"
            / "causal"
            / "blimp"
            / "blimp_fast"
            / "predictions.json"
        ).read_text()
    )
    items = [i for i in fx.read_items(data / "fast_eval" / "blimp_fast", "blimp") if i[0] == "wh_island"]
    want = sum(p["pred"] == i[1] for p, i in zip(preds["wh_island"]["predictions"], items)) / len(items)
    assert collated["fast_eval_results"]["blimp"][3]["wh_island"] == pytest.approx(want)
    # the hand-in tree: every revision's official files in one results/<model>/ folder
    tree = run_dir / "submission" / "results" / "r"
    assert sorted(p.name for p in tree.iterdir() if p.is_dir()) == sorted(fx.STRICT_SMALL + ["main"])
    assert (tree / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json").is_file()
    assert (tree / "main" / "finetune" / "wsc" / "predictions.json").is_file()
    assert (tree / "chck_70M" / "zero_shot" / "causal" / "reading" / "predictions.json").is_file()


def test_a_short_part_is_named_with_its_revision_and_command(workspace, history, tmp_path):
    data, _ = _all_parts(workspace, history, tmp_path, drop_in="chck_30M")
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    with pytest.raises(UserError) as err:
        collate(plan, log=lambda m: None)
    text = str(err.value)
    # the last BLiMP item (the only one of its UID) is gone: the UID is named
    assert "fast part, revision chck_30M" in text and "blimp has no predictions for determiner_noun" in text
    assert "babyllama eval" in text and "--revision chck_30M --output" in text and "--fast" in text
    assert not output_path(plan).exists()


def test_a_missing_part_is_named_and_nothing_is_written(workspace, history, tmp_path):
    data, run_dir = _all_parts(workspace, history, tmp_path)
    shutil.rmtree(run_dir / "submission" / "parts" / "glue-main")
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    with pytest.raises(
        UserError,
        match=r"lacks 1 part\(s\):\n  - glue main: missing; make it with: babyllama eval "
        r"\S+ --suite glue",
    ):
        collate(plan, log=lambda m: None)
    assert not output_path(plan).exists()


def test_official_counts_refuse_a_fixture_sized_part(workspace, history, tmp_path):
    data, _ = _all_parts(workspace, history, tmp_path)
    # word scale 1 = a real submission: the pipeline's counts (BLiMP fast: 200 per UID) apply
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    plan.word_scale = 1.0
    with pytest.raises(
        UserError,
        match=r"full part, revision main: .*blimp \w+ has \d predictions, the pipeline "
        r"expects (971|960|929)",
    ):
        collate(plan, log=lambda m: None)


def test_a_fast_file_without_one_of_the_datas_uids_is_short_at_official_counts(workspace, history, tmp_path):
    """collate_preds checks the counts of the UIDs a fast file holds; a UID of the fast data with no
    predictions at all is named too (at the pipeline's counts: 200 per BLiMP paradigm)."""
    from core.submission import collate as collation
    from core.submission import sizes

    data, _ = _all_parts(workspace, history, tmp_path)
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    part = next(p for p in plan.parts if p.revision == "chck_5M")
    uids = sorted(sizes.count_data(data, fast=True)["blimp"])
    assert len(uids) >= 2
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps({u: {"predictions": [{"id": f"{u}_{i}", "pred": "x"} for i in range(200)]} for u in uids[1:]}))
    assert collation._checked(part, plan, path, "blimp", True, None).keys() == set(uids[1:])  # the pipeline's check
    with pytest.raises(
        UserError,
        match=rf"fast part, revision chck_5M: .*blimp has no predictions for {uids[0]}; "
        r"make it again with: babyllama eval .* --revision chck_5M",
    ):
        collation._checked(part, plan, path, "blimp", True, None, set(uids))


def test_an_aoa_row_without_a_key_the_score_reads_is_named(workspace, history, tmp_path):
    data, run_dir = _all_parts(workspace, history, tmp_path)
    surprisal = next((run_dir / "submission" / "parts" / "aoa-main").rglob("surprisal.json"))
    rows = json.loads(surprisal.read_text())
    rows["results"][3] = {k: v for k, v in rows["results"][3].items() if k != "target_word"}
    surprisal.write_text(json.dumps(rows))
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    with pytest.raises(UserError, match=r"aoa part, revision main.*surprisal.json row 3 has no target_word"):
        collate(plan, log=lambda m: None)
    assert not output_path(plan).exists()


def _cdi(data, words: int, contexts: int) -> None:
    folder = data / "full_eval" / "cdi_childes"
    folder.mkdir(parents=True, exist_ok=True)
    rows = {f"word{w}": [{"context": f"a context {c}"} for c in range(contexts)] for w in range(words)}
    rows["a"] = [{"context": "one-letter words are left out"}] * 30  # the pipeline's filter
    rows["rare"] = [{"context": "under 20 contexts"}] * 19
    (folder / "cdi_childes.json").write_text(json.dumps(rows))


def test_aoa_rows_per_checkpoint_come_from_the_data_and_a_real_hand_in_holds_an_official_count(workspace, history, tmp_path):
    """collate_preds demands 6560 AoA rows per checkpoint in one version of the pipeline and 8005 in
    a later one (each its own cdi_childes.json): the count is the data's, and at word scale 1 it must
    be one of those."""
    from core.submission import collate as collation
    from core.submission import sizes

    data, _ = _all_parts(workspace, history, tmp_path)
    plan = make_plan("r", "strict-small", str(data), workspace, history, SCALE)
    part = next(p for p in plan.parts if p.kind == "aoa")

    def rows(n: int) -> dict:
        return {"results": [{"step": r, "target_word": "w", "surprisal": 1.0} for r in fx.STRICT_SMALL for _ in range(n)]}

    _cdi(data, 3, 25)
    assert sizes.aoa_rows(data) == 75
    collation._check_aoa(part, plan, rows(75), fx.STRICT_SMALL)
    with pytest.raises(UserError, match=r"should hold the data's 75 rows per checkpoint, not chck_1M: 74"):
        collation._check_aoa(part, plan, rows(74), fx.STRICT_SMALL)
    plan.word_scale = 1.0
    with pytest.raises(UserError, match=r"75 AoA rows per checkpoint: the pipeline's collate_preds demands 6560 or 8005"):
        collation._check_aoa(part, plan, rows(75), fx.STRICT_SMALL)
    _cdi(data, 5, 1601)  # 8005 rows: the later pipeline's count
    collation._check_aoa(part, plan, rows(8005), fx.STRICT_SMALL)
