"""Hyperparameter sweeps, planned: a sweep YAML -> a validated list of trials (name + overrides).

Grid values expand to their cartesian product; random distributions are sampled with a seed, N
draws per grid point; every trial's config goes through `config.load`, and every problem of the
whole sweep is raised as one ConfigError. Nothing is started here (see `core.sweep.runs`). Must
not import gradio or torch.
"""

from __future__ import annotations

import difflib
import itertools
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import config as config_mod
from core import yamlio
from core.config import presets
from core.errors import ConfigError, Issue, UserError
from core.workspace import Workspace, check_name

SWEEPS_DIR = presets.BUILTIN_DIR / presets.SWEEPS_SUBDIR  # example sweeps shipped with the code
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
TOP_KEYS = ("name", "base", "overrides", "grid", "random", "trials", "seed", "metric", "mode")
MODES = ("min", "max")
MAX_TRIALS = 200  # each trial is a queued process: a bigger sweep is almost surely a typo
# Short names for the keys people sweep most, as the guide names its runs (llama-10m-lr3e-4-bs16).
SHORT = {
    "training.lr": "lr",
    "training.batch_size": "bs",
    "training.weight_decay": "wd",
    "training.warmup_steps": "wu",
    "training.gradient_accumulation_steps": "ga",
    "training.max_steps": "steps",
    "training.seed": "seed",
    "model.n_layer": "L",
    "model.n_head": "H",
    "model.hidden_size": "d",
    "model.intermediate_size": "ff",
    "model.dropout": "do",
    "data.seq_length": "seq",
}


@dataclass(frozen=True)
class Trial:
    """One run of the sweep: its name, the swept values, and the overrides that make its config."""

    name: str
    params: dict[str, Any]
    overrides: list[str]
    config: config_mod.RunConfig | None = None


@dataclass(frozen=True)
class SweepPlan:
    """A validated sweep: what to start (`trials`), how to judge it (`metric`, `mode`)."""

    name: str
    base: Path
    overrides: list[str]
    metric: str
    mode: str
    seed: int
    spec: dict
    trials: list[Trial] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Reading the YAML
# ---------------------------------------------------------------------------------------------


def find_spec(value: str, ws: Workspace | None = None) -> Path:
    """`--config` of `babyllama sweep`: a YAML path, an example in presets/sweeps/ by name, or a
    past sweep of the workspace by name (its saved `sweeps/<name>/sweep.yaml`, to run it again)."""
    path = Path(value).expanduser()
    if path.is_file():
        return path
    candidates = [SWEEPS_DIR / f"{path.stem}.yaml"]
    if ws is not None:
        candidates.append(ws.root / "sweeps" / path.stem / "sweep.yaml")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in SWEEPS_DIR.glob("*.yaml"))
    raise UserError(
        f"--config: no sweep file at {value!r}, no example and no past sweep of that name "
        f"(examples: {', '.join(known) or 'none'}); give the path of a sweep YAML"
    )


def read_spec(path: Path) -> dict:
    """The sweep YAML as a dict (`name` defaults to the file's stem); UserError if unreadable."""
    raw = yamlio.load_file(path, "--config: the sweep") or {}  # limits: size, aliases, depth, duplicates
    if not isinstance(raw, dict):
        raise UserError(f"--config: {path} must be a mapping with base:, grid: and/or random: (see presets/sweeps/)")
    raw.setdefault("name", Path(path).stem)
    return raw


# ---------------------------------------------------------------------------------------------
# Planning: validate the spec, expand the space, validate every trial's config
# ---------------------------------------------------------------------------------------------


def plan(spec: dict, ws: Workspace | None = None, *, trials: int | None = None, name: str | None = None, checks=()) -> SweepPlan:
    """Validate `spec` and every trial config; raise ONE ConfigError listing every problem.

    `trials` (the CLI's --trials) overrides the spec's: the number of random draws per grid
    point. `checks` join each trial's `config.load` (e.g. that the corpus and tokenizer exist).
    """
    issues: list[Issue] = []
    spec = dict(spec)
    if name:
        spec["name"] = name
    if trials is not None:
        spec["trials"] = trials
    sweep_name = _check_name(spec.get("name"), issues)
    base = _base_path(spec.get("base"), ws, issues)
    fixed = _fixed_overrides(spec.get("overrides"), issues)
    grid = _grid(spec.get("grid"), issues)
    space = _random_space(spec.get("random"), issues)
    draws = _draws(spec.get("trials"), bool(space), issues)
    seed = _whole(spec.get("seed", 0), "seed", issues)
    metric, mode = str(spec.get("metric") or "eval_loss"), str(spec.get("mode") or "min")
    issues += _top_level_issues(spec, grid, space, mode)
    # The parts that are valid are still expanded and checked: every problem is reported at once.
    points = expand(grid, space, draws, seed or 0) if grid or space else []
    if len(points) > MAX_TRIALS:
        issues.append(Issue("trials", f"{len(points)} trials is more than {MAX_TRIALS}", "narrow the grid or lower --trials"))
        points = []
    planned = _trials(sweep_name, points, base, fixed, checks, issues) if base and points else []
    if issues:
        raise ConfigError(issues)
    return SweepPlan(sweep_name, base, fixed, metric, mode, seed or 0, spec, planned)


