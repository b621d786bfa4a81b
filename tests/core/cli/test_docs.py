"""docs/cli.md and docs/config.md are generated (`python -m core.cli.docs`) and must match the code:
a new flag, verb or config key without a regenerated page fails here."""

from __future__ import annotations

import sys

import pytest

from core.cli import docs

STALE = "docs/{name} is stale (first difference at line {line}: {got!r} vs {want!r}); regenerate with `{cmd}`"


@pytest.mark.skipif(
    f"{sys.version_info[0]}.{sys.version_info[1]}" != docs.PYTHON,
    reason=f"argparse lays help out differently outside Python {docs.PYTHON}, which the pages use",
)
@pytest.mark.parametrize("name", ["cli.md", "config.md"])
def test_committed_page_is_current(name):
    want = docs.render_all()[name]
    path = docs.ROOT / "docs" / name
    got = path.read_text(encoding="utf-8") if path.is_file() else ""
    if got != want:
        got_lines, want_lines = got.splitlines() + [""], want.splitlines() + [""]
        line = next(i for i, (g, w) in enumerate(zip(got_lines, want_lines)) if g != w)
        pytest.fail(STALE.format(name=name, line=line + 1, got=got_lines[line], want=want_lines[line], cmd=docs.COMMAND))


def test_pages_cover_every_command_and_key():
    from core import config as config_mod
    from core.cli import build_parser

    pages = docs.render_all()
    commands = [" ".join(path) for path, _, _ in docs.walk(build_parser())]
    assert "babyllama bench studio" in commands and "babyllama runs list" in commands
    assert all(f"## {c}\n" in pages["cli.md"] for c in commands)
    assert all(f"`{key}`" in pages["config.md"] for key in config_mod.field_specs())
    assert "| `training.lr_scheduler` | str | `cosine` | cosine, linear, constant |" in pages["config.md"]
    assert "| `model.initializer_range` | float | `0.02` | > 0; <= 1 |" in pages["config.md"]


def test_check_reports_stale_then_write_fixes_it(tmp_path, capsys):
    (tmp_path / "cli.md").write_text("old\n", encoding="utf-8")
    assert docs.main(["--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "cli.md is stale" in err and "config.md is stale" in err and docs.COMMAND in err
    assert docs.main(["--out", str(tmp_path)]) == 0
    assert docs.main(["--check", "--out", str(tmp_path)]) == 0
