"""readers/books.py on Gutenberg text files, PG-19 and Books3 JSON lines in their real schemas,
and on bad input."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path

import pytest

from core.deadletter import DeadLetter
from readers.books import (
    Book,
    detect_kind,
    gutenberg_book_id,
    read_books,
)

FRANKENSTEIN = """\
\ufeffThe Project Gutenberg eBook of Frankenstein; Or, The Modern Prometheus\r
\r
Title: Frankenstein; Or, The Modern Prometheus\r
\r
Author: Mary Wollstonecraft Shelley\r
\r
Release date: October 1, 1993 [eBook #84]\r
\r
Language: English\r
\r
Credits: Judith Boss, Christy Phillips, Lynn Hanninen, and David Meltzer.\r
\r
*** START OF THE PROJECT GUTENBERG EBOOK FRANKENSTEIN; OR, THE MODERN PROMETHEUS ***\r
\r
Letter 1\r
\r
_To Mrs. Saville, England._\r
\r
You will rejoice to hear that no disaster has accompanied the commencement\r
of an enterprise which you have regarded with such evil forebodings.\r
\r
*** END OF THE PROJECT GUTENBERG EBOOK FRANKENSTEIN; OR, THE MODERN PROMETHEUS ***\r
"""
LETTER = """\
Letter 1

_To Mrs. Saville, England._

You will rejoice to hear that no disaster has accompanied the commencement
of an enterprise which you have regarded with such evil forebodings."""
PRIDE = """\
The Project Gutenberg EBook of Pride and Prejudice, by Jane Austen

Title: Pride and Prejudice

Author: Jane Austen

Release Date: August 26, 2008 [EBook #1342]

*** START OF THIS PROJECT GUTENBERG EBOOK PRIDE AND PREJUDICE ***




Produced by Anonymous Volunteers




PRIDE AND PREJUDICE

Chapter 1

It is a truth universally acknowledged, that a single man in possession
of a good fortune, must be in want of a wife.



End of the Project Gutenberg EBook of Pride and Prejudice, by Jane Austen
"""
PRIDE_BODY = """\
PRIDE AND PREJUDICE

Chapter 1

It is a truth universally acknowledged, that a single man in possession
of a good fortune, must be in want of a wife."""
PLAIN = "THE SONNETS\n\n1\n\nFrom fairest creatures we desire increase,\n"


def gutenberg_dir(root: Path) -> Path:
    """A mirror: nested folders, two editions of one book, a Latin-1 file, a gzip file."""
    books = root / "books"
    (books / "8" / "84").mkdir(parents=True)
    (books / "8" / "84" / "84-0.txt").write_text(FRANKENSTEIN, encoding="utf-8", newline="")
    (books / "8" / "84" / "84.txt").write_text(FRANKENSTEIN, encoding="utf-8", newline="")
    (books / "pg1342.txt.gz").write_bytes(gzip.compress(PRIDE.encode()))
    (books / "sonnets.txt").write_text(PLAIN, encoding="utf-8")
    (books / "2000-8.txt").write_bytes(
        "*** START OF THE PROJECT GUTENBERG EBOOK X ***\nDon Quijote, ca\xf1a\n".encode("latin-1")
    )
    (books / "index.html").write_text("<html></html>")
    return books


def test_gutenberg_book_ids():
    names = ["1342-0.txt", "pg1342.txt", "1342.txt", "1342-8.txt.gz", "PG84.TXT", "alice30.txt"]
    assert [gutenberg_book_id(f"/m/{n}") for n in names] == [
        "1342",
        "1342",
        "1342",
        "1342",
        "84",
        "alice30",
    ]


def test_gutenberg_directory(tmp_path: Path):
    books = gutenberg_dir(tmp_path)
    got = list(read_books(str(books), "gutenberg"))
    frank = str(books / "8" / "84" / "84-0.txt")
    assert got == [
        DeadLetter(
            str(books / "2000-8.txt"),
            0,
            "invalid_utf8",
            "'utf-8' codec can't decode byte 0xf1 in position 62: invalid continuation byte",
            True,
            {"collection": "gutenberg", "book_id": "2000"},
        ),
        Book(
            "gutenberg",
            "84",
            "Frankenstein; Or, The Modern Prometheus",
            "Mary Wollstonecraft Shelley",
            "https://www.gutenberg.org/ebooks/84",
            None,
            LETTER,
            frank,
            0,
            True,
            True,
        ),
        Book(
            "gutenberg",
            "1342",
            "Pride and Prejudice",
            "Jane Austen",
            "https://www.gutenberg.org/ebooks/1342",
            None,
            PRIDE_BODY,
            str(books / "pg1342.txt.gz"),
            0,
            True,
            True,
        ),
        Book("gutenberg", "sonnets", None, None, None, None, PLAIN, str(books / "sonnets.txt"), 0),
        DeadLetter(  # the first file in path order holds the id; the others are dead letters
            str(books / "8" / "84" / "84.txt"),
            0,
            "duplicate_id",
            "book id 84 is already that of another file",
            True,
            {"collection": "gutenberg", "book_id": "84"},
        ),
    ]
    assert got[1].id == "books/gutenberg/84"
    assert list(read_books(str(books / "*.txt.gz"), "gutenberg")) == [got[2]]
    assert list(read_books(frank, "gutenberg")) == [got[1]]


def test_gutenberg_file_of_200_mb_is_never_read(tmp_path: Path):
    huge = tmp_path / "99999.txt"
    with open(huge, "wb") as fh:
        fh.truncate(200 << 20)  # sparse: 200 MiB on the listing, nothing on disk
    tracemalloc.start()
    try:
        got = list(read_books(str(huge), "gutenberg"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert got == [
        DeadLetter(
            str(huge),
            0,
            "too_large",
            "209715200 bytes is over max_book_bytes=67108864",
            True,
            {"collection": "gutenberg", "book_id": "99999"},
        )
    ]
    assert peak < 1 << 20


def test_gutenberg_gzip_decompressed_to_the_cap_only(tmp_path: Path):
    bomb = tmp_path / "7.txt.gz"
    bomb.write_bytes(gzip.compress(b"a" * (4 << 20)))
    broken = tmp_path / "8.txt.gz"
    broken.write_bytes(b"not gzip at all")
    got = list(read_books(str(tmp_path), "gutenberg", max_book_bytes=1 << 20))
    assert [(d.file, d.reason, d.document, d.book_id) for d in got] == [
        (str(bomb), "too_large", True, "7"),
        (str(broken), "corrupt_gzip", False, "8"),
    ]


def pg19_line(title: str, year: int, url: str, text: str, **extra: object) -> str:
    row = {"short_book_title": title, "publication_date": year, "url": url, "text": text}
    return json.dumps({**row, **extra})


def test_pg19(tmp_path: Path):
    path = tmp_path / "pg19-train.jsonl"
    path.write_text(
        "\n".join(
            [
                pg19_line(
                    "The Lady with the Dog and Other Stories",
                    1917,
                    "http://www.gutenberg.org/ebooks/13415",
                    "THE LADY WITH THE DOG\n\nI\n\nIt was said that a new person had appeared.",
                ),
                pg19_line("Anonymous", 1890, "", "Text.", id="10146"),
                "",
                pg19_line("No Id", 1901, "", FRANKENSTEIN),
            ]
        )
        + "\n"
    )
    assert detect_kind(str(path)) == "pg19"
    got = list(read_books(str(path), "pg19"))
    assert got == [
        Book(
            "pg19",
            "13415",
            "The Lady with the Dog and Other Stories",
            None,
            "http://www.gutenberg.org/ebooks/13415",
            "1917",
            "THE LADY WITH THE DOG\n\nI\n\nIt was said that a new person had appeared.",
            str(path),
            0,
        ),
        Book("pg19", "10146", "Anonymous", None, None, "1890", "Text.", str(path), 1),
        Book(
            "pg19",
            "pg19-train/4",
            "No Id",
            "Mary Wollstonecraft Shelley",
            None,
            "1901",
            LETTER,
            str(path),
            3,
            True,
            True,
        ),
    ]
    assert [b.id for b in got] == [
        "books/pg19/13415",
        "books/pg19/10146",
        "books/pg19/pg19-train/4",  # no url, no id: the file and line, unique across shards
    ]


def test_books3_and_ids_unique_across_collections(tmp_path: Path):
    path = tmp_path / "books3.jsonl.gz"
    rows = [
        {"text": "Chapter One\n\nThe rain had not stopped for days.", "meta": {"title": "Rain"}},
        {"text": "Only text."},
        {"text": "Third.", "meta": {"title": "Three"}},
    ]
    path.write_bytes(gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode()))
    assert detect_kind(str(path)) == "books3"
    got = list(read_books(str(path), "books3"))
    assert got == [
        Book(
            "books3",
            "books3/1",
            "Rain",
            None,
            None,
            None,
            "Chapter One\n\nThe rain had not stopped for days.",
            str(path),
            0,
        ),
        Book("books3", "books3/2", None, None, None, None, "Only text.", str(path), 1),
        Book("books3", "books3/3", "Three", None, None, None, "Third.", str(path), 2),
    ]
    pg19 = tmp_path / "pg19.jsonl"
    pg19.write_text("\n".join(pg19_line("T", 1900, "", f"Book {i}.") for i in range(3)) + "\n")
    ids = [b.id for b in got] + [b.id for b in read_books(str(pg19), "pg19")]
    assert ids == [
        "books/books3/books3/1",
        "books/books3/books3/2",
        "books/books3/books3/3",
        "books/pg19/pg19/1",
        "books/pg19/pg19/2",
        "books/pg19/pg19/3",
    ]
    assert len(set(ids)) == len(ids)


def test_jsonl_line_of_200_mb_is_bounded(tmp_path: Path):
    path = tmp_path / "pg19.jsonl"
    head = b'{"short_book_title": "Huge", "url": "http://www.gutenberg.org/ebooks/77", "text": "'
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(200 << 20)  # the text: 200 MiB of NUL bytes, sparse
        fh.seek(0, 2)
        fh.write(b'"}\n' + pg19_line("Small", 1900, "", "Fine.").encode() + b"\n")
    tracemalloc.start()
    try:
        got = list(read_books(str(path), "pg19", max_book_bytes=1 << 20))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    length = (200 << 20) + 2
    assert got == [
        DeadLetter(
            str(path),
            0,
            "too_large",
            f"line of {length} bytes: over max_book_bytes=1048576",
            True,
            {"collection": "pg19", "book_id": "77", "line": 1},
        ),
        Book("pg19", "pg19/2", "Small", None, None, "1900", "Fine.", str(path), 1),
    ]
    assert peak < 8 << 20  # the 1 MiB + 64 KiB line limit and a few 1 MiB chunks
    assert next(read_books(str(path), "pg19")).reason == "too_large"  # the default cap


def test_jsonl_invalid_utf8_bad_json_and_bad_records(tmp_path: Path):
    path = tmp_path / "books3.jsonl"
    path.write_bytes(
        b'{"text": "caf\xe9"}\n'
        + b'{"text": "\\ud800 lone surrogate"}\n'
        + b'{"text": \n'
        + b'["a list"]\n'
        + b'{"meta": {"title": "No text"}}\n'
        + b'{"text": "Good."}\n'
    )
    got = list(read_books(str(path), "books3"))
    assert [(d.offset, d.reason, d.document, d.line) for d in got[:5]] == [
        (0, "invalid_utf8", True, 1),
        (1, "invalid_utf8", True, 2),
        (2, "bad_json", False, 3),
        (3, "bad_record", False, 4),
        (4, "bad_record", False, 5),
    ]
    assert got[1].error == "lone surrogate '\\ud800' at character 0"
    assert got[5] == Book("books3", "books3/6", None, None, None, None, "Good.", str(path), 5)


def test_truncated_gzip_jsonl_keeps_the_lines_before(tmp_path: Path):
    path = tmp_path / "books3.jsonl.gz"
    lines = "".join(json.dumps({"text": f"Book {i}. " + "word " * 2000}) + "\n" for i in range(50))
    data = gzip.compress(lines.encode())
    path.write_bytes(data[: len(data) // 2])
    got = list(read_books(str(path), "books3"))
    books, letter = got[:-1], got[-1]
    assert books and all(isinstance(b, Book) for b in books)
    assert [b.book_id for b in books] == [f"books3/{i}" for i in range(1, len(books) + 1)]
    assert (letter.reason, letter.document, letter.collection) == ("truncated", False, "books3")


def test_detect_kind_and_unknown_kind(tmp_path: Path):
    assert detect_kind(str(tmp_path)) == "gutenberg"
    assert detect_kind("gs://bucket/gutenberg/1342-0.txt") == "gutenberg"
    other = tmp_path / "other.jsonl"
    other.write_text('{"content": "x"}\n')
    with pytest.raises(ValueError, match="neither text files nor PG-19 or Books3"):
        detect_kind(str(other))
    with pytest.raises(ValueError, match="unknown kind 'epub'"):
        read_books(str(tmp_path), "epub")
