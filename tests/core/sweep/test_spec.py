"""core.sweep.spec: grid expansion, seeded random sampling, trial names, whole-sweep validation, examples."""

from __future__ import annotations

import math
import random
import re

import pytest

from core import config
from core.config import presets
from core.config.resolve import data_checker
from core.errors import ConfigError, UserError
from core.sweep import spec as sweep
from core.workspace import check_name

DATA = {"data.train_path": "syn", "data.tokenizer_path": "tok"}


def _spec(**changes):
    spec = {
        "name": "lrs",
        "base": "tiny",
        "overrides": dict(DATA),
        "grid": {"training.lr": ["1e-4", "3e-4", "1e-3"], "training.batch_size": [16, 32]},
    }
    spec.update(changes)
    return spec


def test_grid_is_the_cartesian_product_in_key_order():
    points = sweep.expand({"training.lr": [1, 2, 3], "training.batch_size": [16, 32]}, {}, draws=1, seed=0)
    assert len(points) == 6
    assert points[0] == {"training.lr": 1, "training.batch_size": 16}
    assert points[1] == {"training.lr": 1, "training.batch_size": 32}
    assert {(p["training.lr"], p["training.batch_size"]) for p in points} == {(lr, bs) for lr in (1, 2, 3) for bs in (16, 32)}


def test_random_draws_are_seeded_bounded_and_log_uniform_spreads_over_decades():
    space = {
        "training.lr": {"log_uniform": [1e-5, 1e-2]},
        "training.weight_decay": {"uniform": [0.0, 0.1]},
        "model.n_layer": {"choice": [2, 4]},
        "training.warmup_steps": {"int_uniform": [0, 3]},
    }
    a = sweep.expand({"training.batch_size": [8, 16]}, space, draws=100, seed=7)
    assert a == sweep.expand({"training.batch_size": [8, 16]}, space, draws=100, seed=7)
    assert a != sweep.expand({"training.batch_size": [8, 16]}, space, draws=100, seed=8)
    assert len(a) == 200 and [p["training.batch_size"] for p in a[::100]] == [8, 16]
    lrs = [p["training.lr"] for p in a]
    assert all(1e-5 <= v <= 1e-2 for v in lrs)
    # Log-uniform: about a third of the draws in each decade, not ~90 % in the top one.
    decades = [sum(1 for v in lrs if 10 ** (e - 1) <= v < 10**e) for e in (-4, -3, -2)]
    assert all(40 <= d <= 95 for d in decades), decades
    assert all(0.0 <= p["training.weight_decay"] <= 0.1 for p in a)
    assert {p["model.n_layer"] for p in a} == {2, 4}
    assert {p["training.warmup_steps"] for p in a} == {0, 1, 2, 3}


def test_random_alone_gives_trials_draws_and_a_grid_alone_ignores_the_seed():
    space = {"training.lr": {"log_uniform": [1e-5, 1e-2]}}
    points = sweep.expand({}, space, draws=3, seed=0)
    assert len(points) == 3 and len({p["training.lr"] for p in points}) == 3
    grid = {"training.seed": [1, 2]}
    assert sweep.expand(grid, {}, draws=1, seed=0) == sweep.expand(grid, {}, draws=1, seed=9)


def test_sampled_floats_are_rounded_but_never_outside_the_bounds():
    rng = random.Random(0)
    for _ in range(2000):
        value = sweep.sample({"uniform": [0.01239, 0.0124]}, rng)
        assert 0.01239 <= value <= 0.0124


def test_plan_trials_have_typed_values_unique_safe_names_and_valid_configs(ready_workspace):
    plan = sweep.plan(
        _spec(random={"training.weight_decay": {"uniform": [0, 0.1]}}, trials=2, seed=3),
        ready_workspace,
        checks=[data_checker(ready_workspace, require=True)],
    )
    assert len(plan.trials) == 12 and plan.metric == "eval_loss" and plan.mode == "min"
    names = [t.name for t in plan.trials]
    assert len(set(names)) == 12 and all(check_name(n) == n for n in names)
    assert names[0].startswith("lrs-lr1e-4-bs16-wd")
    first = plan.trials[0]
    assert first.params["training.lr"] == 1e-4 and isinstance(first.params["training.lr"], float)
    assert first.config.training.lr == 1e-4 and first.config.training.batch_size == 16
    assert first.config.model.name == first.name and first.config.data.train_path == "syn"
    again = sweep.plan(_spec(random={"training.weight_decay": {"uniform": [0, 0.1]}}, trials=2, seed=3))
    assert [t.params for t in again.trials] == [t.params for t in plan.trials]


