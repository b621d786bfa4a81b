"""The BabyLM 2025 pipeline's causal zero-shot scoring, re-implemented from its published rules
for the tests, independently of `core` (which it must never import).

Mirrors `evaluation_pipeline/sentence_zero_shot/{read_files,dataset,compute_results,run}.py`:
files in directory order; each candidate tokenized with the tokenizer's defaults and offsets;
phrase mask = tokens whose span ends past `len(sentence) - len(completion) + offsets[0][0]`;
items batched `batch_size` at a time, candidate k of every item right-padded together with the
pad id (EOS when there is none); inputs tokens[:-1], targets tokens[1:]; score = sum over the
phrase mask of log_softmax(logits / T) at the targets, in float32; prediction = torch.max's
index; accuracy grouped by metadata; average over UIDs (entity tracking: over splits); best
temperature = the first strictly highest; WUG = Spearman of softmax(candidate 0).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.utils.rnn import pad_sequence


def read_items(folder: Path, task: str) -> list[dict]:
    items = []
    for path in folder.iterdir():
        if path.suffix != ".jsonl":
            continue
        for line in path.open(encoding="utf-8"):
            raw = json.loads(line.strip())
            if task == "blimp":
                s = [raw["sentence_good"], raw["sentence_bad"]]
                if "field" in raw:
                    field = "syntax/semantics" if raw["field"] == "syntax_semantics" else raw["field"]
                    meta = {"field": field, "UID": raw["UID"], "linguistics_term": raw["linguistics_term"]}
                else:
                    meta = {"field": "supplement", "UID": path.stem, "linguistics_term": "supplement"}
                items.append({"sentences": s, "completions": s, **meta})
            elif task == "ewok":
                items.append(
                    {
                        "sentences": [raw["Context1"] + " " + raw["Target1"], raw["Context1"] + " " + raw["Target2"]],
                        "completions": [" " + raw["Target1"], " " + raw["Target2"]],
                        "UID": raw["Domain"],
                        "context_type": raw["ContextType"],
                        "context_contrast": raw["ContextDiff"],
                        "target_contrast": raw["TargetDiff"],
                    }
                )
            elif task == "entity_tracking":
                items.append(
                    {
                        "sentences": [raw["input_prefix"] + o for o in raw["options"]],
                        "completions": list(raw["options"]),
                        "UID": f"{path.stem}_{raw['numops']}_ops",
                    }
                )
            elif task == "comps":
                uid = {"comps_base": "base", "comps_wugs": "wugs", "comps_wugs_dist-before": "wugs_dist_before"}.get(
                    path.stem, "wugs_dist_in_between"
                )
                items.append(
                    {
                        "sentences": [
                            raw["prefix_acceptable"] + " " + raw["property_phrase"],
                            raw["prefix_unacceptable"] + " " + raw["property_phrase"],
                        ],
                        "completions": [raw["property_phrase"]] * 2,
                        "UID": uid,
                    }
                )
            else:  # wug_adj / wug_past
                s = raw["sentences"].split("\t")
                items.append({"sentences": s, "completions": s, "ratio": float(raw["ratio"]), "UID": task})
    return items


def _encode(tokenizer, sentence: str, completion: str):
    out = tokenizer(sentence, return_offsets_mapping=True)
    start = len(sentence) - len(completion) + out["offset_mapping"][0][0]
    mask = [1 if end > start else 0 for _, end in out["offset_mapping"]]
    return torch.LongTensor(out["input_ids"]), torch.LongTensor(out["attention_mask"]), torch.LongTensor(mask)


@torch.no_grad()
def candidate_scores(model, tokenizer, items: list[dict], temperatures: list[float], batch_size: int) -> list:
    """scores[t][i][k]: item i's candidate k at temperature t (float32, as the pipeline)."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    out = [[] for _ in temperatures]
    for b in range(0, len(items), batch_size):
        batch = items[b : b + batch_size]
        per_t = [[] for _ in temperatures]
        for k in range(len(batch[0]["sentences"])):
            enc = [_encode(tokenizer, it["sentences"][k], it["completions"][k]) for it in batch]
            tokens = pad_sequence([e[0] for e in enc], batch_first=True, padding_value=pad)
            att = pad_sequence([e[1] for e in enc], batch_first=True, padding_value=0)[:, :-1]
            phrase = pad_sequence([e[2] for e in enc], batch_first=True, padding_value=0)[:, 1:]
            logits = model(input_ids=tokens[:, :-1], attention_mask=att).logits
            for t, temp in enumerate(temperatures):
                lp = F.log_softmax(logits / temp, dim=-1)
                target = torch.gather(lp, -1, tokens[:, 1:].unsqueeze(-1)).squeeze(-1)
                per_t[t].append(torch.sum(target * phrase, dim=1))
        for t in range(len(temperatures)):
            out[t] += torch.stack(per_t[t], dim=1).tolist()
    return out


