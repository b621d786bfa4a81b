"""Synthetic child-directed English: grammatical sentences whose vocabulary and syntax grow with
complexity (simple: SVO; medium: questions, dialogue, prepositions; complex: clauses, tenses).

Size is counted in whitespace words ("tokens" before any tokenizer exists). Deterministic: one
`random.Random(seed)`, never the global one. Standard library only; never imports gradio or studio.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Iterator

from core.bounds import MAX_SYNTH_WORDS
from core.data.corpus import CorpusWriter
from core.data.synthetic_words import Vocab
from core.errors import UserError
from core.workspace import Workspace

COMPLEXITIES = ("simple", "medium", "complex")


def _an(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


class _Story:
    """Sentence maker for one document: a hero, a friend and a pet recur, as in a picture book."""

    def __init__(self, rng: random.Random, vocab: Vocab, adjective_rate: float):
        self.rng, self.v, self.adj_rate = rng, vocab, adjective_rate
        self.hero, self.friend = rng.sample(vocab.names, 2)
        self.pet = rng.choice(vocab.animals)

    def pick(self, seq):
        return self.rng.choice(seq)

    def person(self) -> tuple[str, str]:
        roll = self.rng.random()
        if roll < 0.45:
            return self.hero
        if roll < 0.65:
            return self.friend
        return self.pick(self.v.family) if roll < 0.8 else self.pick(self.v.names)

    def animal(self) -> tuple[str, str, str]:
        return self.pet if self.rng.random() < 0.5 else self.pick(self.v.animals)

    def adj(self, noun: str, pool: tuple[str, ...] | None = None) -> str:
        """`noun`, sometimes with an adjective (any, or only from `pool`) in front."""
        if self.rng.random() >= self.adj_rate:
            return noun
        return f"{self.pick(pool or self.v.adjectives)} {noun}"

    def thing(self) -> str:
        return self.adj(self.pick(self.v.things), self.v.looks)

    def subject(self) -> str:
        """A third-person singular subject: a person's name or `the (adj) animal`."""
        if self.rng.random() < 0.55:
            return self.person()[0]
        return "The " + self.adj(self.animal()[0])


# ---- templates: one sentence (or a question + answer on two lines) each ----------------------


def _t_intransitive(s: _Story) -> str:
    return f"{s.subject()} {s.pick(s.v.still).third}."


def _t_goes_to(s: _Story) -> str:
    return f"{s.subject()} {s.pick(s.v.motion).third} to the {s.pick(s.v.places)}."


def _t_transitive(s: _Story) -> str:
    return f"{s.person()[0]} {s.pick(s.v.transitive).third} the {s.thing()}."


def _t_i_want(s: _Story) -> str:
    food = s.rng.random() < 0.4
    verb = s.pick(s.v.eat if food else s.v.transitive).base
    return f"I {verb} {_an(s.adj(s.pick(s.v.food), s.v.looks)) if food else 'the ' + s.thing()}."


def _t_is_adj(s: _Story) -> str:
    return f"{s.subject()} is {s.pick(s.v.moods)}."


def _t_look(s: _Story) -> str:
    return f"Look at the {s.adj(s.animal()[0])}!"


def _t_says(s: _Story) -> str:
    name, _, sound = s.pick(s.v.noisy)
    return f"The {name} says {sound}."


def _t_can_i_have(s: _Story) -> str:
    return f"{s.pick(s.v.family)[0]}, can I have the {s.thing()}?"


def _t_where_is(s: _Story) -> str:
    thing = s.pick(s.v.things)
    return f"{s.pick(s.v.family)[0]}, where is my {thing}?\nYour {thing} is {s.pick(s.v.preps)} the {s.pick(s.v.places)}."


def _t_question(s: _Story) -> str:
    name, _, _ = s.animal()
    return s.pick(
        (
            f"Is the {name} {s.pick(s.v.adjectives)}?",
            f"Can you see the {s.adj(name)}?",
            f"Do you want the {s.thing()}?",
            f"Where is {s.person()[0]}?",
        )
    )


