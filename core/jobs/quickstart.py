"""First run: a sample corpus, a tokenizer and a `tiny` run, chained as ordinary background jobs.

`start` launches one `quickstart` job (a worker process, so closing the browser or the terminal
does not stop the chain); that job runs `run_chain`, which starts the `prepare`, `tokenize` and
`train` jobs the Data, Tokenizer and Train tabs start, each once the previous one finished.
Must not import gradio or torch.
"""

from __future__ import annotations

from typing import Callable

from core import config as config_mod
from core import jobs
from core.config import presets
from core.errors import UserError
from core.history import History, Run
from core.workspace import Workspace

KIND = "quickstart"
# Sized for a live curve within a minute on a 2-core machine: 200k words make the corpus in about
# a second and a 2000-token BPE in about two; the tiny run then logs every 5 steps.
DEFAULTS = {
    "corpus": "sample",
    "words": 200_000,
    "complexity": "simple",
    "seed": 42,
    "vocab_size": 2000,
    "min_frequency": 2,
    "preset": "tiny",
    "max_steps": 200,
}
POLL_S = 0.2


def is_empty(ws: Workspace, history: History) -> bool:
    """No corpus, no tokenizer and no job of any kind: the studio's "Start here" case."""
    return not ws.corpora() and not ws.tokenizers() and not history.list_runs()


def plan(ws: Workspace, history: History, **overrides) -> dict:
    """The chain's parameters. A corpus and tokenizer an earlier finished job made with the same
    settings are reused (`reuse_corpus` / `reuse_tokenizer`: a second quickstart only adds a run);
    anything new gets a name free in this workspace (`sample`, `sample-2`...)."""
    params = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    corpus_task = {"source": "synthetic", "words": params["words"], "complexity": params["complexity"], "seed": params["seed"]}
    corpus = _made_before(history, "prepare", corpus_task, params["corpus"], ws.corpora())
    params["reuse_corpus"] = corpus is not None
    params["corpus"] = corpus or _free(params["corpus"], set(ws.corpora()) | _job_names(history))
    tokenizer = None
    if params["reuse_corpus"]:
        tok_task = {"data": params["corpus"], "vocab_size": params["vocab_size"], "min_frequency": params["min_frequency"]}
        tokenizer = _made_before(history, "tokenize", tok_task, f"{params['corpus']}-bpe{params['vocab_size']}", ws.tokenizers())
    params["reuse_tokenizer"] = tokenizer is not None
    params["tokenizer"] = tokenizer or _free(
        f"{params['corpus']}-bpe{params['vocab_size']}", set(ws.tokenizers()) | _job_names(history)
    )
    params["run"] = history.free_name(f"{params['preset']}-{params['corpus']}")
    return params


def describe_plan(params: dict) -> str:
    """What the chain makes and what it reuses, in one line (the CLI and the studio say it)."""
    corpus = f"corpus {params['corpus']}" + (" (reused)" if params.get("reuse_corpus") else " (new)")
    tokenizer = f"tokenizer {params['tokenizer']}" + (" (reused)" if params.get("reuse_tokenizer") else " (new)")
    return f"{corpus}, {tokenizer}, run {params['run']} (new)"


def _made_before(history: History, kind: str, task: dict, name: str, existing) -> str | None:
    """`name` if a finished `kind` job made it with these settings and it is still there, else None."""
    if name not in existing:
        return None
    for row in history.list_runs(kind=kind, status="finished"):
        config = row.config or {}
        if config.get("output") == name and all(config.get(k) == v for k, v in task.items()):
            return name
    return None


def start(ws: Workspace, history: History, *, command: str = "babyllama quickstart", **overrides) -> Run:
    """Start the `quickstart` job; returns its row (`params` names the corpus, tokenizer and run)."""
    params = plan(ws, history, **overrides)
    presets.find(params["preset"], ws)  # an unknown preset is said now, not in the job's log
    return jobs.start_task(KIND, params, ws, history, name=history.free_name(KIND), command=command)


def run_chain(
    params: dict, ws: Workspace, history: History, *, job: str | None = None, log: Callable[[str], None] = print
) -> str:
    """Run the three steps in order (each an ordinary job); returns the train run's name.

    A step that does not finish raises a UserError naming it and its log, and nothing after it starts.
    """
    ws_arg = ["--workspace", str(ws.root)]
    steps = [
        (
            "prepare",
            {
                "source": "synthetic",
                "output": params["corpus"],
                "words": params["words"],
                "complexity": params["complexity"],
                "seed": params["seed"],
            },
            [
                "data",
                "synth",
                "--name",
                params["corpus"],
                "--words",
                str(params["words"]),
                "--complexity",
                params["complexity"],
                "--seed",
                str(params["seed"]),
            ],
        ),
        (
            "tokenize",
            {
                "data": params["corpus"],
                "vocab_size": params["vocab_size"],
                "min_frequency": params["min_frequency"],
                "output": params["tokenizer"],
            },
            [
                "tokenizer",
                "train",
                "--data",
                params["corpus"],
                "--vocab-size",
                str(params["vocab_size"]),
                "--min-frequency",
                str(params["min_frequency"]),
                "--name",
                params["tokenizer"],
            ],
        ),
    ]
    for i, (kind, task, argv) in enumerate(steps):
        if params.get("reuse_corpus" if kind == "prepare" else "reuse_tokenizer"):
            log(
                f"step {i + 1}/3: reusing {'corpus' if kind == 'prepare' else 'tokenizer'} {task['output']} "
                "(an earlier job made it with the same settings)"
            )
            if job:
                history.update_progress(job, i + 1, 3)
            continue
        name = history.free_name(f"{kind}-{task['output']}")  # the names the Data/Tokenizer tabs give
        log(f"step {i + 1}/3: {kind} job {name}")
        jobs.start_task(kind, task, ws, history, name=name, command=jobs.format_command(["babyllama", *argv, *ws_arg]))
        _wait(history, name, kind)
        if job:
            history.update_progress(job, i + 1, 3)
    log(f"step 3/3: train run {params['run']} (preset {params['preset']})")
    cfg = train_config(params, ws)
    jobs.start("train", cfg, ws, history, name=params["run"], command=train_command(params, ws))
    if job:
        history.update_progress(job, 3, 3)
    return params["run"]


def train_config(params: dict, ws: Workspace):
    """The `tiny` preset on the new corpus and tokenizer, named after the planned run."""
    return config_mod.load(presets.find(params["preset"], ws), _train_overrides(params))


def train_command(params: dict, ws: Workspace) -> str:
    """The `babyllama train` command that starts the same run."""
    return jobs.format_command(
        ["babyllama", "train", "--config", params["preset"], *_train_overrides(params), "--workspace", str(ws.root)]
    )


def _train_overrides(params: dict) -> list[str]:
    return [
        f"data.train_path={params['corpus']}",
        f"data.tokenizer_path={params['tokenizer']}",
        f"training.max_steps={int(params['max_steps'])}",
        f"model.name={params['run']}",
    ]


def _wait(history: History, name: str, kind: str) -> None:
    """Block until job `name` ends; a status other than `finished` stops the chain."""
    row = jobs.wait_final(history, name, POLL_S)
    if row.status != "finished":
        raise UserError(
            f"quickstart: the {kind} job {name!r} ended {row.status}: {row.error or ''}; see `babyllama runs logs {name}`"
        )


def _job_names(history: History) -> set[str]:
    return {r.name for r in history.list_runs()}


def _free(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"
