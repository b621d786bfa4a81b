"""One-off investigations kept runnable from a checkout (`python -m benchmarks.<name> --help`); not
shipped: pyproject's package list names core, studio and presets only. The benchmarks a user runs
are `babyllama bench ...` (core/bench/). Must not import gradio or studio.
"""

from __future__ import annotations

import sys


def run(main, argv: list[str] | None = None) -> int:
    """Call `main(argv)`; a UserError prints as `error: ...` and exits 2, as the CLI's does."""
    from core.errors import UserError

    try:
        return int(main(argv) or 0)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return err.exit_code
