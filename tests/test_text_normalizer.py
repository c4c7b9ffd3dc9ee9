import random
import re
import sys
import unicodedata

import pytest

from filters.text_normalizer import _TABLE, UNICODE_PUNCT, normalize_for_lm, normalized_lines

SPEC_PUNCT = "，。、„”“«»１」「《》´∶：？！（）；–—．～’…━〈〉【】％►"


def ccnet_normalize(line: str) -> str:
    """CCNet's `text_normalizer.normalize` (punct=1), transcribed step by step as a reference."""
    line = line.strip()
    if not line:
        return line
    line = line.lower()
    line = "".join(c for c in unicodedata.normalize("NFD", line) if unicodedata.category(c) != "Mn")
    line = re.sub(r"\d", "0", line)
    line = "".join(UNICODE_PUNCT.get(c, c) for c in line)
    line = line.replace("\t", " ")  # our one change on a single line: a tab separates words
    return re.sub(f"[{''.join(map(chr, [*range(32), *range(127, 160)]))}]", "", line)


def test_the_example_from_the_brief():
    text = "Café 2019 — “quoted”\nSecond\tline"
    assert normalize_for_lm(text) == 'cafe 0000 - "quoted"\nsecond line'


def test_accents_are_stripped_and_case_lowered():
    assert normalize_for_lm("Ça été à Zürich, Ångström naïve São Paulo ÑANDÚ") == (
        "ca ete a zurich, angstrom naive sao paulo nandu"
    )
    assert normalize_for_lm("Άλφα Ωμέγα") == "αλφα ωμεγα"  # Greek tonos is a combining mark
    assert normalize_for_lm("Straße ØL Łódź") == "straße øl łodz"  # no decomposition: kept
    # NFD splits Hangul syllables into jamo, as CCNet's normaliser does.
    assert normalize_for_lm("한") == "\u1112\u1161\u11ab"


def test_every_decimal_digit_becomes_zero_other_numerals_stay():
    assert normalize_for_lm("2019 ٣٤ ३ ১ １２ 𝟕") == "0000 00 0 0 00 0"
    assert normalize_for_lm("x² ½ Ⅻ") == "x² ½ ⅻ"  # not decimal digits (No, Nl)


def test_unicode_punct_is_ccnets_table():
    assert "".join(UNICODE_PUNCT) == SPEC_PUNCT
    assert len(UNICODE_PUNCT) == 34


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a，b。c、d", "a,b.c,d"),
        ("„a” “b” «c» 「d」 《e》", '"a" "b" "c" "d" "e"'),
        ("l´été l’eau", "l'ete l'eau"),
        ("a∶b：c", "a:b:c"),
        ("ok？ no！", "ok? no!"),
        ("（a）；b", "(a);b"),
        ("1990–1999", "0000-0000"),
        ("word—word", "word - word"),
        ("end．next", "end. next"),
        ("a～b", "a~b"),
        ("wait…", "wait..."),
        ("━► item", "-- item"),
        ("〈a〉【b】", "<a>[b]"),
        ("50％", "00%"),
        ("１", "0"),  # CCNet maps "１" to '"' but turns digits to 0 first
    ],
)
def test_typographic_punctuation_becomes_ascii(text, expected):
    assert normalize_for_lm(text) == expected


def test_each_punctuation_mark_alone():
    for mark, ascii_form in UNICODE_PUNCT.items():
        expected = "a0b" if mark == "１" else "a" + ascii_form.strip() + "b"
        got = normalize_for_lm(f"a{mark}b").replace(" ", "")
        assert got == expected, mark


def test_control_characters_go_newline_stays_tab_separates():
    for code in [*range(0x20), *range(0x7F, 0xA0)]:
        expected = {0x0A: "a\nb", 0x09: "a b"}.get(code, "ab")
        assert normalize_for_lm(f"a{chr(code)}b") == expected, hex(code)
    assert normalize_for_lm("one\r\ntwo\x00\x85\x9f") == "one\ntwo"


def test_spaces_collapse_and_lines_are_stripped_but_kept():
    assert normalize_for_lm("  a   b  \n\n   c\u00a0\u3000d \n") == "a b\n\nc d\n"
    assert normalize_for_lm("") == ""
    assert normalize_for_lm("plain ascii, already normal.") == "plain ascii, already normal."


