"""C4's rules (filters/c4.py) against TFDS c4_utils.py's behaviour, on crafted and real text."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest
from conftest import ROOT, SAMPLE

from filters.base import KEEP, Decision, apply
from filters.c4 import (
    MAX_PAGE_CHARS,
    AfterDedup,
    BadWords,
    CleanPage,
    English,
    PageLength,
    badwords_pattern,
    c4_url,
    choose_page,
    dedup_page,
    english_identifier,
    line_key,
    line_keys,
    parse_lines,
    split_of,
    text_md5,
)
from filters.sentences import count_sentences, sentences

MODEL = ROOT / "models" / "lid.176.ftz"

A = "The cat sat on the warm mat."
B = "Dogs like to run in the park."
C = "Birds sing early in the morning."


def clean(text: str) -> tuple[Decision, str, Counter]:
    stage, doc = CleanPage(), {"text": text}
    decision = stage.decide(doc)
    return decision, doc["text"], stage.take_counts()


# ---- parse, length, URLs, keys -----------------------------------------------------------------


def test_parse_lines_strips_skips_empty_and_metadata_looking_lines():
    body = (
        "A title\r\n  first line  \n\n\t\nWARC-Type: conversion\nContent-Type: text/plain\n"
        "CONTENT-LENGTH: 3\nWARCHOUSE sale today\ncontent-type stays: lower case\rlast\n"
    )
    assert parse_lines(body) == "A title\nfirst line\ncontent-type stays: lower case\nlast"


def test_page_length_limit_is_inclusive():
    assert PageLength().decide({"text": "x" * MAX_PAGE_CHARS}) == KEEP
    assert PageLength().decide({"text": "x" * (MAX_PAGE_CHARS + 1)}) == Decision.drop("too_long")


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://www.example.com/path/", "example.com/path"),
        ("http://example.com/a?utm_source=x&b=1", "example.com/a"),
        ("https://example.com/a?ref=home", "example.com/a"),
        ("https://example.com/a?reference=1", "example.com/a"),  # any query starting "ref"
        ("https://example.com/a?feed=rss", "example.com/a"),
        ("https://example.com/a?id=3", "example.com/a?id=3"),
        ("https://example.com/a?id=3&utm_source=x", "example.com/a?id=3&utm_source=x"),
        ("https://www.example.com///", "example.com"),
        ("https://a.com/go?u=http://www.b.com/", "a.com/go?u=b.com"),  # every scheme goes
        ("ftp://www.example.com/", "ftp://www.example.com"),
        ("https://WWW.example.com/", "WWW.example.com"),  # case-sensitive, as TFDS
    ],
)
def test_c4_url(url, normalised):
    assert c4_url(url) == normalised


def test_choose_page_keeps_the_largest_md5_of_the_text():
    # md5("b") = 92eb5ffe…, md5("c") = 4a8a08f0…: "b" wins although "c" sorts after it
    assert text_md5("b") == "92eb5ffee6ae2fec3ad71c777531578f"
    assert text_md5("c") == "4a8a08f09d37b73795649038408b5f33"
    pages = [{"id": "1", "text": "c"}, {"id": "2", "text": "b"}]
    assert choose_page(pages)["id"] == "2"
    assert choose_page(reversed(pages))["id"] == "2"
    assert choose_page([{"id": "x", "text": "b"}, {"id": "y", "text": "b"}])["id"] == "y"


def test_line_key_is_md5_of_stripped_lower_case_line():
    assert line_key("  Hello World \t") == bytes.fromhex("5eb63bbbe01eeed093cb22bb8f5acdc3")
    assert line_keys("Hello World\nhello world\nBye.") == [
        line_key("hello world"),
        line_key("hello world"),
        hashlib.md5(b"bye.").digest(),
    ]


def test_split_uses_md5_of_the_normalised_url():
    assert text_md5("example.com/page369") == "49d0f71fa113a1e4b080fe1990771de8"
    assert int("49d0f71fa113a1e4b080fe1990771de8", 16) % 1000 == 0
    assert split_of("example.com/page369") == "validation"
    assert split_of("example.com/page0") == "train"
    assert split_of(c4_url("https://www.example.com/page369/")) == "validation"


# ---- clean -------------------------------------------------------------------------------------


def test_clean_keeps_good_lines_and_removes_each_line_rule():
    text = "\n".join(
        [
            f"  {A}  ",
            "Menu",  # no end mark
            "Read more...",  # ellipsis
            "Too short a line.",  # 4 words
            "Please enable JavaScript to view the comments.",
            "This site uses cookies to improve your experience.",
            "By using it you accept our Terms of Use today.",
            "word " * 4 + "x" * 1001 + ".",  # a token over 1,000 characters
            B,
            'He said "this line ends with a quote"',
            C,
        ]
    )
    decision, out, counts = clean(text)
    assert decision == KEEP
    assert out == "\n".join([A, B, 'He said "this line ends with a quote"', C])
    assert counts == Counter(
        {
            ("lines", "removed_no_end_mark"): 2,
            ("lines", "removed_too_short"): 1,
            ("lines", "removed_javascript"): 1,
            ("lines", "removed_policy"): 2,
            ("lines", "removed_too_long_word"): 1,
            ("lines", "kept"): 4,
        }
    )


def test_a_word_of_exactly_1000_characters_is_allowed():
    long_line = "four short words then " + "x" * 999 + "."  # the last token is 1,000 characters
    assert clean("\n".join([A, long_line, B, C]))[1] == "\n".join([A, long_line, B, C])


def test_citations_are_removed_before_the_end_mark_check():
    text = "\n".join(
        [
            "This line ends with a period.[1]",
            "History of the small town.[edit]",
            "A claim that is widely disputed.[citation needed]",
            "Cited with a space before it. [2]",  # leaves a trailing space: no end mark
            "Empty brackets are a citation too.[]",
        ]
    )
    decision, out, _ = clean(text)
    assert decision == KEEP
    assert out == "\n".join(
        [
            "This line ends with a period.",
            "History of the small town.",
            "A claim that is widely disputed.",
            "Empty brackets are a citation too.",
        ]
    )


def test_curly_bracket_in_a_line_removed_earlier_does_not_drop_the_page():
    text = "\n".join([A, "if (x) {y}.", "function f() { return 1; }", B, C])
    decision, out, _ = clean(text)
    assert decision == KEEP
    assert out == "\n".join([A, B, C])


def test_curly_bracket_drops_the_page_even_in_a_policy_line():
    text = "\n".join([A, B, C, "Read our privacy policy {here} before you go."])
    assert clean(text)[0] == Decision.drop("curly_bracket")


def test_lorem_ipsum_drops_the_page_only_from_a_line_that_passed_the_line_checks():
    assert clean("\n".join([A, "Lorem ipsum dolor sit", B, C]))[1] == "\n".join([A, B, C])
    policy = "Lorem ipsum dolor sit amet, see our privacy policy."
    assert clean("\n".join([A, B, C, policy]))[0] == Decision.drop("lorem_ipsum")
    assert clean("Lorem ipsum dolor { sit } amet.")[0] == Decision.drop("lorem_ipsum")


def test_javascript_line_with_a_curly_bracket_is_removed_not_the_page():
    text = "\n".join([A, "Please enable JavaScript {now} to view this.", B, C])
    decision, out, _ = clean(text)
    assert decision == KEEP
    assert out == "\n".join([A, B, C])


def test_fewer_than_three_sentences_drops_the_page():
    assert clean("\n".join([A, B]))[0] == Decision.drop("too_few_sentences")
    # sentences are counted per line: one line with three sentences is enough
    assert clean("I came here first. Then I saw it. Then I won.")[0] == KEEP


def test_punkt_splits_as_nltk_english_does():
    assert sentences("Mr. Smith went to Washington. He arrived at 5 p.m. on Monday.") == [
        "Mr. Smith went to Washington.",
        "He arrived at 5 p.m. on Monday.",
    ]
    assert sentences("It costs $3.50 in the U.S. today. Really?") == [
        "It costs $3.50 in the U.S. today.",
        "Really?",
    ]


# ---- line dedup --------------------------------------------------------------------------------


def owned_keys(pages: dict[str, str]) -> dict[str, set[bytes]]:
    """What the pipeline's shuffle computes: each key goes to the page whose normalised URL has
    the smallest md5."""
    owner: dict[bytes, str] = {}
    for url, text in pages.items():
        for key in line_keys(text):
            if key not in owner or text_md5(url) < text_md5(owner[key]):
                owner[key] = url
    return {url: {k for k, u in owner.items() if u == url} for url in pages}


def test_each_line_goes_to_the_page_with_the_smallest_url_md5():
    # md5("a.com/y") = c1f2456d…, md5("b.com/x") = 94243158…: b.com/x owns the shared lines
    assert text_md5("b.com/x") < text_md5("a.com/y")
    first, second = "b.com/x", "a.com/y"
    shared = "Shared line that both of the pages carry."
    pages = {
        first: "\n".join([A, shared, B, A, C]),
        second: "\n".join(["SHARED line that both of the pages carry.", "Only here. And here.", C]),
    }
    owned = owned_keys(pages)
    assert dedup_page(pages[first], owned[first]) == "\n".join([A, shared, B, C])
    assert dedup_page(pages[second], owned[second]) == "Only here. And here."


def test_after_dedup_rewrites_counts_and_rechecks_the_whole_text():
    stage = AfterDedup()
    doc = {"text": "\n".join([A, B, A, C, "Not mine at all."])}
    doc["owned_keys"] = {line_key(A), line_key(B), line_key(C)}
    assert stage.decide(doc) == KEEP
    assert doc == {"text": "\n".join([A, B, C])}
    assert stage.take_counts() == Counter(
        {("lines", "removed_duplicate"): 1, ("lines", "removed_duplicate_in_page"): 1}
    )
    empty = {"text": A, "owned_keys": set()}
    assert stage.decide(empty) == Decision.drop("empty")
    assert empty["text"] == ""
    # the re-check counts sentences of the joined text: Punkt reads "Dr." as an abbreviation
    # across the newline, so two lines that clean counted as two sentences are one here
    lines = ["I went to see my family doctor, Dr.", "Smith told me to rest at home for a week."]
    assert [len(sentences(line)) for line in lines] == [1, 1]
    joined = {"text": "\n".join(lines), "owned_keys": {line_key(line) for line in lines}}
    assert len(sentences(joined["text"])) == 1
    assert stage.decide(joined) == Decision.drop("too_few_sentences")


# ---- English -----------------------------------------------------------------------------------

EN = (
    "All human beings are born free and equal in dignity and rights. They are endowed with "
    "reason and conscience and should act towards one another in a spirit of brotherhood."
)
DE = (
    "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft "
    "und Gewissen begabt und sollen einander im Geist der Brüderlichkeit begegnen."
)


@pytest.fixture(scope="module")
def lid():
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make models`")
    return english_identifier(MODEL)


def test_langdetect_as_tfds():
    docs = [{"text": t} for t in (EN, DE, "Hello world", "12345 !!! 678")]
    assert English().decide_batch(docs) == [
        KEEP,
        Decision.drop("not_english"),
        Decision.drop("low_confidence"),  # en at p = 0.57 with seed 0
        Decision.drop("langdetect_error"),  # no features
    ]


def test_fasttext_backend(lid):
    assert English("fasttext", lid).decide_batch([{"text": EN}, {"text": DE}]) == [
        KEEP,
        Decision.drop("not_english"),
    ]


def test_compare_counts_agreement_and_the_backend_decides(lid):
    texts = [EN, DE, "Hello world", "Das ist gut. This is good.", "Thank you very much"]
    # langdetect: en, de, en at 0.57, en at 0.99999, en below 0.99; fastText (lid.176.ftz):
    # en 1.0, de, en at 0.17, de at 0.99, en at 1.0
    docs = [{"text": t} for t in texts]
    by_langdetect = English("langdetect", lid, compare=True)
    assert by_langdetect.decide_batch(docs) == [
        KEEP,
        Decision.drop("not_english"),
        Decision.drop("low_confidence"),
        KEEP,
        Decision.drop("low_confidence"),
    ]
    assert by_langdetect.take_counts() == Counter(
        {
            ("english", "agree"): 3,
            ("english", "disagree_langdetect_keeps"): 1,
            ("english", "disagree_fasttext_keeps"): 1,
        }
    )
    by_fasttext = English("fasttext", lid, compare=True)
    assert by_fasttext.decide_batch(docs) == [
        KEEP,
        Decision.drop("not_english"),
        Decision.drop("low_confidence"),
        Decision.drop("not_english"),
        KEEP,
    ]


def test_english_needs_a_model_for_fasttext():
    with pytest.raises(ValueError, match="LanguageIdentifier"):
        English("fasttext")
    with pytest.raises(ValueError, match="unknown"):
        English("cld3")  # type: ignore[arg-type]


# ---- bad words ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hit"),
    [
        ("Foo at the start.", True),
        ("at the end foo", True),
        ("foo", True),
        ("a foo-bar here", True),  # "-" is a non-word character
        ("foofighters are a band", False),
        ("the snafoo is here", False),
        ("x_foo is one word", False),  # "_" is a word character
        ("we saw a bad word here", True),
        ("a bad  word with two spaces", False),
        ("they like S&M.", True),
        ("they like s & m.", False),
        ("bads&mall", False),
    ],
)
def test_bad_words_boundaries(text, hit):
    stage = BadWords(["foo", "bad word", "s&m"])
    assert stage.decide({"text": text}) == (Decision.drop("bad_words") if hit else KEEP)


def test_bad_words_are_joined_unescaped_like_tfds():
    assert badwords_pattern(["a.c"]).search("x abc y") is not None
    with pytest.raises(ValueError, match="empty"):
        BadWords([])


# ---- the sample --------------------------------------------------------------------------------


def test_sample_pages_through_parse_length_and_clean():
    from readers.warc import WarcRecord, iter_records

    path = SAMPLE / "commoncrawl" / "wet" / "CC-SAMPLE-00000.warc.wet.gz"
    docs = [
        {"text": parse_lines(r.body.decode("utf-8"))}
        for r in iter_records(str(path))
        if isinstance(r, WarcRecord) and r.type == "conversion"
    ]
    applied = apply([PageLength(), CleanPage()], docs)
    assert applied.kept and not applied.failed
    for doc in applied.kept:
        lines = doc["text"].split("\n")
        assert all(line == line.strip() and len(line.split()) >= 5 for line in lines)
        assert all(line.endswith((".", "?", "!", '"')) and "{" not in line for line in lines)


def test_count_sentences_skips_punkt_only_where_punkt_would_say_one():
    for text, n in [
        ("", 0),
        ("One plain sentence with its end mark.", 1),
        ('He said "that is all."', 1),
        ("Wow!!", 2),  # two end marks: Punkt decides
        ('Write "Done.".', 2),
        ("Dr. Smith went home", 1),
        ("No end mark at all", 1),
        ("It costs $3.50 in the U.S. today. Really?", 2),
    ]:
        assert count_sentences(text) == len(sentences(text)) == n, text
    from readers.warc import WarcRecord, iter_records

    path = SAMPLE / "commoncrawl" / "wet" / "CC-SAMPLE-00000.warc.wet.gz"
    records = [r for r in iter_records(str(path)) if isinstance(r, WarcRecord)]
    lines = [line for r in records for line in r.body.decode("utf-8").split("\n")]
    assert len(lines) > 10_000
    assert [x for x in lines if count_sentences(x) != len(sentences(x))] == []


def test_bad_words_set_lookup_gives_tfds_regex_verdicts():
    from filtermodels.badwords import load_words
    from readers.warc import WarcRecord, iter_records

    words = load_words(ROOT / "models/badwords/en.txt")
    regex, stage = badwords_pattern(words), BadWords(words)
    path = SAMPLE / "commoncrawl" / "wet" / "CC-SAMPLE-00001.warc.wet.gz"
    texts = [r.body.decode() for r in iter_records(str(path)) if isinstance(r, WarcRecord)]
    texts += ["ass", "x ass.", "assist", "s&m", "s & m", "S&M!", "g-spot", "a🖕b", "x 🖕 y", "Sex."]
    assert len(texts) > 500
    for text in texts:
        assert stage.decide({"text": text}).keep == (regex.search(text.lower()) is None), text
