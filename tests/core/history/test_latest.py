"""core.history's latest-value and columnar reads (issue 14, a studio light with long runs): the
values they return, and query plans that seek an index instead of scanning a run's rows."""

from __future__ import annotations

import math
import sqlite3

import pytest

from core.history import METRIC_COLUMNS, open_history
from core.history.migrations import METRICS_BY_NAME_INDEX, METRICS_INDEX
from core.history.schema import (
    last_counts_sql,
    last_metric_sql,
    last_metrics_sql,
    metric_series_sql,
)


@pytest.fixture
def hist(workspace):
    h = open_history(workspace)
    for name in ("a", "b"):
        h.create_run(name, "train", {}, None)
    for step in (3, 1, 2, 5, 4):  # out of order on purpose
        h.log_metrics("a", step, {"loss": 10.0 - step, "lr": 0.01 * step}, tokens=step * 100, words=step * 70)
        h.log_metrics("b", step, {"loss": 99.0})
    h.log_metrics("a", 6, {"eval_loss": float("nan")})  # stored as NULL, no tokens
    yield h
    h.close()


def test_latest_values_and_counts(hist):
    assert hist.last_metrics("a") == {"eval_loss": None, "loss": 5.0, "lr": 0.05}
    assert hist.last_metrics(hist.get_run("b").id) == {"loss": 99.0}
    assert hist.last_metrics("nobody") == {}
    assert hist.last_metric("a", "loss") == 5.0 and hist.last_metric("a", "nope") is None
    assert hist.last_metric("nobody", "loss") is None
    assert hist.last_counts("a") == (500, 350)  # step 6 logged no tokens: the last one that did
    assert hist.last_counts("b") == (None, None)


def test_metric_columns_are_float_arrays_per_metric_in_step_order(hist):
    cols = hist.metric_columns("a")
    assert set(cols) == {"loss", "lr", "eval_loss"} and all(set(c) == set(METRIC_COLUMNS) for c in cols.values())
    assert list(cols["loss"]["step"]) == [1, 2, 3, 4, 5] and list(cols["loss"]["value"]) == [9, 8, 7, 6, 5]
    assert list(cols["loss"]["tokens"]) == [100, 200, 300, 400, 500]
    assert math.isnan(cols["eval_loss"]["value"][0]) and math.isnan(cols["eval_loss"]["tokens"][0])
    after = hist.metric_columns("a", 3)
    assert list(after["loss"]["step"]) == [4, 5]
    only = hist.metric_columns(hist.get_run("a").id, 2, names=["lr", "nope"])
    assert list(only) == ["lr"] and list(only["lr"]["value"]) == pytest.approx([0.03, 0.04, 0.05])
    assert hist.metric_columns("nobody") == {}


@pytest.mark.parametrize("run", ["a", 1])
def test_latest_reads_seek_an_index_and_never_scan_the_run(hist, run):
    """Before migration 0004, last_metrics scanned every row of the run (GROUP BY name over the
    (run_id, step, name) index): 600k rows on a 100k-step run, for each line of `runs list`."""
    plans = {
        "last_metrics": (last_metrics_sql(run), (run,)),
        "last_metric": (last_metric_sql(run), (run, "loss")),
        "metric_series": (metric_series_sql(run, after_step=True), (run, "loss", 2)),
        "last_counts": (last_counts_sql(run), (run,)),
    }
    for what, (sql, params) in plans.items():
        plan = " | ".join(row[3] for row in hist.conn.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "SCAN metrics" not in plan and "TEMP B-TREE" not in plan, (what, plan)
        index = METRICS_INDEX if what == "last_counts" else METRICS_BY_NAME_INDEX
        key = "(run_id=?)" if what == "last_counts" else "(run_id=? AND name"
        assert f"INDEX {index} {key}" in plan and "SEARCH metrics USING" in plan, (what, plan)
    # The last values per name are seeks: one per metric name, not per row.
    assert "(run_id=? AND name>?)" in " ".join(
        r[3] for r in hist.conn.execute("EXPLAIN QUERY PLAN " + last_metrics_sql(run), (run,))
    )


def test_the_index_migration_applies_to_an_existing_database(workspace):
    with open_history(workspace) as h:
        h.create_run("old", "train", {}, None)
        h.log_metrics("old", 1, {"loss": 2.0})
        h.conn.execute(f"DROP INDEX {METRICS_BY_NAME_INDEX}")
        h.conn.execute("DELETE FROM _migrations WHERE name = '0004_metrics_by_name'")
    with open_history(workspace) as h:
        indexes = {row[1] for row in h.conn.execute("PRAGMA index_list(metrics)")}
        assert METRICS_BY_NAME_INDEX in indexes and h.last_metric("old", "loss") == 2.0
    with pytest.raises(sqlite3.IntegrityError):  # the dedupe constraint is still the unique index
        with open_history(workspace) as h, h._write() as conn:
            conn.execute("INSERT INTO metrics (run_id, step, name, value, time) VALUES (1, 1, 'loss', 1, 0)")


def test_long_spans_come_min_max_downsampled_with_each_metrics_last_row(hist):
    hist.create_run("long", "train", {}, None)
    values = [
        (s, {"loss": 1.0 + (9.0 if s == 777 else 0.0) - (0.5 if s == 1500 else 0.0), "lr": s / 1e4}) for s in range(1, 2001)
    ]
    for step, row in values:
        hist.log_metrics("long", step, row, tokens=step * 10)
    hist.log_metrics("long", 2001, {"lr": 0.5})
    cols = hist.metric_columns("long", buckets=100)
    loss = cols["loss"]
    assert len(loss["step"]) <= 2 * 100 + 1 and list(loss["step"]) == sorted(loss["step"])
    assert 10.0 in loss["value"] and 0.5 in loss["value"] and loss["step"][-1] == 2000  # spike, dip, last
    assert cols["lr"]["step"][-1] == 2001 and cols["lr"]["value"][-1] == 0.5
    at = list(loss["step"]).index(777)
    assert loss["tokens"][at] == 7770  # the other columns come from the same row as the value
    assert len(hist.metric_columns("long", 1990, buckets=100)["loss"]["step"]) == 10  # short span: raw
    only = hist.metric_columns("long", names=["loss"], buckets=100)
    assert list(only) == ["loss"] and list(only["loss"]["step"]) == list(loss["step"])
