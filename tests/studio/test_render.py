"""studio.render: run samples are shown clean (the stored text stays raw)."""
from __future__ import annotations

from studio import render


def test_samples_show_no_replacement_characters_or_control_codes():
    samples = [{"step": 10, "prompt": "Once", "text": " upon\ufffd a\x07 time\x00"},
               {"step": 5, "prompt": "Old", "text": "\ufffd"}]
    shown = render.samples_markdown(samples)
    assert "**Samples at step 10**" in shown and "**Once** upon a time" in shown
    assert "\ufffd" not in shown and "\x07" not in shown and "\x00" not in shown and "Old" not in shown
    assert samples[0]["text"] == " upon\ufffd a\x07 time\x00"  # the stored row is left as it was
