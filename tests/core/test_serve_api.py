"""core.serve_api: request checking and response shapes, without a server."""
from __future__ import annotations

import pytest

from core.generate import GenerationResult
from core.serve_api import (RequestError, completion_request, completion_response, error_body, generate_request,
                            parse_body, safe_prefix)


def test_safe_prefix_holds_back_what_a_stop_string_or_the_next_token_may_change():
    assert safe_prefix("hello wor", ("world",)) == "hello "  # "wor" may start "world"
    assert safe_prefix("hello ", ("world",)) == "hello"  # a trailing space may decode differently later
    assert safe_prefix("hello w", ("\n\n", "wx")) == "hello "
    assert safe_prefix("one\n", ("\n\n",)) == "one"
    assert safe_prefix("abc", ()) == "abc" and safe_prefix("abc  ", ()) == "abc"
    assert safe_prefix("abcab", ("abc",)) == "abc"


def test_completion_defaults_follow_openai():
    request = completion_request({"prompt": "hi"}, cap=100, model_name="m")
    p = request.params
    assert request.prompts == ["hi"] and not request.stream
    assert (p.max_new_tokens, p.temperature, p.top_p, p.top_k, p.repetition_penalty) == (16, 1.0, 1.0, 0, 1.0)
    nulls = completion_request({"prompt": "hi", "temperature": None, "stop": None, "logprobs": None, "n": 1,
                                "user": "me", "seed": 4}, cap=100, model_name="m")
    assert nulls.params.temperature == 1.0 and nulls.params.stop == () and nulls.params.seed == 4


def test_generate_takes_every_sampling_field():
    request = generate_request({"prompt": "x", "temperature": 0, "top_k": 3, "top_p": 0.5, "max_new_tokens": 7,
                                "repetition_penalty": 1.2, "seed": 9, "stop": "\n"}, cap=10)
    p = request.params
    assert (p.temperature, p.top_k, p.top_p, p.max_new_tokens, p.repetition_penalty, p.seed, p.stop) == (
        0, 3, 0.5, 7, 1.2, 9, ("\n",))


def test_errors_name_the_field():
    with pytest.raises(RequestError) as err:
        generate_request({"prompt": "x", "repetition_penalty": 0}, cap=10)
    assert err.value.param == "repetition_penalty" and err.value.status == 400
    body = error_body(err.value, 400)["error"]
    assert body["param"] == "repetition_penalty" and "repetition_penalty" in body["message"]
    with pytest.raises(RequestError, match="line 1 column 2"):
        parse_body(b"{,}")


def test_usage_sums_every_choice():
    results = [GenerationResult("a", [1, 2], 3, 2, 0.1, 20.0, "length"),
               GenerationResult("b", [4], 5, 1, 0.1, 10.0, "eos")]
    body = completion_response(results, "m", ("cmpl-1", 7))
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "stop"]
