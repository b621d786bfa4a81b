"""core.serve's guards over real HTTP (uvicorn on a free port): a foreign Host gets 400 and a foreign
Origin 403 (DNS rebinding, other sites' pages), --allowed-hosts admits a named host."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.core.serve.test_server import running

PROMPT = "the cat sat on the mat and"


def send(base: str, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 60):
    """(status, parsed JSON or text) of one request whose headers (Host included) are sent as given."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    data = json.dumps(body).encode() if body is not None else b""
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {"Host": url.netloc, "Content-Type": "application/json", **(headers or {})}.items():
        conn.putheader(name, value)
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders(data)
    resp = conn.getresponse()
    payload = resp.read()
    conn.close()
    is_json = (resp.getheader("Content-Type") or "").startswith("application/json")
    return resp.status, json.loads(payload) if is_json else payload.decode()


@pytest.fixture(scope="module")
def guarded(engine):
    with running(engine, allowed_hosts=("models.lan", "*.example.org")) as url:
        yield url


GENERATE = {"prompt": PROMPT, "max_new_tokens": 2, "temperature": 0}


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example", "example.org", "10.0.0.1", "", "[::2]:80"]
)
def test_a_foreign_host_gets_400(guarded, host):
    status, body = send(guarded, "POST", "/generate", GENERATE, {"Host": host})
    assert status == 400 and "host" in str(body).lower()
    assert send(guarded, "GET", "/health", None, {"Host": host})[0] == 400


@pytest.mark.parametrize(
    "host", ["localhost", "localhost:1", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST", "models.lan:9999", "a.example.org"]
)
def test_loopback_and_named_hosts_are_served(guarded, host):
    status, body = send(guarded, "POST", "/generate", GENERATE, {"Host": host})
    assert status == 200 and body["tokens"]["new"] <= 2


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "https://evil.example:8000",
        "null",
        "http://localhost.evil.example",
        "file://",
        "http://models.lan.evil",
    ],
)
def test_a_foreign_origin_gets_403(guarded, origin):
    for path in ("/generate", "/v1/completions"):
        status, body = send(
            guarded, "POST", path, {"prompt": PROMPT, "max_tokens": 2} if path != "/generate" else GENERATE, {"Origin": origin}
        )
        assert status == 403 and "--allowed-hosts" in body["error"]["message"], body
    assert send(guarded, "GET", "/health", None, {"Origin": origin})[0] == 403


@pytest.mark.parametrize(
    "origin",
    ["http://localhost:5173", "http://127.0.0.1", "http://[::1]:8000", "https://models.lan", "https://x.example.org:443"],
)
def test_an_allowed_origin_is_served(guarded, origin):
    status, body = send(guarded, "POST", "/generate", GENERATE, {"Origin": origin})
    assert status == 200 and "text" in body


def test_without_allowed_hosts_only_loopback_names_are_served(engine):
    with running(engine) as url:
        assert send(url, "GET", "/health", None, {"Host": "models.lan"})[0] == 400
        assert send(url, "GET", "/health", None, {"Origin": "https://models.lan"})[0] == 403
        assert send(url, "GET", "/health", None, {"Host": "localhost:80"})[0] == 200
