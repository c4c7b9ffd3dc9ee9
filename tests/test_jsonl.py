"""JSON-lines reading with bounded memory, and the published C4 files read as documents."""

from __future__ import annotations

import gzip
import json
import tracemalloc
from datetime import UTC, datetime

import pytest

from core.deadletter import DeadLetter
from readers.c4 import file_key, parse_timestamp, read_published, split_of_file
from readers.jsonl import read_jsonl


def _write_gz(path, lines: list[bytes]) -> str:
    with gzip.open(path, "wb") as fh:
        fh.write(b"".join(lines))
    return str(path)


def test_objects_and_dead_letters_in_order(tmp_path):
    path = _write_gz(
        tmp_path / "x.jsonl.gz",
        [
            b'{"a": 1}\n',
            b"\n",
            b"{not json\n",
            b"[1, 2]\n",
            b'{"a": "\xff"}\n',
            b'{"a": 2}',  # no final newline
        ],
    )
    got = list(read_jsonl(path))
    assert got[0] == (1, {"a": 1})
    assert [(d.reason, d.line, d.offset) for d in got[1:4]] == [
        ("bad_json", 3, 2),
        ("bad_json", 4, 3),
        ("invalid_utf8", 5, 4),
    ]
    assert all(d.document for d in got[1:4])
    assert got[4] == (6, {"a": 2})


def test_a_100_mb_line_is_skipped_with_bounded_memory(tmp_path):
    path = tmp_path / "big.jsonl"
    with open(path, "wb") as fh:
        fh.write(b'{"a": 1}\n{"text": "')
        chunk = b"x" * (1 << 20)
        for _ in range(100):
            fh.write(chunk)
        fh.write(b'"}\n{"a": 3}\n')
    tracemalloc.start()
    got = list(read_jsonl(str(path), max_line_bytes=1 << 20))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert got[0] == (1, {"a": 1})
    assert isinstance(got[1], DeadLetter) and got[1].reason == "too_large" and got[1].line == 2
    assert got[2] == (3, {"a": 3})
    assert peak < 16 << 20  # a few chunks, never the 100 MB line


def test_a_truncated_gzip_keeps_what_was_read(tmp_path):
    whole = gzip.compress(b"".join(b'{"n": %d}\n' % i for i in range(2000)))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) // 2])
    got = list(read_jsonl(str(path)))
    *records, dead = got
    assert [n for n, _ in records] == list(range(1, len(records) + 1))
    assert 0 < len(records) < 2000
    assert dead.reason == "truncated" and not dead.document
    assert dead.after_line == len(records)


def test_a_missing_file_is_one_dead_letter(tmp_path):
    (dead,) = read_jsonl(str(tmp_path / "nope.jsonl"))
    assert dead.reason == "unreadable_file" and not dead.document


def test_published_c4_records_become_documents(tmp_path):
    rows = [
        {
            "text": "Beginners BBQ Class Taking Place in Missoula!\nDo you want to get better?",
            "timestamp": "2019-04-25T12:57:54Z",
            "url": "https://klyq.com/beginners-bbq-class-taking-place-in-missoula/",
        },
        {"text": "", "timestamp": "2019-04-25T12:57:54Z", "url": "https://example.com/"},
        {"text": "No date here.", "url": "https://example.com/a"},
    ]
    lines = [json.dumps(r).encode() + b"\n" for r in rows]
    path = _write_gz(tmp_path / "c4-validation.00003-of-00008.json.gz", lines)
    first, bad, third = read_published(path)
    assert first == {
        "id": "c4/c4-validation.00003-of-00008/1",
        "text": rows[0]["text"],
        "url": rows[0]["url"],
        "timestamp": datetime(2019, 4, 25, 12, 57, 54, tzinfo=UTC),
        "split": "validation",
        "file": path,
    }
    assert isinstance(bad, DeadLetter) and bad.reason == "bad_record" and bad.line == 2
    assert third["timestamp"] is None and third["id"].endswith("/3")


def test_file_names_and_timestamps():
    assert split_of_file("gs://b/en/c4-train.01023-of-01024.json.gz") == "train"
    assert split_of_file("/d/c4-validation.00000-of-00008.json.gz") == "validation"
    assert split_of_file("/d/mine.jsonl.gz") == "train"
    assert file_key("gs://b/en/c4-train.01023-of-01024.json.gz") == "c4-train.01023-of-01024"
    assert parse_timestamp("2019-04-18T12:34:56+02:00") == datetime(
        2019, 4, 18, 10, 34, 56, tzinfo=UTC
    )
    assert parse_timestamp("yesterday") is None and parse_timestamp(None) is None


@pytest.mark.parametrize("reader", ["c4", "books", "github"])
def test_a_file_of_bad_lines_is_given_up_after_max_bad_lines(tmp_path, monkeypatch, reader):
    """One dead letter per bad line, up to the bound; then one for the rest of the file."""
    from readers import books, c4, github, jsonl

    monkeypatch.setattr(jsonl, "MAX_BAD_LINES", 3)
    good = {
        "c4": {"text": "A page.", "url": "https://a.example/", "timestamp": "2019-04-25T12:57:54Z"},
        "books": {"short_book_title": "A Book", "url": "https://x/1", "text": "It was."},
        "github": {"repo_name": "a/b", "path": "x.py", "content": "x = 1\n", "license": "mit"},
    }[reader]
    path = tmp_path / "c4-train.00000-of-00001.json.gz"
    body = json.dumps(good).encode() + b"\n" + b"{broken\n" * 100 + json.dumps(good).encode()
    path.write_bytes(gzip.compress(body))
    read = {
        "c4": lambda p: c4.read_published(p),
        "books": lambda p: books.read_books_jsonl(p, "pg19"),
        "github": lambda p: github.read_bigquery(p),
    }[reader]
    items = list(read(str(path)))
    dead = [i for i in items if isinstance(i, DeadLetter)]
    assert len(items) - len(dead) == 1  # the good first line; the last is never reached
    assert [d.reason for d in dead] == ["bad_json"] * 3 + ["too_many_bad_lines"]
    assert dead[-1].error == "over 3 bad lines: the rest of the file is not read"
    assert not dead[-1].document
