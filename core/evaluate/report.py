"""report.html of one evaluation, and the HTML pieces the comparison report shares.

A report is one self-contained file: inline CSS and inline SVG charts, no scripts and no network.
Must not import gradio or torch.
"""

from __future__ import annotations

from html import escape

from core.evaluate import plots
from core.generate.text import shown_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}h2{font-size:1.15em;margin-top:28px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}\
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f5f5f5}td.num{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777;font-size:.85em}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #eee}.ok{color:#080}.bad{color:#b00}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:8px}
.scroll{overflow-x:auto;max-width:100%}
"""
# What the headline numbers mean, shown beside them in one evaluation's summary.
MEANINGS = {
    "perplexity": "exp(mean NLL per token) on the held-out text; lower is better",
    "bits/byte": "NLL per UTF-8 byte in bits: comparable across tokenizers",
    "pairs mean": "minimal pairs (our rule): share where the good sentence scores higher; chance 0.5",
    "cloze acc": "cloze completion accuracy",
    "distinct-2": "unique word bigrams / all bigrams, ALL samples pooled: low when samples repeat each "
    "other (the histogram below counts each sample alone, usually near 1)",
    "repeated 3-grams": "share of word 3-grams that repeat one earlier in the same sample",
    "top-token p": "mean probability of the most likely next token while sampling (confidence)",
    "consistency": "mean word-set Jaccard of greedy continuations of paraphrased prompts",
    "gen tok/s (b1)": "tokens generated per second, batch 1",
    "best gen tok/s": "tokens generated per second at the best batch size",
}


def fmt(value, digits: int = 4) -> str:
    """Numbers for tables: ints with separators, floats to `digits` significant digits."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 10**digits else f"{value:.{digits}g}"
    return str(value)


def table(headers: list[str], rows: list[list], numeric: bool = True) -> str:
    """An HTML table; non-string cells are formatted with `fmt` and right-aligned."""
    head = "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>" if any(headers) else ""
    body = []
    for row in rows:
        cells = []
        for cell in row:
            if isinstance(cell, str):
                cells.append(f"<td>{escape(cell)}</td>")
            else:
                cells.append(f'<td class="{"num" if numeric else ""}">{escape(fmt(cell))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<div class="scroll"><table>{head}{"".join(body)}</table></div>'


def page(title: str, sections: list[str]) -> str:
    """A whole HTML document."""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{CSS}</style></head><body>{''.join(sections)}</body></html>\n"
    )


def chart_block(charts: list[plots.Chart]) -> str:
    return f'<div class="charts">{"".join(plots.to_svg(c) for c in charts)}</div>' if charts else ""


def headline(results: dict) -> dict[str, float | None]:
    """The numbers a comparison table shows for one evaluation (None where a suite did not run)."""
    s = results.get("suites", {})
    speed = s.get("speed", {}).get("by_batch", [])
    return {
        "perplexity": s.get("ppl", {}).get("perplexity"),
        "bits/byte": s.get("ppl", {}).get("bits_per_byte"),
        "pairs mean": s.get("pairs", {}).get("mean"),
        "cloze acc": s.get("cloze", {}).get("accuracy"),
        "distinct-2": s.get("gen", {}).get("distinct_2"),
        "repeated 3-grams": s.get("gen", {}).get("repeated_3gram_rate"),
        "top-token p": s.get("gen", {}).get("mean_top_token_prob"),
        "consistency": s.get("gen", {}).get("consistency", {}).get("mean_jaccard"),
        "gen tok/s (b1)": next((r["gen_tokens_per_s"] for r in speed if r["batch_size"] == 1), None),
        "best gen tok/s": max((r["gen_tokens_per_s"] for r in speed), default=None),
    }


