"""Token datasets: fixed-length blocks, EOS between documents, word counts, the on-disk cache."""

from __future__ import annotations

import json

import pytest

from core.data.dataset import build_token_dataset, cache_dir_for, token_dataset_meta
from core.data.synthetic import create_synthetic_corpus, synthesize
from core.errors import UserError


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A tiny byte-level BPE saved as a transformers tokenizer folder (independent of core.tokenizer)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    text = synthesize(5_000, "medium", seed=0)["train"]
    tok.train_from_iterator(text.split("\n"), trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>"
    )
    out = tmp_path_factory.mktemp("tok")
    wrapped.save_pretrained(str(out))
    return out


def test_blocks_have_fixed_length_and_meta_counts_words(workspace, tokenizer_dir):
    corpus = create_synthetic_corpus(workspace, "syn", 4_000, "simple", seed=3)
    ds = build_token_dataset(corpus, "train", tokenizer_dir, 64)
    assert ds.column_names == ["input_ids"] and len(ds) > 10
    assert {len(row) for row in ds["input_ids"]} == {64}
    meta = token_dataset_meta(corpus, "train", tokenizer_dir, 64)
    manifest = json.loads((corpus / "manifest.json").read_text())
    assert meta["n_words"] == manifest["splits"]["train"]["words"]
    assert meta["n_sequences"] == len(ds)
    assert meta["n_tokens"] == len(ds) * 64 + meta["dropped_tokens"]
    target = cache_dir_for(corpus, "train", tokenizer_dir, 64)
    assert target.parent == corpus / "cache" and (target / "meta.json").is_file()


def test_eos_closes_each_document(workspace, tokenizer_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    corpus = create_synthetic_corpus(workspace, "eos", 3_000, "simple", seed=4)
    ds = build_token_dataset(corpus, "train", tokenizer_dir, 32)
    flat = [t for row in ds["input_ids"] for t in row]
    documents = json.loads((corpus / "manifest.json").read_text())["splits"]["train"]["documents"]
    assert documents - 2 <= flat.count(tok.eos_token_id) <= documents
    first_doc = tok.decode(flat[: flat.index(tok.eos_token_id)])
    on_disk = (corpus / "train" / "synthetic.txt").read_text().split("\n\n")[0] + "\n"
    assert first_doc == on_disk


def test_second_call_loads_the_cache_without_work(workspace, tokenizer_dir, monkeypatch):
    import datasets

    corpus = create_synthetic_corpus(workspace, "cached", 3_000, seed=5)
    first = build_token_dataset(corpus, "dev", tokenizer_dir, 16)

    def no_work(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(datasets.Dataset, "map", no_work)
    monkeypatch.setattr(datasets.Dataset, "from_generator", no_work)
    again = build_token_dataset(corpus, "dev", tokenizer_dir, 16)
    assert again["input_ids"] == first["input_ids"]
    assert len(list((corpus / "cache").iterdir())) == 1  # no temp folders left behind
    assert cache_dir_for(corpus, "dev", tokenizer_dir, 32) != cache_dir_for(corpus, "dev", tokenizer_dir, 16)
    assert cache_dir_for(corpus, "train", tokenizer_dir, 16) != cache_dir_for(corpus, "dev", tokenizer_dir, 16)


def test_custom_cache_root_and_parallel_tokenizing(workspace, tokenizer_dir, tmp_path):
    corpus = create_synthetic_corpus(workspace, "par", 3_000, seed=6)
    one = build_token_dataset(corpus, "train", tokenizer_dir, 16, cache_root=tmp_path / "c1")
    two = build_token_dataset(corpus, "train", tokenizer_dir, 16, cache_root=tmp_path / "c2", num_proc=2)
    assert one["input_ids"] == two["input_ids"]
    assert not (corpus / "cache").exists()


def test_bad_inputs_are_user_errors(workspace, tokenizer_dir, tmp_path):
    corpus = create_synthetic_corpus(workspace, "small", 200, seed=7)
    with pytest.raises(UserError, match="no tokenizer.json"):
        build_token_dataset(corpus, "train", tmp_path, 16)
    with pytest.raises(UserError, match="fewer than one block"):
        build_token_dataset(corpus, "train", tokenizer_dir, 100_000)
    with pytest.raises(UserError, match="split 'test'"):
        build_token_dataset(corpus, "test", tokenizer_dir, 16)
    with pytest.raises(UserError, match="not a prepared corpus"):
        build_token_dataset(tmp_path, "train", tokenizer_dir, 16)
    assert not [p for p in (corpus / "cache").iterdir()]


def test_bos_opens_each_document_when_the_tokenizer_adds_it(workspace, tokenizer_dir, tmp_path):
    """A tokenizer that starts texts with <s> (ours since the BabyLM mode) gets it before every
    document, so the model learns first words after <s>; one without BOS (above) keeps EOS only."""
    from tokenizers import Tokenizer, processors
    from transformers import AutoTokenizer

    raw = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    raw.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    bos_dir = tmp_path / "bos"
    old = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    type(old)(tokenizer_object=raw, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>").save_pretrained(
        str(bos_dir)
    )
    corpus = create_synthetic_corpus(workspace, "bos", 3_000, "simple", seed=4)
    flat = [t for row in build_token_dataset(corpus, "train", bos_dir, 32)["input_ids"] for t in row]
    documents = json.loads((corpus / "manifest.json").read_text())["splits"]["train"]["documents"]
    assert flat[0] == 1 and documents - 2 <= flat.count(1) <= documents
    after_eos = [flat[i + 1] for i, t in enumerate(flat[:-1]) if t == 2]
    assert after_eos and set(after_eos) == {1}
    plain = [t for row in build_token_dataset(corpus, "train", tokenizer_dir, 32)["input_ids"] for t in row]
    assert 1 not in plain
