"""A plain folder of text files used as `data.train_path` / `eval_path` (the guide's
`./data/babylm_10M_clean` of `*.train` files): what is in it, and its preparation, once per content
hash, into a workspace corpus whose token cache later runs reuse. Never imports gradio, studio or torch.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from core.data.cleaning import clean
from core.data.corpus import MANIFEST, CorpusWriter, read_manifest
from core.data.custom import TEXT_SUFFIXES, read_text_file
from core.errors import UserError
from core.hashing import sha256_file
from core.workspace import Workspace

MAX_FILES = 100_000  # a path given by mistake (a home folder) must not be walked for minutes
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class TextFolder:
    """The text files of a folder (hidden ones left out, sorted) and their total size."""

    root: Path
    files: tuple[Path, ...]
    ignored: tuple[str, ...]
    bytes: int

    def describe(self) -> str:
        return f"a folder of {len(self.files)} text file{'s' * (len(self.files) != 1)} ({self.bytes / 1e6:.1f} MB)"


def scan(folder: Path, field: str) -> TextFolder:
    """The text files (.txt, .text, .train, .dev) under `folder`; UserError naming `field` when it
    has none or more than MAX_FILES files."""
    files, ignored, total = [], [], 0
    for path in folder.rglob("*"):  # lazily (sorted at the end): the walk stops at MAX_FILES
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if len(files) + len(ignored) >= MAX_FILES:
            raise UserError(
                f"{field}: {folder} holds more than {MAX_FILES:,} files; is it the right folder? "
                "give the folder of the corpus's text files"
            )
        if path.suffix in TEXT_SUFFIXES:
            files.append(path)
            total += path.stat().st_size
        else:
            ignored.append(rel.as_posix())
    if not files:
        seen = f" (only: {', '.join(ignored[:5])})" if ignored else ""
        raise UserError(
            f"{field}: {folder} has no text files{seen}; give a folder of "
            f"{', '.join(TEXT_SUFFIXES)} files or a corpus name (`babyllama data list`)"
        )
    return TextFolder(folder, tuple(sorted(files)), tuple(sorted(ignored)), total)


def content_hash(text_folder: TextFolder) -> str:
    """sha256 of the files' relative names and contents: the same text gives the same corpus."""
    digest = hashlib.sha256()
    for path in text_folder.files:
        digest.update(f"{path.relative_to(text_folder.root).as_posix()}\t{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def corpus_name(folder: Path, digest: str) -> str:
    stem = _UNSAFE.sub("-", folder.resolve().name).strip("-._")[:60] or "text"
    return f"{stem}-{digest[:12]}"


def prepare(folder: Path, ws: Workspace, field: str = "data.train_path") -> Path:
    """The prepared corpus of `folder`'s text (every file in its train/ split), made on first use
    and found again by content hash afterwards; returns its folder. Undecodable bytes are refused
    (config check says so first), files are cleaned like `data prepare` does."""
    text_folder = scan(folder, field)
    digest = content_hash(text_folder)
    final = ws.corpus_dir(corpus_name(folder, digest))
    if (final / MANIFEST).is_file() and read_manifest(final).get("source_sha256") == digest:
        return final
    try:
        with CorpusWriter(ws, final.name) as writer:
            for path in text_folder.files:
                text, replaced = read_text_file(path)
                if replaced:
                    raise UserError(
                        f"{field}: {path} is not UTF-8 text ({replaced} bad bytes); convert it, or "
                        f"prepare the folder with `babyllama data prepare --source {folder} --name NAME`"
                    )
                label = path.relative_to(folder).as_posix().replace("/", "__")
                writer.write("train", label if label.endswith(".txt") else label + ".txt", clean(text), source=str(path))
            return writer.commit("folder", str(folder.resolve()), source_sha256=digest)
    except UserError:
        if (final / MANIFEST).is_file():  # another run prepared the same text meanwhile: use theirs
            return final
        raise