def _model_section(results: dict) -> str:
    m, t = results["model"], results["tokenizer"]
    rows = [
        ["model", m["ref"]],
        ["folder", m["path"]],
        ["run / step", f"{m['run'] or '–'} / {fmt(m['step'])}"],
        ["type", m["type"]],
        ["parameters", fmt(m["n_params"])],
        ["context", fmt(m["context"])],
        ["device", m["device"]],
        ["model sha256", str(m["sha256"])],
        ["tokenizer", f"{fmt(t['vocab'])} tokens, context token {t['context_token']}, sha256 {t['sha256']}"],
    ]
    if results.get("data"):
        d = results["data"]
        rows.append(["perplexity data", f"{d['label']} ({d['files']} file(s)), sha256 {d['sha256']}"])
    rows.append(["created", results["created"]])
    return "<h2>Model</h2>" + table(["", ""], rows)


def _pairs_section(p: dict) -> str:
    rows = [[name, r["field"], r["linguistics_term"], r["n"], r["accuracy"]] for name, r in p["paradigms"].items()]
    fields = table(["field", "mean accuracy"], [[f, v] for f, v in p["fields"].items()])
    return (
        "<h2>Minimal pairs (BLiMP format, our rule)</h2>"
        f"<p>Unweighted mean over {len(rows)} paradigms: <b>{fmt(p['mean'])}</b> ({fmt(p['n_pairs'])} pairs; "
        f"each sentence scored alone after the context token {escape(str(p['context_token']))}; right when the "
        "good sentence's summed log-probability is higher).</p>"
        + table(["paradigm", "field", "term", "pairs", "accuracy"], rows)
        + fields
    )


def _babylm_section(b: dict) -> str:
    """The scoreboard: one row per task at its best temperature, each task's blocks (UID, field,
    ...) folded under it, and the rule that produced the numbers."""
    rows = []
    for label, t in b["tasks"].items():
        unit = "ρ" if t["metric"] == "spearman" else "%"
        blocks = "".join(
            f"<h4>{escape(key)}</h4>" + table([key, unit], [[k, v] for k, v in values.items()])
            for key, values in t["blocks"].items()
        )
        rows.append(
            f'<tr><td>{escape(label)}</td><td class="num">{escape(fmt(t["average"]))}</td>'
            f'<td>{escape(t["metric"])}</td><td class="num">{t["temperature"]:.2f}</td>'
            f'<td class="num">{t["n_items"]:,}</td><td><details><summary>{len(t["blocks"].get("UID", {}))} '
            f"UIDs</summary>{blocks}</details></td></tr>"
        )
    rule = b["rule"]
    first = (
        ("scored after " + escape(str(rule["context_token"])))
        if rule["first_token_scored"]
        else "not scored (the tokenizer adds no BOS)"
    )
    warnings = "".join(f"<li>{escape(w)}</li>" for w in b.get("warnings", []))
    arithmetic = f" Arithmetic: {escape(rule['arithmetic'])}." if "arithmetic" in rule else ""
    return (
        "<h2>BabyLM 2025 zero-shot (official rule)</h2>"
        f"<p>Scored as the official pipeline's causal backend: first token {first}; {escape(rule['tie_rule'])}."
        f"{arithmetic} The pipeline's files are in <code>{escape(b['layout'])}/</code>.</p>"
        + _past_context(b)
        + "<table><tr><th>task</th><th>score</th><th>metric</th><th>best temperature</th><th>items</th>"
        f"<th>breakdown</th></tr>{''.join(rows)}</table>"
        + (_reading_part(b["reading"]) if "reading" in b else "")
        + (f'<ul class="muted">{warnings}</ul>' if warnings else "")
    )


