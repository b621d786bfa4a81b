"""The files of one results folder (results.json, samples.txt, evaluation_plots.png, report.html)
and the history rows of an evaluation.

Must not import gradio or torch.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from core.evaluate import plots
from core.generate.text import shown_text

RESULTS, SAMPLES, PNG, REPORT = "results.json", "samples.txt", "evaluation_plots.png", "report.html"


def summary_line(suite: str, r: dict) -> str:
    """One human line per suite, for progress output."""
    if suite == "ppl":
        return f"perplexity {r['perplexity']:.3f}, {r['bits_per_byte']:.4f} bits/byte over {r['tokens']:,} tokens"
    if suite == "gen":
        return (
            f"distinct-1/2/3 {r['distinct_1']:.2f}/{r['distinct_2']:.2f}/{r['distinct_3']:.2f}, "
            f"repeated 3-grams {r['repeated_3gram_rate']:.2f}, top-token p {r['mean_top_token_prob']:.2f}, "
            f"{r['tokens_per_s']:.0f} tok/s, consistency {r['consistency']['mean_jaccard']:.2f}"
        )
    if suite == "cloze":
        return f"cloze accuracy {r['accuracy']:.3f} on {r['n']} items (chance {r['chance']:.2f})"
    if suite == "pairs":
        return (
            f"minimal pairs: mean {r['mean']:.3f} over {len(r['paradigms'])} paradigms, "
            f"{r['n_pairs']:,} pairs, {r['pairs_per_s']:,.0f} pairs/s"
        )
    if suite == "babylm":
        board = ", ".join(f"{label} {value:.2f}" for label, value in r["scoreboard"].items())
        read = r.get("reading")
        extra = f"; reading: {read['rows']:,} words, {read['contexts_per_s']:,.0f} contexts/s" if read else ""
        past = f", {r['past_trained_context']:,} past the trained context" if r.get("past_trained_context") else ""
        mode = "exact" if r["rule"].get("exact") else "fast"
        return f"BabyLM: {board} ({r['candidates']:,} candidates, {r['candidates_per_s']:,.0f}/s, {mode}{past}{extra})"
    if suite == "glue":
        board = ", ".join(f"{task} {value:.3f}" for task, value in r["scoreboard"].items())
        rule = "official recipe" if r["official"] else "NOT the official run: " + "; ".join(r["deviations"])
        return f"GLUE fine-tuning: {board} ({r['pooling']} pooling, {rule})"
    if suite == "aoa":
        score = (
            "no score (no cdi_human.csv)"
            if r["score"] is None
            else f"curve fitness {r['score']:.3f} over {r['fitness']['n_words']} fitted words"
        )
        return (
            f"AoA: {score}; {r['n_words']} words, {r['contexts']:,} contexts over {len(r['checkpoints'])} "
            f"checkpoints, {r['contexts_per_s']:,.0f}/s"
        )
    best = max(r["by_batch"], key=lambda row: row["gen_tokens_per_s"])
    return f"speed: up to {best['gen_tokens_per_s']:,.0f} generated tok/s (batch {best['batch_size']})"


def charts(results: dict, curves: dict | None = None) -> list[plots.Chart]:
    """The charts of one evaluation, in report order."""
    s, out = results["suites"], []
    if curves:
        out.append(plots.line_chart("Training curves", {k: v for k, v in curves.items() if v}, xlabel="step", ylabel="loss"))
    if "babylm" in s:
        out += babylm_charts(s["babylm"])
    if "aoa" in s:
        out += aoa_charts(s["aoa"])
    if "pairs" in s:
        paradigms = s["pairs"]["paradigms"]
        rows = sorted(((n, p["accuracy"], p["field"]) for n, p in paradigms.items()), key=lambda r: (r[2], r[0]))
        out.append(
            plots.hbar_chart(
                "Minimal pairs (our rule): accuracy by paradigm", rows, xlabel="accuracy", ref=(0.5, "chance"), xmax=1.0
            )
        )
    if "cloze" in s:
        cats = s["cloze"]["by_category"]
        out.append(
            plots.bar_chart(
                "Cloze: accuracy by category",
                list(cats),
                [c["accuracy"] for c in cats.values()],
                ylabel="accuracy",
                ref=(s["cloze"]["chance"], "chance"),
                ymax=1.0,
            )
        )
    if "gen" in s:
        g = s["gen"]
        bins = [0] * 10
        for sample in g["samples"]:
            bins[min(int(sample["distinct_2"] * 10), 9)] += 1
        # Within each sample (a continuation rarely repeats its own bigrams: near 1), unlike the
        # header's distinct-2, which pools all samples (they repeat each other: much lower).
        out.append(
            plots.bar_chart(
                "Diversity within each sample: distinct-2 of one continuation",
                [f"{i / 10:.1f}" for i in range(10)],
                bins,
                ylabel="samples",
                xlabel=f"distinct-2 within a sample (pooled over all samples: {g['distinct_2']:.2f})",
            )
        )
    if "speed" in s:
        rows = s["speed"]["by_batch"]
        out.append(
            plots.line_chart(
                "Speed by batch size",
                {
                    "prefill tok/s": [(r["batch_size"], r["prefill_tokens_per_s"]) for r in rows],
                    "generation tok/s": [(r["batch_size"], r["gen_tokens_per_s"]) for r in rows],
                },
                xlabel="batch size",
                ylabel="tokens/s",
                log_y=True,
                markers=True,
            )
        )
    return out


def babylm_charts(b: dict) -> list[plots.Chart]:
    """The scoreboard (one bar per task) and, per accuracy task, its UIDs grouped by field when
    the items have one (BLiMP), as horizontal bars that stay readable at 67 paradigms."""
    accuracy = [(label, t["average"]) for label, t in b["tasks"].items() if t["metric"] == "accuracy"]
    out = (
        [
            plots.hbar_chart(
                "BabyLM: accuracy by task (official rule)",
                [(task, v, "") for task, v in accuracy],
                xlabel="accuracy %",
                ref=(50.0, "chance (2 candidates)"),
                xmax=100.0,
            )
        ]
        if accuracy
        else []
    )
    for label, t in b["tasks"].items():
        uids = t["blocks"].get("UID", {})
        if t["metric"] != "accuracy" or len(uids) < 2:
            continue
        field_of = b.get("uid_fields", {}).get(label, {})
        rows = sorted(((u, v, field_of.get(u, "")) for u, v in uids.items()), key=lambda r: (r[2], r[0]))
        out.append(plots.hbar_chart(f"BabyLM {label}: accuracy by UID", rows, xlabel="accuracy %", xmax=100.0))
    return out


def aoa_charts(a: dict) -> list[plots.Chart]:
    """A few words' mean surprisal against words seen (log x), beside the children's proportion
    producing the same words by age; each with its fitted sigmoid dashed (the fits the score reads)
    and its age of acquisition in the legend."""
    curves, out = a.get("curves", {}), []
    aoas = curves.get("aoa", {})

    def label(word: str, key: str, unit) -> str:
        value = (aoas.get(word) or {}).get(key)
        return f"{word} (AoA {unit(value)})" if value is not None else f"{word} (no AoA)"

    model = {w: pts for w, pts in curves.get("model", {}).items() if pts}
    if model:
        names = {w: label(w, "model_words", plots.short_number) for w in model}
        out.append(
            plots.line_chart(
                "AoA: model surprisal by words seen (dashed: the sigmoid fitted to every context)",
                {names[w]: pts for w, pts in model.items()},
                xlabel="words seen",
                ylabel="surprisal (nats, mean over contexts)",
                log_x=True,
                markers=True,
                dashed={names[w]: pts for w, pts in curves.get("model_fit", {}).items() if w in names},
            )
        )
    children = {w: pts for w, pts in curves.get("children", {}).items() if pts}
    if children:
        names = {w: label(w, "child_months", lambda v: f"{v:.1f} mo") for w in children}
        out.append(
            plots.line_chart(
                "AoA: children producing the word (CDI; dashed: the fitted sigmoid)",
                {names[w]: pts for w, pts in children.items()},
                xlabel="age (months)",
                ylabel="proportion",
                markers=True,
                dashed={names[w]: pts for w, pts in curves.get("children_fit", {}).items() if w in names},
            )
        )
    return out


def samples_text(results: dict) -> str:
    """samples.txt: every generated sample and the consistency pairs, plainly (shown clean:
    results.json keeps the raw text)."""
    gen = results["suites"].get("gen")
    if not gen:
        return "(no generation suite in this evaluation)\n"
    lines = [f"# {results['model']['ref']}  sampling: {json.dumps(gen['params'])}", ""]
    for sample in gen["samples"]:
        lines += [f"PROMPT: {sample['prompt']}", f"OUTPUT: {shown_text(sample['text'])}", ""]
    lines += ["# consistency (greedy continuations of paraphrased prompts)", ""]
    for pair in gen["consistency"]["pairs"]:
        lines += [
            f"A: {pair['prompt_a']} -> {shown_text(pair['text_a'])}",
            f"B: {pair['prompt_b']} -> {shown_text(pair['text_b'])}",
            f"jaccard {pair['jaccard']:.3f}",
            "",
        ]
    return "\n".join(lines)


def _clean(value):
    """JSON has no NaN/inf: write them as null, as the history does."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_all(folder: Path, results: dict, curves: dict | None = None) -> None:
    """Write the results folder's files into `folder` (the caller renames it into place)."""
    from core.evaluate.report import eval_report

    folder.mkdir(parents=True)
    extra_files = {}
    for suite in results["suites"].values():  # each suite's own files (the official layouts)
        extra_files.update(suite.pop("_files", {}))
    for rel, text in extra_files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    drawn = charts(results, curves)
    results["files"] = {"results": RESULTS, "samples": SAMPLES, "report": REPORT}
    if plots.save_png(drawn, folder / PNG):
        results["files"]["plots_png"] = PNG
    (folder / SAMPLES).write_text(samples_text(results), encoding="utf-8")
    (folder / REPORT).write_text(eval_report(results, drawn), encoding="utf-8")
    # results.json last: its presence marks a complete folder even before the rename.
    (folder / RESULTS).write_text(json.dumps(_clean(results), indent=1) + "\n", encoding="utf-8")


