"""studio.render: run samples are shown clean (the stored text stays raw); the status badge says
`running (history writes delayed)` for a live worker whose row heartbeat is stale while its
heartbeat file is fresh (the database is locked)."""

from __future__ import annotations

import dataclasses
import time

from core.history import Kind, Run, Status
from core.liveness import BEAT_FILE
from studio import render
from studio.render import status_badge


def test_samples_show_no_replacement_characters_or_control_codes():
    samples = [
        {"step": 10, "prompt": "Once", "text": " upon\ufffd a\x07 time\x00"},
        {"step": 5, "prompt": "Old", "text": "\ufffd"},
    ]
    shown = render.samples_markdown(samples)
    assert "**Samples at step 10**" in shown and "**Once** upon a time" in shown
    assert "\ufffd" not in shown and "\x07" not in shown and "\x00" not in shown and "Old" not in shown
    assert samples[0]["text"] == " upon\ufffd a\x07 time\x00"  # the stored row is left as it was


def test_badge_says_history_writes_delayed_only_while_they_are(tmp_path):
    run = Run("r", Kind.TRAIN, Status.RUNNING, run_dir=str(tmp_path), heartbeat=time.time() - 40)
    assert ">running</span>" in status_badge(run)  # no file beat: nothing to say it lives
    (tmp_path / BEAT_FILE).touch()
    assert ">running (history writes delayed)</span>" in status_badge(run)
    assert ">running</span>" in status_badge(dataclasses.replace(run, heartbeat=time.time()))
    assert ">stopped</span>" in status_badge(dataclasses.replace(run, status=Status.STOPPED))
