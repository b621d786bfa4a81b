"""BabyLM sources: recognise the 2023 and 2024 file names, clean each file by its domain, cut the
train split to a word budget; plus `prepare_corpus`, which sends any other source to the custom path.

Never imports gradio or studio (nor datasets: BabyLM files are plain text).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.data.cleaning import clean, parse_clean_domains
from core.data.corpus import CorpusWriter, parse_word_count
from core.data.custom import VanishedFile, custom_units, read_text_file, write_custom
from core.errors import UserError
from core.workspace import Workspace

VERSIONS = ("auto", "2023", "2024")
NAMES = {
    "2023": (
        "aochildes",
        "bnc_spoken",
        "cbt",
        "children_stories",
        "gutenberg",
        "open_subtitles",
        "qed",
        "simple_wikipedia",
        "switchboard",
        "wikipedia",
    ),
    "2024": ("childes", "bnc_spoken", "gutenberg", "open_subtitles", "simple_wiki", "switchboard"),
}
# File stem -> domain; `--clean-domains` may name either (`dialogue` covers both spoken corpora).
DOMAINS = {
    "aochildes": "childes",
    "childes": "childes",
    "bnc_spoken": "dialogue",
    "switchboard": "dialogue",
    "cbt": "stories",
    "children_stories": "stories",
    "gutenberg": "gutenberg",
    "open_subtitles": "subtitles",
    "qed": "qed",
    "simple_wikipedia": "wikipedia",
    "simple_wiki": "wikipedia",
    "wikipedia": "wikipedia",
}
_FILE = re.compile(r"^([a-z_]+)\.(train|dev|test)$")


def _scan(sources: list[Path]) -> dict[tuple[str, str], Path]:
    """(stem, split) -> path for every BabyLM-named file under the sources, searched recursively."""
    found: dict[tuple[str, str], Path] = {}
    for source in sources:
        paths = [source] if source.is_file() else (Path(d) / f for d, _, files in sorted(os.walk(source)) for f in sorted(files))
        for path in paths:
            match = _FILE.match(path.name)
            if not match or match.group(1) not in DOMAINS:
                continue
            key = (match.group(1), match.group(2))
            if key in found and found[key] != path:
                raise UserError(
                    f"--source: {path.name} found twice ({found[key]} and {path}); "
                    "point --source at one BabyLM folder (e.g. babylm_10M and babylm_dev)"
                )
            found[key] = path
    return found


def detect_version(stems: set[str]) -> str | None:
    """'2023' or '2024' from the file stems present, None when none is a BabyLM name."""
    only_2023 = stems & (set(NAMES["2023"]) - set(NAMES["2024"]))
    only_2024 = stems & (set(NAMES["2024"]) - set(NAMES["2023"]))
    if only_2023 and only_2024:
        raise UserError(
            f"--source mixes BabyLM 2023 files ({', '.join(sorted(only_2023))}) and 2024 "
            f"files ({', '.join(sorted(only_2024))}); pass --babylm 2023 or --babylm 2024"
        )
    if only_2023:
        return "2023"
    # Only the names both years share: the layout is the same, call it the newer one.
    return "2024" if stems else None


def find_babylm_files(sources: list[Path], version: str = "auto") -> tuple[str | None, dict[str, dict[str, Path]]]:
    """The BabyLM version and {split: {stem: path}} for train and dev; (None, {}) if not BabyLM."""
    if version not in VERSIONS:
        raise UserError(f"--babylm: {version!r} is not one of {', '.join(VERSIONS)}")
    found = _scan(sources)
    stems = {stem for stem, split in found if split in ("train", "dev")}
    chosen = detect_version(stems) if version == "auto" else version
    foreign = sorted(stems - set(NAMES[chosen])) if chosen else []
    if foreign:
        raise UserError(
            f"--babylm {chosen}: {', '.join(foreign)} belong to the other BabyLM edition; use --babylm auto or the other year"
        )
    if chosen is None:
        return None, {}
    files = {
        split: {stem: path for (stem, s), path in sorted(found.items()) if s == split and stem in NAMES[chosen]}
        for split in ("train", "dev")
    }
    if not files["train"]:
        raise UserError(
            f"--babylm {chosen}: no BabyLM {chosen} training files under "
            f"{', '.join(map(str, sources))}; expected names like {NAMES[chosen][0]}.train"
        )
    return chosen, files


def _cleaner_for(stem: str, chosen: list[str]) -> str:
    """The cleaner name a BabyLM file gets: its own, its domain's, or `default`."""
    if stem in chosen or ("all" in chosen and stem in DOMAINS):
        return stem
    return DOMAINS[stem] if DOMAINS[stem] in chosen else "default"


