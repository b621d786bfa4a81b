"""core.serve's request limits over real HTTP (uvicorn on a free port): prompts and tokens per request
(413), text that is not valid Unicode (400), and a client that leaves: its generation stops, waiting
or running, streamed or not, and the model is idle again within a bounded time."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import pytest
import torch

from tests.core.serve.test_server import call, running

PROMPT = "the cat sat on the mat and"
LEAVE_BOUND_S = 3.0  # the model is idle this soon after its client left


@pytest.fixture(scope="module")
def small(engine):
    """A server with small per-request limits."""
    with running(engine, max_prompts=3, max_request_tokens=50, max_new_tokens_cap=60) as url:
        yield url


def test_too_many_prompts_get_413(small):
    status, _, body = call(small, "POST", "/v1/completions", {"prompt": ["a"] * 4, "max_tokens": 2})
    assert status == 413 and body["error"]["param"] == "prompt"
    assert "4 prompts" in body["error"]["message"] and "--max-prompts" in body["error"]["message"]
    assert call(small, "POST", "/v1/completions", {"prompt": ["a"] * 3, "max_tokens": 2})[0] == 200


def test_too_many_tokens_get_413(small, engine):
    prompt_tokens = engine.count_tokens([PROMPT])[0]
    fits = 50 - prompt_tokens
    status, _, body = call(small, "POST", "/generate", {"prompt": PROMPT, "max_new_tokens": fits + 1})
    assert status == 413 and "--max-request-tokens" in body["error"]["message"]
    assert f"{prompt_tokens + fits + 1} tokens" in body["error"]["message"]
    assert call(small, "POST", "/generate", {"prompt": PROMPT, "max_new_tokens": fits, "temperature": 0})[0] == 200
    # Two prompts count twice: each one's tokens and its budget.
    status, _, body = call(small, "POST", "/v1/completions", {"prompt": [PROMPT, PROMPT], "max_tokens": fits // 2 + 1})
    assert status == 413, body
    _, _, health = call(small, "GET", "/health")
    assert health["max_prompts"] == 3 and health["max_request_tokens"] == 50


@pytest.mark.parametrize(
    "raw, param",
    [
        (rb'{"prompt": "\ud800"}', "prompt"),
        (rb'{"prompt": "ok \udfff and more"}', "prompt"),
        (rb'{"prompt": "a", "stop": ["x", "\ud83d"]}', "stop"),
        (rb'{"prompt": "a", "\ud800": 1}', None),
    ],
)
def test_a_lone_surrogate_gets_400(small, raw, param):
    status, _, body = call(small, "POST", "/generate", raw=raw)
    assert status == 400 and "not valid Unicode" in body["error"]["message"], body
    if param:
        assert body["error"]["param"] == param
    status, _, body = call(small, "POST", "/v1/completions", raw=raw.replace(b'"stop"', b'"stop"'))
    assert status == 400 and "not valid Unicode" in body["error"]["message"]


def test_a_surrogate_pair_is_a_character(small):
    status, _, body = call(small, "POST", "/generate", raw=rb'{"prompt": "smile \ud83d\ude00", "max_new_tokens": 2}')
    assert status == 200 and body["tokens"]["new"] <= 2


# --------------------------------------------------------------------------- clients that leave
@pytest.fixture(scope="module")
def roomy(engine):
    """A server that takes thousands of prompts in one request (a long generation to walk away from)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with running(engine, max_prompts=5000, max_request_tokens=10**7, max_new_tokens_cap=60, max_body_bytes=1 << 20) as url:
        yield url
    torch.set_num_threads(threads)


def _open(base: str, path: str, body: dict) -> http.client.HTTPConnection:
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    return conn


def _health(base: str) -> dict:
    return call(base, "GET", "/health")[2]


def _wait_for(base: str, check, timeout: float) -> float:
    """Seconds until `check(health)` holds; fails after `timeout`."""
    start = time.monotonic()
    while not check(health := _health(base)):
        assert time.monotonic() - start < timeout, health
        time.sleep(0.05)
    return time.monotonic() - start


def _idle_after_leaving(base: str, conn: http.client.HTTPConnection) -> float:
    conn.sock.close()  # the client goes away without reading the answer
    conn.close()
    seconds = _wait_for(base, lambda h: not h["busy"] and h["waiting"] == 0, 30)
    time.sleep(0.5)
    assert not _health(base)["busy"]  # and nothing starts again after it
    return seconds


MANY = {"prompt": [PROMPT] * 5000, "max_tokens": 60, "temperature": 0.8, "seed": 1}  # minutes of work


def test_leaving_a_running_request_stops_its_generation(roomy):
    conn = _open(roomy, "/v1/completions", MANY)
    _wait_for(roomy, lambda h: h["busy"], 30)
    assert _idle_after_leaving(roomy, conn) < LEAVE_BOUND_S
    assert call(roomy, "POST", "/generate", {"prompt": PROMPT, "max_new_tokens": 2})[0] == 200


def test_leaving_a_running_stream_of_many_prompts_stops_it(roomy):
    conn = _open(roomy, "/v1/completions", {**MANY, "stream": True})
    assert conn.getresponse().readline().startswith(b"data: ")
    assert _idle_after_leaving(roomy, conn) < LEAVE_BOUND_S


@pytest.mark.parametrize("stream", [False, True])
def test_leaving_while_waiting_gives_the_turn_up(roomy, stream):
    first = _open(roomy, "/generate", {"prompt": PROMPT, "max_new_tokens": 60, "temperature": 0.8})
    running_one = _open(roomy, "/v1/completions", MANY)  # holds the model
    _wait_for(roomy, lambda h: h["busy"], 30)
    first.sock.close()
    waiting = _open(roomy, "/v1/completions", {**MANY, "stream": stream})
    _wait_for(roomy, lambda h: h["waiting"] == 1, 10)
    waiting.sock.close()
    waiting.close()
    assert _wait_for(roomy, lambda h: h["waiting"] == 0, 10) < LEAVE_BOUND_S
    assert _idle_after_leaving(roomy, running_one) < LEAVE_BOUND_S
