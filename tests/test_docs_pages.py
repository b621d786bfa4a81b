"""Hand-written docs pages that could go stale are checked against the code: the README's links
and commands, the BabyLM folders docs/evaluation.md lists, the endpoints docs/serving.md lists.
(docs/cli.md and docs/config.md are generated: tests/core/cli/test_docs.py; docs/api.md is run by
tests/studio/test_api.py; docs/architecture.md is checked by tests/test_layout.py.)"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_fits_two_screens_and_links_pages_that_exist():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 80
    links = re.findall(r"\]\(((?:docs/)[^)#]+)\)", text)
    assert links and all((ROOT / link).is_file() for link in links), [link for link in links if not (ROOT / link).is_file()]


def test_readme_commands_are_real_verbs():
    from core.cli import build_parser

    verbs = set(next(a for a in build_parser()._actions if a.dest == "verb").choices)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"^babyllama ([a-z-]+)", text, flags=re.M)) | set(re.findall(r"`babyllama ([a-z-]+)", text))
    assert used and used <= verbs, used - verbs


def test_evaluation_page_lists_every_babylm_folder():
    from core.evaluate.babylm.tasks import TASK_OF_FOLDER

    text = (ROOT / "docs" / "evaluation.md").read_text(encoding="utf-8")
    assert not [f for f in TASK_OF_FOLDER if f"`{f}`" not in text]


def test_serving_page_lists_every_endpoint():
    from core.serve.app import create_app
    from core.serve.server import ServeOptions

    class NoModel:  # create_app only wires routes; no request is made
        pass

    routes = {r.path for r in create_app(NoModel(), ServeOptions()).routes if hasattr(r, "methods")}
    text = (ROOT / "docs" / "serving.md").read_text(encoding="utf-8")
    assert routes and not [r for r in routes if r not in text]


def test_performance_page_names_commands_that_exist():
    """docs/performance.md quotes `babyllama bench <verb>` (shipped) and `python -m benchmarks.<name>`
    (checkout only) commands: each must still exist."""
    from core.cli import build_parser

    bench = next(a for a in build_parser()._actions if a.dest == "verb").choices["bench"]
    verbs = set(next(a for a in bench._actions if a.dest == "bench_verb").choices)
    text = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    used = set(re.findall(r"`babyllama bench ([a-z-]+)", text))
    assert used and used <= verbs, used - verbs
    modules = set(re.findall(r"`python -m benchmarks\.([a-z_]+)", text))
    assert modules and all((ROOT / "benchmarks" / f"{m}.py").is_file() for m in modules), modules


def test_guide_history_queries_run_with_sqlite_utils(workspace):
    """docs/guide.md's `sqlite-utils ... studio.db` commands run as written on a real history."""
    import shlex
    import subprocess
    import sys

    from core.history import History

    with History(workspace.db_path) as h:
        h.create_run("tiny-sample", "train", {"model": {"name": "tiny-sample"}}, workspace.run_dir("tiny-sample"))
        h.log_metrics("tiny-sample", 5, {"loss": 6.25})
    text = (ROOT / "docs" / "guide.md").read_text(encoding="utf-8")
    commands = re.findall(r"^sqlite-utils .*$", text, flags=re.M)
    assert len(commands) >= 3
    tool = Path(sys.executable).parent / "sqlite-utils"
    outputs = []
    for line in commands:
        argv = [str(tool), *(str(workspace.db_path) if a == "workspace/studio.db" else a for a in shlex.split(line)[1:])]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (line, done.stderr)
        outputs.append(done.stdout)
    assert "runs" in outputs[0] and "tiny-sample" in outputs[1] and "5,6.25" in outputs[2]


def test_cluster_page_documents_every_backends_yaml_key_and_flag():
    import dataclasses

    from core.backends.config import Cluster

    text = (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")
    keys = [f.name for f in dataclasses.fields(Cluster) if f.name != "name"]
    assert not [k for k in keys if f"`{k}`" not in text]
    assert all(
        flag in text for flag in ("--backend slurm", "--nodes", "--gpus-per-node", "--time", "--max-parallel", "--allowed-hosts")
    )
