"""Hand-written items in each official BabyLM task format, a BOS / no-BOS tokenizer pair and a
tiny random Llama, shared by the BabyLM suite tests. Imports nothing from `core`.

The items cover what the official rule is sensitive to: a tie (identical candidates), a
multi-token first word, a completion that starts mid-token (entity tracking options glued to
the prefix), field standardisation (syntax_semantics), several UIDs per file, and unequal
candidate lengths (padding).
"""

from __future__ import annotations

import json
from pathlib import Path

BLIMP = {
    "anaphor_agreement.jsonl": [
        {
            "sentence_good": "The girl saw herself.",
            "sentence_bad": "The girl saw himself.",
            "field": "morphology",
            "UID": "anaphor_gender_agreement",
            "linguistics_term": "anaphor_agreement",
        },
        {
            "sentence_good": "Zyxglorbington admired himself.",
            "sentence_bad": "Zyxglorbington admired herself.",
            "field": "morphology",
            "UID": "anaphor_gender_agreement",
            "linguistics_term": "anaphor_agreement",
        },
        # A tie: both candidates are the same sentence, so candidate 0 wins.
        {
            "sentence_good": "The cat sat on the mat.",
            "sentence_bad": "The cat sat on the mat.",
            "field": "morphology",
            "UID": "anaphor_gender_agreement",
            "linguistics_term": "anaphor_agreement",
        },
    ],
    "island.jsonl": [
        {
            "sentence_good": "What did the dog chase?",
            "sentence_bad": "What did the dog chase the ball?",
            "field": "syntax_semantics",
            "UID": "wh_island",
            "linguistics_term": "island_effects",
        },
        {
            "sentence_good": "Who left?",
            "sentence_bad": "Who left the the?",
            "field": "syntax_semantics",
            "UID": "wh_island",
            "linguistics_term": "island_effects",
        },
        {
            "sentence_good": "Many dogs ran.",
            "sentence_bad": "Many dog ran.",
            "field": "syntax",
            "UID": "determiner_noun",
            "linguistics_term": "determiner_noun_agreement",
        },
    ],
}
SUPPLEMENT = {
    "hypernym.jsonl": [
        {"sentence_good": "A dog is an animal.", "sentence_bad": "An animal is a dog."},
        {"sentence_good": "A rose is a flower.", "sentence_bad": "A flower is a rose."},
    ],
    "qa_congruence_easy.jsonl": [{"sentence_good": "Who ate? The boy ate.", "sentence_bad": "Who ate? The cake ate."}],
}
EWOK = {
    "physical-relations.jsonl": [
        {
            "Context1": "The ball is on the table.",
            "Context2": "The ball is under the table.",
            "Target1": "The ball is above the table.",
            "Target2": "The ball is below the table.",
            "Domain": "physical-relations",
            "ContextType": "concrete",
            "ContextDiff": "preposition",
            "TargetDiff": "preposition",
        },
        {
            "Context1": "The cup is in the box.",
            "Context2": "The cup is beside the box.",
            "Target1": "The cup is inside.",
            "Target2": "The cup is outside.",
            "Domain": "physical-relations",
            "ContextType": "abstract",
            "ContextDiff": "preposition",
            "TargetDiff": "adverb",
        },
    ],
    "social-properties.jsonl": [
        {
            "Context1": "Ann is kind.",
            "Context2": "Ann is rude.",
            "Target1": "Ann helps people.",
            "Target2": "Ann hurts people.",
            "Domain": "social-properties",
            "ContextType": "concrete",
            "ContextDiff": "adjective",
            "TargetDiff": "verb",
        },
    ],
}
ENTITY = {
    # Options glued to the prefix: "the app" + "le." spans one token, the completion starts mid-token.
    "regular.jsonl": [
        {"input_prefix": "Box 1 contains the app", "options": ["le.", "ricot.", "etite."], "numops": 0},
        {"input_prefix": "Box 2 contains the bell and the", "options": [" key.", " cup.", " hat."], "numops": 1},
        {"input_prefix": "Move the key to Box 3. Box 3 contains the", "options": [" key.", " bell.", " key."], "numops": 1},
    ],
    "ambiref.jsonl": [
        {"input_prefix": "The red box contains the", "options": [" map.", " pen.", " map and the pen."], "numops": 2},
    ],
}
WUG = [
    {"sentences": "The wug is glorby. Its glorbiness is clear.\tThe wug is glorby. Its glorbity is clear.", "ratio": 0.8},
    {"sentences": "It is snarp. Its snarpness is clear.\tIt is snarp. Its snarpity is clear.", "ratio": 0.3},
    {"sentences": "It is tesk. Its teskness is clear.\tIt is tesk. Its teskity is clear.", "ratio": 0.55},
]
COMPS = {
    "comps_base.jsonl": [
        {"prefix_acceptable": "A robin", "prefix_unacceptable": "A table", "property_phrase": "can fly."},
        {"prefix_acceptable": "A fish", "prefix_unacceptable": "A rock", "property_phrase": "can swim."},
    ]
}


def _write(folder: Path, files: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in files.items():
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def write_evaluation_data(root: Path) -> Path:
    """`root/evaluation_data/` with full_eval/ (every task + a folder we do not know) and fast_eval/."""
    full = root / "evaluation_data" / "full_eval"
    _write(full / "blimp_filtered", BLIMP)
    _write(full / "supplement_filtered", SUPPLEMENT)
    _write(full / "ewok_filtered", EWOK)
    _write(full / "entity_tracking", ENTITY)
    _write(full / "wug_adj_nominalization", {"wug_adj_nominalization.jsonl": WUG})
    _write(full / "comps", COMPS)
    _write(full / "mystery_task", {"x.jsonl": [{"a": 1}]})
    (full / "reading").mkdir()
    fast = root / "evaluation_data" / "fast_eval"
    _write(fast / "blimp_fast", {"island.jsonl": BLIMP["island.jsonl"]})
    _write(fast / "entity_tracking_fast", {"regular.jsonl": ENTITY["regular.jsonl"]})
    return root / "evaluation_data"


TEXT = (
    "the girl saw herself . the boy saw himself . what did the dog chase ? many dogs ran . "
    "a dog is an animal . a rose is a flower . the ball is on the table . box 1 contains the apple . "
    "the cup is in the box . ann is kind and helps people . a robin can fly . a fish can swim . "
) * 20


def make_tokenizer(folder: Path, add_bos: bool):
    """A byte-level BPE like ours (<pad> <s> </s> <unk> = 0-3), with or without a BOS template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=420,
        special_tokens=["<pad>", "<s>", "</s>", "<unk>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator([TEXT], trainer)
    byte_level = processors.ByteLevel(add_prefix_space=False, trim_offsets=False)
    tok.post_processor = (
        processors.Sequence(
            [byte_level, processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", 1)])]
        )
        if add_bos
        else byte_level
    )
    PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(folder))


def make_model(vocab: int, seed: int = 0):
    """A tiny random Llama in eval mode (fp32, CPU)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=128,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return LlamaForCausalLM(cfg).eval()
