"""One browser session's copy of a run's metrics for the live dashboard: columnar float arrays per
metric, capped at a few thousand points by min/max-preserving downsampling, fed tick by tick.

What a `gr.State` holds per open Train tab, so it must stay small however long the run (issue 14:
a 600k-row run once cost 0.75 GB per session as row dicts). No Gradio, no database.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence

from core.history import METRIC_COLUMNS

CAP = 2000  # points kept per metric after a compaction; a series grows to 2 x CAP between them


def minmax_indices(xs: Sequence[float], ys: Sequence[float], limit: int) -> list[int]:
    """Indices of at most `limit` points that keep the curve's shape: the x range cut into
    limit / 2 equal buckets, and in each the lowest and highest finite y (a loss spike or a dip
    survives, which every-k-th sampling drops). The first and last points are always kept.

    Buckets are by x, not by position, so downsampling a downsampled series again keeps the
    same extremes (the live series is compacted again and again as it grows).
    """
    n = len(xs)
    if n <= limit:
        return list(range(n))
    buckets = max(1, (limit - 2) // 2)
    x0, x1 = xs[0], xs[-1]
    width = (x1 - x0) / buckets or 1.0
    lo: dict[int, int] = {}
    hi: dict[int, int] = {}
    for i in range(1, n - 1):
        y = ys[i]
        if not math.isfinite(y):
            continue
        b = min(max(int((xs[i] - x0) / width), 0), buckets - 1)  # clamped: x may step back
        if b not in lo or y < ys[lo[b]]:
            lo[b] = i
        if b not in hi or y > ys[hi[b]]:
            hi[b] = i
    return sorted({0, n - 1, *lo.values(), *hi.values()})


class Curves:
    """A run's metrics as {name: {column: array('d')}} (columns: `METRIC_COLUMNS`), step-ordered.

    `add` takes `History.metric_columns` output for rows after `last_step - 1` (the tick re-reads
    the last step: an eval row can land just after that step's loss) and keeps, per metric, only
    steps after the ones it already holds.
    """

    def __init__(self, run: str | None, cap: int = CAP):
        self.run, self.cap = run, cap
        self.series: dict[str, dict[str, array]] = {}
        self.last_step = -1
        self.sent: dict[str, str] = {}  # the texts this browser session was last sent (gr.skip otherwise)

    def add(self, columns: dict[str, dict[str, array]]) -> bool:
        """Append the new points; True when any metric got one."""
        grew = False
        for name, cols in columns.items():
            mine = self.series.get(name)
            start = 0
            if mine is not None and len(mine["step"]):
                last = mine["step"][-1]
                while start < len(cols["step"]) and cols["step"][start] <= last:
                    start += 1
            if start == len(cols["step"]):
                continue
            grew = True
            if mine is None:
                mine = self.series[name] = {c: array("d") for c in METRIC_COLUMNS}
            for c in METRIC_COLUMNS:
                mine[c].extend(cols[c][start:])
            self.last_step = max(self.last_step, int(mine["step"][-1]))
            if len(mine["step"]) > 2 * self.cap:
                self._compact(mine)
        return grew

    def _compact(self, cols: dict[str, array]) -> None:
        keep = minmax_indices(cols["step"], cols["value"], self.cap)
        for c in METRIC_COLUMNS:
            old = cols[c]
            cols[c] = array("d", (old[i] for i in keep))

    def points(self) -> int:
        """How many points are held, all metrics together."""
        return sum(len(cols["step"]) for cols in self.series.values())

    def nbytes(self) -> int:
        """The bytes the arrays hold: what this session's state costs the server."""
        return sum(a.itemsize * len(a) for cols in self.series.values() for a in cols.values())

    def latest(self) -> tuple[dict[str, float], float | None, float | None]:
        """({metric: its last value}, tokens and words at the last step, None where unknown)."""
        last = {name: _none(cols["value"][-1]) for name, cols in self.series.items() if len(cols["step"])}
        ends = [cols for cols in self.series.values() if len(cols["step"]) and cols["step"][-1] == self.last_step]
        tokens = next((_none(c["tokens"][-1]) for c in ends if _none(c["tokens"][-1]) is not None), None)
        words = next((_none(c["words"][-1]) for c in ends if _none(c["words"][-1]) is not None), None)
        return last, _int(tokens), _int(words)


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
