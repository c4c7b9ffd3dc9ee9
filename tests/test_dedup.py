"""CCNet's line dedup without Beam: normalisation, hash, the per-document rule."""

from __future__ import annotations

import hashlib
import re
import sys

import numpy as np
import pytest

from filters.base import KEEP, Decision
from filters.dedup import (
    EMPTY_LINE_HASH,
    dedup_lines,
    document_hashes,
    line_hash,
    line_hashes,
    normalize_for_dedup,
)
from filters.text_normalizer import UNICODE_PUNCT

# CCNet's own implementation (cc_net/text_normalizer.py), regexes and all, as the oracle.
_CCNET_DELETED = re.compile(
    "[" + "".join(UNICODE_PUNCT) + "".join(map(chr, [*range(32), *range(127, 160)])) + "]"
)


def ccnet_normalize_for_dedup(line: str) -> str:
    line = line.strip()
    if not line:
        return line
    return _CCNET_DELETED.sub("", re.sub(r"\d", "0", line.lower()))


def sha1_u64(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "little")


def test_ccnet_example():
    assert normalize_for_dedup("  Café, 2019 — «Test»!  ") == "café, 0000  test!"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Call 555-0199 now", "call 000-0000 now"),
        ("٢٠١٩ and ۱۲ and १२३", "0000 and 00 and 000"),  # Arabic-Indic, Persian, Devanagari
        ("１２３ full-width", "000 full-width"),  # "１" is in UNICODE_PUNCT, but digits win
        ("a，b。c、d„e”f“g«h»i", "abcdefghi"),
        ("「x」《y》´∶：？！（）；–—．～’…━〈〉【】％►z", "xyz"),
        ("a\x00b\x07c\x1fd\x7fe\x85f\x9fg", "abcdefg"),
        ("tab\there", "tabhere"),  # a control character inside a line is deleted, not a space
        ("Ÿ Élan naïve ÅNGSTRÖM", "ÿ élan naïve ångström"),
        (
            "ASCII punctuation: (kept) \"all\" of it; 'yes'?!",
            "ascii punctuation: (kept) \"all\" of it; 'yes'?!",
        ),
        ("   \t  ", ""),
        ("\u00a0 nbsp-stripped \u2003", "nbsp-stripped"),
    ],
)
def test_normalize_for_dedup(line, expected):
    assert normalize_for_dedup(line) == expected
    assert ccnet_normalize_for_dedup(line) == expected


def test_each_of_the_34_unicode_punct_characters_is_deleted():
    assert len(UNICODE_PUNCT) == 34
    for ch in UNICODE_PUNCT:
        assert normalize_for_dedup(f"a{ch}b") == ("a0b" if ch == "１" else "ab"), ch


def test_every_code_point_matches_ccnet():
    code_points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(code_points), 512):
        chunk = "x" + "".join(map(chr, code_points[start : start + 512])) + "x"
        assert normalize_for_dedup(chunk) == ccnet_normalize_for_dedup(chunk), hex(start)


def test_line_hash_is_the_little_endian_sha1_prefix():
    # sha1(b"hello world") = 2aae6c35c94fcfb4..., read little-endian.
    assert line_hash("Hello World") == 13028719972609469994
    assert line_hash("Hello World") == int.from_bytes(bytes.fromhex("2aae6c35c94fcfb4"), "little")
    for line, normalised in [
        ("  Café, 2019 — «Test»!  ", "café, 0000  test!"),
        ("Privacy Policy", "privacy policy"),
        ("１２ Ünïcödé ٣", "00 ünïcödé 0"),
        ("", ""),
    ]:
        assert line_hash(line) == sha1_u64(normalised)


def test_ascii_fast_path_equals_the_general_one():
    every_ascii = "".join(map(chr, range(128)))
    for line in [every_ascii, every_ascii.upper(), "Plain 42 words\x7f.", "\x01lead", "K"]:
        assert line_hash(line) == sha1_u64(normalize_for_dedup(line)), repr(line)


def _check_line_hashes(text: str) -> None:
    lines = text.split("\n")
    hashes, nonempty = line_hashes(text)
    assert hashes.dtype == np.uint64 and nonempty.dtype == bool
    assert hashes.tolist() == [line_hash(line) for line in lines], repr(text)
    assert nonempty.tolist() == [bool(normalize_for_dedup(line)) for line in lines], repr(text)


