"""What an evaluation reads: the model's run (if any), its config, the text for perplexity, and
the content hashes that identify model, tokenizer and data in results.json.

Every bad reference becomes a UserError here, before anything is scored or written.
Must not import gradio or torch.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from core.errors import UserError
from core.hashing import sha256_file
from core.workspace import Workspace

CHECKPOINT_PREFIX = "checkpoint-"
CHALLENGE_PREFIX = "chck_"  # BabyLM word-count checkpoints (chck_1M ...), named by words, not steps


@dataclass
class ModelInfo:
    """Where the loaded model came from: its folder, its run (when it is one) and that run's config."""

    folder: Path
    run_dir: Path | None = None
    run: str | None = None
    step: int | None = None
    config: object | None = None  # the run's RunConfig, when its config.yaml loads
    notes: tuple[str, ...] = ()


def model_info(folder: Path, ws: Workspace, history=None) -> ModelInfo:
    """The run a model folder belongs to: the folder itself or, for `checkpoint-<step>/`, its parent."""
    from core import config as config_mod

    folder = Path(folder).resolve()
    by_step = folder.name.startswith(CHECKPOINT_PREFIX) and folder.name[len(CHECKPOINT_PREFIX) :].isdigit()
    is_checkpoint = by_step or folder.name.startswith(CHALLENGE_PREFIX)
    run_dir = folder.parent if is_checkpoint else folder
    run = None
    if history is not None:
        run = next((r for r in history.list_runs() if r.run_dir and Path(r.run_dir).resolve() == run_dir), None)
    cfg, notes = None, []
    for candidate in (folder / "config.yaml", run_dir / "config.yaml"):
        if candidate.is_file():
            try:
                cfg = config_mod.load(candidate)
            except UserError as err:
                notes.append(f"{candidate} does not load ({str(err).splitlines()[0]}); its data is not used")
            break
    if by_step:
        step = int(folder.name[len(CHECKPOINT_PREFIX) :])
    else:
        step = _manifest_step(folder) if is_checkpoint else (run.step if run else None)
    return ModelInfo(folder, run_dir if (run or cfg) else None, run.name if run else None, step, cfg, tuple(notes))


def _manifest_step(folder: Path) -> int | None:
    """The step a checkpoint's manifest (checkpoint.json) records, when it has one."""
    import json

    try:
        return int(json.loads((folder / "checkpoint.json").read_text(encoding="utf-8"))["step"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@dataclass
class EvalText:
    """The text perplexity is measured on, and the hash that identifies it."""

    files: list[Path]
    label: str
    sha256: str
    kind: str  # "corpus dev split", "corpus split", "folder", "file"


def _files_hash(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def _txt_files(folder: Path, what: str) -> list[Path]:
    files = sorted(p for p in folder.glob("*.txt") if p.is_file())
    if not files:
        raise UserError(
            f"--data: {what} {folder} holds no .txt files; give a corpus with a dev split "
            "(`babyllama data synth|prepare`) or a folder of text files"
        )
    return files


def resolve_eval_text(ref: str | Path, ws: Workspace) -> EvalText:
    """A workspace corpus name or corpus folder (its dev split), a split folder, a folder of .txt
    files, or one text file."""
    from core.data.corpus import read_manifest

    raw = Path(str(ref)).expanduser()
    candidates = [raw] if raw.is_absolute() else [ws.data_dir / str(ref), ws.root / str(ref), raw]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        raise UserError(
            f"--data: no corpus, folder or file named {str(ref)!r} (corpora: {', '.join(ws.corpora()) or 'none yet'})"
        )
    if (found / "manifest.json").is_file():
        if not (found / "dev").is_dir():
            raise UserError(
                f"--data: corpus {found.name} has no dev split; prepare it with a dev part, or give --data a folder of text files"
            )
        return EvalText(
            _txt_files(found / "dev", "the dev split"), f"{found.name}/dev", read_manifest(found)["sha256"], "corpus dev split"
        )
    if found.is_dir() and (found.parent / "manifest.json").is_file():
        return EvalText(
            _txt_files(found, "the split"),
            f"{found.parent.name}/{found.name}",
            read_manifest(found.parent)["sha256"],
            "corpus split",
        )
    if found.is_dir():
        files = _txt_files(found, "the folder")
        return EvalText(files, str(found), _files_hash(files), "folder")
    return EvalText([found], str(found), sha256_file(found), "file")


def default_eval_text(info: ModelInfo, ws: Workspace) -> tuple[EvalText | None, str]:
    """The run's own evaluation text (data.eval_path, else its training corpus's dev split), or
    None and the reason."""
    if info.config is None:
        return None, "the model has no run config naming its corpus; give --data CORPUS"
    from core.config.resolve import resolve_data

    try:
        paths = resolve_data(info.config, ws, require=False)
    except UserError as err:
        return None, f"the run's data cannot be found ({str(err).splitlines()[-1].strip()}); give --data CORPUS"
    if paths.eval is None:
        return None, "the run's corpus has no dev split; give --data CORPUS"
    return resolve_eval_text(paths.eval, ws), ""


def model_hashes(folder: Path) -> dict:
    """sha256 of the weights (several shards: of their hashes) and of tokenizer.json."""
    shards = sorted(folder.glob("model*.safetensors"))
    if len(shards) == 1:
        weights = sha256_file(shards[0])
    else:
        weights = hashlib.sha256("".join(sha256_file(p) for p in shards).encode()).hexdigest() if shards else None
    tokenizer = folder / "tokenizer.json"
    return {"model_sha256": weights, "tokenizer_sha256": sha256_file(tokenizer) if tokenizer.is_file() else None}


def output_dir(info: ModelInfo, ws: Workspace, stamp: str, output: str = "") -> Path:
    """Where the results folder goes: --output (a folder), else `<run>/eval/<stamp>/`, else for a
    foreign model folder `<workspace>/evals/<folder name>/<stamp>/` (its own folder may be read-only)."""
    if output and not output.endswith(".json"):
        target = Path(output).expanduser().resolve()
        if target.exists() and any(target.iterdir()):
            raise UserError(f"--output: {target} exists and is not empty; give a new folder")
        return target
    parent = (info.run_dir / "eval") if info.run_dir else ws.root / "evals" / info.folder.name
    target, n = parent / stamp, 1
    while target.exists():
        n += 1
        target = parent / f"{stamp}-{n}"
    return target
