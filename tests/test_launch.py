"""launch.py: loopback by default; a non-loopback host without a login refuses to start; a login
with an empty part is refused; with a login, the API answers 401 to a request without one."""

from __future__ import annotations

import http.cookiejar
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

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
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2
    assert "refusing to bind 0.0.0.0" in proc.stderr and "--auth" in proc.stderr


def test_the_queue_does_not_busy_poll_while_idle(tmp_path):
    from core.workspace import Workspace
    from studio.app import PROGRESS_POLL_S, QUEUE_POLL_S, build_app, enable_queue

    demo = enable_queue(build_app(Workspace(tmp_path / "ws").ensure()))
    # Gradio's defaults (1 ms and 10 ms) kept ~0.06 cores busy in an idle studio.
    assert demo._queue.sleep_when_free == QUEUE_POLL_S and demo._queue.progress_update_sleep_when_free == PROGRESS_POLL_S
    assert demo._queue.default_concurrency_limit == 4


@pytest.mark.parametrize("text", [":", "ann:", ":secret", "ann", "", "  :pw"])
def test_empty_login_parts_are_refused(text):
    with pytest.raises(ValueError, match="neither part empty"):
        launch.parse_auth(text, "--auth")


def test_login_from_file_env_or_argv(tmp_path):
    auth_file = tmp_path / "login"
    auth_file.write_text("ann:se:cret\n")
    assert launch.resolve_auth(launch.parse_args(["--auth-file", str(auth_file)]), {}) == ("ann", "se:cret")
    assert launch.resolve_auth(launch.parse_args([]), {"BABYLLAMA_AUTH": "bob:pw"}) == ("bob", "pw")
    assert launch.resolve_auth(launch.parse_args(["--auth", "cy:pw"]), {}) == ("cy", "pw")
    assert launch.resolve_auth(launch.parse_args([]), {}) is None
    with pytest.raises(ValueError, match="one of --auth-file and --auth"):
        launch.resolve_auth(launch.parse_args(["--auth", "a:b", "--auth-file", str(auth_file)]), {})
    auth_file.write_text("ann:x\nbob:y\n")
    with pytest.raises(ValueError, match="exactly one user:password line"):
        launch.resolve_auth(launch.parse_args(["--auth-file", str(auth_file)]), {})


def test_help_says_why_argv_is_the_last_choice(capsys):
    with pytest.raises(SystemExit):
        launch.parse_args(["--help"])
    assert "`ps`" in " ".join(capsys.readouterr().out.split())


def test_launch_refuses_an_empty_login(tmp_path):
    # Before: `--auth :` started a studio nobody could log in to.
    env = {"PATH": "/usr/bin:/bin", "BABYLLAMA_WORKSPACE": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "launch.py"), "--host", "0.0.0.0", "--auth", ":"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "neither part empty" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_api_answers_401_without_login(tmp_path):
    """The real studio, with its login from $BABYLLAMA_AUTH: the API refuses a request without a
    session (401) and answers one after logging in (the control: the endpoint exists)."""
    port = _free_port()
    env = {
        **os.environ,
        "BABYLLAMA_AUTH": "ann:secret",
        "BABYLLAMA_WORKSPACE": str(tmp_path / "ws"),
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "launch.py"), "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/gradio_api/info", timeout=5)
                raise AssertionError("the API answered without a login")
            except urllib.error.HTTPError as err:
                assert err.code == 401
                break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.5)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with pytest.raises(urllib.error.HTTPError) as wrong:
            opener.open(f"{url}/login", urllib.parse.urlencode({"username": "ann", "password": "nope"}).encode())
        assert wrong.value.code in (400, 401)
        opener.open(f"{url}/login", urllib.parse.urlencode({"username": "ann", "password": "secret"}).encode())
        assert opener.open(f"{url}/gradio_api/info", timeout=10).status == 200
    finally:
        proc.terminate()
        proc.wait(30)


def _status(url: str, path: str, headers: dict, data: bytes | None = None) -> int:
    """The status of one request with forged headers (http.client sends our Host as given)."""
    import http.client

    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("POST" if data is not None else "GET", path, skip_host=True)
        for name, value in {"Host": f"127.0.0.1:{parts.port}", **headers}.items():
            conn.putheader(name, value)
        if data is not None:
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


@pytest.mark.slow
def test_foreign_host_and_origin_are_refused(tmp_path):
    """The real studio with no login: a DNS-rebinding request (foreign Host) gets 400 and a page of
    another site (foreign Origin) 403, before the handler runs (no corpus is imported); loopback names
    and an --allowed-hosts name are served, on any port."""
    from core.bench.browser import start_studio, stop_studio

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("the private words of this machine\n" * 50)
    ws = tmp_path / "ws"
    proc, url = start_studio(ws, tmp_path / "studio.log", extra_args=["--allowed-hosts", "studio.lan"])
    try:
        port = urllib.parse.urlsplit(url).port
        steal = json.dumps({"data": [str(outside), "stolen", "none", None, []]}).encode()
        assert _status(url, "/gradio_api/call/import_corpus", {"Host": f"rebind.example:{port}"}, steal) == 400
        assert _status(url, "/gradio_api/call/import_corpus", {"Origin": "http://evil.example"}, steal) == 403
        assert _status(url, "/gradio_api/call/import_corpus", {"Origin": "null"}, steal) == 403
        assert _status(url, "/", {"Host": "rebind.example"}) == 400
        for host in (f"localhost:{port}", "127.0.0.1", f"[::1]:{port}", "studio.lan:8080"):
            assert _status(url, "/gradio_api/info", {"Host": host}) == 200, host
        for origin in (f"http://localhost:{port}", "http://127.0.0.1:9", "https://studio.lan"):
            assert _status(url, "/gradio_api/call/list_corpora", {"Origin": origin}, b'{"data": []}') == 200, origin
        assert _status(url, "/gradio_api/call/list_corpora", {}, b'{"data": []}') == 200  # no Origin: scripts
        time.sleep(1)
        assert not (ws / "data" / "stolen").exists()
    finally:
        stop_studio(proc)
