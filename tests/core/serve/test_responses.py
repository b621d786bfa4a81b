"""core.serve.responses: response shapes and what a stream may send already, without a server."""

from __future__ import annotations

from core.generate import GenerationResult
from core.serve.responses import completion_response, safe_prefix


def test_safe_prefix_holds_back_what_a_stop_string_or_the_next_token_may_change():
    assert safe_prefix("hello wor", ("world",)) == "hello "  # "wor" may start "world"
    assert safe_prefix("hello ", ("world",)) == "hello"  # a trailing space may decode differently later
    assert safe_prefix("hello w", ("\n\n", "wx")) == "hello "
    assert safe_prefix("one\n", ("\n\n",)) == "one"
    assert safe_prefix("abc", ()) == "abc" and safe_prefix("abc  ", ()) == "abc"
    assert safe_prefix("abcab", ("abc",)) == "abc"


def test_usage_sums_every_choice():
    results = [GenerationResult("a", [1, 2], 3, 2, 0.1, 20.0, "length"), GenerationResult("b", [4], 5, 1, 0.1, 10.0, "eos")]
    body = completion_response(results, "m", ("cmpl-1", 7))
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}
    assert [c["finish_reason"] for c in body["choices"]] == ["length", "stop"]
