"""CCNet's line ("paragraph") dedup, without Beam: the normalisation, the hash and the rule.

The normalisation and the hash are CCNet's (`cc_net/text_normalizer.normalize_for_dedup`,
`cc_net/dedup.py`) bit for bit, so hash sets can be compared with CCNet's: ASCII punctuation and
accents are kept, although the paper says both go. The pipeline (pipelines/linededup.py) counts
in how many documents each hash occurs and hands every document the hashes that occur in two or
more; `dedup_lines` then applies the rule to the document alone.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Container, Iterable
from typing import Final, NamedTuple

from filters.base import KEEP, Decision
from filters.text_normalizer import CONTROL_CHARS, UNICODE_PUNCT


def _build_table() -> dict[int, str | None]:
    """Delete CCNet's punctuation and control characters, then map digits to "0" on top: CCNet
    replaces digits first, so the full-width "１" of UNICODE_PUNCT becomes "0", not nothing."""
    # CONTROL_CHARS spares "\n" for the LM normaliser; CCNet's dedup regex deletes it too.
    table: dict[int, str | None] = dict.fromkeys(map(ord, (*UNICODE_PUNCT, *CONTROL_CHARS, "\n")))
    # str.isdecimal is Unicode category Nd, exactly what CCNet's `\d` matches.
    table.update((cp, "0") for cp in range(sys.maxunicode + 1) if chr(cp).isdecimal())
    return table


_TABLE: Final = _build_table()
_ASCII_DIGITS: Final = bytes.maketrans(b"0123456789", b"0" * 10)
_ASCII_DELETED: Final = bytes(cp for cp in range(0x80) if cp in _TABLE and _TABLE[cp] is None)


def normalize_for_dedup(line: str) -> str:
    """Strip, lower-case, digits to "0", delete UNICODE_PUNCT and control characters."""
    return line.strip().lower().translate(_TABLE)


def _normalized_utf8(line: str) -> bytes:
    """`normalize_for_dedup(line)` as UTF-8; an ASCII line (most of an English crawl) takes one
    C-level `bytes.translate` instead of a dict lookup per character, about 4x faster."""
    text = line.strip().lower()
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_DIGITS, _ASCII_DELETED)
    # "surrogatepass" gives the same bytes as strict UTF-8 for valid text and cannot raise.
    return text.translate(_TABLE).encode("utf-8", "surrogatepass")


def line_hash(line: str) -> int:
    """First 8 bytes of SHA-1 of the normalised line, little-endian: CCNet's uint64 hash."""
    return int.from_bytes(hashlib.sha1(_normalized_utf8(line)).digest()[:8], "little")


def document_hashes(lines: Iterable[str]) -> set[int]:
    """The distinct hashes of a document's non-empty lines: what the document contributes to the
    per-hash document count. A line repeated inside one document counts once, so it is not a
    cross-document duplicate by itself."""
    return {line_hash(line) for line in lines if line.strip()}


class Deduplicated(NamedTuple):
    lines: list[str]
    line_ids: list[int]
    decision: Decision


def dedup_lines(lines: Iterable[str], duplicated: Container[int]) -> Deduplicated:
    """Keep a line unless it is empty, its hash occurs in two or more documents (`duplicated`:
    every copy goes, the first included) or it repeats an earlier line of this document."""
    kept: list[str] = []
    line_ids: list[int] = []
    seen: set[int] = set()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        h = line_hash(line)
        if h in duplicated or h in seen:
            continue
        seen.add(h)
        kept.append(line)
        line_ids.append(i)
    return Deduplicated(kept, line_ids, KEEP if kept else Decision.drop("dedup_empty"))
