"""core.config: the guide's YAML, overrides in both forms, one error listing every problem."""

from __future__ import annotations

import textwrap
from dataclasses import fields

import pytest

from core import config
from core.errors import ConfigError

# The guide's "Creating Custom Configurations" example, verbatim (comments and `3e-4` included).
GUIDE_YAML = textwrap.dedent("""\
    # config/my-custom-model.yaml
    data:
      tokenizer_path: "./models/gpt-clean-16000.json"
      train_path: "./data/babylm_10M_clean"
      eval_path: "./data/babylm_dev_clean"
      seq_length: 256          # Longer sequences = better context
      eval_samples: 512        # More samples = better evaluation

    model:
      type: "Llama"           # "Llama", "GPT2", or "GPTJ"
      name: "MyCustomModel"
      hidden_size: 384        # Custom size between 16M and 95M
      intermediate_size: 1024 # 2.67x hidden_size for LLaMA
      n_layer: 8
      n_head: 8
      tie_word_embeddings: false  # LLaMA default

    training:
      lr: 3e-4                # Learning rate
      batch_size: 32          # Per-device batch size
      num_epochs: 3           # Training epochs
      gradient_accumulation_steps: 4  # Effective batch = 32 * 4 = 128
      warmup_steps: 200       # 10% of total steps
      fp16: true              # Mixed precision for speed
      torch_compile: false    # PyTorch 2.0 compilation (experimental)

    logging:
      wandb: false            # Enable for experiment tracking
      project: "my-experiments"
      output_dir: "./models/"
    """)


@pytest.fixture
def guide_yaml(tmp_path):
    path = tmp_path / "my-custom-model.yaml"
    path.write_text(GUIDE_YAML)
    return path


def test_guide_yaml_loads_unchanged(guide_yaml):
    cfg = config.load(guide_yaml)
    assert cfg.training.lr == pytest.approx(3e-4)  # PyYAML reads `3e-4` as a string
    assert cfg.model.hidden_size == 384 and cfg.model.n_head == 8
    assert cfg.training.fp16 is True and cfg.training.gradient_accumulation_steps == 4
    assert cfg.data.tokenizer_path == "./models/gpt-clean-16000.json"
    assert cfg.logging.project == "my-experiments"


def test_guide_flags_with_dashes_and_underscores(guide_yaml):
    cfg = config.load(
        guide_yaml,
        [
            "--lr",
            "5e-4",
            "--model_name",
            "exp-v1",
            "--batch-size",
            "8",
            "--gradient_accumulation_steps",
            "16",
            "--fp16",
            "--wandb",
            "--wandb-project",
            "lm",
            "--wandb-run-name",
            "r1",
            "--dataloader-num-workers",
            "2",
            "--torch-compile",
            "--num-epochs",
            "5",
        ],
    )
    t = cfg.training
    assert (t.lr, t.batch_size, t.gradient_accumulation_steps, t.num_epochs) == (5e-4, 8, 16, 5)
    assert t.fp16 and t.torch_compile and t.dataloader_num_workers == 2
    assert cfg.model.name == "exp-v1"
    assert (cfg.logging.wandb, cfg.logging.project, cfg.logging.run_name) == (True, "lm", "r1")


def test_dotted_and_bare_overrides_and_bool_values(guide_yaml):
    cfg = config.load(guide_yaml, ["training.lr=1e-3", "seq_length=64", "--fp16", "false", "--seed=7"])
    assert cfg.training.lr == 1e-3 and cfg.data.seq_length == 64
    assert cfg.training.fp16 is False and cfg.training.seed == 7


def test_choices_match_case_insensitively():
    assert config.load(overrides=["--model_type", "gptj", "model.hidden_size=192"]).model.type == "GPTJ"


def test_every_problem_in_one_error(guide_yaml):
    with pytest.raises(ConfigError) as info:
        config.load(
            guide_yaml,
            [
                "--lrr",
                "5",
                "model.n_head=7",
                "training.lr=-1",
                "model.type=Mamba",
                "data.seq_length=1024",
                "training.batch_size=x",
                "training.lr_scheduler=step",
            ],
        )
    where = {issue.where for issue in info.value.issues}
    assert where == {
        "--lrr",
        "model.hidden_size",
        "training.lr",
        "model.type",
        "data.seq_length",
        "training.batch_size",
        "training.lr_scheduler",
    }
    text = str(info.value)
    assert "7 problems" in text and "did you mean training.lr" in text
    assert "max_position_embeddings" in text  # the fix names the other field


def test_unknown_section_and_key_in_yaml(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  hiden_size: 3\noptimizer:\n  lr: 1\n")
    with pytest.raises(ConfigError) as info:
        config.load(path)
    text = str(info.value)
    assert "model.hiden_size: unknown config key" in text and "model.hidden_size" in text
    assert "optimizer: unknown section" in text


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)


def test_tokenizer_vocab_mismatch_is_reported():
    cfg = config.load(overrides=["model.vocab_size=16000"])
    issues = config.check_tokenizer_vocab(cfg, 1200)
    assert len(issues) == 1 and "1200" in str(issues[0]) and issues[0].where == "model.vocab_size"
    assert config.check_tokenizer_vocab(config.load(), 1200) == []  # 0 = take the tokenizer's


