"""`babyllama data synth|prepare|stats|list`: corpora in the workspace.

Thin wrappers over core.data; the guide's spellings (`--num-tokens`, `--output-dir`, `--babylm-10m`,
`--babylm-dev`, `--data-dir`) are accepted. Must not import gradio or studio.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from core import bounds
from core.data.babylm import VERSIONS, prepare_corpus
from core.data.corpus import corpus_stats, list_corpora, parse_word_count, read_manifest
from core.data.synthetic import COMPLEXITIES, create_synthetic_corpus
from core.errors import UserError
from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser("data", help="make corpora: synthetic, BabyLM or your own text; stats, list")
    verbs = p.add_subparsers(dest="data_verb", metavar="VERB", required=True)

    q = verbs.add_parser("synth", help="generate synthetic child-directed English")
    _add_name(q)
    q.add_argument(
        "--words",
        "--tokens",
        "--num-tokens",
        dest="words",
        default="1000000",
        metavar="W",
        help="size as a count of whitespace-separated words, e.g. 1000000, 500k, 1M (default 1000000); "
        "--tokens and --num-tokens are older names of this word count",
    )
    q.add_argument(
        "--complexity",
        choices=COMPLEXITIES,
        default="simple",
        help="simple: small vocabulary, subject-verb-object; medium: questions, dialogue, "
        "prepositions; complex: clauses, past and future (default simple)",
    )
    q.add_argument(
        "--seed",
        type=bounds.bounded(int, 0, bounds.MAX_SEED),
        default=42,
        metavar="S",
        help="random seed: same seed, same bytes (default 42)",
    )
    q.add_argument(
        "--dev-fraction",
        type=bounds.bounded(float, 0.0, 0.5),
        default=0.1,
        metavar="F",
        help="share of the words that goes to the dev split (default 0.1)",
    )
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_synth)

    q = verbs.add_parser("prepare", help="prepare BabyLM folders or your own text (.txt, .jsonl, .parquet, datasets)")
    q.add_argument(
        "--source",
        "--babylm-10m",
        "--babylm-dev",
        "--data-dir",
        dest="sources",
        action="append",
        metavar="DIR",
        help="folder (or file) to read; repeat for e.g. babylm_10M and babylm_dev",
    )
    _add_name(q)
    q.add_argument(
        "--babylm",
        choices=VERSIONS,
        default="auto",
        help="BabyLM file names to expect; auto tells 2023 from 2024 by the names (default auto)",
    )
    q.add_argument(
        "--budget-words",
        default=None,
        metavar="W",
        help="cut the train split to this many words, e.g. 10M, 500k (default: keep all)",
    )
    q.add_argument(
        "--clean-domains",
        default="",
        metavar="D,D",
        help="cleaners to run: BabyLM domains (wikipedia, subtitles, dialogue, childes, "
        "gutenberg, stories, qed), file names (switchboard, cbt...), all, or your own "
        "registered cleaner for a custom source; whitespace is always normalised",
    )
    q.add_argument(
        "--custom-cleaning", action="store_true", help="guide spelling, kept for scripts: name your cleaners in --clean-domains"
    )
    q.add_argument(
        "--tokenizer-vocab",
        type=bounds.bounded(int, 1, bounds.MAX_VOCAB),
        default=None,
        metavar="V",
        help="guide spelling; the tokenizer is a separate step: `babyllama tokenizer train --vocab-size V`",
    )
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_prepare)

    q = verbs.add_parser("stats", help="words, lines, documents and line lengths of a corpus")
    q.add_argument("name", metavar="N", help="corpus name (or path to a corpus folder)")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_stats)

    q = verbs.add_parser("list", help="corpora in the workspace")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_list)


def _add_name(parser) -> None:
    parser.add_argument(
        "--name",
        "--output-dir",
        dest="name",
        default=None,
        metavar="N",
        help="corpus name in the workspace (a path's last part is used as the name)",
    )


def _name(args) -> str:
    if not args.name:
        raise UserError("--name: give the corpus a name, e.g. --name synthetic-1M")
    return Path(args.name).name


def _summary(path: Path) -> None:
    manifest = read_manifest(path)
    print(f"corpus {manifest['name']!r} ({manifest['kind']}) -> {path}")
    for split, counts in manifest["splits"].items():
        print(
            f"  {split:5s} {counts['words']:>12,} words {counts['lines']:>10,} lines "
            f"{counts['documents']:>8,} documents {counts['files']:>3} file(s)"
        )
    for warning in manifest.get("warnings", []):
        print(f"warning: {warning}", file=sys.stderr)


class Terminated(SystemExit):
    """SIGTERM as an exception, so `with CorpusWriter(...)` removes its temp folder on the way out."""


@contextlib.contextmanager
def _sigterm_unwinds():
    """While writing a corpus, SIGTERM raises Terminated (exit 143) instead of killing the process
    outright: the writers' try/finally then remove `data/.<name>.tmp-*` (Ctrl-C already unwinds)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _cmd_synth(args) -> int:
    ws = Workspace.resolve(args.workspace)
    n_words = parse_word_count(args.words, "--words")
    with _sigterm_unwinds():
        path = create_synthetic_corpus(ws, _name(args), n_words, args.complexity, args.seed, args.dev_fraction)
    _summary(path)
    return 0


