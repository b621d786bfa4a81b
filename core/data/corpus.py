"""Prepared corpora on disk: the atomic writer and its manifest, text counts, stats and listing.
Custom sources are core.data.custom's. Never imports gradio or studio.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from bisect import bisect_right
from datetime import datetime, timezone
from pathlib import Path

from core.errors import UserError
from core.workspace import Workspace

SPLITS = ("train", "dev")
MANIFEST = "manifest.json"
_COUNT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmb]?)\s*$", re.IGNORECASE)
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000, "b": 1_000_000_000}
_SURROGATE = re.compile("[\udc80-\udcff]")


def parse_word_count(text: str | int, flag: str = "--budget-words") -> int:
    """`"10M"`, `"500k"`, `"1,000,000"` or an int -> a positive word count; else a UserError."""
    text = str(text)
    if len(text) > 40:  # float() of a 1M-digit count is inf, and int(inf) an OverflowError
        raise UserError(f"{flag}: a count of {len(text):,} characters is not a word count; write e.g. 10M or 500k")
    match = _COUNT.match(text.replace(",", "").replace("_", ""))
    value = int(float(match.group(1)) * _SCALE[match.group(2).lower()]) if match else 0
    if value < 1:
        raise UserError(f"{flag}: {text!r} is not a positive word count; write e.g. 10M, 500k or 1000000")
    return value


def decode_text(data: bytes) -> tuple[str, int]:
    """UTF-8 text (BOM dropped) and how many undecodable bytes became U+FFFD."""
    # surrogateescape maps each bad byte to one lone surrogate, so counting them is exact.
    text = data.decode("utf-8", errors="surrogateescape")
    replaced = len(_SURROGATE.findall(text))
    if replaced:
        text = _SURROGATE.sub("\ufffd", text)
    return text.lstrip("\ufeff"), replaced


def text_stats(text: str) -> dict:
    """Words (whitespace), characters, non-empty lines and documents (blocks between blank lines)."""
    lines = documents = 0
    blank_before = True
    for line in text.split("\n"):
        if line.strip():
            lines += 1
            documents += blank_before
            blank_before = False
        else:
            blank_before = True
    return {"words": len(text.split()), "chars": len(text), "lines": lines, "documents": documents}


def read_manifest(corpus_dir: str | os.PathLike) -> dict:
    """The manifest of a prepared corpus; a missing or broken one is a UserError."""
    path = Path(corpus_dir) / MANIFEST
    if not path.is_file():
        raise UserError(
            f"{corpus_dir}: not a prepared corpus (no {MANIFEST}); "
            "make one with `babyllama data synth` or `babyllama data prepare`"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: unreadable manifest ({err}); prepare the corpus again") from None


class CorpusWriter:
    """Builds `data/<name>/` in a hidden temp folder beside it; `commit()` renames it into place,
    so a crash never leaves half a corpus. Used as a context manager: errors remove the temp."""

    def __init__(self, workspace: Workspace, name: str):
        self.name, self.final = name, workspace.corpus_dir(name)
        if self.final.exists():
            raise UserError(
                f"--name: a corpus named {name!r} already exists ({self.final}); choose another name or delete that folder first"
            )
        self.tmp = self.final.parent / f".{name}.tmp-{uuid.uuid4().hex[:8]}"
        self.files: dict[tuple[str, str], dict] = {}
        self.warnings: list[str] = []
        self.replaced_bytes = 0

    def __enter__(self) -> "CorpusWriter":
        self.tmp.mkdir(parents=True)
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def note_replaced(self, source: Path, count: int) -> None:
        """Count (and warn about) bytes of `source` that were not UTF-8 and became U+FFFD."""
        if count:
            self.replaced_bytes += count
            self.warn(f"{source}: {count} byte(s) were not valid UTF-8 and became U+FFFD")

    def write(self, split: str, filename: str, text: str, **info) -> dict | None:
        """Write one file of a split (overwriting); empty text removes it. Returns its stats."""
        path = self.tmp / split / filename
        if not text.strip():
            path.unlink(missing_ok=True)
            self.files.pop((split, filename), None)
            return None
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        path.write_bytes(data)
        entry = {**self.files.get((split, filename), {}), **info}
        entry.update(split=split, file=f"{split}/{filename}", **text_stats(text), sha256=hashlib.sha256(data).hexdigest())
        self.files[(split, filename)] = entry
        return entry

    def read(self, split: str, filename: str) -> str:
        return (self.tmp / split / filename).read_text(encoding="utf-8")

    def split_files(self, split: str) -> list[str]:
        return sorted(name for s, name in self.files if s == split)

    def commit(self, kind: str, source: str, **extra) -> Path:
        """Write manifest.json and move the corpus into place; returns its folder."""
        files = [self.files[key] for key in sorted(self.files)]
        splits = {s: _sum_counts([f for f in files if f["split"] == s]) for s in SPLITS}
        if not splits["train"]["words"]:
            raise UserError(f"corpus {self.name!r}: no text for the train split; check --source")
        content = "".join(f"{f['file']}\t{f['sha256']}\n" for f in files)
        manifest = {
            "name": self.name,
            "kind": kind,
            "source": source,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sha256": hashlib.sha256(content.encode()).hexdigest(),  # content only, no time
            "splits": splits,
            **extra,
            "replaced_bytes": self.replaced_bytes,
            "warnings": self.warnings,
            "files": files,
        }
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        if self.final.exists():  # taken while we worked: keep theirs
            raise UserError(f"--name: a corpus named {self.name!r} appeared while preparing; choose another name")
        os.replace(self.tmp, self.final)
        return self.final


def _sum_counts(files: list[dict]) -> dict:
    keys = ("words", "chars", "lines", "documents")
    return {**{k: sum(f[k] for f in files) for k in keys}, "files": len(files)}


# ---- stats and listing -----------------------------------------------------------------------

_EDGES = (1, 2, 3, 5, 9, 17, 33, 65, 129, 257)


def _edge_label(i: int) -> str:
    low, high = _EDGES[i], (_EDGES[i + 1] - 1 if i + 1 < len(_EDGES) else None)
    return f"{low}+" if high is None else (str(low) if low == high else f"{low}-{high}")


def corpus_stats(corpus_dir: str | os.PathLike) -> dict:
    """Counts per split and per file, plus a histogram of words per line (labels, counts per split)."""
    corpus_dir = Path(corpus_dir)
    manifest = read_manifest(corpus_dir)
    files, histogram = [], {s: [0] * len(_EDGES) for s in SPLITS}
    for split in SPLITS:
        for path in sorted((corpus_dir / split).glob("*.txt")):
            text = path.read_text(encoding="utf-8")
            files.append({"split": split, "file": f"{split}/{path.name}", **text_stats(text)})
            for line in text.split("\n"):
                n = len(line.split())
                if n:
                    histogram[split][bisect_right(_EDGES, n) - 1] += 1
    return {
        "name": manifest.get("name", corpus_dir.name),
        "kind": manifest.get("kind"),
        "source": manifest.get("source"),
        "created": manifest.get("created"),
        "sha256": manifest.get("sha256"),
        "replaced_bytes": manifest.get("replaced_bytes", 0),
        "splits": {s: _sum_counts([f for f in files if f["split"] == s]) for s in SPLITS},
        "files": files,
        "line_lengths": {
            "unit": "words per line",
            "edges": list(_EDGES),
            "labels": [_edge_label(i) for i in range(len(_EDGES))],
            "counts": histogram,
        },
    }


def list_corpora(workspace: Workspace) -> list[dict]:
    """One row per prepared corpus: name, kind, train words, dev words, created, source."""
    rows = []
    for name in workspace.corpora():
        try:
            m = read_manifest(workspace.corpus_dir(name))
        except UserError as err:  # one broken folder must not hide the others
            m = {"kind": "unreadable", "source": str(err)}
        words = {s: m.get("splits", {}).get(s, {}).get("words", 0) for s in SPLITS}
        rows.append(
            {
                "name": name,
                "kind": m.get("kind", "?"),
                "words": words["train"],
                "dev_words": words["dev"],
                "created": m.get("created", ""),
                "source": m.get("source", ""),
            }
        )
    return rows
