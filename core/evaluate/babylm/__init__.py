"""The BabyLM 2025 zero-shot suite, scored as the official pipeline scores causal models.

`tasks` reads the official `evaluation_data/` layout; `scorer` gives every candidate its summed
log-probability (batched); `results` turns scores into the pipeline's accuracies, best
temperature, `best_temperature_report.txt` and `predictions.json`; `suite` runs it all for
`babyllama eval --suite babylm`; `finetune/` is the fine-tuning suite `glue`. Never imports gradio,
studio or core.history.
"""

from __future__ import annotations