def _glue_section(g: dict) -> str:
    """One row per fine-tuned task: the best epoch's scores, and whether the run was the official one."""
    rows = [
        [
            task,
            t["best_epoch"],
            t["metric_for_valid"],
            *(t["scores"].get(m) for m in ("accuracy", "f1", "mcc")),
            t["n_train"],
            t["n_valid"],
        ]
        for task, t in g["tasks"].items()
    ]
    rule = "the official recipe" if g["official"] else "NOT the official run: " + "; ".join(g["deviations"])
    return (
        f"<h2>BabyLM fine-tuning (GLUE)</h2><p>{escape(g['pooling'])} pooling, {escape(g['precision'])}; "
        f"{escape(rule)}. The pipeline's files are in <code>{escape(g['layout'])}/</code>.</p>"
        + table(["task", "best epoch", "picked by", "accuracy", "f1", "mcc", "train", "valid"], rows)
    )


def _aoa_section(a: dict) -> str:
    """The AoA score, what it came from, and the rule (with the pipeline's unit quirk)."""
    f = a.get("fitness") or {}
    score = (
        "no score (no cdi_human.csv)"
        if a["score"] is None
        else f"curve fitness (Pearson r, model vs children AoA) <b>{fmt(a['score'])}</b> over {f.get('n_words', 0)} words"
    )
    rows = [[c["name"], c["words"], c["mean_surprisal"], c["seconds"]] for c in a["checkpoints"]]
    words = [[w, m, ch] for w, m, ch in zip(f.get("valid_words", []), f.get("model_aoas", []), f.get("child_aoas", []))]
    warnings = "".join(f"<li>{escape(w)}</li>" for w in a.get("warnings", []))
    return (
        "<h2>Age of acquisition (BabyLM AoA, official rule)</h2>"
        f"<p>{score}; {a['n_words']} words ({a['words_dropped']} left out by the pipeline's filter), "
        f"{fmt(a['contexts'])} contexts. Threshold: {escape(a['rule']['threshold'])}. "
        f"surprisal.json is in <code>{escape(a['layout'])}/</code>.</p>"
        + table(["checkpoint", "words seen", "mean surprisal", "seconds"], rows)
        + (table(["word", "model AoA (log10 words)", "child AoA (months)"], words) if words else "")
        + (f'<ul class="muted">{warnings}</ul>' if warnings else "")
    )


def _reading_part(r: dict) -> str:
    """Reading: the two scores (R2 gained by surprisal, %) and each measure's regression."""
    rows = [
        [
            p["Predicted variable"],
            r["correlations"].get(p["Predicted variable"]),
            p["Change in R2 from baseline"],
            s["Change in R2 from baseline"],
            p["P-value"],
        ]
        for p, s in zip(r["predictive_power"], r["predictive_power_spillover"])
    ]
    return (
        "<h3>Reading (official rule)</h3>"
        f"<p>Eye-tracking score <b>{r['eye_tracking']:.2f}</b>, self-paced reading score "
        f"<b>{r['self_paced']:.2f}</b> (R² gained by surprisal over the baseline, % of what was left; "
        f"{r['rows']:,} words).</p>" + table(["measure", "correlation with surprisal", "ΔR²", "ΔR² (spillover)", "p-value"], rows)
    )


def _past_context(b: dict) -> str:
    """How many candidates ran past the trained context (scored there, as the pipeline does)."""
    total = b.get("past_trained_context")
    if total is None:
        return ""
    by_task = ", ".join(
        f"{escape(label)} {t['past_trained_context']:,}" for label, t in b["tasks"].items() if t.get("past_trained_context")
    )
    return f"<p>Candidates longer than the trained context of {b['trained_context']} tokens: <b>{total:,}</b>" + (
        f" ({by_task}); their positions past it were computed as the model computes any position "
        "(rotary), as in the official pipeline.</p>"
        if total
        else ".</p>"
    )


def _cloze_section(c: dict) -> str:
    rows = [[i["category"], i["text"], i["answer"], i["choice"], "✓" if i["correct"] else "✗"] for i in c["items"]]
    cats = table(["category", "items", "accuracy"], [[k, v["n"], v["accuracy"]] for k, v in c["by_category"].items()])
    return (
        f"<h2>Cloze completion</h2><p>Accuracy <b>{fmt(c['accuracy'])}</b> on {c['n']} items "
        f"(chance {fmt(c['chance'], 2)}).</p>" + cats + table(["category", "text", "answer", "model's choice", ""], rows)
    )