def test_line_hashes_of_every_code_point_equal_line_hash():
    code_points = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(code_points), 512):
        _check_line_hashes("x" + "".join(map(chr, code_points[start : start + 512])) + "x")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n",
        " \n\t\n",
        "Plain 42 words\nSecond LINE",
        " leading\ntrailing \n\xa0nbsp\xa0\n\u3000ideographic\u3000",
        "\x07 a\na \x1c\n\x1c a \x07",  # strip first, then delete: spaces survive inside
        "« hello\nhello »\n—\n «» \n\x07",  # deleted characters at the edges; lines of nothing
        "tab\there\r\ncarriage\r\n\x85nel\x85\nLS\u2028inside",
        "ΟΔΟΣ ΣΑΣ\nΣ\nσΣ.\nΌΣΟΣ",  # final sigma depends on the neighbours
        "İstanbul \u212a KELVIN ẞ Ǆ\n١٢٣ and ۱۲ and १२३\n１２３ full-width",
        "Café, 2019 — «Test»!\n「x」《y》´∶：？！（）；–—．～’…━〈〉【】％►z",
        "same\nSAME\n\nsame 1\nsame 2",
        "\ud800 lone surrogate",
    ],
)
def test_line_hashes_equal_line_hash_line_by_line(text):
    _check_line_hashes(text)


def test_line_hashes_of_random_mixtures():
    rng = np.random.default_rng(3)
    pool = [
        *" \t\n\r\x0b\x0c\x1c\x1f\x00\x07\x7f\x85\xa0\u2028\u3000aZ9",
        *"Σσİ\u212aÉé١１«»—’“”…",
        "word",
        "Mixed Case",
    ]
    for _ in range(2000):
        _check_line_hashes("".join(rng.choice(pool, size=rng.integers(0, 30))))


def test_document_hashes_are_distinct_and_skip_empty_lines():
    lines = ["Same line", "", "  same LINE ", "   ", "Other 1", "other 2"]
    assert document_hashes(lines) == {sha1_u64("same line"), sha1_u64("other 0")}


def test_a_line_that_normalises_to_nothing_is_never_counted_and_always_goes():
    # It hashes like the empty string, as in CCNet (which removes such lines once two documents
    # have one, i.e. always on a real crawl); here it goes at once, in a run of any size.
    assert line_hash("—") == line_hash(" «» ") == line_hash("\x07") == EMPTY_LINE_HASH
    assert (
        EMPTY_LINE_HASH
        == sha1_u64("")
        == int.from_bytes(bytes.fromhex("da39a3ee5e6b4b0d"), "little")
    )
    assert document_hashes(["—", " «» ", "\x07", "Text"]) == {sha1_u64("text")}
    # One document alone: nothing is duplicated, yet its lines of nothing go.
    kept = dedup_lines(["«", "Real text", "—", "\x07", "More text", "»"], set())
    assert (kept.lines, kept.line_ids) == (["Real text", "More text"], [1, 4])
    assert dedup_lines(["—", "«»"], set()).decision == Decision.drop("dedup_empty")
    _hashes, content = line_hashes("«\nReal text\n—\n \nMore")
    assert content.tolist() == [False, True, False, False, True]


def test_a_duplicated_line_goes_everywhere_the_first_copy_included():
    docs = [
        ["Cookie banner", "first text", "Shared 2020"],
        ["Shared 1999", "second text", "cookie banner"],
    ]
    counts: dict[int, int] = {}
    for lines in docs:
        for h in document_hashes(lines):
            counts[h] = counts.get(h, 0) + 1
    duplicated = {h for h, c in counts.items() if c >= 2}
    assert duplicated == {sha1_u64("cookie banner"), sha1_u64("shared 0000")}
    assert dedup_lines(docs[0], duplicated) == (["first text"], [1], KEEP)
    assert dedup_lines(docs[1], duplicated) == (["second text"], [1], KEEP)


def test_in_document_repeats_are_kept_once_and_empty_lines_go():
    lines = ["Title", "", "body 1", "  ", "BODY 2", "title", "tail"]
    kept = dedup_lines(lines, set())
    assert kept.lines == ["Title", "body 1", "tail"]
    assert kept.line_ids == [0, 2, 6]
    assert kept.decision == KEEP


def test_a_document_left_empty_is_dropped():
    lines = ["", "menu", "menu", "  footer  "]
    kept = dedup_lines(lines, {sha1_u64("menu"), sha1_u64("footer")})
    assert kept == ([], [], Decision.drop("dedup_empty"))
    assert dedup_lines(["", " \t "], set()).decision == Decision.drop("dedup_empty")


def test_dedup_lines_takes_the_hashes_the_caller_has():
    lines = ["Title", "", "menu", "body", "title"]
    hashes, _ = line_hashes("\n".join(lines))
    kept = dedup_lines(lines, {sha1_u64("menu")}, hashes.tolist())
    assert kept == dedup_lines(lines, {sha1_u64("menu")}) == (["Title", "body"], [0, 3], KEEP)
    with pytest.raises(ValueError):
        dedup_lines(lines, set(), hashes.tolist()[:-1])