def _t_prep_phrase(s: _Story) -> str:
    return f"{s.subject()} {s.pick(s.v.still).third} {s.pick(s.v.preps)} the {s.pick(s.v.places)}."


def _t_plural(s: _Story) -> str:
    _, plural, _ = s.pick(s.v.animals)
    return f"The {s.adj(plural)} {s.pick(s.v.still).base} in the {s.pick(s.v.places)}."


def _t_said(s: _Story) -> str:
    line = s.pick((f"Look at the {s.adj(s.animal()[0])}!", f"I want the {s.thing()}!", f"Let's go to the {s.pick(s.v.places)}!"))
    return f'"{line}" said {s.person()[0]}.'


def _t_two_friends(s: _Story) -> str:
    return f"{s.hero[0]} and {s.friend[0]} {s.pick(s.v.still).base} in the {s.pick(s.v.places)}."


def _t_past(s: _Story) -> str:
    return (
        f"{s.pick(s.v.when)}, {s.person()[0]} {s.pick(s.v.transitive).past} the {s.thing()} "
        f"{s.pick(s.v.preps)} the {s.pick(s.v.places)}."
    )


def _t_relative(s: _Story) -> str:
    return (
        f"The {s.adj(s.animal()[0])} that {s.person()[0]} {s.pick(s.v.transitive).past} "
        f"{s.pick(s.v.motion).past} to the {s.pick(s.v.places)}."
    )


def _t_because(s: _Story) -> str:
    name, pronoun = s.person()
    return f"{name} {s.pick(s.v.still).past} because {pronoun} was {s.pick(s.v.moods)}."


def _t_when(s: _Story) -> str:
    return f"When the {s.animal()[0]} {s.pick(s.v.still).past}, {s.person()[0]} {s.pick(s.v.still).past} too."


def _t_but(s: _Story) -> str:
    return (
        f"{s.hero[0]} {s.pick(s.v.transitive).past} the {s.thing()}, "
        f"but {s.friend[0]} {s.pick(s.v.transitive).past} {_an(s.thing())}."
    )


def _t_future(s: _Story) -> str:
    return f"Tomorrow we will {s.pick(s.v.motion).base} to the {s.pick(s.v.places)} with {s.person()[0]}."


def _t_progressive(s: _Story) -> str:
    _, plural, _ = s.animal()
    return f"The {plural} are {s.pick(s.v.still).ing} {s.pick(s.v.preps)} the {s.pick(s.v.places)}."


def _t_shouted(s: _Story) -> str:
    name = s.person()[0]
    return s.pick(
        (
            f'"I {s.pick(s.v.transitive).past} the {s.thing()}!" shouted {name}.',
            f'"Can we {s.pick(s.v.motion).base} to the {s.pick(s.v.places)}?" asked {name}.',
            f"{name} thought that the {s.animal()[0]} was {s.pick(s.v.adjectives)}.",
        )
    )


def _t_if(s: _Story) -> str:
    return f"If the {s.animal()[0]} is {s.pick(s.v.adjectives)}, {s.person()[0]} will {s.pick(s.v.transitive).base} it."


Template = Callable[[_Story], str]
# (template, weight) per level; each level keeps the simpler patterns, only rarer.
_LEVELS: tuple[tuple[tuple[Template, int], ...], ...] = (
    ((_t_intransitive, 4), (_t_goes_to, 4), (_t_transitive, 4), (_t_i_want, 3), (_t_is_adj, 3), (_t_look, 1), (_t_says, 1)),
    (
        (_t_intransitive, 2),
        (_t_goes_to, 3),
        (_t_transitive, 3),
        (_t_i_want, 2),
        (_t_is_adj, 2),
        (_t_look, 1),
        (_t_says, 1),
        (_t_can_i_have, 2),
        (_t_where_is, 2),
        (_t_question, 3),
        (_t_prep_phrase, 3),
        (_t_plural, 2),
        (_t_said, 2),
        (_t_two_friends, 2),
    ),
    (
        (_t_goes_to, 1),
        (_t_transitive, 2),
        (_t_is_adj, 1),
        (_t_can_i_have, 1),
        (_t_question, 2),
        (_t_prep_phrase, 2),
        (_t_plural, 1),
        (_t_said, 2),
        (_t_past, 4),
        (_t_relative, 3),
        (_t_because, 3),
        (_t_when, 3),
        (_t_but, 3),
        (_t_future, 2),
        (_t_progressive, 2),
        (_t_shouted, 3),
        (_t_if, 2),
    ),
)
_ADJECTIVE_RATE = (0.3, 0.45, 0.55)
_DOC_SENTENCES = ((4, 10), (5, 12), (6, 15))


