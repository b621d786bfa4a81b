"""The metrics half of `History`: writing a step's metric rows (and advancing the run's step), the
studio's incremental poll (`metrics_since`, `metric_columns`), the latest values and one metric's
series, and clearing rows after a resumed checkpoint. Must not import gradio, torch or transformers.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from core.history.runs import RunRef
from core.history.schema import (
    INSERT_METRIC_SQL,
    downsampled_metrics_sql,
    last_counts_sql,
    last_metric_sql,
    last_metrics_sql,
    max_step_sql,
    metric_rows,
    metric_series_sql,
    metrics_since_sql,
    run_ref_sql,
)

# The columns of `metric_columns`, each an array('d') with NaN for NULL.
METRIC_COLUMNS = ("step", "value", "time", "tokens", "words")


class MetricQueries:
    """Mixed into History: needs its `conn`, `_lock`, `_write()`, `_rows()` and `_run_id()`."""

    def log_metrics(
        self,
        run: RunRef,
        step: int,
        values: dict[str, float],
        tokens: int | None = None,
        words: int | None = None,
        time: float | None = None,
    ) -> None:
        """Write one step's metrics now (one transaction); re-logging a (step, name) replaces it."""
        with self._write():
            run_id = self._run_id(run)
            rows = metric_rows(run_id, step, values, tokens, words, time)
            if rows:
                self._insert_metrics(run_id, rows)

    def _insert_metrics(self, run_id: int, rows: list[tuple]) -> None:
        """Insert rows inside the caller's write transaction; also advance runs.step."""
        self.conn.executemany(INSERT_METRIC_SQL, rows)
        last = max(row[1] for row in rows)
        self.conn.execute("UPDATE runs SET step = max(coalesce(step, ?), ?) WHERE id = ?", (last, last, run_id))

    def write_metric_rows(self, run_id: int, rows: list[tuple], samples: Sequence[tuple] = ()) -> None:
        """Insert rows built by `metric_rows`, and (step, prompt, text, time) samples, in one
        transaction (MetricWriter's flush): all of them or, on any error, none."""
        if rows or samples:
            with self._write() as conn:
                if rows:
                    self._insert_metrics(run_id, rows)
                conn.executemany(
                    "INSERT INTO samples (run_id, step, prompt, text, time) VALUES (?, ?, ?, ?, ?)",
                    [(run_id, *sample) for sample in samples],
                )

    def metrics_since(self, run: RunRef, after_step: int = -1) -> list[dict]:
        """Metric rows with step > after_step, ordered by (step, name): the UI's 1 s poll.

        One statement that searches the (run_id, step, name) index; an unknown run gives [],
        which callers read as "not started yet". Rows are long format: step, name, value, time,
        tokens, words. A metric logged later for a step already returned is not returned again.
        """
        return self._rows(metrics_since_sql(run), (run, after_step))

    def metric_series(self, run: RunRef, name: str) -> list[tuple[int, float]]:
        """(step, value) pairs of one metric, in step order."""
        rows = self._rows(
            f"SELECT step, value FROM metrics WHERE run_id = {run_ref_sql(run)} AND name = ? ORDER BY step",
            (run, name),
        )
        return [(row["step"], row["value"]) for row in rows]

    def last_metrics(self, run: RunRef) -> dict[str, float]:
        """The latest value of every metric the run logged: one seek per metric name on the
        (run_id, name, step) index, however many rows the run has."""
        rows = self._rows(last_metrics_sql(run), (run,))
        return {row["name"]: row["value"] for row in rows}

    def last_metric(self, run: RunRef, name: str) -> float | None:
        """The latest value of one metric (None if never logged): one index seek (`runs list`)."""
        rows = self._rows(last_metric_sql(run), (run, name))
        return rows[0]["value"] if rows else None

    def last_counts(self, run: RunRef) -> tuple[int | None, int | None]:
        """(tokens, words) seen at the run's last step that logged them: a backwards index walk
        from the last step, stopping at the first row that has them."""
        rows = self._rows(last_counts_sql(run), (run,))
        return (rows[0]["tokens"], rows[0]["words"]) if rows else (None, None)

    def metric_columns(
        self, run: RunRef, after_step: int = -1, names: Sequence[str] | None = None, buckets: int | None = None
    ) -> dict[str, dict[str, array]]:
        """Metric rows with step > after_step as columns per metric: {name: {column: array('d')}}
        for METRIC_COLUMNS, each in step order, NULL as NaN; only `names` when given.

        With `buckets`, a span of more steps than that comes downsampled inside SQLite: per metric
        and bucket of steps, the rows of its lowest and highest value, plus the metric's last row.
        Rows reach Python as flat float arrays (40 bytes a row), never as dicts (about 1 KB each
        with their keys): the studio's per-session memory on long runs.
        """
        if buckets:
            last = self._rows(max_step_sql(run), (run,))
            span = (last[0]["step"] - after_step) if last and last[0]["step"] is not None else 0
            if span > buckets:
                return self._downsampled(run, after_step, names, math.ceil(span / buckets))
        named = names is not None
        queries = (
            [(metrics_since_sql(run), (run, after_step))]
            if not named
            else [(metric_series_sql(run, after_step=True), (run, n, after_step)) for n in names]
        )
        out: dict[str, dict[str, array]] = {}
        with self._lock:
            for sql, params in queries:
                cursor = self.conn.execute(sql, params)
                while chunk := cursor.fetchmany(10_000):
                    for row in chunk:
                        _append(out, params[1] if named else row[1], row[0], row[2 - named :])
        return out

    def _downsampled(self, run: RunRef, after_step: int, names: Sequence[str] | None, width: int) -> dict[str, dict[str, array]]:
        picked: dict[tuple[str, int], tuple] = {}
        for name in names if names is not None else [None]:
            given = () if name is None else (name,)
            for agg in ("min", "max"):
                sql = downsampled_metrics_sql(run, agg, name is not None)
                for row in self._rows(sql, (run, after_step, *given, after_step, width)):
                    picked[(row["name"], row["step"])] = row  # a bucket's min may also be its max
        # Each metric's last row too (an index seek each): the dashboard shows the latest values.
        for name in {name for name, _ in picked}:
            row = self._rows(last_metric_sql(run), (run, name))[0]
            picked[(name, row["step"])] = {**row, "name": name}
        out: dict[str, dict[str, array]] = {}
        for (name, step), row in sorted(picked.items()):
            _append(out, name, step, (row["value"], row["time"], row["tokens"], row["words"]))
        return out

    def truncate_after(self, run: RunRef, step: int) -> None:
        """Delete metrics, samples and evals logged after `step` (resume from a checkpoint)."""
        with self._write() as conn:
            run_id = self._run_id(run)
            for table in ("metrics", "samples", "evals"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ? AND step > ?", (run_id, step))
            conn.execute("UPDATE runs SET step = ? WHERE id = ? AND step > ?", (step, run_id, step))


def _append(out: dict[str, dict[str, array]], name: str, step: int, rest: Sequence) -> None:
    """One row onto its metric's columns (value, time, tokens, words in `rest`; None as NaN)."""
    cols = out.get(name) or out.setdefault(name, {c: array("d") for c in METRIC_COLUMNS})
    cols["step"].append(step)
    for column, value in zip(METRIC_COLUMNS[1:], rest):
        cols[column].append(_NAN if value is None else value)


_NAN = float("nan")
