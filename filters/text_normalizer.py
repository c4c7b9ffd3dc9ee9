"""The text normalisation applied before SentencePiece + KenLM, for training and for scoring alike.

It reproduces CCNet's `text_normalizer.normalize` (lower-case, strip accents, digits to 0,
typographic punctuation to ASCII, no control characters) with two fixes: "\\n" survives, so a
page is scored line by line instead of as one glued sentence, and a tab separates words instead of
gluing them ("a\\tb" is "a b", where CCNet made "ab"). Runs of whitespace inside a line become
one space and lines are stripped, which SentencePiece would do anyway, so the training text and the
scored text have the same shape.
"""

from __future__ import annotations

import sys
import unicodedata
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


def _build_table() -> dict[int, str | None]:
    """One `str.translate` table for everything that maps a single character after NFD.

    Applying it once is equivalent to CCNet's chain (drop Mn, then digits, then punctuation, then
    control characters) because no character is in two of those classes except "１", where the
    digit rule comes first in CCNet and therefore wins here too.
    """
    table: dict[int, str | None] = {ord(k): v for k, v in UNICODE_PUNCT.items()}
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        if ch.isdecimal():  # exactly what CCNet's `\d` matches: Unicode category Nd
            table[cp] = "0"
        elif unicodedata.category(ch) == "Mn":
            table[cp] = None
    table.update(dict.fromkeys(map(ord, CONTROL_CHARS)))
    table[ord("\t")] = " "
    return table


_TABLE: Final = _build_table()


def normalize_for_lm(text: str) -> str:
    """CCNet's LM normalisation, keeping line breaks; empty lines stay (as "")."""
    text = unicodedata.normalize("NFD", text.lower()).translate(_TABLE)
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))
