"""`babyllama sweep --config SWEEP.yaml` and `babyllama sweep list|show|stop`.

The whole sweep is validated before anything starts; each trial is then a queued training run.
Must not import gradio or torch.
"""

from __future__ import annotations

import argparse
import json
import shlex

from core import bounds
from core.workspace import Workspace

SPEC_HELP = """sweep YAML (see presets/sweeps/tiny-lr.yaml):
  name: lrsweep                 # trial runs are named lrsweep-lr3e-4-bs16, ...
  base: tiny                    # a preset name or a run config YAML
  overrides: {data.train_path: syn, data.tokenizer_path: tok}   # fixed for every trial
  grid: {training.lr: [1e-4, 3e-4, 1e-3], training.batch_size: [16, 32]}   # cartesian product
  random:                       # `trials` draws per grid point, sampled with `seed`
    training.weight_decay: {uniform: [0, 0.1]}
    training.warmup_steps: {int_uniform: [0, 50]}      # both ends included
    model.n_layer: {choice: [2, 4]}
    # training.lr: {log_uniform: [1e-5, 1e-2]}         # (a key is on the grid or random, not both)
  trials: 1
  seed: 0
  metric: eval_loss             # each trial's best value of it decides
  mode: min                     # min (losses) or max (accuracies)
trials = grid points x draws (a grid alone runs each point once)."""


def register(subparsers) -> None:
    from core.cli import add_workspace_arg
    from core.cli.backend_args import add_backend_args

    p = subparsers.add_parser(
        "sweep",
        help="hyperparameter sweeps: grid and/or random search over queued runs",
        epilog=SPEC_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--config", help="sweep YAML path, an example in presets/sweeps/ by name, or a past sweep's name (with a new --name)"
    )
    p.add_argument(
        "--trials",
        type=bounds.bounded(int, 1, bounds.MAX_TRIALS),
        default=None,
        help="random draws per grid point (overrides the YAML's trials:)",
    )
    p.add_argument("--name", default=None, help="sweep name (overrides the YAML's name:); prefixes every trial's run name")
    p.add_argument("--dry-run", "--dry_run", action="store_true", help="validate and list the trials; start nothing")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="fixed for every trial, after the YAML's overrides: (repeatable: --set data.train_path=syn)",
    )
    add_backend_args(p)
    p.add_argument(
        "--max-parallel",
        "--max_parallel",
        dest="max_parallel",
        type=bounds.bounded(int, 1, bounds.MAX_TRIALS),
        default=None,
        help="with --backend slurm: trials running at once (the job array's %%N; overrides the cluster's array_parallelism)",
    )
    add_workspace_arg(p)
    p.set_defaults(func=_cmd_start)
    verbs = p.add_subparsers(dest="sweep_verb", metavar="VERB", required=False)
    specs = [
        ("list", "every sweep: trials and their statuses", _cmd_list, False),
        ("show", "one sweep's results table (best trial marked) + results.html plot", _cmd_show, True),
        ("stop", "stop the sweep's queued and running trials (again: kill the running one)", _cmd_stop, True),
    ]
    for verb, text, func, takes_name in specs:
        q = verbs.add_parser(verb, help=text)
        if takes_name:
            q.add_argument("sweep", help="sweep name")
        if verb in ("list", "show"):
            q.add_argument("--json", action="store_true", help="print JSON")
        add_workspace_arg(q)
        q.set_defaults(func=func)