def check_complexity(complexity: str) -> int:
    """The level index of `complexity`; anything else is a UserError naming --complexity."""
    if complexity not in COMPLEXITIES:
        raise UserError(f"--complexity: {complexity!r} is not one of {', '.join(COMPLEXITIES)}")
    return COMPLEXITIES.index(complexity)


def generate_documents(n_words: int, complexity: str = "simple", seed: int = 42) -> Iterator[str]:
    """Yield documents (one sentence a line) until `n_words` whitespace words are reached.

    The last document stops at the sentence that reaches the target, so the total overshoots by
    less than one sentence. Same arguments, same text, byte for byte.
    """
    level = check_complexity(complexity)
    rng, vocab = random.Random(seed), Vocab(level)
    # A flat tuple with repeats makes a weighted choice one rng.choice call (fast).
    bag = tuple(t for t, weight in _LEVELS[level] for _ in range(weight))
    low, high = _DOC_SENTENCES[level]
    total = 0
    while total < n_words:
        story = _Story(rng, vocab, _ADJECTIVE_RATE[level])
        lines = []
        for _ in range(rng.randint(low, high)):
            sentence = rng.choice(bag)(story)
            lines.append(sentence)
            total += len(sentence.split())
            if total >= n_words:
                break
        yield "\n".join(lines)


def synthesize(n_words: int, complexity: str = "simple", seed: int = 42, dev_fraction: float = 0.1) -> dict[str, str]:
    """`{"train": text, "dev": text}` holding about `n_words` words in all, `dev_fraction` of
    them in dev. Documents are dealt to dev whenever dev is behind its share, so both splits
    sample the same stream evenly."""
    if not 0 <= dev_fraction < 0.5:
        raise UserError(f"--dev-fraction: {dev_fraction} must be at least 0 and below 0.5")
    splits: dict[str, list[str]] = {"train": [], "dev": []}
    dev_words = all_words = 0
    for doc in generate_documents(n_words, complexity, seed):
        words = len(doc.split())
        to_dev = dev_words < dev_fraction * all_words
        splits["dev" if to_dev else "train"].append(doc)
        dev_words += words if to_dev else 0
        all_words += words
    return {split: "\n\n".join(docs) + "\n" if docs else "" for split, docs in splits.items()}


def create_synthetic_corpus(
    workspace: Workspace,
    name: str,
    n_words: int = 1_000_000,
    complexity: str = "simple",
    seed: int = 42,
    dev_fraction: float = 0.1,
) -> Path:
    """Generate and save corpus `name` (kind `synthetic`) in the workspace; returns its folder."""
    if n_words < 1:
        raise UserError(f"--words: {n_words} must be a positive number of words")
    if n_words > MAX_SYNTH_WORDS:
        raise UserError(
            f"--words: {n_words:,} is more than {MAX_SYNTH_WORDS:,} words: the text is built in "
            "memory (~6 bytes a word, twice while written) at ~0.4M words a second; "
            "ask for at most 200M (the BabyLM strict track's corpus is 100M)"
        )
    check_complexity(complexity)
    with CorpusWriter(workspace, name) as writer:
        texts = synthesize(n_words, complexity, seed, dev_fraction)
        for split, text in texts.items():
            if text:
                writer.write(split, "synthetic.txt", text, source="generated")
        return writer.commit(
            kind="synthetic",
            source=f"synthetic:{complexity}",
            seed=seed,
            complexity=complexity,
            requested_words=n_words,
            dev_fraction=dev_fraction,
        )
