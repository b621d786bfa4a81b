"""Domain cleaners: small pure `str -> str` functions kept in a registry users extend by name.

`@register_cleaner("scientific")` adds one; `get_cleaner(name)` finds it; `clean(text, names)` runs
the chosen cleaners then `default`. Standard library only: no datasets, transformers, gradio, studio.
"""

from __future__ import annotations

import html
import re
from typing import Callable, Iterable

from core.errors import UserError

Cleaner = Callable[[str], str]

# The one piece of module-level mutable state the design allows: name -> cleaner.
_CLEANERS: dict[str, Cleaner] = {}


def register_cleaner(*names: str, replace: bool = False) -> Callable[[Cleaner], Cleaner]:
    """Decorator: register a `str -> str` cleaner under one or more names.

    A name already taken raises ValueError unless `replace=True` (to swap a built-in on purpose).
    """
    if not names:
        raise ValueError("register_cleaner needs at least one name")

    def decorate(func: Cleaner) -> Cleaner:
        for name in names:
            if name in _CLEANERS and not replace and _CLEANERS[name] is not func:
                raise ValueError(f"a cleaner named {name!r} is already registered (pass replace=True)")
            _CLEANERS[name] = func
        return func

    return decorate


def cleaner_names() -> list[str]:
    """Every registered cleaner name, sorted."""
    return sorted(_CLEANERS)


def get_cleaner(name: str, flag: str = "--clean-domains") -> Cleaner:
    """The cleaner registered as `name`; an unknown name is a UserError listing the known ones."""
    try:
        return _CLEANERS[name]
    except KeyError:
        raise UserError(
            f"{flag}: unknown cleaning domain {name!r}; known: {', '.join(cleaner_names())} "
            "(or 'all'; register your own with core.data.cleaning.register_cleaner)"
        ) from None


def parse_clean_domains(value: str | Iterable[str] | None) -> list[str]:
    """`"wikipedia,subtitles"`, `"all"` or a list -> names, each checked (unknown: UserError)."""
    names = [n.strip() for n in (value.split(",") if isinstance(value, str) else value or ()) if n.strip()]
    for name in names:
        if name != "all":
            get_cleaner(name)
    return names


def clean(text: str, names: Iterable[str] = ()) -> str:
    """Run the named cleaners in order, then `default` (whitespace normalisation) last."""
    for name in names:
        if name != "default":
            text = get_cleaner(name)(text)
    return get_cleaner("default")(text)


# ---- shared pieces -------------------------------------------------------------------------

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b\u3000]+")
_SPACE_BEFORE_PUNCT = re.compile(r" ([.,;:!?])(?=\s|$|[\"'’”)])")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MANY_BLANKS = re.compile(r"\n{3,}")


def _fix_spacing(text: str) -> str:
    """Collapse runs of spaces and drop the space tokenised corpora put before punctuation."""
    text = _SPACES.sub(" ", text)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def _keep_lines(text: str, keep: Callable[[str], bool]) -> str:
    return "\n".join(line for line in text.split("\n") if keep(line))


# ---- built-ins -----------------------------------------------------------------------------