def test_matches_ccnet_on_single_lines():
    """On a line, CCNet's normaliser plus whitespace collapsing gives exactly ours."""
    pool = (
        "aAzZ  09ÉéàÀçÇñÑüÜøßİıΆάΩ한中\u0301\u0308\u00a0\t\x00\x1f\x7f\x85\x9f"
        "٣३１𝟕²½.,;'\"" + SPEC_PUNCT
    )
    rng = random.Random(0)
    for _ in range(2000):
        line = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert normalize_for_lm(line) == " ".join(ccnet_normalize(line).split()), repr(line)


def reference(text: str) -> str:
    """normalize_for_lm before its fast path: NFD, then one dict `str.translate`, then spaces."""
    text = unicodedata.normalize("NFD", text.lower()).translate(_TABLE)
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def assert_as_reference(text: str) -> None:
    expected = reference(text)
    assert normalize_for_lm(text) == expected, repr(text)
    assert normalized_lines(text) == [line for line in expected.split("\n") if line], repr(text)


def test_fast_path_equals_the_reference_on_the_sample_crawl(sample_pages):
    assert sum(t.isascii() for t in sample_pages) < len(sample_pages) / 2  # non-ASCII exercised
    for text in sample_pages:
        assert_as_reference(text)


def test_fast_path_equals_the_reference_on_every_code_point():
    """16 code points at a time (so each chunk takes the `str.replace` path) amid ASCII that the
    bytes path maps: digits, a tab, controls; lone surrogates included."""
    for start in range(0, sys.maxunicode + 1, 16):
        chunk = "".join(map(chr, range(start, min(start + 16, sys.maxunicode + 1))))
        assert_as_reference(f"A1\t{chunk}\x00Z 9\x7f\n {chunk}{chunk[::-1]} \x1f")


def test_fast_path_equals_the_reference_with_few_or_many_distinct_characters():
    """Few distinct characters to change are replaced one by one, many by `str.translate`."""
    marks = [chr(cp) for cp in range(0x300, 0x370)]  # 112 combining marks, Mn
    for n in (1, 112):
        assert_as_reference("e" + "e".join(marks[:n]) + " 12 ٣٤ 𝟕 “x” —\tend")
    every_digit = "".join(chr(cp) for cp in range(sys.maxunicode + 1) if chr(cp).isdecimal())
    assert_as_reference(f"x{every_digit}y {SPEC_PUNCT} Ça été")
    assert normalize_for_lm(every_digit) == "0" * len(every_digit)


def test_fast_path_equals_the_reference_on_adversarial_text():
    pool = [
        *"aZ09 .,;:'\"!?-()[]{}<>/\\@#%&*+=_~`|^$",  # ASCII letters, digits, punctuation
        "\t", "\n", "\r", "\x0b", "\x0c", "\x00", "\x1c", "\x1f", "\x7f",  # C0 and DEL
        "\x80", "\x85", "\x9f", "\xa0", "\u2003", "\u3000", "\u2028",  # C1, Unicode spaces
        *SPEC_PUNCT, "‘", "‚", "·", "•", "¶", "©", "®", "°", "€", "£",  # typographic marks
        "é", "È", "ñ", "Å", "ø", "ß", "İ", "ı", "Σ", "ς", "ΐ", "Ω", "ﬁ", "ǅ", "ẞ",  # letters
        "\u212a", "\u212b", "\u037e", "\u1fef",  # Kelvin, Angstrom...: NFD makes them ASCII
        "\u0301", "\u0308", "\u0340", "\u0345", "\u064b", "\u093f", "\u0903",  # marks
        "٣", "३", "১", "１", "𝟕", "²", "½", "Ⅻ", "〇",  # decimal digits and other numerals
        "한", "中", "ひ", "ア", "ب", "ש", "ก", "и", "й", "ё",  # other scripts
        "🎉", "🦙", "𐍈", "\U000e0001", "\ud800", "\udfff",  # astral, tag, lone surrogates
    ]  # fmt: skip
    rng = random.Random(1)
    for _ in range(5000):
        assert_as_reference("".join(rng.choices(pool, k=rng.randint(0, 80))))


def test_every_digit_and_nonspacing_mark_lies_where_the_tables_look():
    # The normalisers' tables loop over marked_code_points() only; a Unicode update that put a
    # digit or a mark elsewhere must fail here, not silently escape normalisation.
    import sys
    import unicodedata

    from filters.text_normalizer import marked_code_points

    looked = set(marked_code_points())
    outside = [
        cp
        for cp in range(sys.maxunicode + 1)
        if cp not in looked
        and (chr(cp).isdecimal() or unicodedata.category(chr(cp)) in ("Mn", "Nd"))
    ]
    assert outside == []
    assert sum(chr(cp).isdecimal() for cp in looked) > 600  # 660 in Unicode 14 (Python 3.11)
