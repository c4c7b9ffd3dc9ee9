"""Derived copies of a real book, as near-duplicate detection meets them in a collection: an
abridged edition, the same text wrapped at another width, under another licence header, with a
share of its words edited. Deterministic for a seed; the tests and `make bench-books` build them
from the sample's books.
"""

from __future__ import annotations

import random
import re
import textwrap

_PARAGRAPHS = re.compile(r"\n\s*\n")

OLD_HEADER = """The Project Gutenberg Etext of {title}

*****These eBooks Were Prepared By Thousands of Volunteers!*****

**Welcome To The World of Free Plain Vanilla Electronic Texts**

*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.02/11/02*END*

"""
OLD_FOOTER = """

End of The Project Gutenberg Etext of {title}
"""


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in _PARAGRAPHS.split(text) if p.strip()]


def abridged(text: str, share: float = 0.6, seed: int = 0) -> str:
    """`share` of the paragraphs, chosen at random and kept in order: passages cut out."""
    parts = paragraphs(text)
    rng = random.Random(seed)  # noqa: S311 (seeded sample variants)
    keep = sorted(rng.sample(range(len(parts)), max(1, round(len(parts) * share))))
    return "\n\n".join(parts[i] for i in keep)


def rewrapped(text: str, width: int = 55) -> str:
    """Each paragraph's lines joined and wrapped again at `width` columns."""
    return "\n\n".join(textwrap.fill(" ".join(p.split()), width) for p in paragraphs(text))


def relicensed(text: str, title: str) -> str:
    """The text inside a 1990s Project Gutenberg header and footer."""
    return OLD_HEADER.format(title=title) + text + OLD_FOOTER.format(title=title)


def edited(text: str, share: float = 0.05, seed: int = 0) -> str:
    """`share` of the words replaced by other words of the same text, at random."""
    rng = random.Random(seed)  # noqa: S311 (seeded sample variants)
    tokens = re.split(r"(\s+)", text)
    words = [i for i, t in enumerate(tokens) if t and not t.isspace()]
    vocabulary = sorted({tokens[i] for i in words})
    for i in rng.sample(words, round(len(words) * share)):
        tokens[i] = rng.choice(vocabulary)
    return "".join(tokens)
