"""core.generate.text.shown_text: what every display of generated text shows."""

from __future__ import annotations

import subprocess
import sys
import unicodedata

from core.generate.text import is_shown_clean, shown_text


def test_removes_replacement_characters_and_control_codes_keeps_layout():
    raw = "Once\ufffd upon\x00 a\x1b time\x7f\x85,\r\nthe\tend\rok \ud800"
    assert shown_text(raw) == "Once upon a time,\nthe\tend\nok "
    assert not is_shown_clean(raw) and is_shown_clean(shown_text(raw))
    shown_text(raw).encode("utf-8")  # no lone surrogate left: encodable


def test_every_control_code_but_newline_and_tab_goes_and_other_text_stays():
    controls = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and unicodedata.category(chr(c)) == "Cc")
    assert shown_text(controls) == "\t\n\n"  # tab, newline, and the carriage return as a newline
    text = "Héllo wörld: 子ども 👶 — ok"
    assert shown_text(text) == text


def test_importing_it_does_not_import_torch():
    code = "import sys, core.generate.text; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
