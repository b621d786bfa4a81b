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


def test_cluster_page_documents_every_backends_yaml_key_and_flag():
    import dataclasses

    from core.backends.config import Cluster

    text = (ROOT / "docs" / "cluster.md").read_text(encoding="utf-8")
    keys = [f.name for f in dataclasses.fields(Cluster) if f.name != "name"]
    assert not [k for k in keys if f"`{k}`" not in text]
    assert all(flag in text for flag in ("--backend slurm", "--nodes", "--gpus-per-node", "--time", "--max-parallel",
                                         "--allowed-hosts"))
