"""Cleaners: registry behaviour and each built-in on a small sample (gutenberg on the real Grimm)."""

from __future__ import annotations

import pytest

from core.data import cleaning
from core.data.cleaning import clean, cleaner_names, get_cleaner, register_cleaner
from core.errors import UserError


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in a test vanish after it."""
    monkeypatch.setattr(cleaning, "_CLEANERS", dict(cleaning._CLEANERS))


def test_builtins_are_registered_under_domain_and_file_names():
    for name in (
        "default",
        "wikipedia",
        "simple_wikipedia",
        "subtitles",
        "open_subtitles",
        "dialogue",
        "switchboard",
        "bnc_spoken",
        "childes",
        "aochildes",
        "gutenberg",
        "cbt",
        "children_stories",
        "qed",
    ):
        assert name in cleaner_names()


def test_users_register_a_cleaner_by_name(scratch_registry):
    @register_cleaner("scientific")
    def scientific(text: str) -> str:
        return text.replace("[1]", "")

    assert get_cleaner("scientific") is scientific
    assert clean("Cells divide [1].  Often.", ["scientific"]) == "Cells divide . Often.\n"
    with pytest.raises(ValueError, match="already registered"):
        register_cleaner("scientific")(lambda t: t)
    register_cleaner("scientific", replace=True)(str.upper)
    assert get_cleaner("scientific")("a") == "A"


def test_unknown_cleaner_lists_known_names():
    with pytest.raises(UserError) as err:
        get_cleaner("klingon")
    assert "klingon" in str(err.value) and "wikipedia" in str(err.value) and "--clean-domains" in str(err.value)


def test_default_normalises_whitespace():
    text = "\ufeffHello \t  world\r\n\r\n\r\n\r\n  Next\x07 doc  \n"
    assert clean(text) == "Hello world\n\nNext doc\n"
    assert clean("  \n \n") == ""


def test_gutenberg_header_and_footer_removed_from_real_grimm(shared_data):
    raw = (shared_data / "grimm" / "pg2591.txt").read_text(encoding="utf-8")
    cleaned = clean(raw, ["gutenberg"])
    assert "Project Gutenberg" not in cleaned and "PROJECT GUTENBERG" not in cleaned
    assert "www.gutenberg.org" not in cleaned
    assert cleaned.lstrip().startswith("FAIRY TALES")
    assert "THE GOLDEN BIRD" in cleaned and "Hansel" in cleaned
    assert 90_000 < len(cleaned.split()) < len(raw.split())


def test_wikipedia_headings_and_markup():
    text = "= = = Dogs = = =\nA dog <ref>x</ref> is an animal [[Mammal|mammal]] [3] .\n"
    assert clean(text, ["wikipedia"]) == "Dogs\nA dog x is an animal mammal.\n"


def test_subtitles_credits_and_cues():
    text = "Subtitles by SomeGroup\n- Where are you going?\n[MUSIC PLAYING]\n♪ la la ♪\n(LAUGHS) Home .\n"
    assert clean(text, ["subtitles"]) == "Where are you going?\n\nla la\nHome.\n"


def test_dialogue_speaker_labels():
    text = "A:\tWell , I think so .\nB: Yeah {laughs} right .\n"
    assert clean(text, ["dialogue"]) == "Well, I think so.\nYeah right.\n"


def test_childes_speaker_tags_and_codes():
    text = "@Begin\n*CHI:\tI want cookie [!] .\n%mor:\tpro|I v|want\n*MOT:\tyou want a cookie xxx ?\n"
    assert clean(text, ["childes"]) == "I want cookie.\nyou want a cookie?\n"


def test_stories_untokenise_cbt():
    text = "`` I do n't know , '' said the -LRB- old -RRB- man .\n"
    assert clean(text, ["cbt"]) == '"I don\'t know," said the (old) man.\n'


def test_qed_all_caps_and_cues():
    text = "(Laughter) WHAT lS THlS THlNG? IT IS A CAT.\nNormal line &amp; more\n"
    assert clean(text, ["qed"]) == "What is this thing? It is a cat.\nNormal line & more\n"
