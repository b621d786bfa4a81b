"""The first-hour report fixes: the summary explains distinct-2 and fits the page, the chance
label stays off the bars, and samples show without replacement characters or control codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from core.evaluate import compare, outputs, plots, report
from tests.core.evaluate.test_report import SVG, _results


def test_summary_is_one_row_per_number_with_its_meaning_and_tables_scroll():
    html = report.eval_report(_results(), [])
    assert "<th>summary</th><th>value</th><th>what it measures</th>" in html
    assert "ALL samples pooled" in html and "distinct_2 (all samples pooled)" in html
    assert "cloze acc" not in html  # no cloze suite ran: no empty column
    assert html.count('<div class="scroll"><table>') == html.count("<table>") - html.count("<th>task</th>")
    assert ".scroll{overflow-x:auto" in html


def test_diversity_histogram_says_it_counts_each_sample_alone():
    (chart,) = [c for c in outputs.charts(_results(), {}) if "distinct-2" in c.title or "Diversity" in c.title]
    texts = [t.text for t in ET.fromstring(plots.to_svg(chart)).iter(f"{SVG}text")]
    assert any("within each sample" in t for t in texts)
    assert any("pooled over all samples: 0.70" in t for t in texts)


def test_chance_label_sits_above_every_bar():
    chart = plots.bar_chart("cloze", ["a", "b", "c"], [0.9, 0.95, 1.0], ref=(0.25, "chance"), ymax=1.0)
    label = next(i for i in chart.items if i[0] == "text" and "chance" in i[3])
    bar_tops = [i[2] for i in chart.items if i[0] == "rect"]
    value_labels = [i[2] for i in chart.items if i[0] == "text" and i[3] in ("0.9", "0.95", "1") and i[5] == "middle"]
    assert label[2] < min(bar_tops) and all(label[2] < y - 8 for y in value_labels)
    assert label[3] == "chance"


def test_generated_text_is_shown_clean_in_both_reports(workspace):
    results = _results(text="a\ufffd cat\x1b\x00")
    html = report.eval_report(results, [])
    assert "a cat" in html and "\ufffd" not in html and "\x1b" not in html and "\x00" not in html
    entry = {"name": "m", "results": results}
    assert "\ufffd" not in compare._samples([entry]) and "a cat" in compare._samples([entry])
    text = outputs.samples_text(results)
    assert "OUTPUT: a cat" in text and "\ufffd" not in text and "\x00" not in text


def test_tick_labels_in_thousands_say_the_right_number():
    assert [plots._fmt(v) for v in (100.0, 1000.0, 10_000.0, 25_000.0, 2_500_000.0)] == ["100", "1000", "10k", "25k", "2.5M"]
