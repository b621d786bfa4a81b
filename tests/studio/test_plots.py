"""studio.plots: pure rows -> figure functions."""

from __future__ import annotations

from studio import plots


def _rows(name, values):
    return [
        {"step": i + 1, "name": name, "value": v, "time": float(i), "tokens": 64 * (i + 1), "words": None}
        for i, v in enumerate(values)
    ]


def test_a_distillation_run_shows_both_loss_terms_in_the_loss_panel():
    rows = _rows("loss", [3.0, 2.5]) + _rows("ce_loss", [2.0, 1.8]) + _rows("kl_loss", [0.5, 0.3])
    fig = plots.training_figure(rows)
    traces = {t.name: t for t in fig.data}
    assert {"loss", "loss (smoothed)", "CE (labels)", "KL (teachers)"} <= set(traces)
    assert list(traces["KL (teachers)"].x) == [1, 2] and traces["KL (teachers)"].line.dash == "dash"
    assert traces["CE (labels)"].xaxis == traces["loss"].xaxis  # same panel as the loss


def test_plain_runs_have_no_distillation_traces_and_tokens_axis_works():
    fig = plots.training_figure(_rows("loss", [3.0, 2.0, 1.5]), x_axis="tokens")
    assert {t.name for t in fig.data} == {"loss", "loss (smoothed)"}
    assert list(fig.data[0].x) == [64, 128, 192]


def test_pairs_accuracy_gets_its_own_row_with_fields_and_a_chance_line():
    rows = (
        _rows("loss", [3.0, 2.0, 1.5])
        + _rows("pairs_acc", [0.5, 0.6, 0.7])
        + _rows("pairs_acc/syntax", [0.5, 0.55, 0.65])
        + _rows("pairs_acc/morphology", [0.5, 0.7, 0.8])
    )
    fig = plots.training_figure(rows, x_axis="tokens")
    traces = {t.name: t for t in fig.data}
    assert {"pairs accuracy", "syntax", "morphology"} <= set(traces)
    assert list(traces["pairs accuracy"].y) == [0.5, 0.6, 0.7] and list(traces["syntax"].x) == [64, 128, 192]
    assert traces["pairs accuracy"].yaxis == traces["syntax"].yaxis != traces["loss"].yaxis
    assert fig.layout.height > plots.training_figure(rows[:3]).layout.height  # a third row
    assert [s.y0 for s in fig.layout.shapes] == [0.5]  # chance
    assert "pairs accuracy" not in {t.name for t in plots.training_figure(rows[:3]).data}


def test_the_unvalidated_dashboard_is_valid_plotly_and_its_grid_memo_cannot_be_changed():
    import plotly.graph_objects as go

    rows = _rows("loss", [3.0, 2.0]) + _rows("eval_loss", [2.5, 2.2]) + _rows("pairs_acc", [0.5, 0.6])
    fig = plots.training_figure(rows, x_axis="tokens")
    go.Figure(fig.to_plotly_json())  # plotly's full validation: raises on any invalid property
    assert fig.layout.template.layout.plot_bgcolor == "white" and fig.layout.xaxis5.title.text == "tokens seen"
    fig.layout.title.text = "changed by a caller"
    fig.layout.yaxis5.range = [0.2, 0.4]
    again = plots.training_figure(rows)
    assert again.layout.title.text == "" and list(again.layout.yaxis5.range) == [0, 1.03]


def test_a_single_first_point_is_drawn_as_a_marker_on_a_rounded_range():
    rows = _rows("loss", [5.981946563720702]) + _rows("lr", [0.0])
    fig = plots.training_figure(rows)
    traces = {t.name: t for t in fig.data}
    assert "markers" in traces["loss"].mode and traces["loss"].marker.size > 0
    assert "markers" in traces["lr"].mode
    low, high = fig.layout.yaxis.range  # loss panel: around the one value, not on it
    assert low < 5.981946563720702 < high and high - low > 1
    assert list(fig.layout.yaxis2.range) == [-1.0, 1.0]  # lr 0.0: a unit range
    assert list(fig.layout.xaxis.range) == [0.9, 1.1]  # one step


def test_long_series_are_lines_only_and_keep_autorange():
    fig = plots.training_figure(_rows("loss", [3.0 - i / 100 for i in range(plots.SPARSE_POINTS + 1)]))
    assert fig.data[0].mode == "lines" and fig.layout.yaxis.range is None


def test_the_compare_overlay_marks_a_one_point_run():
    fig = plots.overlay_figure({"young": _rows("loss", [4.2]), "older": _rows("loss", [4.2])})
    assert all("markers" in t.mode for t in fig.data)
    assert fig.layout.yaxis.range[0] < 4.2 < fig.layout.yaxis.range[1]
