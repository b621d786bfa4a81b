"""Generated text made fit to show: young models emit byte tokens that decode to U+FFFD (half a
UTF-8 character) or to control codes. Stored text stays raw (history samples, results.json, the
REST server's answers) for analysis; every display (studio, reports, samples.txt) calls
`shown_text`. Must not import torch, gradio, studio or training code.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
# The control codes (Unicode category Cc: C0 00-1F, DEL, C1 80-9F) except newline and tab (layout,
# not noise), the replacement character, and lone surrogates (a decode with
# errors="surrogateescape" leaves them; they cannot be encoded to UTF-8).
_NOISE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ufffd\ud800-\udfff]")


def shown_text(text: str) -> str:
    """`text` without replacement characters or control codes (newlines and tabs kept; a carriage
    return becomes a newline), for the studio, run samples, reports and chat."""
    return _NOISE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def is_shown_clean(text: str) -> bool:
    """Whether `text` holds nothing `shown_text` would remove."""
    return _NOISE.search(text.replace("\r", "\n")) is None
