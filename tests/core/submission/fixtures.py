"""Official-format BabyLM data (fast_eval/ and full_eval/ with every task the collation reads,
reading, GLUE) and official-format part files (predictions.json, surprisal.json) written from it,
for the submission tests. Imports nothing from `core`.
"""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import tests.core.evaluate.babylm_fixtures as fx

STRICT_SMALL = [f"chck_{i}M" for i in range(1, 10)] + [f"chck_{i * 10}M" for i in range(1, 11)]
GLUE = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")
# task key of the collated file -> (fast folder, full folder)
FOLDERS = {
    "blimp": ("blimp_fast", "blimp_filtered"),
    "blimp_supplement": ("supplement_fast", "supplement_filtered"),
    "ewok": ("ewok_fast", "ewok_filtered"),
    "entity_tracking": ("entity_tracking_fast", "entity_tracking"),
    "wug_adj": ("wug_adj_nominalization", "wug_adj_nominalization"),
    "wug_past": ("wug_past_tense", "wug_past_tense"),
    "comps": (None, "comps"),
}
WUG_PAST = [
    {"sentences": "Today I glorp. Yesterday I glorped.\tToday I glorp. Yesterday I glorpt.", "ratio": 0.7},
    {"sentences": "Today I sprink. Yesterday I sprinked.\tToday I sprink. Yesterday I sprank.", "ratio": 0.4},
    {"sentences": "Today I blick. Yesterday I blicked.\tToday I blick. Yesterday I blickt.", "ratio": 0.9},
]
READING_COLUMNS = [
    "item",
    "word",
    "prev_item",
    "prev_word",
    "RTfirstfix",
    "RTfirstpass",
    "RTgopast",
    "RTrightbound",
    "self_paced_reading_time",
    "Subtlex_log10",
    "length",
    "context_length",
    "prev_length",
]
EEG_COLUMNS = ["ELAN", "LAN", "N400", "P600", "EPNP", "PNP"]  # fitted and written by the pipeline, never scored
WORDS = "the girl saw herself and the boy ran to the big red house near a small river".split()


