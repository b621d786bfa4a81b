"""launch.py: loopback by default; a non-loopback host without auth refuses to start."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import launch

ROOT = Path(__file__).resolve().parents[1]


def test_loopback_detection():
    assert launch.is_loopback("127.0.0.1") and launch.is_loopback("localhost") and launch.is_loopback("::1")
    assert not launch.is_loopback("0.0.0.0") and not launch.is_loopback("192.168.1.5")


def test_default_host_is_loopback():
    assert launch.parse_args([]).host == "127.0.0.1"


def test_non_loopback_needs_auth():
    assert "refusing to bind 0.0.0.0" in launch.check_exposure("0.0.0.0", None)
    assert launch.check_exposure("0.0.0.0", "ann:secret") is None


def test_launch_refuses_public_host_without_auth(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "BABYLLAMA_WORKSPACE": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(ROOT / "launch.py"), "--host", "0.0.0.0"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert proc.returncode == 2
    assert "refusing to bind 0.0.0.0" in proc.stderr and "--auth" in proc.stderr


def test_the_queue_does_not_busy_poll_while_idle(tmp_path):
    from core.workspace import Workspace
    from studio.app import PROGRESS_POLL_S, QUEUE_POLL_S, build_app, enable_queue

    demo = enable_queue(build_app(Workspace(tmp_path / "ws").ensure()))
    # Gradio's defaults (1 ms and 10 ms) kept ~0.06 cores busy in an idle studio.
    assert demo._queue.sleep_when_free == QUEUE_POLL_S and demo._queue.progress_update_sleep_when_free == PROGRESS_POLL_S
    assert demo._queue.default_concurrency_limit == 4
