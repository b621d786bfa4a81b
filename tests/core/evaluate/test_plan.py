"""core.evaluate.plan: the revision folder a BabyLM result is filed under."""

from __future__ import annotations

from pathlib import Path

from core.evaluate.plan import babylm_revision


def test_the_revision_is_the_given_one_else_a_chck_name_else_main():
    run = Path("/ws/models/r1")
    assert babylm_revision("chck_5M", run) == "chck_5M"
    assert babylm_revision("", run / "chck_10M") == "chck_10M"
    assert babylm_revision("", run) == "main"
    # A checkpoint-<step> found as the run's latest is its final model; one named by the user keeps its name.
    assert babylm_revision("", run / "checkpoint-36", "r1") == "main"
    assert babylm_revision("", run / "checkpoint-36", "r1/checkpoint-36") == "checkpoint-36"
