"""`python -m core.cli.docs`: writes docs/cli.md from the argparse tree and docs/config.md from the
config dataclasses' field metadata; `--check` only reports which page is stale. The output depends
on nothing but the code (fixed width, declaration order). Must not import gradio.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import re
import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMAND = "python -m core.cli.docs"
WIDTH = 100  # help is wrapped to this, whatever the terminal
PYTHON = "3.11"  # argparse's layout changes between Python versions: pages are generated with this one


def render_all() -> dict[str, str]:
    """Every generated page by file name (relative to docs/)."""
    return {"cli.md": render_cli(), "config.md": render_config()}


def _header(title: str, source: str) -> list[str]:
    return [
        f"# {title}",
        "",
        f"Generated from {source} by `{COMMAND}` (Python {PYTHON}); do not edit by hand.",
        "`tests/core/cli/test_docs.py` fails when this page is stale.",
        "",
    ]


# ---------------------------------------------------------------------------------------------
# docs/cli.md
# ---------------------------------------------------------------------------------------------


def walk(parser: argparse.ArgumentParser, path=("babyllama",), summary: str = ""):
    """(command words, one-line help, parser) for `parser` and every sub-command, depth first."""
    yield path, summary, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield from walk(sub, path + (name,), helps.get(name) or "")


def render_cli() -> str:
    """docs/cli.md: `--help` of every command, the config key list replaced by a link to config.md."""
    from core.cli import build_parser
    from core.cli.config_cmds import keys_help

    commands = list(walk(build_parser()))
    lines = _header("CLI reference", "the argparse tree (`core.cli.build_parser`)")
    lines += [f"- [`{' '.join(path)}`](#{_anchor(path)}){': ' + summary if summary else ''}" for path, summary, _ in commands]
    config_keys = keys_help()
    for path, summary, parser in commands:
        lines += ["", f"## {' '.join(path)}", ""]
        lines += [summary, ""] if summary else []
        lines += ["```text", _help(parser, config_keys).rstrip(), "```"]
        if parser.epilog == config_keys:
            lines += ["", "Config keys: every `section.key` with its default and bounds is in [config.md](config.md)."]
    return "\n".join(lines) + "\n"


def _anchor(path) -> str:
    return re.sub(r"[^a-z0-9 _-]", "", " ".join(path).lower()).replace(" ", "-")


def _help(parser: argparse.ArgumentParser, config_keys: str) -> str:
    saved = parser.formatter_class, parser.epilog
    parser.formatter_class = functools.partial(saved[0], width=WIDTH)
    if parser.epilog == config_keys:
        parser.epilog = None  # listed once, in config.md
    try:
        return parser.format_help()
    finally:
        parser.formatter_class, parser.epilog = saved


# ---------------------------------------------------------------------------------------------
# docs/config.md
# ---------------------------------------------------------------------------------------------


def render_config() -> str:
    """docs/config.md: every section and key of a run config with type, default, bounds and help."""
    from core import config as config_mod

    lines = _header("Config reference", "the field metadata of the dataclasses in `core/config/fields.py`")
    lines += [
        "A run config is YAML with these sections. Override any key on the command line as "
        "`section.key=value` (`babyllama train --config tiny training.lr=1e-3`), or with the guide's "
        "flags (`--lr 1e-3`, `--fp16`). `babyllama config keys` prints the same list; "
        "`babyllama config check CONFIG` validates a file and reports every problem at once.",
        "",
    ]
    for section, cls in config_mod.SECTIONS.items():
        lines += [
            f"## {section}",
            "",
            " ".join(inspect.cleandoc(cls.__doc__ or "").split()),
            "",
            "| key | type | default | allowed | help |",
            "|---|---|---|---|---|",
        ]
        types = config_mod.field_types(cls)
        for f in fields(cls):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            cells = [
                f"`{section}.{f.name}`",
                getattr(types[f.name], "__name__", str(types[f.name])),
                f"`{_yaml(default)}`",
                _allowed(f.metadata),
                f.metadata.get("help", ""),
            ]
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    lines += [
        "## Guide flags",
        "",
        "Flags of the guide whose names differ from the key they set "
        "(any other `--key value` sets the key of that name in whichever section has it):",
        "",
    ]
    lines += [f"- `--{flag}` sets `{key}`" for flag, key in config_mod.FLAG_ALIASES.items()]
    return "\n".join(lines) + "\n"


def _yaml(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return '""' if value == "" else str(value)


def _allowed(meta) -> str:
    from core.config import field_limits

    return "; ".join(field_limits(meta, choice_sep=", "))


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def stale(out_dir: Path) -> list[str]:
    """The generated pages in `out_dir` that differ from what the code generates now."""
    return [
        name
        for name, text in render_all().items()
        if not (out_dir / name).is_file() or (out_dir / name).read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Regenerate docs/cli.md and docs/config.md.")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a page is stale")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder of the pages (default docs/)")
    args = parser.parse_args(argv)
    if args.check:
        names = stale(args.out)
        for name in names:
            print(f"{args.out / name} is stale: regenerate with `{COMMAND}`", file=sys.stderr)
        return 1 if names else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in render_all().items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":  # pragma: no cover - `python -m core.cli.docs`
    sys.exit(main())
