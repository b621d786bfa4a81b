"""core.jobs.job_kinds: the worker has a job function for every kind a run row may have."""

from __future__ import annotations

from core.history import Kind, Status
from core.jobs import job_kinds


def test_every_kind_has_a_job_function_and_only_those():
    assert set(job_kinds.KINDS) == set(Kind)
    assert job_kinds.KINDS["train"] is job_kinds.KINDS[Kind.DISTILL]  # looked up by job.json's string


def test_status_and_kind_equal_their_stored_strings():
    assert Status.FINISHED == "finished" and f"{Status.LOST}" == "lost" and Kind("eval") is Kind.EVAL