def _cmd_start(args) -> int:
    from core.config.resolve import data_checker
    from core.errors import UserError
    from core.history import open_history
    from core.sweep import runs as sweep_runs
    from core.sweep import spec as sweep

    if not args.config:
        raise UserError("--config: missing; give a sweep YAML (e.g. --config tiny-lr), or a verb: list, show, stop")
    ws = Workspace.resolve(args.workspace).ensure()
    backend = _backend(args, ws)
    spec = sweep.read_spec(sweep.find_spec(args.config, ws))
    if args.overrides:
        fixed = spec.get("overrides") or {}
        spec["overrides"] = ([f"{k}={v}" for k, v in fixed.items()] if isinstance(fixed, dict) else list(fixed)) + list(
            args.overrides
        )
    plan = sweep.plan(spec, ws, trials=args.trials, name=args.name, checks=[data_checker(ws, require=True)])
    with open_history(ws) as history:
        sweep_runs.check_free(plan, ws, history)  # a taken name is a problem of the dry run too
        print(f"sweep {plan.name}: {len(plan.trials)} trial(s), judged by {plan.metric} ({plan.mode})")
        for trial in plan.trials:
            print(f"  {trial.name:<48} {_values(trial.params)}")
        if args.dry_run:
            print("dry run: nothing started")
            return 0
        command = "babyllama sweep " + " ".join(shlex.quote(a) for a in _argv(args))
        sweep_runs.start(plan, ws, history, command=command, backend=backend)
    print(f"queued {len(plan.trials)} run(s); follow with `babyllama sweep show {plan.name}`")
    return 0


def _backend(args, ws: Workspace):
    from core.cli.backend_args import choose_backend

    return choose_backend(args, ws)  # --max-parallel included (core.backends.choice)


def _argv(args) -> list[str]:
    argv = ["--config", args.config, *(["--trials", str(args.trials)] if args.trials else [])]
    argv += [
        f"--{flag.replace('_', '-')}={getattr(args, flag)}"
        for flag in ("backend", "nodes", "gpus_per_node", "time", "max_parallel")
        if getattr(args, flag) not in (None, "local")
    ]
    return argv + (["--name", args.name] if args.name else []) + [f"--set={o}" for o in args.overrides]


def _cmd_list(args) -> int:
    from core.history import open_history
    from core.sweep import runs as sweep_runs

    with open_history(Workspace.resolve(args.workspace)) as history:
        rows = sweep_runs.list_sweeps(history)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'sweep':<28}{'trials':>7}  {'metric':<20}statuses")
    for r in rows:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(r["statuses"].items()))
        print(f"{r['name']:<28}{r['trials']:>7}  {r['metric'] + ' (' + r['mode'] + ')':<20}{statuses}")
    return 0


def _cmd_show(args) -> int:
    from core.history import open_history
    from core.sweep import plot as sweep_plot
    from core.sweep import runs as sweep_runs

    with open_history(Workspace.resolve(args.workspace)) as history:
        result = sweep_runs.results(history, args.sweep)
    plot = sweep_plot.write_html(result, result["sweep_dir"], sweep_runs.PLOT_FILE)
    if args.json:
        print(json.dumps({**result, "plot": str(plot)}, indent=2, default=str))
        return 0
    keys = result["params"]
    print(f"sweep {result['name']}: {result['metric']} ({result['mode']}), best: {result['best'] or '-'}")
    header = f"  {'run':<44}{'status':<10}" + "".join(f"{k.split('.')[-1]:>14}" for k in keys) + f"{result['metric']:>12}"
    print(header)
    for r in result["rows"]:
        mark = "*" if r["best"] else " "
        value = f"{r['value']:.4f}" if r["value"] is not None else "-"
        cells = "".join(f"{_cell(r['params'].get(k)):>14}" for k in keys)
        print(f"{mark} {r['run']:<44}{r['status']:<10}{cells}{value:>12}")
    print(f"* best trial; plot: {plot}")
    return 0


def _cmd_stop(args) -> int:
    from core.history import open_history
    from core.sweep import runs as sweep_runs

    with open_history(Workspace.resolve(args.workspace)) as history:
        outcomes = sweep_runs.stop(history, args.sweep)
    asked = [run for run, outcome in outcomes.items() if outcome in ("requested", "killed")]
    print(
        f"sweep {args.sweep}: stop requested for {len(asked)} trial(s)"
        + (f" ({', '.join(asked)})" if asked else "; none was queued or running")
    )
    return 0


def _values(params: dict) -> str:
    return "  ".join(f"{k}={_cell(v)}" for k, v in params.items())


def _cell(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
