"""Turn a run's data references into token tensors for the loop (through the on-disk cache).

A prepared corpus (`babyllama data synth|prepare`) is used as it is; a folder of text files is
prepared once into a workspace corpus named by its content hash, whose hash keys the token cache. Must not import gradio.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from core.config import RunConfig
from core.config.resolve import resolve_data
from core.errors import UserError
from core.train.loop import TrainData
from core.workspace import Workspace


def _corpus_and_split(folder: Path, field: str, ws: Workspace) -> tuple[Path, str]:
    """A split folder (`<corpus>/train`) -> (corpus, "train"); a folder of text files (the guide's
    `./data/babylm_10M_clean`) -> its prepared corpus (made once per content hash), "train"."""
    if folder.name in ("train", "dev") and (folder.parent / "manifest.json").is_file():
        return folder.parent, folder.name
    from core.data.textfolder import prepare

    corpus = prepare(folder, ws, field)
    print(f"{field}: the text of {folder} is corpus {corpus.name} (later runs with the same text reuse it)", flush=True)
    return corpus, "train"


def _tokenizer_folder(path: Path, ws: Workspace) -> Path:
    if path.is_dir():
        return path
    # The guide names a bare tokenizer.json; `tokenizer train --output x.json` keeps its folder
    # in the workspace under the file's stem, which is what the cache and AutoTokenizer need.
    twin = ws.tokenizers_dir / path.stem
    if (twin / "tokenizer.json").is_file():
        return twin
    raise UserError(
        f"data.tokenizer_path: {path} is a bare tokenizer.json; train the tokenizer with "
        "`babyllama tokenizer train --data CORPUS --name TOK` and set data.tokenizer_path=TOK"
    )


def _blocks(dataset) -> torch.Tensor:
    return torch.from_numpy(np.asarray(dataset.with_format("numpy")["input_ids"], dtype=np.int64))


def load_train_data(cfg: RunConfig, ws: Workspace) -> tuple[TrainData, object]:
    """Token blocks for training and evaluation, words per token, and the tokenizer."""
    from transformers import AutoTokenizer

    from core.data.dataset import build_token_dataset, token_dataset_meta

    paths = resolve_data(cfg, ws, require=True)
    tok_dir = _tokenizer_folder(paths.tokenizer, ws)
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    corpus, split = _corpus_and_split(paths.train, "data.train_path", ws)
    seq = cfg.data.seq_length
    train = _blocks(build_token_dataset(corpus, split, tok_dir, seq))
    meta = token_dataset_meta(corpus, split, tok_dir, seq)
    evaluation = None
    if paths.eval is not None:
        eval_corpus, eval_split = _corpus_and_split(paths.eval, "data.eval_path", ws)
        try:
            evaluation = _blocks(build_token_dataset(eval_corpus, eval_split, tok_dir, seq))
        except UserError as err:  # a dev split too small for one block: train, but say so
            print(f"note: no evaluation: {err}", flush=True)
    words_per_token = meta["n_words"] / max(meta["n_tokens"], 1)
    return TrainData(train=train, eval=evaluation, words_per_token=words_per_token), tokenizer
