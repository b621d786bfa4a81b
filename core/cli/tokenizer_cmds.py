"""`babyllama tokenizer train|inspect|list`: byte-level BPE tokenizers in the workspace.

Thin wrappers over core.tokenizer; the guide's `train_tokenizer.py --data-dir --output x.json`
spellings are accepted. Must not import gradio or studio.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from core import bounds
from core import tokenizer as tk
from core.errors import UserError
from core.workspace import Workspace


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser("tokenizer", help="train, inspect and list byte-level BPE tokenizers")
    verbs = p.add_subparsers(dest="tokenizer_verb", metavar="VERB", required=True)

    q = verbs.add_parser("train", help="train a byte-level BPE tokenizer on a corpus")
    q.add_argument(
        "--data",
        "--data-dir",
        dest="data",
        required=True,
        metavar="N",
        help="workspace corpus name, or a folder / text file (a corpus folder: its train/ split)",
    )
    q.add_argument(
        "--vocab-size",
        type=bounds.bounded(int, tk.MIN_VOCAB, bounds.MAX_VOCAB),
        default=16000,
        help=f"vocabulary size to aim for, {tk.MIN_VOCAB} to {bounds.MAX_VOCAB:,} (default 16000)",
    )
    q.add_argument(
        "--min-frequency",
        type=bounds.bounded(int, 1, bounds.MAX_ITEMS),
        default=2,
        help="a pair must occur this often to merge (default 2)",
    )
    q.add_argument("--name", default=None, metavar="TOK", help="tokenizer name in the workspace (default <corpus>-bpe<vocab>)")
    q.add_argument(
        "--output",
        default=None,
        metavar="PATH",
        help="the guide's spelling: a name, a folder, or a path ending in .json (the tokenizer "
        "is saved in the workspace under the file's stem and its tokenizer.json copied there)",
    )
    q.add_argument(
        "--no-bos",
        action="store_true",
        help="do not start encoded texts with <s> (the default adds it, so the BabyLM pipeline "
        "scores a sentence's first word; see docs/evaluation.md)",
    )
    q.add_argument("--quiet", action="store_true", help="no progress bar")
    q.add_argument("--json", action="store_true", help="print the result as JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_train)

    q = verbs.add_parser("inspect", help="show how a tokenizer splits a text and measure it on a corpus")
    q.add_argument("tokenizer", metavar="TOK", help="tokenizer name, folder or tokenizer .json file")
    q.add_argument("--text", default=None, help="text to split into tokens")
    q.add_argument("--corpus", default=None, metavar="N", help="corpus name or path to measure on")
    q.add_argument(
        "--max-lines",
        type=bounds.bounded(int, 1, bounds.MAX_ITEMS),
        default=2000,
        help="corpus lines sampled, at least 1 (default 2000)",
    )
    q.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_inspect)

    q = verbs.add_parser("list", help="tokenizers saved in the workspace")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_list)


def _destination(args, ws: Workspace, source: Path) -> tuple[Path, Path | None]:
    """(folder to train into, optional bare .json copy) from --name / --output."""
    output = args.output
    if output and output.lower().endswith(".json"):
        json_copy = Path(output).expanduser()
        if json_copy.exists():
            raise UserError(f"--output {output!r} already exists: pick another path or delete it")
        return ws.tokenizer_dir(args.name or tk.safe_name(json_copy.stem)), json_copy
    if output and not args.name and ("/" in output or os.sep in output):
        return Path(output).expanduser(), None  # an explicit folder outside the workspace
    label = source.name if source.is_dir() else source.stem
    return ws.tokenizer_dir(args.name or output or tk.default_name(label, args.vocab_size)), None


def _cmd_train(args) -> int:
    ws = Workspace.resolve(args.workspace)
    source = tk.resolve_source(args.data, ws)
    out_dir, json_copy = _destination(args, ws, source)
    if not args.json:
        print(
            f"training byte-level BPE on {source} (vocab {args.vocab_size}, min frequency {args.min_frequency}) -> {out_dir}",
            flush=True,
        )
    result = tk.train_tokenizer(
        source,
        out_dir,
        args.vocab_size,
        args.min_frequency,
        progress=not (args.quiet or args.json) and sys.stderr.isatty(),
        add_bos=not args.no_bos,
    )
    if json_copy is not None:
        json_copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out_dir / tk.TOKENIZER_FILE, json_copy)
    if args.json:
        print(json.dumps({**result.to_dict(), "json_copy": str(json_copy) if json_copy else None}, indent=2))
        return 0
    # A shortfall was already logged as a warning by core.tokenizer, with its fix.
    short = " (all this corpus supports)" if result.warnings else ""
    print(
        f"vocab size {result.vocab_size}{short} (requested {result.vocab_size_requested}) from "
        f"{result.files} file(s), {result.bytes / 1e6:.1f} MB in {result.seconds:.1f}s"
    )
    print(f"saved to {result.out_dir}" + (f" (tokenizer.json also at {json_copy})" if json_copy else ""))
    return 0


def _cmd_inspect(args) -> int:
    ws = Workspace.resolve(args.workspace)
    path = tk.resolve_tokenizer(args.tokenizer, ws)
    tok = tk.load_tokenizer(path, ws)
    report = {"tokenizer": str(path), "vocab_size": tk.vocab_size_of(path, ws), "meta": tk.read_meta(path)}
    if args.text is not None:
        report["text"] = tk.inspect_text(tok, args.text).to_dict()
    if args.corpus is not None:
        source = tk.resolve_source(args.corpus, ws)
        report["corpus"] = {"source": str(source), **tk.corpus_stats(tok, source, args.max_lines).to_dict()}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"tokenizer {path}  vocab {report['vocab_size']}")
    if "text" in report:
        t = report["text"]
        print(
            f"text: {t['words']} words -> {len(t['ids'])} tokens; fertility {t['fertility']:.3f} tokens/word, "
            f"{t['bytes_per_token']:.2f} bytes/token, unknown {t['unknown_rate']:.2%}"
        )
        print("tokens: " + " ".join(repr(p) for p in t["pieces"]))
        print("ids:    " + " ".join(str(i) for i in t["ids"]))
    if "corpus" in report:
        c = report["corpus"]
        print(
            f"corpus {c['source']} ({c['lines']} sampled lines, {c['words']} words, {c['tokens']} tokens): "
            f"fertility {c['fertility']:.3f}, {c['bytes_per_token']:.2f} bytes/token, "
            f"unknown rate {c['unknown_rate']:.2%}, single-token words {c['coverage']:.1%}"
        )
    return 0


def _cmd_list(args) -> int:
    ws = Workspace.resolve(args.workspace)
    rows = []
    for name in ws.tokenizers():
        meta = tk.read_meta(ws.tokenizer_dir(name))
        rows.append(
            {
                "name": name,
                "vocab_size": tk.vocab_size_of(name, ws),
                "min_frequency": meta.get("min_frequency"),
                "source": meta.get("source"),
                "created": meta.get("created"),
                "path": str(ws.tokenizer_dir(name)),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no tokenizers in {ws.tokenizers_dir} (train one: babyllama tokenizer train --data N --name TOK)")
        return 0
    print(f"{'name':<28}{'vocab':>8}  {'created':<26}source")
    for r in rows:
        print(f"{r['name']:<28}{r['vocab_size']:>8}  {r['created'] or '-':<26}{r['source'] or '-'}")
    return 0