def _spearman(xs, ys) -> float:
    def ranks(v):
        ordered = sorted(v)
        first = {}
        for i, x in enumerate(ordered):
            first.setdefault(x, []).append(i + 1)
        return [sum(first[x]) / len(first[x]) for x in v]

    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    num = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    den = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return num / den if den else math.nan


def evaluate(items: list[dict], scores: list, temperatures: list[float], task: str, batch_size: int = 0) -> dict:
    """The pipeline's outputs for one folder: best temperature, report text, predictions.
    `batch_size` > 0: WUG's softmax runs per batch of that many items, as the pipeline's does."""
    results = []
    for t, temp in enumerate(temperatures):
        stacked = torch.tensor(scores[t], dtype=torch.float32)
        chosen = torch.max(stacked, dim=1)[1].tolist()
        preds = defaultdict(list)
        if task.startswith("wug"):
            step = batch_size or len(items)
            probs = [p for b in range(0, len(items), step) for p in torch.softmax(stacked[b : b + step], dim=1)[:, 0].tolist()]
            rho = _spearman(probs, [it["ratio"] for it in items])
            for it, c, p in zip(items, chosen, probs):
                preds[it["UID"]].append({"id": f"{it['UID']}_{len(preds[it['UID']])}", "pred": it["completions"][c], "prob": p})
            results.append((rho, {"UID": {"avg": rho}}, preds, chosen))
            continue
        total, correct = {}, {}
        for it, c in zip(items, chosen):
            meta = {k: v for k, v in it.items() if k not in ("sentences", "completions", "ratio")}
            for key, value in meta.items():
                total.setdefault(key, Counter())[value] += 1
                correct.setdefault(key, Counter())[value] += 1 if c == 0 else 0
            pred = it["sentences"][c] if task == "comps" else it["completions"][c]
            preds[it["UID"]].append({"id": f"{it['UID']}_{len(preds[it['UID']])}", "pred": pred})
        acc = {k: {v: 100.0 * correct[k][v] / n for v, n in total[k].items()} for k in total}
        if task == "entity_tracking":
            splits = []
            for split in ("regular", "ambiref", "move_contents"):
                keys = [k for k in acc["UID"] if k.startswith(split)]
                if keys:
                    acc["UID"][split] = sum(acc["UID"][k] for k in keys) / len(keys)
                    splits.append(acc["UID"][split])
            avg = sum(splits) / len(splits)
        else:
            avg = sum(acc["UID"].values()) / len(acc["UID"])
        results.append((avg, acc, preds, chosen))
    best, best_acc = -1, -1
    for t, r in enumerate(results):
        if r[0] > best_acc:
            best, best_acc = t, r[0]
    avg, blocks, preds, chosen = results[best]
    metric = "SPEARMAN'S RHO" if task.startswith("wug") else "ACCURACY"
    lines = [f"TEMPERATURE: {temperatures[best]:.2f}", ""]
    for key, values in blocks.items():
        lines += [f"### {key.upper()} {metric}"] + [f"{k}: {v:.2f}" for k, v in values.items()] + [""]
    lines += [f"### AVERAGE {metric}", f"{avg:.2f}", ""]
    return {
        "temperature": temperatures[best],
        "average": avg,
        "chosen": chosen,
        "report": "\n".join(lines) + "\n",
        "predictions": {uid: {"predictions": rows} for uid, rows in preds.items()},
    }
