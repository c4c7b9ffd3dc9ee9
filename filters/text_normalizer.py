"""The text normalisation applied before SentencePiece + KenLM, for training and for scoring alike.

It reproduces CCNet's `text_normalizer.normalize` (lower-case, strip accents, digits to 0,
typographic punctuation to ASCII, no control characters) with two fixes: "\\n" survives, so a
page is scored line by line instead of as one glued sentence, and a tab separates words instead of
gluing them ("a\\tb" is "a b", where CCNet made "ab"). Runs of whitespace inside a line become
one space and lines are stripped, which SentencePiece would do anyway, so the training text and the
scored text have the same shape.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterator
from typing import Final

# CCNet's `UNICODE_PUNCT` verbatim (cc_net/text_normalizer.py). CCNet replaces digits before this
# map, so the full-width "１" becomes "0" and its entry here never applies; it is kept so the
# table stays a faithful copy that the dedup normaliser can delete characters by.
UNICODE_PUNCT: Final[dict[str, str]] = {
    "，": ",",
    "。": ".",
    "、": ",",
    "„": '"',
    "”": '"',
    "“": '"',
    "«": '"',
    "»": '"',
    "１": '"',
    "」": '"',
    "「": '"',
    "《": '"',
    "》": '"',
    "´": "'",
    "∶": ":",
    "：": ":",
    "？": "?",
    "！": "!",
    "（": "(",
    "）": ")",
    "；": ";",
    "–": "-",
    "—": " - ",
    "．": ". ",
    "～": "~",
    "’": "'",
    "…": "...",
    "━": "-",
    "〈": "<",
    "〉": ">",
    "【": "[",
    "】": "]",
    "％": "%",
    "►": "-",
}

# U+0000–U+001F and U+007F–U+009F, as CCNet's NON_PRINTING_CHARS_RE, minus the newline.
CONTROL_CHARS: Final[frozenset[str]] = frozenset(
    chr(c) for c in (*range(0x20), *range(0x7F, 0xA0)) if c != ord("\n")
)


def marked_code_points() -> Iterator[int]:
    """The code points that can be decimal digits (Nd) or nonspacing marks (Mn): the first two
    planes and plane 14. Every process builds its tables at import, and looping over these is ~8x
    faster than over all 1.1M code points (tests/test_text_normalizer.py checks that nothing of
    either category lies outside them in this Python's Unicode database)."""
    return itertools.chain(range(0x20000), range(0xE0000, 0xE1000))


def _build_table() -> dict[int, str | None]:
    """One `str.translate` table for everything that maps a single character after NFD.

    Applying it once is equivalent to CCNet's chain (drop Mn, then digits, then punctuation, then
    control characters) because no character is in two of those classes except "１", where the
    digit rule comes first in CCNet and therefore wins here too.
    """
    table: dict[int, str | None] = {ord(k): v for k, v in UNICODE_PUNCT.items()}
    for cp in marked_code_points():
        ch = chr(cp)
        if ch.isdecimal():  # exactly what CCNet's `\d` matches: Unicode category Nd
            table[cp] = "0"
        elif unicodedata.category(ch) == "Mn":
            table[cp] = None
    table.update(dict.fromkeys(map(ord, CONTROL_CHARS)))
    table[ord("\t")] = " "
    return table


_TABLE: Final = _build_table()
# The ASCII part of _TABLE as a `bytes.translate` table and delete set: digits to "0", a tab to a
# space, the other C0 controls and DEL deleted.
_ASCII_MAP: Final = bytes.maketrans(b"0123456789\t", b"0000000000 ")
_ASCII_DELETE: Final = bytes(cp for cp in range(0x80) if _TABLE.get(cp, chr(cp)) is None)
# Past this many distinct non-ASCII characters to change, one `str.replace` each costs more than
# one `str.translate` over the whole text (the two break even at about 80).
_MAX_REPLACED: Final = 64


def _candidates() -> re.Pattern[str]:
    """A regex class of the non-ASCII characters that _TABLE may change: those of the BMP that it
    does (about 260 ranges, which `re` compiles to a bitmap, a few ns per character) and every
    astral character (its ranges there would be searched one by one, 50x slower)."""
    ranges: list[list[int]] = []
    for cp in sorted(cp for cp in _TABLE if 0x80 <= cp <= 0xFFFF):
        if ranges and ranges[-1][1] == cp - 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    bmp = "".join(f"\\u{a:04x}-\\u{b:04x}" for a, b in ranges)
    return re.compile(f"[{bmp}\\U00010000-\\U0010ffff]")


_CANDIDATES: Final = _candidates()


def _translate(text: str) -> str:
    """`NFD(text.lower()).translate(_TABLE)`, the same string, about 4x faster on English pages.

    `str.translate` with a dict looks every character up (most of the cost of normalising). Here
    the ASCII characters go through one C-level `bytes.translate` of the UTF-8 (bytes >= 0x80
    are untouched, so multi-byte characters pass intact), and the few distinct non-ASCII
    characters _TABLE changes are found by a regex and replaced one `str.replace` each. Every
    character maps independently and every replacement is ASCII that neither step changes
    again, so the order of the two steps does not matter.
    """
    text = text.lower()
    if text.isascii():  # NFD leaves ASCII as it is
        return text.encode("ascii").translate(_ASCII_MAP, _ASCII_DELETE).decode("ascii")
    text = unicodedata.normalize("NFD", text)
    # "surrogatepass" round-trips lone surrogates, which _TABLE leaves alone too.
    text = (
        text.encode("utf-8", "surrogatepass")
        .translate(_ASCII_MAP, _ASCII_DELETE)
        .decode("utf-8", "surrogatepass")
    )
    found = [char for char in set(_CANDIDATES.findall(text)) if ord(char) in _TABLE]
    if len(found) > _MAX_REPLACED:
        return text.translate(_TABLE)
    for char in found:
        text = text.replace(char, _TABLE[ord(char)] or "")
    return text


def normalize_for_lm(text: str) -> str:
    """CCNet's LM normalisation, keeping line breaks; empty lines stay (as "")."""
    return "\n".join([" ".join(line.split()) for line in _translate(text).split("\n")])


def normalized_lines(text: str) -> list[str]:
    """The non-empty lines of `normalize_for_lm(text)`, without joining the lines only to split
    them again."""
    return [line for raw in translated_lines(text) if (line := " ".join(raw.split()))]


def translated_lines(text: str) -> list[str]:
    """The lines of `normalize_for_lm(text)` before their whitespace is collapsed, empty ones
    included: what the perplexity scorer takes, since its native tokenizer collapses the spaces
    of printable-ASCII lines itself (as SentencePiece does) and the other lines are collapsed
    where they are handed to SentencePiece."""
    return _translate(text).split("\n")
