"""CCNet's line ("paragraph") dedup, without Beam: the normalisation, the hash and the rule.

The normalisation and the hash are CCNet's (`cc_net/text_normalizer.normalize_for_dedup`,
`cc_net/dedup.py`) bit for bit, so hash sets can be compared with CCNet's: ASCII punctuation and
accents are kept, although the paper says both go. `line_hash` is the definition, one line at a
time; `line_hashes` gives the same values for a whole document in a few passes over its text,
which is what the pipeline (pipelines/linededup.py) runs. The pipeline counts in how many
documents each hash occurs and hands every document the hashes that occur in two or more;
`dedup_lines` then applies the rule to the document alone.

A line that normalises to nothing (blank, or only CCNet's deleted punctuation and control
characters: "—", "«", "\x07") is dropped from every document and never counted. CCNet hashes it
like the empty string, and since blank and such lines occur in far more than two documents of
any real crawl, CCNet removes them all too; deciding it per line instead gives the same result
on a crawl, makes a small run (a test, a sample) behave like a large one, and keeps the most
frequent of all keys out of the dedup shuffle (docs/recipe/commoncrawl.md §2, "Lines that
normalise to nothing").
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Iterable, Sequence
from typing import Final, NamedTuple

import numpy as np

from filters.base import KEEP, Decision
from filters.text_normalizer import CONTROL_CHARS, UNICODE_PUNCT, marked_code_points


def _build_table() -> dict[int, str | None]:
    """Delete CCNet's punctuation and control characters, then map digits to "0" on top: CCNet
    replaces digits first, so the full-width "１" of UNICODE_PUNCT becomes "0", not nothing."""
    # CONTROL_CHARS spares "\n" for the LM normaliser; CCNet's dedup regex deletes it too.
    table: dict[int, str | None] = dict.fromkeys(map(ord, (*UNICODE_PUNCT, *CONTROL_CHARS, "\n")))
    # str.isdecimal is Unicode category Nd, exactly what CCNet's `\d` matches.
    table.update((cp, "0") for cp in marked_code_points() if chr(cp).isdecimal())
    return table


_TABLE: Final = _build_table()
_ASCII_DIGITS: Final = bytes.maketrans(b"0123456789", b"0" * 10)
_ASCII_DELETED: Final = bytes(cp for cp in range(0x80) if cp in _TABLE and _TABLE[cp] is None)

# line_hashes works on the UTF-8 text: UTF-8 never puts an ASCII byte inside a multi-byte
# character, so one bytes.translate does the ASCII part of the normalisation ("\n" kept to split
# on), and deleting every ASCII byte leaves exactly the non-ASCII characters.
_ASCII_LOWER_DIGITS: Final = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"abcdefghijklmnopqrstuvwxyz" + b"0" * 10
)
_ASCII_DELETED_BUT_NEWLINE: Final = _ASCII_DELETED.replace(b"\n", b"")
_ASCII_BYTES: Final = bytes(range(0x80))
# What str.strip() strips in ASCII, but " " and "\n".
_ASCII_OTHER_SPACE: Final = bytes(
    cp for cp in range(0x80) if chr(cp).isspace() and cp not in b" \n"
)
_NON_ASCII_DELETED: Final = frozenset(
    chr(cp) for cp, to in _TABLE.items() if cp >= 0x80 and to is None
)
# Python's only context-dependent lower-casing: a final capital sigma becomes "ς", not "σ".
_CAPITAL_SIGMA: Final = "\u03a3"
_SHA1_DIGEST: Final = type(hashlib.sha1(usedforsecurity=False)).digest
_DIGEST_PREFIX: Final = np.dtype([("hash", "<u8"), ("rest", "V12")])
# The hash of every line that normalises to nothing.
EMPTY_LINE_HASH: Final = int.from_bytes(
    hashlib.sha1(b"", usedforsecurity=False).digest()[:8], "little"
)


def normalize_for_dedup(line: str) -> str:
    """Strip, lower-case, digits to "0", delete UNICODE_PUNCT and control characters."""
    return line.strip().lower().translate(_TABLE)


def _utf8(text: str) -> bytes:
    # "surrogatepass" gives the same bytes as strict UTF-8 for valid text and cannot raise.
    return text.encode("utf-8", "surrogatepass")


def _normalized_utf8(line: str) -> bytes:
    """`normalize_for_dedup(line)` as UTF-8; an ASCII line (most of an English crawl) takes one
    C-level `bytes.translate` instead of a dict lookup per character, about 4x faster."""
    text = line.strip().lower()
    if text.isascii():
        return text.encode("ascii").translate(_ASCII_DIGITS, _ASCII_DELETED)
    return _utf8(text.translate(_TABLE))


def line_hash(line: str) -> int:
    """First 8 bytes of SHA-1 of the normalised line, little-endian: CCNet's uint64 hash."""
    digest = hashlib.sha1(_normalized_utf8(line), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "little")