def history_rows(results: dict) -> list[tuple[str, str, float, dict]]:
    """(suite, name, value, extra) for every headline number."""
    s, rows = results["suites"], []
    if "ppl" in s:
        extra = {"data": s["ppl"]["data"], "tokens": s["ppl"]["tokens"]}
        rows += [("ppl", k, s["ppl"][k], extra) for k in ("perplexity", "bits_per_byte", "loss")]
    if "gen" in s:
        rows += [
            ("gen", k, s["gen"][k], {})
            for k in ("distinct_1", "distinct_2", "distinct_3", "repeated_3gram_rate", "mean_top_token_prob", "tokens_per_s")
        ]
        rows.append(("consistency", "mean_jaccard", s["gen"]["consistency"]["mean_jaccard"], {}))
    if "cloze" in s:
        rows.append(("cloze", "accuracy", s["cloze"]["accuracy"], {"n": s["cloze"]["n"]}))
        rows += [("cloze", f"category/{c}", v["accuracy"], {"n": v["n"]}) for c, v in s["cloze"]["by_category"].items()]
    if "pairs" in s:
        p = s["pairs"]
        rows.append(("pairs", "mean", p["mean"], {"paradigms": len(p["paradigms"]), "pairs": p["n_pairs"]}))
        rows += [("pairs", f"field/{f}", v, {}) for f, v in p["fields"].items()]
        rows += [
            ("pairs", name, r["accuracy"], {"field": r["field"], "n": r["n"], "correct": r["correct"]})
            for name, r in p["paradigms"].items()
        ]
    if "babylm" in s:
        b = s["babylm"]
        for label, t in b["tasks"].items():
            rows.append(
                ("babylm", label, t["average"], {"metric": t["metric"], "temperature": t["temperature"], "n": t["n_items"]})
            )
            rows += [("babylm", f"{label}/field/{f}", v, {}) for f, v in t["blocks"].get("field", {}).items()]
        if "reading" in b:
            from core.evaluate.babylm.reading import SCORE_LABELS

            n = b["reading"]["rows"]
            rows += [
                ("babylm", SCORE_LABELS["eye"], b["reading"]["eye_tracking"], {"metric": "reading", "n": n}),
                ("babylm", SCORE_LABELS["spr"], b["reading"]["self_paced"], {"metric": "reading", "n": n}),
            ]
    if "glue" in s:
        g = s["glue"]
        for task, t in g["tasks"].items():
            extra = {"best_epoch": t["best_epoch"], "pooling": g["pooling"], "official": g["official"], "n": t["n_valid"]}
            rows += [("glue", f"{task}/{metric}", value, extra) for metric, value in t["scores"].items()]
    if "aoa" in s and s["aoa"]["score"] is not None:
        f = s["aoa"]["fitness"]
        rows.append(("aoa", "curve_fitness", s["aoa"]["score"], {"n_words": f["n_words"], "p_value": f["p_value"]}))
    if "speed" in s:
        for r in s["speed"]["by_batch"]:
            rows += [
                ("speed", f"prefill_tokens_per_s/b{r['batch_size']}", r["prefill_tokens_per_s"], {}),
                ("speed", f"gen_tokens_per_s/b{r['batch_size']}", r["gen_tokens_per_s"], {}),
            ]
    return rows


def record_history(history, results: dict, folder: Path, run: str | None, job: str | None) -> None:
    """Evals rows on the model's run (or, for a foreign model, on the eval job) and artifacts."""
    step = results["model"]["step"]
    if run is not None:
        for suite, name, value, extra in history_rows(results):
            history.log_eval(run, step, suite, name, value, {**extra, "eval_dir": str(folder)})
    for owner in dict.fromkeys(r for r in (run, job) if r):
        history.add_artifact(owner, "eval", folder, extra={"report": str(folder / REPORT), "suites": list(results["suites"])})
