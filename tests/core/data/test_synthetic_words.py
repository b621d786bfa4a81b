"""core.data.synthetic_words: verb forms by the spelling rules, and each level's words include the
simpler levels' words."""

from __future__ import annotations

import pytest

from core.data.synthetic_words import Verb, Vocab, verb


@pytest.mark.parametrize(
    "base, forms",
    [
        ("hop", ("hops", "hopped", "hopping")),
        ("carry", ("carries", "carried", "carrying")),
        ("wash", ("washes", "washed", "washing")),
        ("run", ("runs", "ran", "running")),
        ("share", ("shares", "shared", "sharing")),
        ("see", ("sees", "saw", "seeing")),
        ("have", ("has", "had", "having")),
    ],
)
def test_verb_forms_follow_the_spelling_rules_and_irregular_pasts(base, forms):
    assert verb(base) == Verb(base, *forms)


def test_each_level_keeps_the_simpler_words_and_adds_some():
    levels = [Vocab(level) for level in range(3)]
    for simpler, richer in zip(levels, levels[1:]):
        assert set(simpler.names) < set(richer.names)
        assert set(simpler.transitive) <= set(richer.transitive)
        assert len(richer.adjectives) > len(simpler.adjectives)
    assert levels[0].preps == ("in",) and not levels[0].when and levels[2].when