def _gen_section(g: dict) -> str:
    metrics = [
        [f"{k} (all samples pooled)" if k.startswith("distinct") else k, g[k]]
        for k in (
            "distinct_1",
            "distinct_2",
            "distinct_3",
            "repeated_3gram_rate",
            "mean_top_token_prob",
            "tokens_per_s",
            "new_tokens",
        )
    ]
    metrics.append(["consistency (mean Jaccard)", g["consistency"]["mean_jaccard"]])
    samples = [[s["prompt"], shown_text(s["text"])] for s in g["samples"]]
    pairs = [
        [f"{p['prompt_a']} → {shown_text(p['text_a'])}", f"{p['prompt_b']} → {shown_text(p['text_b'])}", p["jaccard"]]
        for p in g["consistency"]["pairs"]
    ]
    return (
        "<h2>Generation</h2>"
        + table(["metric", "value"], metrics)
        + f'<p class="muted">sampling: {escape(str(g["params"]))}</p>'
        + table(["prompt", "continuation"], samples)
        + "<h3>Consistency (greedy)</h3>"
        + table(["prompt A", "prompt B", "Jaccard"], pairs)
    )


def _speed_section(sp: dict) -> str:
    rows = [
        [
            r["batch_size"],
            r["prefill_tokens_per_s"],
            r["prefill_ms_per_token"],
            r["gen_tokens_per_s"],
            r["gen_ms_per_token"],
            r["gen_ms_per_step"],
        ]
        for r in sp["by_batch"]
    ]
    return (
        f'<h2>Speed</h2><p class="muted">{sp["prompt_tokens"]} prompt tokens, {sp["new_tokens"]} generated '
        f"(greedy, KV cache) on {escape(sp['device'])}.</p>"
        + table(["batch", "prefill tok/s", "prefill ms/tok", "gen tok/s", "gen ms/tok", "gen ms/step"], rows)
    )


def _ppl_section(p: dict) -> str:
    rows = [
        ["perplexity", p["perplexity"]],
        ["bits per byte", p["bits_per_byte"]],
        ["mean NLL (nats)", p["loss"]],
        ["tokens scored", p["tokens"]],
        ["UTF-8 bytes", p["bytes"]],
        ["bytes/token", p["bytes_per_token"]],
        ["window (tokens)", p["seq_length"]],
        ["stopped early (--num-samples)", p["truncated"]],
    ]
    return f"<h2>Perplexity: {escape(p['data'])}</h2>" + table(["", ""], rows)


def eval_report(results: dict, charts: list[plots.Chart]) -> str:
    """The report.html of one evaluation."""
    s = results["suites"]
    title = f"Evaluation of {results['model']['ref']}"
    head = headline(results)
    # One row per measured number (ten columns side by side overflowed the page), with its meaning.
    summary = [[k, v, MEANINGS.get(k, "")] for k, v in head.items() if v is not None]
    sections = [
        f'<h1>{escape(title)}</h1><p class="muted">BabyLlama Studio · {escape(results["created"])}</p>',
        table(["summary", "value", "what it measures"], summary),
        chart_block(charts),
        _model_section(results),
    ]
    builders = {
        "ppl": _ppl_section,
        "babylm": _babylm_section,
        "aoa": _aoa_section,
        "glue": _glue_section,
        "pairs": _pairs_section,
        "cloze": _cloze_section,
        "gen": _gen_section,
        "speed": _speed_section,
    }
    sections += [builders[name](s[name]) for name in builders if name in s]
    notes = [f"{k}: skipped ({v})" for k, v in results.get("skipped", {}).items()] + results.get("notes", [])
    if notes:
        sections.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>")
    return page(title, sections)
