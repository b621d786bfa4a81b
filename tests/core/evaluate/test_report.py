"""core.evaluate.plots / report / compare: charts that parse, self-contained pages, run comparison."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from core.evaluate import compare, outputs, plots, report

SVG = "{http://www.w3.org/2000/svg}"


def _results(ppl=8.0, n_params=1000, speed=500.0, text="a cat"):
    return {
        "created": "2026-01-01T00:00:00+00:00",
        "model": {
            "ref": "m",
            "path": "/m",
            "run": "m",
            "step": 5,
            "type": "LlamaForCausalLM",
            "n_params": n_params,
            "context": 64,
            "device": "cpu",
            "sha256": "ab",
        },
        "tokenizer": {"vocab": 600, "sha256": "cd", "context_token": "</s>"},
        "data": None,
        "skipped": {},
        "notes": [],
        "suites": {
            "ppl": {
                "perplexity": ppl,
                "bits_per_byte": 1.2,
                "loss": 2.0,
                "tokens": 10,
                "bytes": 40,
                "bytes_per_token": 4.0,
                "seq_length": 32,
                "truncated": False,
                "data": "syn/dev",
            },
            "pairs": {
                "mean": 0.6,
                "n_pairs": 4,
                "context_token": "</s>",
                "fields": {"morphology": 0.6},
                "paradigms": {"p<1>": {"accuracy": 0.6, "n": 4, "field": "morphology", "linguistics_term": "t"}},
            },
            "speed": {
                "prompt_tokens": 8,
                "new_tokens": 4,
                "device": "cpu",
                "by_batch": [
                    {
                        "batch_size": b,
                        "prefill_tokens_per_s": speed * b * 4,
                        "prefill_ms_per_token": 1.0,
                        "gen_tokens_per_s": speed * b,
                        "gen_ms_per_token": 2.0,
                        "gen_ms_per_step": 2.0,
                    }
                    for b in (1, 4)
                ],
            },
            "gen": {
                "distinct_1": 0.5,
                "distinct_2": 0.7,
                "distinct_3": 0.8,
                "repeated_3gram_rate": 0.1,
                "mean_top_token_prob": 0.4,
                "tokens_per_s": 90.0,
                "new_tokens": 8,
                "params": {"seed": 0},
                "samples": [{"prompt": "Once", "text": text, "distinct_2": 1.0}],
                "consistency": {
                    "mean_jaccard": 0.5,
                    "pairs": [{"prompt_a": "a", "prompt_b": "b", "text_a": "x", "text_b": "x y", "jaccard": 0.5}],
                },
            },
        },
    }


def test_nice_ticks_cover_the_range():
    ticks = plots.nice_ticks(0.13, 0.87)
    assert ticks[0] <= 0.13 and ticks[-1] >= 0.87 and 3 <= len(ticks) <= 8
    assert plots.nice_ticks(5, 5)[-1] > 5  # a flat series still gets an axis


def test_charts_are_valid_svg_with_their_data():
    bar = plots.bar_chart("acc <by> paradigm", ["a & b", "c"], [0.25, 0.75], ref=(0.5, "chance"))
    root = ET.fromstring(plots.to_svg(bar))  # escaping keeps it well-formed
    assert root.tag == f"{SVG}svg"
    rects = root.findall(f"{SVG}rect")
    assert len(rects) == 2 and float(rects[1].get("height")) == pytest.approx(3 * float(rects[0].get("height")))
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "acc <by> paradigm" in texts and "chance" in texts
    line = plots.line_chart("speed", {"prefill": [(1, 10.0), (16, 1000.0)]}, log_y=True)
    assert "1000" in " ".join(t.text for t in ET.fromstring(plots.to_svg(line)).iter(f"{SVG}text"))


def test_png_when_pillow_is_there(tmp_path):
    pytest.importorskip("PIL")
    from PIL import Image

    charts = [plots.bar_chart("a", ["x"], [1.0]), plots.scatter_chart("b", [("r", 1e6, 3.0)], log_x=True)]
    assert plots.save_png(charts, tmp_path / "p.png")
    with Image.open(tmp_path / "p.png") as image:
        # Two charts to a row, side by side, the row as tall as its tallest chart.
        assert image.size == (sum(c.width for c in charts), max(c.height for c in charts))
        assert image.convert("L").getextrema()[0] < 128  # dark ink on the white background


def test_eval_report_is_self_contained():
    results = _results()
    html = report.eval_report(results, outputs.charts(results, {"loss": [(1, 5.0), (2, 4.0)]}))
    assert html.count("<svg") == 4  # training curves, pairs, diversity, speed; no cloze suite, no chart
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")
    assert "p&lt;1&gt;" in html and "a cat" in html


def test_comparison_report(workspace):
    from core.history import open_history

    with open_history(workspace) as history:
        for name, ppl, n_params, lr in (("small", 9.0, 1_000_000, 1e-3), ("big", 6.0, 10_000_000, 3e-4)):
            folder = workspace.run_dir(name)
            history.create_run(name, "train", {"training": {"lr": lr, "seed": 1}}, folder)
            history.log_metrics(name, 10, {"loss": 5.0})
            history.log_metrics(name, 20, {"loss": 4.0, "eval_loss": 4.5})
            out = folder / "eval" / "20260101-000000"
            outputs.write_all(out, _results(ppl, n_params, text=f"text of {name}"))
            history.add_artifact(name, "eval", out)
        path = compare.write_compare_report(history, ["small", "big"], workspace.root / "cmp.html")
    html = path.read_text()
    assert "training.lr" in html and "training.seed" not in html  # only differing keys
    assert "text of small" in html and "text of big" in html
    assert "Perplexity vs model size" in html and html.count("<svg") == 4  # loss, eval loss, ppl, speed
    assert "<script" not in html


def test_config_diff_and_unknown_run(workspace):
    from core.errors import UserError
    from core.history import open_history

    rows = compare.config_diff({"a": {"m": {"x": 1, "y": 2}}, "b": {"m": {"x": 1, "y": 3, "z": 0}}})
    assert rows == [["m.y", "2", "3"], ["m.z", "–", "0"]]
    with open_history(workspace) as history, pytest.raises(UserError, match="no run named 'nope'"):
        compare.compare_report(history, ["nope"])