def expand(grid: dict[str, list], space: dict[str, dict], draws: int, seed: int) -> list[dict]:
    """Every trial's values: each grid point (cartesian product, in key order) x `draws` random
    draws from `space`; draws come from one `random.Random(seed)`, so a seed gives the same sweep."""
    rng = random.Random(seed)
    keys = list(grid)
    points = [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]
    if not space:
        return points
    return [{**point, **{key: sample(dist, rng) for key, dist in space.items()}} for point in points for _ in range(draws)]


def sample(dist: dict, rng: random.Random) -> Any:
    """One value from a distribution spec ({uniform: [lo, hi]}, {log_uniform: ...},
    {int_uniform: [lo, hi]} (both ends included), {choice: [...]}); floats keep 4 significant digits."""
    ((kind, arg),) = dist.items()
    if kind == "choice":
        return rng.choice(arg)
    lo, hi = float(arg[0]), float(arg[1])
    if kind == "int_uniform":
        return rng.randint(int(lo), int(hi))
    value = math.exp(rng.uniform(math.log(lo), math.log(hi))) if kind == "log_uniform" else rng.uniform(lo, hi)
    return min(max(float(f"{value:.4g}"), lo), hi)  # rounding must not step outside the bounds


def _trials(sweep: str, points: list[dict], base: Path, fixed: list[str], checks, issues: list[Issue]) -> list[Trial]:
    names = trial_names(sweep, points)
    per_trial: list[list[Issue]] = []
    trials = []
    for trial_name, params in zip(names, points):
        overrides = fixed + [f"{key}={_text(value)}" for key, value in params.items()]
        try:
            cfg = config_mod.load(base, overrides + [f"model.name={trial_name}"], checks=checks)
            per_trial.append([])
            # Typed values (PyYAML reads 1e-4 as text) for tables and plots.
            params = {key: getattr(getattr(cfg, key.split(".")[0]), key.split(".")[1]) for key in params}
        except ConfigError as err:
            cfg = None
            per_trial.append(err.issues)
        trials.append(Trial(trial_name, params, overrides, cfg))
    # A problem every trial shares (a missing corpus) is reported once; the rest name their trial.
    common = set(per_trial[0]).intersection(*per_trial[1:]) if per_trial else set()
    issues += [i for i in per_trial[0] if i in common] if per_trial else []
    for trial, found in zip(trials, per_trial):
        issues += [Issue(f"{trial.name}: {i.where}", i.problem, i.fix) for i in found if i not in common]
    return trials


def trial_names(sweep: str, points: list[dict]) -> list[str]:
    """Safe, unique run names from the sweep name and each trial's values (`lrs-lr3e-4-bs16`);
    a name too long or repeated falls back to / gets the trial number."""
    names: list[str] = []
    for i, params in enumerate(points, start=1):
        parts = [f"{SHORT.get(key, key.split('.')[-1].replace('_', ''))}{_short(value)}" for key, value in params.items()]
        candidate = re.sub(r"[^A-Za-z0-9._-]", "_", "-".join([sweep, *parts]))
        if len(candidate) > 100:
            candidate = f"{sweep[:90]}-t{i}"
        while candidate in names:
            candidate = f"{candidate[:94]}-t{i}"
        names.append(check_name(candidate, "trial name"))
    return names