def _cut_lines(text: str, quota: int) -> str:
    kept, words = [], 0
    for line in text.split("\n"):
        n = len(line.split())
        if words + n > quota:
            break
        kept.append(line)
        words += n
    return "\n".join(kept).strip("\n") + "\n"


def cut_to_budget(writer: CorpusWriter, budget: int, split: str = "train") -> int:
    """Cut `split` to at most `budget` words, each file keeping its share, at line boundaries.
    Returns the word count before the cut."""
    names = writer.split_files(split)
    counts = [writer.files[(split, n)]["words"] for n in names]
    total = sum(counts)
    if total <= budget:
        return total
    # Largest-remainder rounding: quotas add up to exactly the budget.
    raw = [budget * c / total for c in counts]
    quotas = [int(r) for r in raw]
    for i in sorted(range(len(raw)), key=lambda i: raw[i] - quotas[i], reverse=True)[: budget - sum(quotas)]:
        quotas[i] += 1
    for name, quota in zip(names, quotas):
        writer.write(split, name, _cut_lines(writer.read(split, name), quota) if quota else "")
    return total


def write_babylm(writer: CorpusWriter, version: str, files: dict[str, dict[str, Path]], domains: list[str]) -> dict:
    """Clean each BabyLM file by its domain into `writer`; returns the manifest fields to add."""
    for split, by_stem in files.items():
        for stem, path in by_stem.items():
            try:
                text, replaced = read_text_file(path)
            except VanishedFile as err:  # named in the warnings; the other files still make the corpus
                writer.warn(str(err))
                continue
            writer.note_replaced(path, replaced)
            cleaner = _cleaner_for(stem, domains)
            writer.write(
                split,
                f"{stem}.txt",
                clean(text, [cleaner]),
                source=str(path),
                domain=DOMAINS[stem],
                cleaner=cleaner,
                replaced_bytes=replaced,
            )
    if not files["dev"]:
        writer.warn("no .dev files found, the dev split is empty: add the dev folder as another --source")
    return {"kind": "babylm", "babylm_version": version, "clean_domains": domains}


def prepare_corpus(
    workspace: Workspace, sources, name: str, babylm: str = "auto", budget_words: str | int | None = None, clean_domains=None
) -> Path:
    """`babyllama data prepare`: BabyLM folders by their file names, else a custom source.

    `sources` is one path or a list (e.g. babylm_10M and babylm_dev); `budget_words` takes "10M",
    "500k" or an int and cuts the train split; `clean_domains` takes "a,b", "all" or a list.
    Everything is checked before the corpus is written; returns the corpus folder.
    """
    sources = [Path(s).expanduser() for s in ([sources] if isinstance(sources, (str, os.PathLike)) else sources)]
    if not sources:
        raise UserError("--source: give the folder to prepare")
    for source in sources:
        if not source.exists():
            raise UserError(f"--source: {source} does not exist")
    workspace.corpus_dir(name)  # a bad name fails before any work
    budget = parse_word_count(budget_words) if budget_words not in (None, "") else None
    domains = parse_clean_domains(clean_domains)
    version, files = find_babylm_files(sources, babylm)
    if version is None:
        if len(sources) != 1:
            raise UserError("--source: a custom (non-BabyLM) source takes exactly one --source folder")
        custom_units(sources[0])  # empty or unusable folders fail before anything is written
    with CorpusWriter(workspace, name) as writer:
        fields = write_babylm(writer, version, files, domains) if version else write_custom(writer, sources[0], domains)
        before = cut_to_budget(writer, budget) if budget else None
        return writer.commit(
            source=", ".join(str(s.resolve()) for s in sources), **fields, budget_words=budget, train_words_before_budget=before
        )