def _jsonl(folder: Path, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def reading_rows(n: int = 40, seed: int = 0) -> list[dict]:
    """Rows in reading_data.csv's columns (random times; every 8th row starts a sentence: no prev_*)."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        word, prev, first = WORDS[i % len(WORDS)], WORDS[(i - 1) % len(WORDS)], i % 8 == 0
        rows.append(
            {
                "item": f"s{i // 8}",
                "word": word,
                "prev_item": "" if first else f"s{i // 8}",
                "prev_word": "" if first else prev,
                **{c: round(200 + 30 * rng.random() + 5 * len(word), 2) for c in READING_COLUMNS[4:9]},
                "Subtlex_log10": round(2 + rng.random(), 3),
                "length": len(word),
                "context_length": i % 8,
                "prev_length": "" if first else len(prev),
                **{c: round(rng.gauss(0, 1), 3) for c in EEG_COLUMNS},
            }
        )
    return rows


def write_data(root: Path) -> Path:
    """`root/evaluation_data/` with full_eval/ and fast_eval/ holding every folder collation reads."""
    data = root / "evaluation_data"
    for kind in ("fast_eval", "full_eval"):
        base, fast = data / kind, kind == "fast_eval"
        _jsonl(base / ("blimp_fast" if fast else "blimp_filtered"), fx.BLIMP)
        _jsonl(base / ("supplement_fast" if fast else "supplement_filtered"), fx.SUPPLEMENT)
        _jsonl(base / ("ewok_fast" if fast else "ewok_filtered"), fx.EWOK)
        _jsonl(
            base / ("entity_tracking_fast" if fast else "entity_tracking"),
            {"regular.jsonl": fx.ENTITY["regular.jsonl"]} if fast else fx.ENTITY,
        )
        _jsonl(base / "wug_adj_nominalization", {"wug_adj_nominalization.jsonl": fx.WUG})
        _jsonl(base / "wug_past_tense", {"wug_past_tense.jsonl": WUG_PAST})
        (base / "reading").mkdir(parents=True)
        with (base / "reading" / "reading_data.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, READING_COLUMNS + EEG_COLUMNS)
            writer.writeheader()
            writer.writerows(reading_rows())
    _jsonl(data / "full_eval" / "comps", fx.COMPS)
    _jsonl(
        data / "full_eval" / "glue_filtered",
        {f"{t}.valid.jsonl": [{"label": i % 2, "idx": i} for i in range(3 + k)] for k, t in enumerate(GLUE)},
    )
    return data


def official_layout(data: Path) -> None:
    """Rewrite full_eval/ into the layout calculate_results_from_pred.py relies on (as the official data
    is): one `<UID>.jsonl` per BLiMP UID and EWoK domain, entity-tracking files counting numops from 0,
    and the AoA CDI file. Call before writing parts: predictions follow the files."""
    full = data / "full_eval"
    for folder, key in (("blimp_filtered", "UID"), ("ewok_filtered", "Domain")):
        grouped: dict[str, list[str]] = {}
        for path in sorted((full / folder).glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
                grouped.setdefault(json.loads(line)[key], []).append(line)
            path.unlink()
        for uid, lines in grouped.items():
            (full / folder / f"{uid}.jsonl").write_text("".join(lines), encoding="utf-8")
    for path in (full / "entity_tracking").glob("*.jsonl"):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        _jsonl(path.parent, {path.name: [{**r, "numops": r["numops"] - rows[0]["numops"]} for r in rows]})
    (full / "cdi_childes").mkdir(exist_ok=True)
    (full / "cdi_childes" / "cdi_human.csv").write_text(
        "word,16,17,18,19\n" + "".join(f"{w},0.1,0.3,0.6,0.9\n" for w in WORDS[:5]), encoding="utf-8"
    )


def read_items(folder: Path, key: str) -> list[tuple[str, str, str]]:
    """(UID, candidate 0's scored text, candidate 1's) per item of a data folder, files in directory order."""
    out = []
    for name in os.listdir(folder):
        stem = Path(name).stem
        for line in (folder / name).read_text(encoding="utf-8").splitlines():
            raw = json.loads(line)
            if key == "blimp":
                out.append((raw["UID"], raw["sentence_good"], raw["sentence_bad"]))
            elif key == "blimp_supplement":
                out.append((stem, raw["sentence_good"], raw["sentence_bad"]))
            elif key == "ewok":
                out.append((raw["Domain"], " " + raw["Target1"], " " + raw["Target2"]))
            elif key == "entity_tracking":
                out.append((f"{stem}_{raw['numops']}_ops", raw["options"][0], raw["options"][1]))
            elif key in ("wug_adj", "wug_past"):
                out.append((key, *raw["sentences"].split("\t")))
            elif key == "comps":
                out.append(({"comps_base": "base"}.get(stem, stem), raw["property_phrase"], raw["property_phrase"]))
    return out


def predictions(items, seed: int, wug: bool = False, drop: int = 0) -> str:
    """A predictions.json: candidate 0 or 1 by a seeded coin per item (`drop` items left out at the end)."""
    rng = random.Random(seed)
    out: dict = {}
    seen: dict = {}
    for uid, good, bad in items[: len(items) - drop]:
        n = seen[uid] = seen.get(uid, -1) + 1
        entry = {"id": f"{uid}_{n}", "pred": good if rng.random() < 0.6 else bad}
        if wug:
            entry["prob"] = rng.random()
        out.setdefault(uid, {"predictions": []})["predictions"].append(entry)
    return json.dumps(out)


def _zero_shot_files(base: Path, kind: str, seed: int, drop: int) -> dict[str, str]:
    files = {}
    for i, (key, (fast_folder, full_folder)) in enumerate(FOLDERS.items()):
        folder = fast_folder if kind == "fast" else full_folder
        if folder is None:
            continue
        task = {"blimp_supplement": "blimp"}.get(key, key)
        files[f"zero_shot/causal/{task}/{folder}/predictions.json"] = predictions(
            read_items(base / folder, key), seed + i, wug=key.startswith("wug"), drop=drop if i == 0 else 0
        )
    rng = random.Random(seed)
    files["zero_shot/causal/reading/predictions.json"] = json.dumps(
        {
            "reading": {
                "predictions": [
                    {"id": f"reading_{i}", "pred": rng.random() * 10, "prev_pred": rng.random() * 10 if r["prev_item"] else None}
                    for i, r in enumerate(reading_rows())
                ]
            }
        }
    )
    return files


def official_files(model: str, revision: str, kind: str, data: Path, seed: int = 0, drop: int = 0) -> dict[str, str]:
    """{path under results/<model>/<revision>/: text} of one part (`kind` fast | full | reading | aoa | glue)."""
    if kind in ("fast", "full"):
        return _zero_shot_files(data / ("fast_eval" if kind == "fast" else "full_eval"), kind, seed, drop)
    if kind == "reading":
        return {k: v for k, v in _zero_shot_files(data / "fast_eval", "fast", seed, 0).items() if "/reading/" in k}
    if kind == "aoa":
        return {
            "zero_shot/causal/AoA_word/surprisal.json": json.dumps(
                {
                    "results": [
                        {"step": rev, "target_word": w, "surprisal": float(k)}
                        for rev in STRICT_SMALL
                        for k, w in enumerate(WORDS[:5])
                    ]
                }
            )
        }
    return {
        f"finetune/{task}/predictions.json": json.dumps(
            {task: {"predictions": [{"id": f"{task}_{i}", "pred": i % 2} for i in range(3 + k)]}}
        )
        for k, task in enumerate(GLUE)
    }


def write_part(out: Path, model: str, revision: str, kind: str, data: Path, seed: int = 0, drop: int = 0) -> Path:
    """An eval output folder (`results.json` + official files) for one part, as `babyllama eval` lays it out."""
    root = out / "results" / model / revision
    for rel, text in official_files(model, revision, kind, data, seed, drop).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (out / "results.json").write_text(json.dumps({"suites": {}}), encoding="utf-8")
    return out
