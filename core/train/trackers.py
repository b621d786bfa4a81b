"""Optional experiment trackers: Weights & Biases and TensorBoard, as `MetricLogger`s.

Both packages are extras (`pip install -e '.[wandb]'` / `'.[tensorboard]'`), imported only here
and only when asked for, so a plain install never pays for them. `tracker_issues` /
`check_trackers` report a requested but missing package before any training starts.

Names follow the Hugging Face Trainer's, which the guide's users know from W&B: `loss` ->
`train/loss`, `eval_loss` -> `eval/loss`, x-axis `train/global_step`. Must not import gradio;
torch, wandb and tensorboard are imported lazily.
"""

from __future__ import annotations

import importlib
import netrc
import os
import secrets
import sys
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from core.config.diff import flatten as flat_config
from core.errors import ConfigError, Issue, UserError

WANDB_ID_FILE = "wandb_id.txt"  # in the run folder: a resumed run continues the same W&B run
TENSORBOARD_DIR = "tensorboard"
STEP_KEY = "train/global_step"

# Flag, import names, the extra that installs them.
_PACKAGES = {
    "wandb": ("logging.wandb (--wandb)", ("wandb",), "wandb"),
    "tensorboard": ("logging.tensorboard (--tensorboard)", ("tensorboard", "torch.utils.tensorboard"), "tensorboard"),
}


def requested(cfg) -> dict[str, bool]:
    """Which trackers the config asks for (`logging.tensorboard` may not exist in older configs)."""
    return {"wandb": bool(getattr(cfg.logging, "wandb", False)), "tensorboard": bool(getattr(cfg.logging, "tensorboard", False))}


def tracker_issues(cfg) -> list[Issue]:
    """A check for `config.load(checks=...)`: one Issue per requested tracker that cannot be imported."""
    return missing_packages(requested(cfg))


def missing_packages(wanted: Mapping[str, bool]) -> list[Issue]:
    """One Issue per wanted tracker whose package does not import.

    It imports for real (not just finds the package) so a broken install, e.g. a protobuf
    clash, is caught here instead of after minutes of data preparation.
    """
    issues = []
    for tracker in (t for t, on in wanted.items() if on):
        field, modules, extra = _PACKAGES[tracker]
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as err:  # ImportError, or a broken dependency raising anything
                issues.append(
                    Issue(
                        field,
                        f"the `{module}` package cannot be imported ({err})",
                        f"pip install -e '.[{extra}]' (or pip install {extra}), or turn {field.split()[0]} off",
                    )
                )
                break
    return issues


def check_trackers(cfg) -> None:
    """Raise one ConfigError (a UserError) if a requested tracker's package is missing."""
    issues = tracker_issues(cfg)
    if issues:
        raise ConfigError(issues)


def make_trackers(
    cfg,
    run_dir: Path,
    *,
    run_name: str | None = None,
    resume_step: int | None = None,
    wandb: bool | None = None,
    tensorboard: bool | None = None,
) -> list:
    """The tracker loggers a run asked for (flags default to `cfg.logging`), ready to receive logs.

    `resume_step` is the checkpoint's step when the run continues from one: W&B then continues the
    run id stored in the run folder, TensorBoard hides the points logged after that step.
    """
    wanted = requested(cfg)
    wanted = {
        "wandb": wanted["wandb"] if wandb is None else wandb,
        "tensorboard": wanted["tensorboard"] if tensorboard is None else tensorboard,
    }
    issues = missing_packages(wanted)
    if issues:
        raise ConfigError(issues)
    loggers: list = []
    if wanted["tensorboard"]:
        loggers.append(TensorBoardLogger(Path(run_dir) / TENSORBOARD_DIR, resume_step=resume_step))
    if wanted["wandb"]:
        name = cfg.logging.run_name or run_name or cfg.model.name or Path(run_dir).name
        loggers.append(WandbLogger(Path(run_dir), project=cfg.logging.project, name=name, resume=resume_step is not None))
    return loggers


def metric_name(key: str) -> str:
    """`loss` -> `train/loss`, `eval_loss` -> `eval/loss`; names with a `/` are already grouped."""
    if "/" in key:
        return key
    if key.startswith("eval_"):
        return "eval/" + key[len("eval_") :]
    return "train/" + key


def flatten(config: Mapping) -> dict[str, object]:
    """`{"training": {"lr": 1e-3}}` -> `{"training.lr": 1e-3}`: hparams take flat scalar values."""
    # None and lists are refused by hparams; their text still shows the value.
    return {k: v if isinstance(v, (bool, int, float, str)) else str(v) for k, v in flat_config(config).items()}


# --- Weights & Biases ---------------------------------------------------------------------------


def wandb_mode(env: Mapping[str, str] | None = None) -> str:
    """`online` only when W&B credentials exist locally; otherwise `offline` (sync later).

    No network probe: a run must never wait on, or fail for, a W&B server it was not set up
    for. An explicit WANDB_MODE always wins.
    """
    env = os.environ if env is None else env
    if env.get("WANDB_MODE"):
        return env["WANDB_MODE"]
    if env.get("WANDB_API_KEY") or env.get("WANDB_IDENTITY_TOKEN_FILE"):
        return "online"
    return "online" if _netrc_has_wandb(env) else "offline"


