"""`babyllama doctor`: print core.doctor.machine's readiness checks as a table (or JSON) and set the exit code.
`babyllama doctor --gpu-check`: train, resume, evaluate and bench on this machine's GPU (core.doctor.gpu_training).

Exit 1 when any check failed, else 0 (warnings and skips don't fail). Must not import gradio or studio.
"""

from __future__ import annotations

import json

from core.doctor import machine as doctor
from core.workspace import Workspace

_MARKS = {doctor.OK: "[ok]  ", doctor.WARN: "[warn]", doctor.FAIL: "[FAIL]"}


def register(subparsers) -> None:
    from core.cli import add_workspace_arg

    p = subparsers.add_parser("doctor", help="check Python, packages, device, memory and disk before training")
    p.add_argument("--json", action="store_true", help="print the checks and a system summary as JSON")
    p.add_argument(
        "--gpu-check",
        action="store_true",
        help="train llama-10M on the GPU (bf16, fp16, compiled), check the loss against "
        "transformers', stop/resume, 2-GPU launch, eval, generate, bench train; a JSON "
        "verdict with --json (on CPU: tiny versions, GPU parts skipped)",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=None,
        help="--gpu-check: seconds it may take; checks that would not fit are skipped (default 480)",
    )
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_doctor)


def _cmd_gpu_check(args) -> int:
    import sys

    from core.doctor.gpu_training import DEFAULT_BUDGET_S, GpuCheckOptions, format_verdict, run_gpu_check

    opts = GpuCheckOptions(budget_s=DEFAULT_BUDGET_S if args.budget_s is None else args.budget_s)
    result = run_gpu_check(opts, log=lambda m: print(m, file=sys.stderr, flush=True))
    print(json.dumps(result, indent=2) if args.json else format_verdict(result), flush=True)
    return 1 if result["verdict"] == "fail" else 0


def _cmd_doctor(args) -> int:
    if args.gpu_check:
        return _cmd_gpu_check(args)
    if args.budget_s is not None:
        from core.errors import UserError

        raise UserError("--budget-s: only with --gpu-check")
    ws = Workspace.resolve(args.workspace)
    checks = doctor.run_checks(ws)
    if args.json:
        print(
            json.dumps(
                {"checks": [c.to_dict() for c in checks], "system": doctor.system_summary(ws), "ok": not doctor.failed(checks)},
                indent=2,
            )
        )
    else:
        width = max(len(c.name) for c in checks)
        for c in checks:
            print(f"{_MARKS[c.status]} {c.name:<{width}}  {c.detail}")
            if c.fix and c.status != doctor.OK:
                print(f"{'':<{7 + width}}  fix: {c.fix}")
        problems = sum(c.status != doctor.OK for c in checks)
        print(f"\n{len(checks)} checks, {problems} problem(s)" if problems else f"\nall {len(checks)} checks ok")
    return 1 if doctor.failed(checks) else 0