def _short(value: Any) -> str:
    """Compact text for names: 0.0003 -> 3e-4, 0.1 -> 0.1, 32 -> 32, True -> true."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 0.01 or abs(value) >= 1e5):
            mantissa, exponent = f"{value:.2e}".split("e")
            return f"{float(mantissa):g}e{int(exponent)}"
        return f"{value:.3g}"
    return str(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------------------------------
# Checking each part of the spec (problems are collected, never raised one by one)
# ---------------------------------------------------------------------------------------------


def _check_name(value: Any, issues: list[Issue]) -> str:
    try:
        return check_name(str(value or ""), "sweep name")
    except UserError as err:
        issues.append(Issue("name", str(err), "set name: (or --name) to letters, digits, '.', '_' or '-'"))
        return "sweep"


def _base_path(value: Any, ws: Workspace | None, issues: list[Issue]) -> Path | None:
    if not value or not isinstance(value, str):
        issues.append(Issue("base", "not set", "set base: to a preset name (tiny, llama-10M) or a config YAML path"))
        return None
    try:
        return presets.resolve_config_path(value, ws)
    except UserError as err:
        issues.append(Issue("base", str(err), "see `babyllama presets list`"))
        return None


def _fixed_overrides(value: Any, issues: list[Issue]) -> list[str]:
    """`overrides:` as a mapping ({data.train_path: syn}) or a list of key=value strings."""
    if value is None:
        return []
    if isinstance(value, dict):
        bad = [k for k in value if _unknown_key(k, "overrides", issues)]
        return [f"{k}={_text(v)}" for k, v in value.items() if k not in bad]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    issues.append(Issue("overrides", "must be a mapping of section.key: value", "write e.g. `data.train_path: syn`"))
    return []


def _grid(value: Any, issues: list[Issue]) -> dict[str, list]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        issues.append(Issue("grid", "must be a mapping of section.key: [values]", "write `training.lr: [1e-4, 3e-4]`"))
        return {}
    grid = {}
    for key, values in value.items():
        if _unknown_key(key, "grid", issues):
            continue
        if not isinstance(values, list) or not values:
            issues.append(
                Issue(f"grid.{key}", f"expected a non-empty list of values, got {values!r}", f"write `{key}: [v1, v2]`")
            )
            continue
        grid[key] = values
    return grid


def _random_space(value: Any, issues: list[Issue]) -> dict[str, dict]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        issues.append(
            Issue(
                "random",
                "must be a mapping of section.key: {distribution: [...]}",
                "write `training.lr: {log_uniform: [1e-5, 1e-2]}`",
            )
        )
        return {}
    space = {}
    for key, dist in value.items():
        checked = None if _unknown_key(key, "random", issues) else _check_distribution(f"random.{key}", dist, issues)
        if checked is not None:
            space[key] = checked
    return space


def _check_distribution(where: str, dist: Any, issues: list[Issue]) -> dict | None:
    """The distribution with numeric bounds ({log_uniform: [1e-05, 0.01]}), or None and an issue."""
    fix = f"use one of {', '.join(DISTRIBUTIONS)}, e.g. {{log_uniform: [1e-5, 1e-2]}} or {{choice: [2, 4]}}"
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        issues.append(Issue(where, f"not a distribution: {dist!r}", fix))
        return None
    ((kind, arg),) = dist.items()
    if kind == "choice":
        if isinstance(arg, list) and arg:
            return {kind: list(arg)}
        issues.append(Issue(where, f"choice needs a non-empty list, got {arg!r}", "write {choice: [2, 4]}"))
        return None
    bounds = [_number(a) for a in arg] if isinstance(arg, list) and len(arg) == 2 else None
    if bounds is None or None in bounds:
        issues.append(Issue(where, f"{kind} needs [low, high] numbers, got {arg!r}", f"write {{{kind}: [low, high]}}"))
        return None
    lo, hi = bounds
    problem = (
        "low must be below high"
        if lo >= hi
        else "log_uniform needs low > 0"
        if kind == "log_uniform" and lo <= 0
        else "int_uniform needs whole numbers"
        if kind == "int_uniform" and not (lo.is_integer() and hi.is_integer())
        else ""
    )
    if problem:
        issues.append(
            Issue(
                where,
                f"{problem}, got {arg!r}",
                f"write {{{kind}: [low, high]}} with 0 < low < high"
                if kind == "log_uniform"
                else f"write {{{kind}: [low, high]}} with low < high",
            )
        )
        return None
    return {kind: [lo, hi]}


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)  # PyYAML reads 1e-5 as a string: accept it like config.py does
    except (TypeError, ValueError):
        return None


def _unknown_key(key: Any, where: str, issues: list[Issue]) -> bool:
    specs = config_mod.field_specs()
    if key in specs:
        return False
    close = difflib.get_close_matches(str(key), list(specs), n=2, cutoff=0.6)
    fix = f"did you mean {' or '.join(close)}?" if close else "use section.key names from `babyllama config keys`"
    issues.append(Issue(f"{where}.{key}", "unknown config key", fix))
    return True


def _draws(value: Any, has_random: bool, issues: list[Issue]) -> int:
    if value is None:
        return 1
    draws = _whole(value, "trials", issues)
    if draws is not None and draws > 1 and not has_random:
        issues.append(
            Issue(
                "trials",
                f"{draws} random draws per grid point, but there is no random: section",
                "add a random: space, or drop --trials to run the grid once",
            )
        )
    return draws or 1


def _whole(value: Any, where: str, issues: list[Issue]) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= (1 if where == "trials" else 0):
        return value
    issues.append(
        Issue(
            where,
            f"expected a whole number{' >= 1' if where == 'trials' else ''}, got {value!r}",
            f"set {where}: to e.g. {4 if where == 'trials' else 0}",
        )
    )
    return None


def _top_level_issues(spec: dict, grid: dict, space: dict, mode: str) -> list[Issue]:
    issues = [Issue(str(k), "unknown sweep key", f"use {', '.join(TOP_KEYS)}") for k in spec if k not in TOP_KEYS]
    if not spec.get("grid") and not spec.get("random"):
        issues.append(
            Issue("grid", "the sweep has no grid: and no random: section", "add e.g. `grid: {training.lr: [1e-4, 3e-4]}`")
        )
    issues += [Issue(f"random.{k}", "also in grid:", "sweep a key either on the grid or at random") for k in space if k in grid]
    if mode not in MODES:
        issues.append(Issue("mode", f"{mode!r} is not min or max", "mode: min for losses, max for accuracies"))
    return issues
