"""`babyllama presets list|show` and `babyllama config check|keys`.

Help for every config key is generated from the dataclass metadata in core.config, so the CLI,
the studio forms and validation never disagree. Must not import gradio.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from core import config as config_mod
from core.config import presets
from core.config.resolve import data_checker, resolve_data
from core.model import build as models
from core.workspace import Workspace


def keys_help() -> str:
    """Every config key with its type, default, bounds and help: the epilog of config-taking verbs."""
    lines = ["config keys (override as section.key=value, or with the guide's flags: --lr 5e-4, --fp16):"]
    for section, cls in config_mod.SECTIONS.items():
        lines.append(f"  {section}:")
        for f in fields(cls):
            meta = f.metadata
            limits = config_mod.field_limits(meta)
            extra = f" [{', '.join(limits)}]" if limits else ""
            lines.append(f"    {f.name} (default {f.default!r}){extra}: {meta['help']}")
    return "\n".join(lines)


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser("presets", help="list and show the built-in model presets")
    verbs = p.add_subparsers(dest="presets_verb", metavar="VERB", required=True)
    q = verbs.add_parser("list", help="every preset: name, architecture, parameters, training memory")
    q.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_presets_list)
    q = verbs.add_parser("show", help="print a preset's YAML")
    q.add_argument("name", help="preset name, e.g. llama-10M")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_presets_show)

    p = subparsers.add_parser("config", help="check a config file or list every key")
    verbs = p.add_subparsers(dest="config_verb", metavar="VERB", required=True)
    q = verbs.add_parser(
        "check",
        help="resolve a config with overrides; print it, its size and memory, or every problem",
        epilog=keys_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    q.add_argument("config", help="YAML file or preset name")
    q.add_argument("overrides", nargs="*", help="section.key=value or --flag value")
    q.add_argument("--json", action="store_true", help="print JSON")
    add_workspace_arg(q)
    q.set_defaults(func=_cmd_config_check, accepts_overrides=True)
    q = verbs.add_parser("keys", help="every config key with its help, bounds and default")
    q.set_defaults(func=lambda args: print(keys_help()) or 0)


def _preset_row(name: str, path, ws: Workspace) -> dict:
    cfg = config_mod.load(path)
    info = models.describe(cfg)
    return {
        "name": name,
        "type": cfg.model.type,
        "parameters": info["parameters"],
        "vocab_size": info["vocab_size"],
        "memory_gb": info["memory_gb"]["total"],
        "path": str(path),
    }


def _cmd_presets_list(args) -> int:
    ws = Workspace.resolve(args.workspace)
    rows = [_preset_row(name, path, ws) for name, path in sorted(presets.available(ws).items(), key=lambda kv: kv[0].lower())]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'preset':<14}{'arch':<7}{'params':>9}{'train mem':>11}   (at vocab {models.NOMINAL_VOCAB}, batch/seq of the preset)")
    for r in rows:
        print(f"{r['name']:<14}{r['type']:<7}{models.human(r['parameters']):>9}{r['memory_gb']:>9.2f}GB")
    return 0


def _cmd_presets_show(args) -> int:
    ws = Workspace.resolve(args.workspace)
    print(presets.find(args.name, ws).read_text(encoding="utf-8"), end="")
    return 0


def _cmd_config_check(args) -> int:
    ws = Workspace.resolve(args.workspace)
    # References that are set must exist (and the tokenizer must match model.vocab_size);
    # unset ones are fine here: a preset is checked before any data exists.
    cfg = config_mod.load(presets.resolve_config_path(args.config, ws), args.overrides, checks=[data_checker(ws, require=False)])
    paths = resolve_data(cfg, ws, require=False)
    vocab = None
    if paths.tokenizer is not None:
        from core.tokenizer import vocab_size_of

        vocab = vocab_size_of(str(paths.tokenizer), ws)
    info = models.describe(cfg, vocab)
    if args.json:
        print(json.dumps({"config": cfg.to_dict(), **info, "notes": list(paths.notes)}, indent=2))
        return 0
    print(config_mod.to_yaml(cfg), end="")
    source = "the tokenizer" if vocab else f"the nominal {models.NOMINAL_VOCAB} (no tokenizer set)"
    mem = info["memory_gb"]
    print(
        f"# parameters: {info['parameters']:,} ({models.human(info['parameters'])}) at vocab {info['vocab_size']} from {source}"
    )
    print(
        f"# training memory estimate: {mem['total']:.2f} GB (weights {mem['weights']}, gradients {mem['gradients']}, "
        f"AdamW {mem['optimizer']}, activations {mem['activations']})"
    )
    for note in paths.notes:
        print(f"# {note}")
    if paths.corpus is not None:
        from core.data.corpus import read_manifest
        from core.train.word_marks import config_forecast

        words = read_manifest(paths.corpus).get("splits", {}).get("train", {}).get("words", 0)
        note = config_forecast(cfg, words)
        if note:
            print(f"# {note}")
    return 0