def _needs_strip(data: bytes, non_ascii: set[str]) -> bool:
    """Whether a line of `data` may start or end with whitespace; conservative: any whitespace
    but " " and "\\n" anywhere says yes (WET lines come stripped, so this is rarely true)."""
    return (
        data[:1].isspace()
        or data[-1:].isspace()
        or b" \n" in data
        or b"\n " in data
        or len(data.translate(None, _ASCII_OTHER_SPACE)) != len(data)
        or any(ch.isspace() for ch in non_ascii)
    )


def _normalized_lines(text: str, data: bytes, non_ascii: set[str]) -> bytes:
    """`normalize_for_dedup` of each line of `text` (`data` in UTF-8, its lines stripped),
    joined by "\\n". Per character the steps commute (lower-casing makes no digit or deleted
    character and leaves those as they are), so they run on the whole text: one `bytes.replace`
    per distinct non-ASCII character that changes, one `bytes.translate` for the ASCII ones.
    `str.translate` with CCNet's table would look up every character in a dict, ~10x slower."""
    if _CAPITAL_SIGMA in non_ascii:
        data = _utf8(text.lower())  # the sigma's form depends on its neighbours in the line
    else:
        for ch in non_ascii:
            lower = ch.lower()
            if lower != ch:
                data = data.replace(_utf8(ch), _utf8(lower))
    for ch in non_ascii:
        if ch.isdecimal():
            data = data.replace(_utf8(ch), b"0")
        elif ch in _NON_ASCII_DELETED:
            data = data.replace(_utf8(ch), b"")
    return data.translate(_ASCII_LOWER_DIGITS, _ASCII_DELETED_BUT_NEWLINE)


def line_hashes(text: str) -> tuple[np.ndarray, np.ndarray]:
    """(`line_hash` of each line of `text.split("\\n")` as uint64, whether the line has content
    once normalised), aligned with the lines; twice as fast as `line_hash` line by line."""
    data = _utf8(text)
    non_ascii = (
        set()
        if text.isascii()
        else set(data.translate(None, _ASCII_BYTES).decode("utf-8", "surrogatepass"))
    )
    if _needs_strip(data, non_ascii):
        text = "\n".join([line.strip() for line in text.split("\n")])
        data = _utf8(text)
    normalized = _normalized_lines(text, data, non_ascii).split(b"\n")
    digests = b"".join(map(_SHA1_DIGEST, map(hashlib.sha1, normalized)))
    hashes = np.frombuffer(digests, _DIGEST_PREFIX)["hash"].copy()
    return hashes, hashes != np.uint64(EMPTY_LINE_HASH)


def document_hashes(lines: Iterable[str]) -> set[int]:
    """The distinct hashes of a document's lines that have content once normalised: what the
    document contributes to the per-hash document count. A line repeated inside one document
    counts once, so it is not a cross-document duplicate by itself."""
    return {h for h in map(line_hash, lines) if h != EMPTY_LINE_HASH}


class Deduplicated(NamedTuple):
    lines: list[str]
    line_ids: list[int]
    decision: Decision


def dedup_lines(
    lines: Sequence[str], duplicated: Container[int], hashes: Iterable[int] | None = None
) -> Deduplicated:
    """Keep a line unless it normalises to nothing, its hash occurs in two or more documents
    (`duplicated`: every copy goes, the first included) or it repeats an earlier line of this
    document.

    `hashes`: the lines' `line_hash` values when the caller has them (`line_hashes`), so that
    they are not computed twice."""
    kept: list[str] = []
    line_ids: list[int] = []
    seen: set[int] = set()
    if hashes is None:
        hashes = map(line_hash, lines)
    for i, (line, h) in enumerate(zip(lines, hashes, strict=True)):
        if h == EMPTY_LINE_HASH or h in duplicated or h in seen:
            continue
        seen.add(h)
        kept.append(line)
        line_ids.append(i)
    return Deduplicated(kept, line_ids, KEEP if kept else Decision.drop("dedup_empty"))
