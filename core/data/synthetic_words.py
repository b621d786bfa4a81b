"""The synthetic corpus's words: names, animals, things, food, places, adjectives and verbs in
three tiers (each complexity level adds one), and English verb forms by the spelling rules.
Standard library only; never imports gradio or studio."""

from __future__ import annotations

from typing import NamedTuple


class Verb(NamedTuple):
    base: str
    third: str  # he/she/it form
    past: str
    ing: str


_IRREGULAR_PAST = {
    "go": "went",
    "run": "ran",
    "sit": "sat",
    "sleep": "slept",
    "eat": "ate",
    "see": "saw",
    "have": "had",
    "get": "got",
    "find": "found",
    "hold": "held",
    "throw": "threw",
    "swim": "swam",
    "sing": "sang",
    "hide": "hid",
    "fly": "flew",
    "build": "built",
    "catch": "caught",
    "come": "came",
    "make": "made",
    "read": "read",
    "ride": "rode",
    "draw": "drew",
}
_DOUBLES = {"run", "sit", "swim", "hop", "skip", "hug", "drop", "get", "clap", "stop"}


def verb(base: str) -> Verb:
    """English verb forms by the usual spelling rules, with the irregular pasts listed above."""
    if base == "have":
        return Verb("have", "has", "had", "having")
    if base.endswith(("s", "sh", "ch", "x", "o")):
        third = base + "es"
    elif base.endswith("y") and base[-2] not in "aeiou":
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    stem = base + base[-1] if base in _DOUBLES else base
    if base in _IRREGULAR_PAST:
        past = _IRREGULAR_PAST[base]
    elif base.endswith("e"):
        past = base + "d"
    elif base.endswith("y") and base[-2] not in "aeiou":
        past = base[:-1] + "ied"
    else:
        past = stem + "ed"
    ing = base[:-1] + "ing" if base.endswith("e") and not base.endswith(("ee", "oe")) else stem + "ing"
    return Verb(base, third, past, ing)


# Each tier adds to the one before: (simple, medium extra, complex extra).
_NAMES = (
    (("Sam", "he"), ("Lily", "she"), ("Tom", "he"), ("Anna", "she"), ("Ben", "he"), ("Mia", "she")),
    (("Max", "he"), ("Emma", "she"), ("Leo", "he"), ("Zoe", "she"), ("Jack", "he"), ("Ruby", "she")),
    (("Oliver", "he"), ("Grace", "she"), ("Henry", "he"), ("Lucy", "she"), ("Felix", "he"), ("Ivy", "she")),
)
_FAMILY = ((("Mommy", "she"), ("Daddy", "he")), (("Grandma", "she"), ("Grandpa", "he")), (("Nana", "she"), ("Papa", "he")))
_ANIMALS = (  # (singular, plural, sound or "")
    (
        ("dog", "dogs", "woof"),
        ("cat", "cats", "meow"),
        ("duck", "ducks", "quack"),
        ("cow", "cows", "moo"),
        ("bird", "birds", "tweet"),
        ("pig", "pigs", "oink"),
    ),
    (
        ("horse", "horses", "neigh"),
        ("frog", "frogs", "ribbit"),
        ("sheep", "sheep", "baa"),
        ("mouse", "mice", "squeak"),
        ("bear", "bears", "grr"),
        ("puppy", "puppies", "woof"),
        ("rabbit", "rabbits", ""),
    ),
    (
        ("lion", "lions", "roar"),
        ("owl", "owls", "hoot"),
        ("goat", "goats", "maa"),
        ("elephant", "elephants", ""),
        ("turtle", "turtles", ""),
        ("squirrel", "squirrels", ""),
        ("fox", "foxes", ""),
        ("giraffe", "giraffes", ""),
        ("butterfly", "butterflies", ""),
    ),
)
_THINGS = (
    ("ball", "cup", "book", "hat", "car", "toy", "doll", "truck"),
    ("box", "boat", "kite", "shoe", "block", "drum", "spoon", "sock", "train", "balloon"),
    (
        "blanket",
        "puzzle",
        "crayon",
        "bicycle",
        "umbrella",
        "rocket",
        "basket",
        "flower",
        "feather",
        "shell",
        "map",
        "lantern",
        "ribbon",
    ),
)
_FOOD = (
    ("apple", "cookie", "egg"),
    ("banana", "cake", "carrot", "sandwich"),
    ("pancake", "strawberry", "muffin", "pear", "pie", "orange"),
)
_PLACES = (
    ("park", "house", "garden", "farm"),
    ("school", "beach", "store", "kitchen", "pond", "yard"),
    ("library", "forest", "river", "playground", "zoo", "castle", "bakery", "meadow", "village", "lake"),
)
_LOOKS = (  # adjectives for anything
    ("big", "little", "red", "blue"),
    ("small", "green", "yellow", "soft", "old", "new", "wet", "pretty"),
    ("enormous", "tiny", "shiny", "purple", "muddy", "cozy", "wonderful", "striped"),
)
_MOODS = (  # adjectives for people and animals only
    ("happy", "good"),
    ("funny", "sleepy", "hungry", "fast", "sad"),
    ("brave", "curious", "gentle", "noisy", "quiet", "careful", "clever", "grumpy"),
)
_MOTION = (
    ("run", "walk", "go"),
    ("hop", "hurry", "skip", "come"),
    ("march", "wander", "race", "rush", "dash", "stroll", "tiptoe"),
)
_STILL = (
    ("play", "sleep", "sit", "jump"),
    ("sing", "dance", "laugh", "hide", "swim", "rest", "cry"),
    ("giggle", "whisper", "wait", "splash", "wiggle", "yawn", "sneeze", "shiver", "smile", "cheer"),
)
_TRANSITIVE = (
    ("see", "like", "have", "want", "get"),
    ("find", "hold", "throw", "kick", "carry", "push", "drop", "open"),
    ("build", "share", "catch", "chase", "paint", "borrow", "discover", "fix", "fold", "wash", "fetch", "follow", "draw"),
)
_PREPOSITIONS = ((), ("in", "on", "under", "near", "behind", "by"), ("beside", "inside", "around", "across"))
_WHEN = ((), (), ("Yesterday", "Last night", "This morning", "After lunch", "One day", "Later"))


class Vocab:
    """The words of one complexity level: tier 0 alone, or tiers 0..level together."""

    def __init__(self, level: int):
        def upto(tiers):
            return tuple(word for tier in tiers[: level + 1] for word in tier)

        self.names, self.family = upto(_NAMES), upto(_FAMILY)
        self.animals, self.things, self.food = upto(_ANIMALS), upto(_THINGS), upto(_FOOD)
        self.places, self.looks, self.moods = upto(_PLACES), upto(_LOOKS), upto(_MOODS)
        self.adjectives = self.looks + self.moods
        self.noisy = tuple(a for a in self.animals if a[2])
        self.motion = tuple(verb(v) for v in upto(_MOTION))
        self.still = tuple(verb(v) for v in upto(_STILL))
        self.transitive = tuple(verb(v) for v in upto(_TRANSITIVE))
        self.eat = tuple(verb(v) for v in ("eat", "want", "like", "have"))
        self.preps, self.when = upto(_PREPOSITIONS) or ("in",), upto(_WHEN)
