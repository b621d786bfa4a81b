"""`babyllama submission`: every part a BabyLM track needs (the fast suite on every `chck_*`
checkpoint, the full suite on `main`, AoA, GLUE, the export), run as ordinary jobs, then collated
into the official pipeline's hand-in tree and `all_full_preds_and_fast_scores_<backend>.json`.

`plan` says what is done / running / missing, `run` starts what is missing, `collate` checks and
writes. Nothing here imports gradio or studio.
"""

from __future__ import annotations

TRACKS = ("strict-small", "strict")
BACKEND = "causal"
