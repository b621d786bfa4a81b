"""The training blocks of one epoch, in their order: a permutation of (seed, epoch) only, so a
checkpoint's (epoch, batch) position is enough to continue a run exactly.

With `data.random_offset` (timinar/BabyLlama's `random_chunk`) each block starts at a random
offset, 0 to seq_length - 1 tokens past its fixed start, drawn from the same (seed, epoch)
generator. `epoch_batches` hands the loop one process's batches of an epoch, gathered ahead by
`training.dataloader_num_workers` DataLoader worker processes when it is above 0 (same batches, same
order). Must not import gradio, accelerate or the history module.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch


def usable_blocks(n_blocks: int, random_offset: bool) -> int:
    """Blocks per epoch: with random offsets the last block has no room to shift, so one fewer."""
    return max(n_blocks - 1, 0) if random_offset else n_blocks


class EpochBlocks:
    """`take(first, count)` returns the blocks at positions first .. first + count of this epoch's
    order, as an int64 tensor [count, seq_length]."""

    def __init__(self, blocks: torch.Tensor, seed: int, epoch: int, random_offset: bool = False):
        self.blocks, self.random_offset = blocks, random_offset
        n = usable_blocks(len(blocks), random_offset)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        self.order = torch.randperm(n, generator=gen)
        # Drawn after the permutation, so turning offsets on leaves the generator's first draws
        # (and a run without offsets) unchanged. offsets[j] belongs to the j-th block drawn.
        seq = blocks.shape[1]
        self.offsets = torch.randint(0, seq, (n,), generator=gen) if random_offset else None

    def __len__(self) -> int:
        return len(self.order)

    def take(self, first: int, count: int) -> torch.Tensor:
        index = self.order[first : first + count]
        if self.offsets is None:
            return self.blocks[index]
        # The blocks are consecutive pieces of the tokenized corpus: block i shifted by k tokens
        # is tokens [i * seq + k, (i + 1) * seq + k) of their concatenation.
        seq = self.blocks.shape[1]
        flat = self.blocks.reshape(-1)
        starts = index * seq + self.offsets[first : first + count]
        return flat[starts[:, None] + torch.arange(seq)]


class _EpochBatches(torch.utils.data.Dataset):
    """Batch i of one process: `batch_size` blocks from position i x batch_size x world +
    rank x batch_size of the epoch's order (each process takes its slice of every global batch)."""

    def __init__(self, order: EpochBlocks, batch_size: int, world: int, rank: int):
        self.order, self.batch_size, self.world, self.rank = order, batch_size, world, rank

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.order.take(i * self.batch_size * self.world + self.rank * self.batch_size, self.batch_size)


def epoch_batches(
    blocks: torch.Tensor,
    seed: int,
    epoch: int,
    random_offset: bool,
    *,
    start: int,
    stop: int,
    batch_size: int,
    world: int = 1,
    rank: int = 0,
    num_workers: int = 0,
) -> Iterator[torch.Tensor]:
    """This process's batches start .. stop - 1 of `epoch` (a resumed run starts mid-epoch). With
    `num_workers` > 0 a DataLoader's worker processes gather them ahead of the loop; the batches
    and their order are the same either way, so a run and its resume stay bit-exact."""
    batches = _EpochBatches(EpochBlocks(blocks, seed, epoch, random_offset), batch_size, world, rank)
    if num_workers == 0:
        return (batches[i] for i in range(start, stop))
    # batch_size=None: the dataset's items are whole batches already; the sampler fixes their order.
    # Its own generator: a DataLoader draws its workers' seed from the global RNG otherwise, and
    # that draw would change every dropout mask after it (the run would no longer match itself).
    return iter(
        torch.utils.data.DataLoader(
            batches,
            batch_size=None,
            sampler=range(start, stop),
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch),
        )
    )
