"""What `babyllama eval` takes: `EvalOptions`, also the params of an `eval` job (to_dict /
from_dict), and its check that lists every bad option before anything is loaded.
Must not import gradio or torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

from core.errors import UserError
from core.evaluate import ALL_SUITES, SUITES


@dataclass
class EvalOptions:
    """Everything `babyllama eval` takes; also the params of an `eval` job (to_dict/from_dict)."""

    model: str
    suites: tuple[str, ...] = SUITES
    data: str = ""  # perplexity text: corpus name/folder/file; "" = the run's own dev split
    num_samples: int = 0  # at most this many pairs per paradigm, cloze items, perplexity windows (0 = all)
    device: str = ""  # cpu | cuda; "" = cuda when available
    output: str = ""  # results folder ("" = <run>/eval/<time>/); a .json path also gets results.json
    custom_prompts: str = ""  # extra generation prompts, one a line
    pairs_dir: str = ""  # BLiMP-format .jsonl files, one per paradigm
    cloze_file: str = ""  # extra cloze items (JSONL)
    batch_size: int = 32
    seq_length: int = 0  # perplexity window; 0 = the run's data.seq_length (else up to 1024)
    max_new_tokens: int = 48
    seed: int = 0
    babylm_data: str = ""  # the official evaluation_data/ (or its full_eval/, fast_eval/, one task folder)
    fast: bool = False  # babylm: fast_eval/ instead of full_eval/
    temperatures: str = ""  # babylm: "1.0", "1,1.5,2" or MIN:MAX[:STEP] ("" = 1.0, the pipeline's default)
    revision: str = ""  # babylm: the revision folder of the results layout ("" = main, or the chck_ name)
    tasks: str = ""  # glue: comma-separated fine-tuning tasks ("" = all seven)
    pooling: str = "first"  # glue: first (official: position 0) | last (the last real token; not official)
    epochs: int = 0  # glue: epochs per task (0 = the recipe's: 10, WSC 30)
    max_train_examples: int = 0  # glue: the first K training examples per task (0 = all)
    max_valid_examples: int = 0  # glue: the first K validation examples per task (0 = all)
    exact: bool = True  # babylm: the official pipeline's batches and float32 sums (False: fast, float64)
    suites_given: bool = False  # chosen by the user: a suite whose input is missing is then an error

    def __post_init__(self) -> None:
        if isinstance(self.suites, str):
            self.suites = tuple(s.strip() for s in self.suites.split(",") if s.strip())
        self.suites = tuple(self.suites)

    def to_dict(self) -> dict:
        return {**asdict(self), "suites": list(self.suites)}

    @classmethod
    def from_dict(cls, raw: dict) -> "EvalOptions":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def check(self) -> None:
        """Raise one UserError listing every bad option (before anything is loaded)."""
        problems = [
            f"--suite: unknown suite {s!r} (choose from {', '.join(ALL_SUITES)})" for s in self.suites if s not in ALL_SUITES
        ]
        if not self.suites:
            problems.append(f"--suite: no suite chosen (choose from {', '.join(ALL_SUITES)})")
        if self.device not in ("", "cpu", "cuda"):
            problems.append(f"--device: {self.device!r} is not cpu or cuda")
        for name in ("num_samples", "seq_length", "seed", "epochs", "max_train_examples", "max_valid_examples"):
            if getattr(self, name) < 0:
                problems.append(f"--{name.replace('_', '-')}: must be 0 or more, got {getattr(self, name)}")
        for name in ("batch_size", "max_new_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"--{name.replace('_', '-')}: must be at least 1, got {getattr(self, name)}")
        if self.temperatures:
            from core.evaluate.babylm.suite import parse_temperatures

            try:
                parse_temperatures(self.temperatures)
            except UserError as err:
                problems.append(str(err))
        problems += self._check_glue()
        if self.revision and ("/" in self.revision or self.revision.startswith(".")):
            problems.append(f"--revision {self.revision!r}: a revision is one folder name, e.g. chck_10M")
        for name in ("custom_prompts", "cloze_file"):
            value = getattr(self, name)
            if value and not Path(value).expanduser().is_file():
                problems.append(f"--{name.replace('_', '-')}: no file at {value}")
        if problems:
            raise UserError("\n".join([f"{len(problems)} problem(s) with the eval options:"] + [f"  - {p}" for p in problems]))

    def _check_glue(self) -> list[str]:
        from core.evaluate.babylm.finetune.head import POOLINGS
        from core.evaluate.babylm.finetune.tasks import parse_tasks

        problems = [] if self.pooling in POOLINGS else [f"--pooling: {self.pooling!r} is not first or last"]
        try:
            parse_tasks(self.tasks)
        except UserError as err:
            problems.append(str(err))
        return problems
