"""Custom sources of a corpus: folders of .txt / .jsonl / .parquet files or a saved `datasets`
folder, scanned into units, read (bad bytes replaced and counted) and cleaned into a CorpusWriter.
Never imports gradio or studio; pyarrow and datasets are imported only where a source needs them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from core.data.cleaning import clean, parse_clean_domains
from core.data.corpus import CorpusWriter, decode_text
from core.errors import UserError

TEXT_SUFFIXES = (".txt", ".text", ".train", ".dev")
_DEV_NAMES = ("dev", "validation", "valid")
_DEV_PER_10K = 500  # ~5% of documents go to dev when the source has no dev part


class _Unit:
    """One input of a custom source: a file, or one split of a saved `datasets` folder."""

    def __init__(self, path: Path, label: str, kind: str, split: str | None, ds_split: str | None = None):
        self.path, self.label, self.kind, self.split, self.ds_split = path, label, kind, split, ds_split
        self.replaced = 0


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or ((path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def _dataset_units(path: Path, label: str, split: str | None, ignored: list[str]) -> list[_Unit]:
    if not (path / "dataset_dict.json").is_file():
        return [_Unit(path, f"{label}.txt", "dataset", split)]
    names = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
    has_dev = any(n in _DEV_NAMES for n in names)
    units = []
    for name in names:
        target = "dev" if name in _DEV_NAMES else "train" if name == "train" else None
        if target is None:
            ignored.append(f"{path.name}[{name}]")
        else:
            units.append(_Unit(path, f"{label}__{name}.txt", "dataset", target if has_dev else split, name))
    return units


def _file_unit(path: Path, root: Path, split: str | None) -> _Unit | None:
    kind = "txt" if path.suffix in TEXT_SUFFIXES else path.suffix[1:]
    if kind not in ("txt", "jsonl", "parquet"):
        return None
    label = path.relative_to(root).as_posix().replace("/", "__")
    return _Unit(path, label if label.endswith(".txt") else label + ".txt", kind, split)


def _scan(folder: Path, root: Path, split: str | None, ignored: list[str]) -> list[_Unit]:
    if _is_saved_dataset(folder):
        return _dataset_units(folder, folder.name, split, ignored)
    units = []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in [d for d in dirnames if _is_saved_dataset(here / d)]:
            dirnames.remove(d)
            label = (here / d).relative_to(root).as_posix().replace("/", "__")
            units += _dataset_units(here / d, label, split, ignored)
        for name in sorted(f for f in filenames if not f.startswith(".")):
            unit = _file_unit(here / name, root, split)
            if unit:
                units.append(unit)
            else:
                ignored.append((here / name).relative_to(root).as_posix())
    return units


def find_custom_units(source: Path) -> tuple[list[_Unit], list[str]]:
    """The inputs under `source` and the files ignored. `train/` + `dev/` subfolders set splits."""
    ignored: list[str] = []
    if source.is_file():
        unit = _file_unit(source, source.parent, None)
        return ([unit] if unit else []), ([] if unit else [source.name])
    dev_dir = next((source / d for d in _DEV_NAMES if (source / d).is_dir()), None)
    if not (source / "train").is_dir():
        return _scan(source, source, None, ignored), ignored
    units = _scan(source / "train", source, "train" if dev_dir else None, ignored)
    units += _scan(dev_dir, source, "dev", ignored) if dev_dir else []
    ignored += [p.name for p in source.iterdir() if p.is_file() and not p.name.startswith(".")]
    return units, ignored


class VanishedFile(UserError):
    """A source file listed at the start of a prepare that was gone when its turn came."""


def read_text_file(path: Path) -> tuple[str, int]:
    """A text file as (text, bytes replaced); a file with NUL bytes is a UserError (binary), one
    deleted since it was listed a VanishedFile (prepare names it and goes on)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise VanishedFile(f"{path}: vanished while preparing (deleted or moved); skipped") from None
    if b"\x00" in data:
        raise UserError(
            f"{path}: looks like a binary file (it contains NUL bytes); only UTF-8 text "
            "is read: convert it (UTF-16 too) or move it out of --source"
        )
    return decode_text(data)