def test_machine_fallbacks_warn_and_never_fail(guide_yaml):
    cfg = config.load(guide_yaml, ["--torch-compile", "--bf16"])
    with pytest.warns(UserWarning):
        safe, notes = config.machine_fallbacks(cfg, cuda=False, bf16_ok=False, compile_ok=False)
    assert not (safe.training.fp16 or safe.training.bf16 or safe.training.torch_compile)
    assert len(notes) == 3 and cfg.training.fp16  # the original is untouched


def test_round_trip_through_dict_and_yaml(guide_yaml, tmp_path):
    cfg = config.load(guide_yaml, ["--lr", "1e-3"])
    assert config.from_dict(cfg.to_dict()) == cfg
    saved = tmp_path / "saved.yaml"
    saved.write_text(config.to_yaml(cfg))
    assert config.load(saved) == cfg


def test_every_field_documented_with_metadata():
    for path, f in config.field_specs().items():
        assert f.metadata.get("help"), f"{path} has no help"
        if f.metadata.get("min") is not None and f.default is not None and not isinstance(f.default, bool):
            assert f.default >= f.metadata["min"], path
        if f.metadata.get("choices"):
            assert f.default in f.metadata["choices"], path


def test_defaults_are_valid():
    assert config.validate(config.RunConfig()) == []
    assert {f.name for f in fields(config.RunConfig)} == {"data", "model", "training", "logging", "distillation", "eval"}


NON_FINITE = [
    "training.lr=inf",
    "training.weight_decay=nan",
    "training.max_grad_norm=nan",
    "distillation.alpha=nan",
    "model.initializer_range=nan",
    "model.dropout=nan",
    "distillation.temperature=-inf",
]


@pytest.mark.parametrize("override", NON_FINITE)
def test_non_finite_floats_are_refused(override):
    # Before: NaN failed every bounds comparison and inf passed any field without a maximum.
    with pytest.raises(ConfigError) as err:
        config.load(overrides=[override])
    assert override.split("=")[0] in str(err.value) and "finite" in str(err.value)


def test_guide_flag_nan_is_refused_and_float_fields_are_finite_by_default():
    with pytest.raises(ConfigError, match="training.lr: must be a finite number"):
        config.load(overrides=["--lr", "nan"])
    floats = [f for cls in config.SECTIONS.values() for f in fields(cls) if f.type in ("float", float)]
    assert floats and not any(f.metadata["allow_nonfinite"] for f in floats)


@pytest.mark.parametrize("text", ["", "# only a comment\n"])
def test_empty_yaml_is_refused(tmp_path, text):
    # Before: an empty file trained the built-in default shape silently.
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="empty.yaml: the config file is empty"):
        config.load(path)


def test_every_number_field_has_a_maximum():
    from typing import get_type_hints

    missing = [
        path
        for path, f in config.field_specs().items()
        if get_type_hints(config.SECTIONS[path.split(".")[0]])[path.split(".")[1]] in (int, float)
        and f.metadata.get("max") is None
    ]
    assert missing == []


@pytest.mark.parametrize(
    "override, field",
    [
        ("training.batch_size=99999999999999999999999", "training.batch_size"),
        (f"training.max_steps={10**30}", "training.max_steps"),
        ("model.vocab_size=999999999999", "model.vocab_size"),
        ("training.seed=4294967296", "training.seed"),
        ("model.hidden_size=1e12", "model.hidden_size"),
    ],
)
def test_absurd_sizes_are_refused_with_the_field(override, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.") + ": must be <="):
        config.load(overrides=[override])


def test_tokens_seen_past_int64_safe_range_are_refused():
    with pytest.raises(ConfigError, match=r"training\.max_steps: .* tokens is more than"):
        config.load(overrides=["training.max_steps=1000000000", "training.batch_size=65536", "data.seq_length=512"])


def test_checkpoint_words_with_a_million_digits_is_an_issue_not_a_decimal_overflow():
    with pytest.raises(ConfigError, match=r"training\.checkpoint_words: a count of 1,000,000 characters"):
        config.load(overrides=["training.checkpoint_words='" + "9" * 1_000_000 + "'"])  # quoted: text, not a number


def test_a_babylm_track_sets_the_checkpoint_schedule_when_none_is_given():
    from core.config import presets

    tiny = presets.find("tiny")
    assert config.load(tiny, ["training.babylm_track=strict-small"]).training.checkpoint_words == "babylm"
    assert config.load(tiny, ["training.babylm_track=strict"]).training.checkpoint_words == "babylm"
    kept = config.load(tiny, ["training.babylm_track=strict-small", "training.checkpoint_words=1k,2k"])
    assert kept.training.checkpoint_words == "1k,2k"
    assert config.load(tiny).training.checkpoint_words == ""  # no track: no marks unless asked
    assert (
        config.from_dict(config.load(tiny, ["training.babylm_track=strict"]).to_dict()).training.checkpoint_words == "babylm"
    )  # the run's stored config carries the resolved schedule
