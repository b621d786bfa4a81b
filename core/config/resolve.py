"""Resolve a config's data and tokenizer references into paths inside or outside the workspace.

`data.train_path` / `eval_path` / `tokenizer_path`, `eval.pairs_dir` and `eval.babylm_fast_dir`
take a workspace name (`syn`, `tok`) or a path, as in the guide. Checking that they exist is
separate from `config.validate`, so presets stay valid without data; missing references, a train or
eval path the worker could not train on (a plain file, a folder without text files, non-UTF-8
text) and a `model.vocab_size` that contradicts the tokenizer join `load(checks=...)`'s error list.
A folder of text files (the guide's `./data/babylm_10M_clean`) is accepted with a note in
`DataPaths.notes`. `pin_paths` makes references found relative to the current folder absolute
before `jobs.start` saves the config (the worker runs in the run folder); workspace names stay
names. Must not import torch or gradio.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from core.config import RunConfig, check_tokenizer_vocab
from core.errors import ConfigError, Issue, UserError
from core.workspace import Workspace

MANIFEST = "manifest.json"  # the marker of a prepared corpus (core.data.corpus.MANIFEST)


@dataclass(frozen=True)
class DataPaths:
    """Resolved locations: the train and eval text folders (or files) and the tokenizer."""

    train: Path | None
    eval: Path | None
    tokenizer: Path | None
    corpus: Path | None  # the prepared corpus folder when train_path named one
    pairs: Path | None = None  # minimal pairs scored during training (eval.pairs_every > 0)
    notes: tuple[str, ...] = ()  # what happens at start (a folder of text is prepared), for `config check`


def _candidates(value: str, ws: Workspace, subdir: Path) -> list[Path]:
    raw = Path(value).expanduser()
    if raw.is_absolute():
        return [raw]
    # A bare name is looked up in the workspace first; a relative path is tried from the
    # current folder, then inside the workspace (so the guide's ./data/x works in both).
    inside = [subdir / value, ws.root / value]
    return inside + [raw] if "/" not in value else [raw] + inside


def _find(value: str, ws: Workspace, subdir: Path) -> Path | None:
    return next((p for p in _candidates(value, ws, subdir) if p.exists()), None)


def resolve_data(cfg: RunConfig, ws: Workspace, *, require: bool = True) -> DataPaths:
    """Find train/eval text and the tokenizer; raise one ConfigError for every reference that is set
    but not found (and, with `require`, for the ones a training run needs that are not set)."""
    paths, issues = _resolve(cfg, ws, require)
    if issues:
        raise ConfigError(issues)
    return paths


def data_checker(ws: Workspace, *, require: bool):
    """A check for `config.load(checks=...)`, so reference problems join the one error list."""
    return lambda cfg: _resolve(cfg, ws, require)[1]


def _resolve(cfg: RunConfig, ws: Workspace, require: bool) -> tuple[DataPaths, list[Issue]]:
    issues: list[Issue] = []
    notes: list[str] = []
    d = cfg.data
    train = corpus = None
    if d.train_path:
        found = _find(d.train_path, ws, ws.data_dir)
        if found is None:
            issues.append(
                Issue(
                    "data.train_path",
                    f"no corpus or folder named {d.train_path!r}",
                    "make one with `babyllama data synth --name NAME` or give a folder of .txt files",
                )
            )
        else:
            train, corpus = _train_split(found, d.train_path, issues, notes)
    elif require:
        issues.append(Issue("data.train_path", "not set", "set data.train_path=NAME (a workspace corpus) or a folder"))
    evaluation = None
    if d.eval_path:
        found = _find(d.eval_path, ws, ws.data_dir)
        if found is None:
            issues.append(
                Issue(
                    "data.eval_path",
                    f"no corpus or folder named {d.eval_path!r}",
                    "leave it empty to use the training corpus's dev/ split",
                )
            )
        else:
            evaluation = found / "dev" if (found / "dev").is_dir() else found
            if (found / MANIFEST).is_file() and evaluation == found:
                issues.append(
                    Issue(
                        "data.eval_path",
                        f"corpus {d.eval_path!r} has no dev/ split",
                        "prepare it with a dev part, or leave data.eval_path empty",
                    )
                )
                evaluation = None
            elif not _is_prepared_split(evaluation):
                evaluation = _text_folder(evaluation, "data.eval_path", issues, notes)
    elif corpus is not None and (corpus / "dev").is_dir():
        evaluation = corpus / "dev"
    tokenizer = _resolve_tokenizer(cfg, ws, issues, require)
    pairs = _resolve_pairs(cfg, ws, issues)
    _resolve_babylm(cfg, ws, issues)
    return DataPaths(train=train, eval=evaluation, tokenizer=tokenizer, corpus=corpus, pairs=pairs, notes=tuple(notes)), issues


def _is_prepared_split(folder: Path) -> bool:
    return folder.is_dir() and folder.name in ("train", "dev") and (folder.parent / MANIFEST).is_file()


def _train_split(found: Path, value: str, issues: list[Issue], notes: list[str]) -> tuple[Path | None, Path | None]:
    """(train split, corpus) of a prepared corpus or one of its split folders, or (the folder, None)
    for a folder of text files (the guide's layout: the worker prepares it at start). What the
    worker could not train on (a file, an empty folder, non-UTF-8 text) is an issue here, so
    `config check` says it and `train` writes nothing."""
    if (found / "train").is_dir() and (found / MANIFEST).is_file():
        corpus, train = found, found / "train"
    elif _is_prepared_split(found):
        corpus, train = found.parent, found
    else:
        return _text_folder(found, "data.train_path", issues, notes), None
    if not _visible_files(train):
        issues.append(
            Issue(
                "data.train_path",
                f"the {train.name}/ split of corpus {value!r} is empty",
                "prepare the corpus again from a source with text in it",
            )
        )
    return train, corpus


def _text_folder(found: Path, field: str, issues: list[Issue], notes: list[str]) -> Path | None:
    """`found` when it is a folder of UTF-8 text files (noting that it will be prepared), else None
    and the issue."""
    from core.data.textfolder import scan

    prepare = f"prepare it with `babyllama data prepare --source {found} --name NAME`, then {field}=NAME"
    if found.is_file():
        issues.append(Issue(field, f"{found} is a file, not a corpus or a folder of text files", prepare))
        return None
    try:
        text_folder = scan(found, field)
    except UserError as err:
        issues.append(Issue(field, str(err).removeprefix(f"{field}: ")))
        return None
    if (bad := _first_non_utf8(list(text_folder.files[:20]))) is not None:
        issues.append(
            Issue(field, f"{bad} is not UTF-8 text", prepare + " (prepare replaces undecodable bytes and says how many)")
        )
        return None
    notes.append(
        f"{field}: {text_folder.describe()}: will be prepared into the token cache at start "
        "(once: later runs with the same text reuse it)"
    )
    return found


def _visible_files(folder: Path, limit: int = 20) -> list[Path]:
    """Up to `limit` files under `folder`, hidden ones (unfinished writes) left out."""
    found = []
    for path in folder.rglob("*"):  # lazily: a path by mistake may name a huge tree
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
            found.append(path)
            if len(found) >= limit:
                break
    return found


def _first_non_utf8(files: list[Path], head: int = 1 << 20) -> Path | None:
    """The first of `files` whose first MB does not decode as UTF-8 (a cut last character is fine)."""
    for path in files:
        with path.open("rb") as fh:
            data = fh.read(head)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            if err.start < len(data) - 4 or len(data) < head:
                return path
    return None


def resolve_pairs(cfg: RunConfig, ws: Workspace) -> Path | None:
    """The minimal-pairs folder alone (no data or tokenizer lookups); one ConfigError if missing."""
    issues: list[Issue] = []
    found = _resolve_pairs(cfg, ws, issues)
    if issues:
        raise ConfigError(issues)
    return found


def _resolve_pairs(cfg: RunConfig, ws: Workspace, issues: list[Issue]) -> Path | None:
    """The minimal-pairs folder of `eval.pairs_dir` (default `<workspace>/blimp/`), when pairs are due."""
    if not cfg.eval.pairs_every:
        return None
    value = cfg.eval.pairs_dir
    found = _find(value, ws, ws.root) if value else (ws.root / "blimp" if (ws.root / "blimp").is_dir() else None)
    if found is None:
        where = f"no folder {value!r}" if value else f"not set, and {ws.root / 'blimp'} does not exist"
        issues.append(
            Issue(
                "eval.pairs_dir",
                where,
                "give a folder of BLiMP-format .jsonl files (one per paradigm), put them in "
                "<workspace>/blimp/, or set eval.pairs_every=0",
            )
        )
    return found


def resolve_babylm(cfg: RunConfig, ws: Workspace) -> Path | None:
    """The BabyLM fast-suite folder of `eval.babylm_fast_dir` (None when off); one ConfigError if missing."""
    issues: list[Issue] = []
    found = _resolve_babylm(cfg, ws, issues)
    if issues:
        raise ConfigError(issues)
    return found


def _resolve_babylm(cfg: RunConfig, ws: Workspace, issues: list[Issue]) -> Path | None:
    value = cfg.eval.babylm_fast_dir
    if not value:
        return None
    found = _find(value, ws, ws.root)
    if found is None or not found.is_dir():
        issues.append(
            Issue(
                "eval.babylm_fast_dir",
                f"no folder {value!r}",
                "give the official BabyLM evaluation_data/ (or its fast_eval/) folder, or leave it empty",
            )
        )
    return found


def pin_paths(cfg: RunConfig, ws: Workspace) -> RunConfig:
    """`cfg` with every reference that was found relative to the current folder made absolute.

    A job runs in its own folder, so `./my_pairs` must mean what it meant where the command was
    typed; workspace names stay names (the run folder stays portable with its workspace).
    """

    def pinned(value: str, subdir: Path) -> str:
        if not value or Path(value).expanduser().is_absolute():
            return value
        found = _find(value, ws, subdir)
        return str(found.resolve()) if found is not None and found == Path(value).expanduser() else value

    def pinned_teacher(ref: str) -> str:
        # core.generate.resolve_model's order: a run, a workspace folder, then the current folder.
        raw = Path(ref).expanduser()
        inside = (ws.models_dir / ref).is_dir() or (ws.root / ref).is_dir()
        return str(raw.resolve()) if not raw.is_absolute() and not inside and raw.is_dir() else ref

    d, e, t = cfg.data, cfg.eval, cfg.distillation
    data = replace(
        d,
        train_path=pinned(d.train_path, ws.data_dir),
        eval_path=pinned(d.eval_path, ws.data_dir),
        tokenizer_path=pinned(d.tokenizer_path, ws.tokenizers_dir),
    )
    teachers = ",".join(pinned_teacher(ref) for ref in t.teachers) if t.teachers else t.teacher_models
    return replace(
        cfg,
        data=data,
        eval=replace(e, pairs_dir=pinned(e.pairs_dir, ws.root), babylm_fast_dir=pinned(e.babylm_fast_dir, ws.root)),
        distillation=replace(t, teacher_models=teachers),
    )


def _resolve_tokenizer(cfg: RunConfig, ws: Workspace, issues: list[Issue], require: bool) -> Path | None:
    value = cfg.data.tokenizer_path
    if not value:
        if require:
            issues.append(
                Issue(
                    "data.tokenizer_path",
                    "not set",
                    "train one with `babyllama tokenizer train --data CORPUS --name TOK`, then data.tokenizer_path=TOK",
                )
            )
        return None
    found = _find(value, ws, ws.tokenizers_dir)
    if found is None or not (found.is_file() or (found / "tokenizer.json").is_file()):
        issues.append(
            Issue(
                "data.tokenizer_path",
                f"no tokenizer at {value!r}",
                "train one with `babyllama tokenizer train --data CORPUS --name TOK`, or fix the path",
            )
        )
        return None
    from core.tokenizer import vocab_size_of

    issues += check_tokenizer_vocab(cfg, vocab_size_of(str(found), ws))
    return found


def run_parent(cfg: RunConfig, ws: Workspace) -> Path:
    """The folder run folders go into: logging.output_dir, relative paths inside the workspace."""
    out = Path(cfg.logging.output_dir or "models").expanduser()
    if out.is_absolute():
        return out
    return (ws.root / out).resolve()
