"""Left padding for batched decoding: token rows of different lengths into one (input_ids,
attention_mask) pair for core.generate's `decode_steps` (`bench generate` runs batches of 8 this way).
Must not import gradio or studio.
"""

from __future__ import annotations

import torch


def pad_left(rows: list[list[int]], pad_id: int, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) for token rows of different lengths, padded on the left so
    every row's last token sits in the last column (the column the next token is read from)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)