def _netrc_has_wandb(env: Mapping[str, str]) -> bool:
    """Whether `wandb login` left credentials in the netrc file (for WANDB_BASE_URL's host if set)."""
    home = Path(env.get("HOME") or Path.home())
    candidates = [Path(env["NETRC"])] if env.get("NETRC") else [home / ".netrc", home / "_netrc"]
    host = urlsplit(env["WANDB_BASE_URL"]).hostname if env.get("WANDB_BASE_URL") else None
    for path in candidates:
        try:
            hosts = netrc.netrc(str(path)).hosts
        except (OSError, netrc.NetrcParseError):
            continue
        if any(machine == host if host else "wandb" in machine for machine in hosts):
            return True
    return False


def wandb_run_id(run_dir: Path, *, resume: bool) -> str:
    """The W&B run id: the one stored in the run folder when resuming, else a new one (stored).

    Written before `wandb.init`, so even a run that dies during start-up resumes the same id.
    """
    path = run_dir / WANDB_ID_FILE
    if resume and path.is_file() and path.read_text(encoding="utf-8").strip():
        return path.read_text(encoding="utf-8").strip()
    run_id = secrets.token_hex(4)
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(run_id + "\n", encoding="utf-8")
    return run_id


class WandbLogger:
    """Logs to a W&B run whose files live in `<run_dir>/wandb/` (offline runs: `wandb sync` them)."""

    def __init__(self, run_dir: Path, *, project: str, name: str, resume: bool = False, mode: str | None = None):
        import wandb

        self.mode = mode or wandb_mode()
        self.run_id = wandb_run_id(run_dir, resume=resume)
        try:
            self.run = wandb.init(project=project, name=name, id=self.run_id, resume="allow", dir=str(run_dir), mode=self.mode)
        except Exception as err:  # bad key, unreachable server: the user can fix both
            raise UserError(
                f"logging.wandb: W&B could not start a run ({type(err).__name__}: {err}); "
                "fix: check WANDB_API_KEY / `wandb login`, or set WANDB_MODE=offline "
                "and `wandb sync` later"
            ) from err
        # Our step is a metric, not W&B's own `_step`: a resumed run re-logs steps after its
        # checkpoint, which W&B's monotonic `_step` would drop.
        self.run.define_metric(STEP_KEY)
        self.run.define_metric("*", step_metric=STEP_KEY, step_sync=True)

    def log_dict(self, payload, step, *, tokens=None, words=None) -> None:
        row = {metric_name(k): float(v) for k, v in payload.items()}
        row[STEP_KEY] = step
        if tokens is not None:
            row["train/tokens"] = tokens
        if words is not None:
            row["train/words"] = words
        self.run.log(row)

    def log_config(self, config: dict) -> None:
        self.run.config.update(config, allow_val_change=True)

    def log_samples(self, samples, step) -> None:
        import wandb

        table = wandb.Table(columns=["step", "prompt", "continuation"], data=[[step, prompt, text] for prompt, text in samples])
        self.run.log({"samples": table, STEP_KEY: step})

    def flush(self) -> None:
        """Nothing to do: the W&B service process writes its own log as rows arrive."""

    def close(self) -> None:
        # Called from the worker's `finally`: an exception in flight means the run failed.
        self.run.finish(exit_code=1 if sys.exc_info()[0] is not None else 0)


# --- TensorBoard --------------------------------------------------------------------------------


class TensorBoardLogger:
    """Scalars per metric, samples and config as text, config as hparams, in one log folder."""

    def __init__(self, log_dir: Path, *, resume_step: int | None = None):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step hides points after the checkpoint from earlier files: the resumed run
        # logs those steps again, and TensorBoard would otherwise draw both.
        self.writer = SummaryWriter(str(log_dir), purge_step=None if resume_step is None else resume_step + 1)

    def log_dict(self, payload, step, *, tokens=None, words=None) -> None:
        for key, value in payload.items():
            self.writer.add_scalar(metric_name(key), float(value), step)
        if tokens is not None:
            self.writer.add_scalar("train/tokens", tokens, step)
        if words is not None:
            self.writer.add_scalar("train/words", words, step)

    def log_config(self, config: dict) -> None:
        import yaml
        from torch.utils.tensorboard.summary import hparams

        text = yaml.safe_dump(config, sort_keys=False)
        self.writer.add_text("config", "\n".join("    " + line for line in text.splitlines()), 0)
        # Into this run's own event file: add_hparams() would open a second run folder.
        for summary in hparams(flatten(config), {}):
            self.writer._get_file_writer().add_summary(summary)

    def log_samples(self, samples, step) -> None:
        rows = ["| prompt | continuation |", "|---|---|"]
        rows += [f"| {_cell(prompt)} | {_cell(text)} |" for prompt, text in samples]
        self.writer.add_text("samples", "\n".join(rows), step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _cell(text: str) -> str:
    """Text safe inside one markdown table cell."""
    return text.replace("|", "\\|").replace("\n", "<br>")
