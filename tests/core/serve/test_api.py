"""core.serve.api: request checking, without a server."""

from __future__ import annotations

from dataclasses import fields

import pytest

from core.generate import SamplingParams
from core.serve.api import RequestError, completion_request, generate_request, parse_body
from core.serve.responses import error_body


def test_completion_defaults_follow_openai():
    request = completion_request({"prompt": "hi"}, cap=100, model_name="m")
    p = request.params
    assert request.prompts == ["hi"] and not request.stream
    assert (p.max_new_tokens, p.temperature, p.top_p, p.top_k, p.repetition_penalty) == (16, 1.0, 1.0, 0, 1.0)
    nulls = completion_request(
        {"prompt": "hi", "temperature": None, "stop": None, "logprobs": None, "n": 1, "user": "me", "seed": 4},
        cap=100,
        model_name="m",
    )
    assert nulls.params.temperature == 1.0 and nulls.params.stop == () and nulls.params.seed == 4


def test_generate_takes_every_sampling_field():
    request = generate_request(
        {
            "prompt": "x",
            "temperature": 0,
            "top_k": 3,
            "top_p": 0.5,
            "max_new_tokens": 7,
            "repetition_penalty": 1.2,
            "seed": 9,
            "stop": "\n",
        },
        cap=10,
    )
    p = request.params
    assert (p.temperature, p.top_k, p.top_p, p.max_new_tokens, p.repetition_penalty, p.seed, p.stop) == (
        0,
        3,
        0.5,
        7,
        1.2,
        9,
        ("\n",),
    )


def test_errors_name_the_field():
    with pytest.raises(RequestError) as err:
        generate_request({"prompt": "x", "repetition_penalty": 0}, cap=10)
    assert err.value.param == "repetition_penalty" and err.value.status == 400
    body = error_body(err.value, 400)["error"]
    assert body["param"] == "repetition_penalty" and "repetition_penalty" in body["message"]
    with pytest.raises(RequestError, match="line 1 column 2"):
        parse_body(b"{,}")


NUMBERS = ("temperature", "top_k", "top_p", "repetition_penalty", "seed")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", NUMBERS + ("max_new_tokens", "max_tokens"))
def test_every_number_must_be_finite(name, value):
    """Today's checks compare with the bounds only: NaN fails every comparison (so NaN passes), and
    int(inf) for a token budget raises OverflowError (a 500 on the server)."""
    body = {"prompt": "x", name: value}
    checks = []
    if name != "max_tokens":
        checks.append(lambda: generate_request(body, cap=10))
    if name != "max_new_tokens":
        checks.append(lambda: completion_request(body, cap=10, model_name="m"))
    for check in checks:
        with pytest.raises(RequestError) as err:
            check()
        assert err.value.param == name and err.value.status == 400 and "finite" in str(err.value)


@pytest.mark.parametrize("name", NUMBERS + ("max_new_tokens",))
def test_request_ranges_are_sampling_params_ranges(name):
    """The request models take their bounds from SamplingParams' field metadata: one place for both."""
    meta = {f.name: f.metadata for f in fields(SamplingParams)}[name]
    too_low = meta["min"] if meta["min_exclusive"] else meta["min"] - 1
    with pytest.raises(RequestError, match=f"{name}: must be"):
        generate_request({"prompt": "x", name: too_low}, cap=10**9)
    if meta["max"] is not None:
        with pytest.raises(RequestError, match=f"{name}: must be <= "):
            generate_request({"prompt": "x", name: meta["max"] * 2 + 1}, cap=10**12)


def test_every_bad_field_is_listed_and_the_first_named():
    with pytest.raises(RequestError) as err:
        generate_request({"prompt": 3, "temperature": "hot", "top_k": 2.5}, cap=10)
    message = str(err.value)
    assert err.value.param == "prompt"
    assert "prompt: expected a string" in message and "temperature: expected a number" in message
    assert "top_k: expected a whole number, got 2.5" in message


def test_top_k_is_bounded_by_the_largest_vocabulary():
    from core.bounds import MAX_VOCAB

    assert generate_request({"prompt": "x", "top_k": MAX_VOCAB}, cap=10).params.top_k == MAX_VOCAB
    with pytest.raises(RequestError, match="top_k"):
        generate_request({"prompt": "x", "top_k": MAX_VOCAB + 1}, cap=10)