def test_trial_names_stay_safe_and_unique_for_odd_values():
    points = [
        {"logging.project": "my project/β"},
        {"logging.project": "my project/β"},
        {"training.lr": 0.00031622},
        {"data.tokenizer_path": "x" * 150},
    ]
    names = sweep.trial_names("s", points)
    assert len(set(names)) == 4 and all(check_name(n) == n for n in names)
    assert names[2] == "s-lr3.16e-4" and names[3] == "s-t4"


def test_validation_reports_every_problem_at_once_with_its_path():
    bad = _spec(
        grid={"training.lrr": [1e-4], "training.batch_size": [16, "big"], "training.seed": 5},
        random={
            "training.weight_decay": {"uniform": [0.2, 0.1]},
            "training.lr": {"log_uniform": [0, 1]},
            "model.n_layer": {"normal": [2, 4]},
            "model.n_head": {"choice": []},
        },
        mode="lowest",
        colour="red",
        trials=0,
    )
    with pytest.raises(ConfigError) as info:
        sweep.plan(bad)
    where = {issue.where for issue in info.value.issues}
    assert {
        "grid.training.lrr",
        "grid.training.seed",
        "random.training.weight_decay",
        "random.training.lr",
        "random.model.n_layer",
        "random.model.n_head",
        "mode",
        "colour",
        "trials",
    } <= where
    # The trial with the bad grid value is checked through config.load and named in the path.
    assert any(w.startswith("lrs-bsbig") and w.endswith("training.batch_size") for w in where), where
    assert "did you mean training.lr" in str(info.value)


def test_a_problem_every_trial_shares_is_reported_once(workspace):
    with pytest.raises(ConfigError) as info:
        sweep.plan(_spec(), workspace, checks=[data_checker(workspace, require=True)])
    missing = [i for i in info.value.issues if i.where == "data.train_path"]
    assert len(missing) == 1 and len(info.value.issues) == 2  # train_path + tokenizer_path


def test_bad_base_no_space_and_draws_without_random_are_refused():
    with pytest.raises(ConfigError) as info:
        sweep.plan({"name": "x", "base": "no-such-preset", "trials": 3})
    text = str(info.value)
    assert "base:" in text and "no grid: and no random:" in text
    with pytest.raises(ConfigError, match="no random: section"):
        sweep.plan(_spec(), trials=3)
    with pytest.raises(ConfigError, match="more than 200"):
        sweep.plan(_spec(grid={"training.seed": list(range(201))}))


def test_cli_trials_and_name_override_the_yaml():
    plan = sweep.plan(_spec(random={"training.weight_decay": {"uniform": [0, 0.1]}}), trials=3, name="other")
    assert len(plan.trials) == 18 and all(t.name.startswith("other-") for t in plan.trials)


@pytest.mark.parametrize("path", sorted(sweep.SWEEPS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_example_sweeps_are_valid_and_not_presets(path):
    plan = sweep.plan(sweep.read_spec(path), trials=2)
    assert plan.trials and plan.name == path.stem
    assert all(isinstance(t.config, config.RunConfig) for t in plan.trials)
    assert path.stem not in presets.available()
    assert sweep.find_spec(path.stem) == path


def test_example_sweep_exists_and_unknown_spec_names_the_examples():
    assert (sweep.SWEEPS_DIR / "tiny-lr.yaml").is_file()
    with pytest.raises(UserError, match="tiny-lr"):
        sweep.find_spec("nope")


def test_sample_log_uniform_median_is_the_geometric_mean():
    rng = random.Random(1)
    values = sorted(sweep.sample({"log_uniform": [1e-5, 1e-1]}, rng) for _ in range(2001))
    assert abs(math.log10(values[1000]) - (-3)) < 0.25
    assert re.fullmatch(r"[\d.e+-]+", repr(values[0]))