def _raw_records(unit: _Unit):
    """Yield the raw text of each record of a jsonl / parquet / datasets unit."""
    if unit.kind == "jsonl":
        text, unit.replaced = read_text_file(unit.path)
        for number, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{unit.path}, line {number}: not valid JSON ({err.msg}); fix that line") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise UserError(f'{unit.path}, line {number}: no "text" string field; write {{"text": "..."}}')
            yield record["text"]
        return
    if unit.kind == "parquet":
        import pyarrow.parquet as pq  # here, not at the top: only parquet sources pay for it

        try:
            table = pq.ParquetFile(unit.path)
            columns = table.schema_arrow.names
        except Exception as err:  # pyarrow raises several types for a corrupt file
            raise UserError(f"{unit.path}: not a readable parquet file ({err})") from None
        if "text" not in columns:
            raise UserError(f'{unit.path}: no "text" column (columns: {", ".join(columns)}); rename it to text')
        for batch in table.iter_batches(columns=["text"]):
            yield from (t for t in batch.column(0).to_pylist() if isinstance(t, str))
        return
    from datasets import load_from_disk  # heavy import, only for saved-dataset sources

    ds = load_from_disk(str(unit.path))
    ds = ds[unit.ds_split] if unit.ds_split else ds
    if "text" not in ds.column_names:
        raise UserError(f'{unit.path}: the dataset has no "text" column (columns: {", ".join(ds.column_names)})')
    for batch in ds.select_columns(["text"]).iter(batch_size=1000):
        yield from (t for t in batch["text"] if isinstance(t, str))


def unit_documents(unit: _Unit, cleaners) -> list[str]:
    """Clean documents of one unit: blank-line blocks of a text file, or one per record."""
    if unit.kind == "txt":
        text, unit.replaced = read_text_file(unit.path)
        text = clean(text, cleaners)
        return [d.strip("\n") for d in text.split("\n\n") if d.strip()]
    # A record is one document: squeeze its blank lines so it stays one block on disk.
    docs = (re.sub(r"\n{2,}", "\n", clean(raw, cleaners)).strip() for raw in _raw_records(unit))
    return [d for d in docs if d]


def custom_units(source: Path) -> tuple[list[_Unit], list[str]]:
    """The inputs of a custom source, checked before anything is written (empty: UserError)."""
    if not source.exists():
        raise UserError(f"--source: {source} does not exist")
    units, ignored = find_custom_units(source)
    if not units:
        seen = f" (found only: {', '.join(ignored[:8])})" if ignored else " (it is empty)"
        raise UserError(
            f"--source: no usable text in {source}{seen}; expected .txt, .jsonl or .parquet "
            "files, or a folder saved with datasets' save_to_disk"
        )
    return units, ignored


def write_custom(writer: CorpusWriter, source: Path, clean_domains=()) -> dict:
    """Write a custom source into `writer`: `train/` + `dev/` as given, else ~5% of documents
    (chosen by content hash, so re-runs agree) go to dev. Returns the manifest fields to add.

    `clean_domains` names cleaners run on every document before `default`.
    """
    units, ignored = custom_units(source)
    cleaners = [c for c in parse_clean_domains(clean_domains) if c != "all"]
    if ignored:
        writer.warn(f"ignored {len(ignored)} unsupported file(s): {', '.join(ignored[:10])}")
    _write_custom_units(writer, units, cleaners)
    return {"kind": "custom", "clean_domains": cleaners}


def _write_custom_units(writer: CorpusWriter, units: list[_Unit], cleaners) -> None:
    lowest = None  # (hash, unit label, index in its train docs, doc) to move if dev ends up empty
    n_split_docs = 0
    for unit in units:
        try:
            docs = unit_documents(unit, cleaners)
        except VanishedFile as err:
            writer.warn(str(err))
            continue
        writer.note_replaced(unit.path, unit.replaced)
        parts: dict[str, list[str]] = {"train": [], "dev": []}
        for doc in docs:
            if unit.split:
                parts[unit.split].append(doc)
                continue
            n_split_docs += 1
            h = int.from_bytes(hashlib.sha256(doc.encode("utf-8")).digest()[:8], "big")
            if h % 10_000 < _DEV_PER_10K:
                parts["dev"].append(doc)
            else:
                if lowest is None or h < lowest[0]:
                    lowest = (h, unit.label, len(parts["train"]), doc)
                parts["train"].append(doc)
        for split, split_docs in parts.items():
            writer.write(
                split,
                unit.label,
                "\n\n".join(split_docs) + "\n" if split_docs else "",
                source=str(unit.path),
                replaced_bytes=unit.replaced,
            )
    if not writer.split_files("dev") and n_split_docs > 1 and lowest:
        # Deterministic fallback: the document with the lowest hash becomes the dev split.
        _, label, index, doc = lowest
        train_docs = writer.read("train", label).rstrip("\n").split("\n\n")
        del train_docs[index]
        info = {k: writer.files[("train", label)][k] for k in ("source", "replaced_bytes")}
        writer.write("train", label, "\n\n".join(train_docs) + "\n" if train_docs else "", **info)
        writer.write("dev", label, doc + "\n", **info)
    if not writer.split_files("dev"):
        writer.warn("the dev split is empty: add a dev/ folder or more documents")
