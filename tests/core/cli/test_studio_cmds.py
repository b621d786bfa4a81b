"""`babyllama studio`: its flags are core's (no UI imported to parse or print help), and it runs
the same launcher as launch.py."""

from __future__ import annotations

import subprocess
import sys

import launch
from core.cli import build_parser
from core.cli.studio_cmds import LAUNCHER


def test_studio_verb_parses_the_launch_flags_without_importing_gradio():
    code = (
        "import sys; from core.cli import build_parser; "
        "a = build_parser().parse_args(['studio', '--port', '7999', '--workspace', 'w']); "
        "print(a.port, a.workspace, a.host, 'gradio' in sys.modules, 'studio' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["7999", "w", "127.0.0.1", "False", "False"]


def test_studio_verb_and_launch_py_share_flags_and_launcher():
    verb = build_parser().parse_args(["studio", "--host", "0.0.0.0"])
    card = launch.parse_args(["--host", "0.0.0.0"])
    assert {k: v for k, v in vars(verb).items() if k not in ("verb", "func")} == vars(card)
    assert LAUNCHER == launch.main.__module__


def test_studio_verb_refuses_a_remote_host_without_login(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "core.cli", "studio", "--host", "0.0.0.0", "--workspace", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2
    assert "refusing to bind 0.0.0.0" in proc.stderr and "Traceback" not in proc.stderr


def test_the_launcher_imports_no_ui_until_it_serves():
    code = "import sys, studio.launcher; print('gradio' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"]
