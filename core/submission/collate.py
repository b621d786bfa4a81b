"""The hand-in: copy every part's official files into `<run_dir>/submission/results/<model>/<revision>/`
and write `all_full_preds_and_fast_scores_<backend>.json` beside them as the pipeline's
`collate_preds --fast` does (main's full predictions by task, `glue` merged, `aoa`, and
`fast_eval_results[task]` = one score dict per revision), after the same file and item-count checks.
A missing or short part is a UserError naming the part, the revision and the command that makes it.
Never imports torch or gradio.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from core.errors import UserError
from core.submission import BACKEND
from core.submission import scores as sc
from core.submission import sizes as sz
from core.submission.plan import GLUE_TASKS, ZERO, Part, SubmissionPlan

# collate_preds' keys: task -> its predictions file under zero_shot/<backend>/ (main / fast revisions).
FULL_TASKS = {
    "blimp": "blimp/blimp_filtered",
    "blimp_supplement": "blimp/supplement_filtered",
    "ewok": "ewok/ewok_filtered",
    "entity_tracking": "entity_tracking/entity_tracking",
    "wug_adj": "wug_adj/wug_adj_nominalization",
    "wug_past": "wug_past/wug_past_tense",
    "comps": "comps/comps",
    "reading": "reading",
}
FAST_TASKS = {
    "blimp": "blimp/blimp_fast",
    "blimp_supplement": "blimp/supplement_fast",
    "ewok": "ewok/ewok_fast",
    "entity_tracking": "entity_tracking/entity_tracking_fast",
    "wug_adj": "wug_adj/wug_adj_nominalization",
    "wug_past": "wug_past/wug_past_tense",
    "reading": "reading",
}


def output_path(plan: SubmissionPlan) -> Path:
    return plan.results_dir / plan.run / f"all_full_preds_and_fast_scores_{BACKEND}.json"


def collate(plan: SubmissionPlan, log=print) -> Path:
    """Check every part, assemble the hand-in tree, write the collated file; returns its path."""
    _require_done(plan)
    data = Path(plan.data)
    official = plan.word_scale == 1
    counted_full = None if official else sz.count_data(data, fast=False)
    counted_fast = None if official else sz.count_data(data, fast=True)
    # Every UID of the fast data must have predictions: collate_preds checks only the counts of the
    # UIDs a file holds, so a paradigm missing from a revision would pass it unnoticed.
    fast_uids = {task: set(uids) for task, uids in (counted_fast or sz.count_data(data, fast=True)).items()}
    tree = plan.results_dir / plan.run
    for part in plan.parts:
        if part.kind != "export":
            _copy_tree(part.official_root(plan.run), tree / part.revision)
    parts = {(p.kind, p.revision): p for p in plan.parts}
    full = _collate_main(plan, tree / "main", parts, counted_full)
    fast = {task: [] for task in FAST_TASKS}
    for part in (p for p in plan.parts if p.kind == "fast"):
        for task, value in _fast_scores(plan, part, tree / part.revision, data, counted_fast, fast_uids).items():
            fast[task].append(value)
    full["fast_eval_results"] = fast
    out = output_path(plan)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(full), encoding="utf-8")
    tmp.replace(out)
    log(f"collated {len(fast['blimp'])} revisions + main into {out}")
    return out


def _require_done(plan: SubmissionPlan) -> None:
    bad = [p for p in plan.parts if p.kind != "export" and p.status != "done"]
    if not bad:
        return
    lines = [
        f"  - {p.kind} {p.revision}: {p.status}{' (' + p.note + ')' if p.note else ''}; make it with: {p.command(plan.data)}"
        for p in bad
    ]
    raise UserError(
        "\n".join(
            [f"the {plan.track} submission of {plan.run} lacks {len(bad)} part(s):"]
            + lines
            + [
                f"  (or `babyllama submission {plan.run} --track {plan.track} --babylm-data "
                f"{plan.data}` to make every missing one)"
            ]
        )
    )


def _copy_tree(source: Path, target: Path) -> None:
    for path in sorted(source.rglob("*")):
        if path.is_file():
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


def _short(part: Part, plan: SubmissionPlan, what: str) -> UserError:
    return UserError(
        f"{part.kind} part, revision {part.revision}: {what}; make it again with: "
        f"{part.command(plan.data)} (delete {part.output} first)"
    )


def _checked(
    part: Part, plan: SubmissionPlan, path: Path, task: str, fast: bool, counted, required: set[str] | None = None
) -> dict:
    """The predictions file of `task`, after the pipeline's per-UID item-count check, and with a
    prediction list for every UID in `required` (and in the counted or official full UIDs)."""
    results = sz.load_json(path, f"{part.kind} {part.revision}")
    if not isinstance(results, dict) or not results:
        raise _short(part, plan, f"{path} holds no predictions")
    for uid, entry in results.items():
        want = sz.expected(task, uid, fast, counted)
        got = len(entry.get("predictions", [])) if isinstance(entry, dict) else 0
        if want is None or got != want:
            raise _short(
                part,
                plan,
                f"{path}: {task} {uid} has {got} predictions, the pipeline expects {want if want is not None else 'no such UID'}",
            )
    wanted = (
        set((counted or {}).get(task, {}))
        if counted is not None
        else set(sz.FULL[task])
        if not fast and isinstance(sz.FULL[task], dict)
        else set()
    )
    wanted |= set(required or ())
    absent = sorted(wanted - set(results))
    if absent:
        raise _short(part, plan, f"{path}: {task} has no predictions for {', '.join(absent[:5])}")
    return results


def _collate_main(plan: SubmissionPlan, main: Path, parts: dict, counted) -> dict:
    full: dict = {}
    for task, rel in FULL_TASKS.items():
        full[task] = _checked(parts[("full", "main")], plan, main / ZERO / rel / "predictions.json", task, False, counted)
    aoa = sz.load_json(main / ZERO / "AoA_word" / "surprisal.json", "aoa main")
    _check_aoa(parts[("aoa", "main")], plan, aoa, [p.revision for p in plan.parts if p.kind == "fast"])
    full["aoa"] = aoa
    full["glue"] = {}
    for task in GLUE_TASKS:
        full["glue"] |= _checked(
            parts[("glue", "main")], plan, main / "finetune" / task / "predictions.json", task, False, counted
        )
    return full


AOA_KEYS = ("target_word", "step", "surprisal")  # what AoAEvaluator.compute_curve_fitness reads of a row


def _check_aoa(part: Part, plan: SubmissionPlan, aoa: dict, revisions: list[str]) -> None:
    """Every revision of the track, each with the rows the data gives (a real hand-in: one of the
    pipeline's counts, 6560 or 8005 by version), every row with the keys the AoA score reads."""
    rows = aoa.get("results") if isinstance(aoa, dict) else None
    if not isinstance(rows, list):
        raise _short(part, plan, "surprisal.json has no `results` list")
    for i, row in enumerate(rows):
        lacking = [k for k in AOA_KEYS if not isinstance(row, dict) or k not in row]
        if lacking:
            raise _short(part, plan, f"surprisal.json row {i} has no {', '.join(lacking)} (the AoA score reads each row's three)")
    per: dict[str, int] = {}
    for row in rows:
        per[row.get("step")] = per.get(row.get("step"), 0) + 1
    absent = [r for r in revisions if r not in per]
    if absent or len(per) != len(revisions):
        raise _short(
            part,
            plan,
            f"surprisal.json covers {len(per)} checkpoints, the track has {len(revisions)}"
            + (f" (none for {', '.join(absent[:5])})" if absent else ""),
        )
    want = sz.aoa_rows(Path(plan.data)) or per[revisions[0]]
    wrong = [f"{r}: {per[r]}" for r in revisions if per[r] != want]
    if wrong:
        raise _short(part, plan, f"surprisal.json should hold the data's {want} rows per checkpoint, not {', '.join(wrong[:5])}")
    if plan.word_scale == 1 and want not in sz.AOA_OFFICIAL:
        raise _short(
            part,
            plan,
            f"{want} AoA rows per checkpoint: the pipeline's collate_preds demands "
            f"{' or '.join(map(str, sz.AOA_OFFICIAL))} (its cdi_childes.json); run the AoA suite on the official data",
        )


def _fast_scores(plan: SubmissionPlan, part: Part, root: Path, data: Path, counted, uids: dict) -> dict:
    out = {}
    for task, rel in FAST_TASKS.items():
        results = _checked(part, plan, root / ZERO / rel / "predictions.json", task, True, counted, uids.get(task))
        if task in ("wug_adj", "wug_past"):
            out[task] = sc.wug_rho(results, task, data)
        elif task == "reading":
            out[task] = sc.reading_scores(results, data)
        else:
            out[task] = sc.accuracy(results, task, data)
    return out
