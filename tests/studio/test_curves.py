"""studio.curves: a session's capped columnar curves, and the min/max downsampling the plots use."""

from __future__ import annotations

import math
from array import array

from core.history import METRIC_COLUMNS
from studio import plots
from studio.curves import Curves, minmax_indices


def _cols(steps, values, tokens=None):
    steps = list(steps)
    return {
        "step": array("d", steps),
        "value": array("d", values),
        "time": array("d", [100.0 + s for s in steps]),
        "tokens": array("d", tokens if tokens is not None else [s * 10 for s in steps]),
        "words": array("d", [math.nan] * len(steps)),
    }


def test_minmax_keeps_a_spike_that_every_kth_sampling_drops():
    xs = list(range(10_000))
    ys = [1.0] * 10_000
    ys[4321] = 50.0  # one spike between any stride's picks
    ys[7777] = -3.0
    idx = minmax_indices(xs, ys, 200)
    assert len(idx) <= 200 and idx[0] == 0 and idx[-1] == 9_999
    assert 4321 in idx and 7777 in idx
    dx, dy = plots.downsample(xs, ys, 200)
    assert max(dy) == 50.0 and min(dy) == -3.0 and len(dx) <= 200
    assert minmax_indices([1, 2, 3], [1.0, 2.0, 3.0], 10) == [0, 1, 2]


def test_curves_append_only_new_steps_and_stay_capped():
    c = Curves("r", cap=100)
    assert c.add({"loss": _cols(range(1, 51), [10.0 - s / 10 for s in range(1, 51)])})
    # The tick re-reads the last step: already held points are not added twice; a late eval row is.
    again = {"loss": _cols([50], [5.0]), "eval_loss": _cols([50], [6.0])}
    assert c.add(again) and len(c.series["loss"]["step"]) == 50 and c.last_step == 50
    assert not c.add({"loss": _cols([50], [5.0])})
    for start in range(51, 5_000, 500):  # a long run, tick after tick
        steps = range(start, min(start + 500, 5_001))
        c.add({"loss": _cols(steps, [1.0 + (9.0 if s == 3_333 else 0.0) for s in steps])})
    loss = c.series["loss"]
    assert len(loss["step"]) <= 2 * c.cap and c.last_step == 5_000 and loss["step"][-1] == 5_000
    assert 10.0 in loss["value"] and loss["step"][0] == 1  # the spike and the first point survive
    assert list(loss["step"]) == sorted(loss["step"]) and set(loss) == set(METRIC_COLUMNS)
    last, tokens, words = c.latest()
    assert last == {"loss": 1.0, "eval_loss": 6.0} and tokens == 50_000 and words is None
    assert c.nbytes() == 8 * len(METRIC_COLUMNS) * c.points()


def test_figures_take_columns_like_rows():
    rows = [
        {"step": s, "name": "loss", "value": 5.0 - s, "time": 100.0 + 60 * s, "tokens": 10 * s, "words": None}
        for s in range(1, 4)
    ]
    columns = {"loss": _cols(range(1, 4), [4.0, 3.0, 2.0])}
    columns["loss"]["time"] = array("d", [160.0, 220.0, 280.0])
    for axis in ("step", "tokens", "time"):
        assert plots.columns_series(columns, axis) == plots.series(rows, axis)
    assert plots.columns_series(columns, "words") == plots.series(rows, "words") == {}
    a, b = plots.training_figure(rows), plots.training_figure(columns)
    assert a.to_plotly_json()["data"] == b.to_plotly_json()["data"]
    assert len(plots.overlay_figure({"r": columns}).data[0].x) == 3