@register_cleaner("default")
def normalize_whitespace(text: str) -> str:
    """Unix newlines, no BOM or control characters, single spaces, trimmed lines, <= 1 blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    text = _CONTROL.sub("", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    # Blank lines separate documents: keep one, never several, never at the ends.
    return _MANY_BLANKS.sub("\n\n", text).strip("\n") + "\n" if text.strip() else ""


_WIKI_HEADING = re.compile(r"^\s*(=+)\s*(.+?)\s*\1\s*$", re.MULTILINE)
_HTML_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,200}>")
_WIKI_LEFTOVER = re.compile(r"\[\[(?:[^\]|]*\|)?([^\]]*)\]\]|\{\{[^{}\n]*\}\}|\[\d+\]")


@register_cleaner("wikipedia", "simple_wikipedia", "simple_wiki")
def clean_wikipedia(text: str) -> str:
    """`= = = Title = = =` headings become plain title lines; HTML tags, refs and templates go."""
    text = _WIKI_HEADING.sub(lambda m: m.group(2).strip("= "), text)
    text = html.unescape(_HTML_TAG.sub("", text))
    text = _WIKI_LEFTOVER.sub(lambda m: m.group(1) or "", text)
    return _fix_spacing(text)


_SUBTITLE_CREDIT = re.compile(r"^.*(subtitle|subtitulo|sync|corrected by|opensubtitles).*$", re.IGNORECASE | re.MULTILINE)
_SOUND_CUE = re.compile(r"\[[^\]\n]*\]|\([A-Z][A-Za-z ]*\)|♪+|<[^>\n]*>")
_DASH_START = re.compile(r"^\s*-\s*", re.MULTILINE)


@register_cleaner("subtitles", "open_subtitles")
def clean_subtitles(text: str) -> str:
    """Drop subtitle credits, `[music]`/`(LAUGHS)` cues, ♪ and leading dialogue dashes."""
    text = _SUBTITLE_CREDIT.sub("", text)
    text = _SOUND_CUE.sub("", text)
    text = _DASH_START.sub("", text)
    return _fix_spacing(text)


_SPEAKER = re.compile(r"^\s*(?:\*?[A-Z][A-Za-z0-9]{0,7}|[A-Z]{1,3}\d*)\s*:\s*", re.MULTILINE)
_TRANSCRIPT_NOISE = re.compile(r"\{[^}\n]*\}|\[[^\]\n]*\]|<[^>\n]*>")


@register_cleaner("dialogue", "switchboard", "bnc_spoken")
def clean_dialogue(text: str) -> str:
    """Transcribed speech: drop speaker labels (`A:`, `B:`) and bracketed annotations."""
    text = _SPEAKER.sub("", text)
    text = _TRANSCRIPT_NOISE.sub("", text)
    return _fix_spacing(text)


_CHAT_TIER = re.compile(r"^\s*\*[A-Z]{2,4}:\s*", re.MULTILINE)
_CHAT_CODES = re.compile(r"\[[^\]\n]*\]|&=\S+|&[-+]?\S+|\b(?:xxx|yyy|www)\b|\(\.+\)|\+[./!?,\"<]+|\x15\d+_\d+\x15")


@register_cleaner("childes", "aochildes")
def clean_childes(text: str) -> str:
    """CHILDES / CHAT: drop `*CHI:` speaker tags, `%mor` and `@header` lines, CHAT codes."""
    text = _keep_lines(text, lambda line: not line.lstrip().startswith(("%", "@")))
    text = _CHAT_TIER.sub("", text)
    text = _CHAT_CODES.sub("", text)
    return _fix_spacing(text)


_PG_START = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.IGNORECASE | re.MULTILINE)
_PG_END = re.compile(
    r"^\s*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the )?Project Gutenberg).*$",
    re.IGNORECASE | re.MULTILINE,
)
_PG_PRODUCED = re.compile(r"\A\s*(?:Produced by|E-text prepared by)[^\n]*(?:\n[^\n]+)*\n", re.IGNORECASE)


@register_cleaner("gutenberg")
def clean_gutenberg(text: str) -> str:
    """Keep only the book: cut the Project Gutenberg header (licence, metadata) and footer."""
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    start = _PG_START.search(text)
    if start:
        text = _PG_PRODUCED.sub("", text[start.end() :])
    end = _PG_END.search(text)
    if end:
        text = text[: end.start()]
    return _fix_spacing(text)


_PTB_QUOTES = (
    ("`` ", '"'),
    ("``", '"'),
    (" ''", '"'),
    ("''", '"'),
    (r"-LRB-", "("),
    (r"-RRB-", ")"),
    (r"-LSB-", "["),
    (r"-RSB-", "]"),
    (r"-LCB-", "{"),
    (r"-RCB-", "}"),
)
_SPACE_BEFORE_CLITIC = re.compile(r"(\w) (n't|'s|'re|'ve|'ll|'d|'m|’s|’re|’ll|’ve|’d|’m)\b", re.IGNORECASE)


@register_cleaner("stories", "cbt", "children_stories")
def clean_stories(text: str) -> str:
    """Children's books (CBT is tokenised): undo ``quotes'', -LRB-, `do n't`, space before punct."""
    for token, char in _PTB_QUOTES:
        text = text.replace(token, char)
    text = _SPACE_BEFORE_CLITIC.sub(r"\1\2", text)
    text = re.sub(r"\( ", "(", re.sub(r" \)", ")", text))
    return _fix_spacing(text)


_QED_CUE = re.compile(r"\((?:[A-Za-z ]+)\)|<[^>\n]*>")


def _sentence_case(line: str) -> str:
    # ALL-CAPS subtitle lines: OCR often reads capital I as l; lower-case, then re-capitalise.
    line = line.strip().replace("l", "I").lower()
    return re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), re.sub(r"\bi\b", "I", line))


@register_cleaner("qed")
def clean_qed(text: str) -> str:
    """QED lecture subtitles: drop `(Laughter)` cues and entities; sentence-case ALL-CAPS lines."""
    lines = []
    for line in _QED_CUE.sub("", html.unescape(text)).split("\n"):
        letters = [c for c in line if c.isalpha()]
        if letters and sum(c.isupper() for c in letters) / len(letters) >= 0.5 and len(letters) > 3:
            line = _sentence_case(line)
        lines.append(line)
    return _fix_spacing("\n".join(lines))
