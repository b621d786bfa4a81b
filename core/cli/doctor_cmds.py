"""`babyllama doctor`: print core.doctor's readiness checks as a table (or JSON) and set the exit code.

Exit 1 when any check failed, else 0 (warnings don't fail). Must not import gradio or studio.
"""
from __future__ import annotations

import json

from core import doctor
from core.workspace import Workspace

_MARKS = {doctor.OK: "[ok]  ", doctor.WARN: "[warn]", doctor.FAIL: "[FAIL]"}


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser("doctor", help="check Python, packages, device, memory and disk before training")
    p.add_argument("--json", action="store_true", help="print the checks and a system summary as JSON")
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_doctor)


def _cmd_doctor(args) -> int:
    ws = Workspace.resolve(args.workspace)
    checks = doctor.run_checks(ws)
    if args.json:
        print(json.dumps({"checks": [c.to_dict() for c in checks], "system": doctor.system_summary(ws),
                          "ok": not doctor.failed(checks)}, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{_MARKS[c.status]} {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != doctor.OK:
                print(f"{'':<{7 + width}}  fix: {c.fix}")
        problems = sum(c.status != doctor.OK for c in checks)
        print(f"\n{len(checks)} checks, {problems} problem(s)" if problems else f"\nall {len(checks)} checks ok")
    return 1 if doctor.failed(checks) else 0