def _cmd_prepare(args) -> int:
    ws = Workspace.resolve(args.workspace)
    if not args.sources:
        raise UserError("--source: give the folder to prepare (BabyLM folders or your own text)")
    with _sigterm_unwinds():
        path = prepare_corpus(ws, args.sources, _name(args), args.babylm, args.budget_words, args.clean_domains)
    _summary(path)
    if args.tokenizer_vocab:
        print(f"next: babyllama tokenizer train --data {path.name} --vocab-size {args.tokenizer_vocab}")
    return 0


def _corpus_path(ws: Workspace, name: str) -> Path:
    if Path(name).is_dir() and (Path(name) / "manifest.json").is_file():
        return Path(name)
    path = ws.corpus_dir(name)
    if not path.is_dir():
        known = ", ".join(ws.corpora()) or "none yet"
        raise UserError(f"no corpus named {name!r} in {ws.data_dir} (corpora: {known})")
    return path


def _cmd_stats(args) -> int:
    ws = Workspace.resolve(args.workspace)
    stats = corpus_stats(_corpus_path(ws, args.name))
    if args.json:
        print(json.dumps(stats, indent=2))
        return 0
    print(f"corpus {stats['name']!r} ({stats['kind']}), source {stats['source']}, created {stats['created']}")
    print(f"{'file':40s} {'words':>12s} {'chars':>13s} {'lines':>10s} {'docs':>8s}")
    rows = stats["files"] + [{"file": f"[{s} total]", **c} for s, c in stats["splits"].items()]
    for row in rows:
        print(f"{row['file'][:40]:40s} {row['words']:>12,} {row['chars']:>13,} {row['lines']:>10,} {row['documents']:>8,}")
    hist = stats["line_lengths"]
    print(f"\n{hist['unit']}:")
    for i, label in enumerate(hist["labels"]):
        print(f"  {label:>8s} " + "  ".join(f"{s} {hist['counts'][s][i]:>9,}" for s in hist["counts"]))
    if stats["replaced_bytes"]:
        print(f"warning: {stats['replaced_bytes']} byte(s) were not valid UTF-8 in the source", file=sys.stderr)
    return 0


def _cmd_list(args) -> int:
    rows = list_corpora(Workspace.resolve(args.workspace))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no corpora yet: try `babyllama data synth --name synthetic --words 1M`")
        return 0
    print(f"{'name':24s} {'kind':10s} {'train words':>12s} {'dev words':>10s}  created")
    for row in rows:
        print(f"{row['name'][:24]:24s} {row['kind']:10s} {row['words']:>12,} {row['dev_words']:>10,}  {row['created']}")
    return 0
