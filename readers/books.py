"""Books from three inputs, as `Book` records or dead letters (docs/recipe/books.md).

- Project Gutenberg plain text: a directory (walked recursively), a glob or a file of `*.txt`
  (or `*.txt.gz`), one book per file, collection "gutenberg". The book id is the Gutenberg
  number of the file name ("1342" from "1342-0.txt", "1342.txt", "pg1342.txt"), else its stem;
  the licence header and footer are cut by filters.gutenberg, whose header gives title and
  author. Mirrors hold several editions of a book (1342-0.txt in UTF-8, 1342-8.txt in Latin-1,
  1342.txt in ASCII): files are read in sorted order and, once a book id has been yielded, a
  later file with the same id is a `duplicate_id` dead letter, so ids stay unique.
- PG-19 JSON lines (short_book_title, publication_date, url, text; at the top or under `meta`),
  collection "pg19": the book id is the Gutenberg number in the url, else an `id` field, else
  the line number. PG-19's text is already stripped; strip_gutenberg leaves it as it is unless
  it holds markers.
- Books3 JSON lines (text, meta.title or title), collection "books3": the book id is the line
  number (from 1).

Ids are `books/<collection>/<book id>`, so two collections never share one (RedPajama's PG-19 and
Books3 ids collided). Text is decoded strictly as UTF-8, a leading BOM dropped: Gutenberg's older
Latin-1 editions become `invalid_utf8` dead letters, counted, never guessed at. Memory is bounded
by `max_book_bytes`: a Gutenberg file over it is a `too_large` dead letter found by its size,
never opened (a gzip one is decompressed to the cap plus one byte at most); a JSON line over it
(plus 64 KiB for the other fields) streams past and is counted the same way. Dead letters with
document=True are books that cannot be used (too_large, invalid_utf8, duplicate_id); the others
are input errors (unreadable_file, corrupt_gzip, truncated, bad_json, bad_record, and
too_many_bad_lines once a JSON-lines file has given readers.jsonl.MAX_BAD_LINES). A book whose
text is empty once stripped is still yielded: the pipeline drops it as `empty`.
"""

from __future__ import annotations

import gzip
import os
import re
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core.deadletter import DeadLetter
from filters.gutenberg import strip_gutenberg
from readers.jsonl import bounded_dead_letters, lines, loads

# The largest real books (dictionaries, complete works) are tens of MB; a 200 MB "book" is
# counted as too_large rather than held, decoded and copied by every stage.
DEFAULT_MAX_BOOK_BYTES = 64 << 20
_LINE_OVERHEAD = 64 << 10  # a JSON line's fields besides its text
KINDS = ("gutenberg", "pg19", "books3")
_TEXT_SUFFIXES = (".txt", ".txt.gz")
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_BOM = "\ufeff"
_GUTENBERG_NAME = re.compile(r"(?:pg)?(\d+)(?:-\d+|-images)?", re.IGNORECASE)
_GUTENBERG_URL = re.compile(r"gutenberg\.org/(?:ebooks|files|etext|cache/epub)/(\d+)")
_PEEK_URL = re.compile(rb'"url"\s*:\s*"([^"]*)"')
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Book:
    collection: str
    book_id: str
    title: str | None
    author: str | None
    url: str | None
    publication_date: str | None  # as the input gives it (PG-19: the year)
    text: str
    source_file: str
    offset: int  # JSON lines: line number (from 0); a text file: 0
    header_found: bool = False  # strip_gutenberg's: whether a licence header/footer was cut
    footer_found: bool = False
    id: str = field(init=False)  # books/<collection>/<book_id>

    def __post_init__(self) -> None:
        object.__setattr__(self, "id", f"books/{self.collection}/{self.book_id}")


def dead_letter(
    file: str,
    offset: int,
    reason: str,
    error: str,
    document: bool,
    collection: str,
    book_id: str | None = None,
    line: int | None = None,
) -> DeadLetter:
    """Input that did not become a Book; `line` (from 1) for JSON lines."""
    details: dict[str, Any] = {"collection": collection, "book_id": book_id}
    if line is not None:
        details["line"] = line
    return DeadLetter(file, offset, reason, error, document, details)


def _text(data: bytes) -> str:
    """Strict UTF-8 without a leading BOM; raises UnicodeDecodeError."""
    return data.decode("utf-8").removeprefix(_BOM)


# ---- Project Gutenberg text files --------------------------------------------------------------


def gutenberg_book_id(path: str) -> str:
    """The Gutenberg number of a file name ("1342-0.txt", "pg1342.txt.gz"), else its stem."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    lower = name.lower()
    stem = next((name[: -len(s)] for s in _TEXT_SUFFIXES[::-1] if lower.endswith(s)), name)
    match = _GUTENBERG_NAME.fullmatch(stem)
    return match.group(1) if match else stem


def gutenberg_files(path: str) -> list[tuple[str, int]]:
    """(path, size) of the `*.txt` and `*.txt.gz` files of a directory (recursively, symlinks
    skipped), a glob or a single file, local or on any Beam file system, sorted by path."""
    found: list[tuple[str, int]] = []
    if os.path.isdir(path):
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
            for name in names:
                full = os.path.join(root, name)
                if name.lower().endswith(_TEXT_SUFFIXES) and not os.path.islink(full):
                    found.append((full, os.stat(full).st_size))
    else:
        for result in FileSystems.match([path]):
            for meta in result.metadata_list:
                if meta.path.lower().endswith(_TEXT_SUFFIXES):
                    found.append((meta.path, meta.size_in_bytes))
    return sorted(found)


def _read_bounded(path: str, limit: int) -> bytes:
    """At most `limit` + 1 bytes of the file, decompressed when it is gzip."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
        if not path.lower().endswith(".gz"):
            return raw.read(limit + 1)
        with gzip.GzipFile(fileobj=raw) as unzipped:
            return unzipped.read(limit + 1)


def read_gutenberg_file(
    path: str,
    size: int,
    max_book_bytes: int = DEFAULT_MAX_BOOK_BYTES,
    collection: str = "gutenberg",
) -> Book | DeadLetter:
    """One Gutenberg text file of `size` bytes (as listed) as a Book."""
    book_id = gutenberg_book_id(path)

    def dead(reason: str, error: str, document: bool = True) -> DeadLetter:
        return dead_letter(path, 0, reason, error, document, collection, book_id)

    too_large = f"over max_book_bytes={max_book_bytes}"
    if size > max_book_bytes:
        return dead("too_large", f"{size} bytes is {too_large}")
    try:
        data = _read_bounded(path, max_book_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        reason = "truncated" if isinstance(exc, EOFError) else "corrupt_gzip"
        return dead(reason, f"{type(exc).__name__}: {exc}", False)
    except OSError as exc:
        return dead("unreadable_file", f"{type(exc).__name__}: {exc}", False)
    if len(data) > max_book_bytes:
        return dead("too_large", f"more than {max_book_bytes} bytes: {too_large}")
    try:
        text = _text(data)
    except UnicodeDecodeError as exc:
        return dead("invalid_utf8", str(exc))
    stripped = strip_gutenberg(text)
    number = stripped.ebook_number or (int(book_id) if book_id.isdigit() else None)
    url = None if number is None else f"https://www.gutenberg.org/ebooks/{number}"
    return Book(
        collection,
        book_id,
        stripped.title,
        stripped.author,
        url,
        None,
        stripped.text,
        path,
        0,
        stripped.header_found,
        stripped.footer_found,
    )


def unique_by_id(
    files: list[tuple[str, int]], collection: str = "gutenberg"
) -> tuple[list[tuple[str, int]], list[DeadLetter]]:
    """The (file, size) pairs one per book id, the first in path order (`1342-0.txt`, the UTF-8
    edition, before `1342-8.txt`), and a `duplicate_id` dead letter for each other file, so that
    no two books share an id (RedPajama's PG-19 and Books3 ids did)."""
    kept, duplicates, seen = [], [], set()
    for file, size in sorted(files):
        book_id = gutenberg_book_id(file)
        if book_id in seen:
            error = f"book id {book_id} is already that of another file"
            duplicates.append(
                dead_letter(file, 0, "duplicate_id", error, True, collection, book_id)
            )
        else:
            seen.add(book_id)
            kept.append((file, size))
    return kept, duplicates


def read_gutenberg(
    path: str, max_book_bytes: int = DEFAULT_MAX_BOOK_BYTES, collection: str = "gutenberg"
) -> Iterator[Book | DeadLetter]:
    """The books of a directory, glob or file of Gutenberg text files, then the dead letters of
    the files whose book id another file has."""
    files, duplicates = unique_by_id(gutenberg_files(path), collection)
    for file, size in files:
        yield read_gutenberg_file(file, size, max_book_bytes, collection)
    yield from duplicates


# ---- JSON lines: PG-19 and Books3 --------------------------------------------------------------


def line_id(path: str, line: int) -> str:
    """A book known only by its place: `<file stem>/<line>`, unique across a collection's
    shards (line numbers alone repeat in every shard)."""
    name = path.rsplit("/", 1)[-1]
    for suffix in (".gz", *_JSONL_SUFFIXES):
        name = name.removesuffix(suffix)
    return f"{name}/{line}"


def _pg19_id(row: Mapping[str, Any], meta: Mapping[str, Any], line: str) -> str:
    url = row.get("url", meta.get("url"))
    match = _GUTENBERG_URL.search(url) if isinstance(url, str) else None
    if match:
        return match.group(1)
    explicit = row.get("id", meta.get("id"))
    return str(explicit) if isinstance(explicit, int | str) and str(explicit) else line


def _peek_id(kind: str, data: bytes, line: str) -> str:
    """The book id of a line too large to parse, from its kept start when it shows the url."""
    found = _PEEK_URL.search(data) if kind == "pg19" else None
    match = _GUTENBERG_URL.search(found.group(1).decode("utf-8", "replace")) if found else None
    return match.group(1) if match else line


def _book(
    kind: str, row: Mapping[str, Any], collection: str, path: str, index: int
) -> Book | DeadLetter:
    line = index + 1
    meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
    where = line_id(path, line)
    book_id = _pg19_id(row, meta, where) if kind == "pg19" else where
    text = row.get("text")
    if not isinstance(text, str):
        error = f"text is a {type(text).__name__}, not a string"
        return dead_letter(path, index, "bad_record", error, False, collection, book_id, line)
    surrogate = _SURROGATE.search(text)
    if surrogate:
        error = f"lone surrogate {surrogate.group()!r} at character {surrogate.start()}"
        return dead_letter(path, index, "invalid_utf8", error, True, collection, book_id, line)
    stripped = strip_gutenberg(text.removeprefix(_BOM))
    if kind == "pg19":
        title = row.get("short_book_title", meta.get("short_book_title"))
        url = row.get("url", meta.get("url"))
        date = row.get("publication_date", meta.get("publication_date"))
    else:
        title, url, date = row.get("title", meta.get("title")), None, None
    return Book(
        collection,
        book_id,
        str(title) if title is not None else stripped.title,
        stripped.author,
        str(url) if url else None,
        str(date) if date is not None else None,
        stripped.text,
        path,
        index,
        stripped.header_found,
        stripped.footer_found,
    )


@bounded_dead_letters
def read_books_jsonl(
    path: str, kind: str, max_book_bytes: int = DEFAULT_MAX_BOOK_BYTES, collection: str = ""
) -> Iterator[Book | DeadLetter]:
    """The books of a PG-19 or Books3 JSON lines file (plain or gzip); `collection` defaults
    to the kind."""
    collection = collection or kind
    for item in lines(path, max_book_bytes + _LINE_OVERHEAD):
        if isinstance(item, DeadLetter):
            error = item.error
            yield dead_letter(path, item.offset, item.reason, error, False, collection)
            continue
        index, line = item.index, item.index + 1
        if not item.whole:
            book_id = _peek_id(kind, item.data, line_id(path, line))
            error = f"line of {item.length} bytes: over max_book_bytes={max_book_bytes}"
            yield dead_letter(path, index, "too_large", error, True, collection, book_id, line)
            continue
        if not item.data.strip():
            continue
        try:
            row = loads(item.data)
        except UnicodeDecodeError as exc:
            yield dead_letter(path, index, "invalid_utf8", str(exc), True, collection, None, line)
            continue
        except ValueError as exc:
            error = str(exc)[:200]
            yield dead_letter(path, index, "bad_json", error, False, collection, None, line)
            continue
        if not isinstance(row, dict):
            error = f"a JSON {type(row).__name__}, not an object"
            yield dead_letter(path, index, "bad_record", error, False, collection, None, line)
            continue
        yield _book(kind, row, collection, path, index)


# ---- dispatch ----------------------------------------------------------------------------------


def detect_kind(path: str) -> str:
    """ "gutenberg" for a directory or text files; for JSON lines, by the first line's fields:
    "pg19" with short_book_title, "books3" with meta.title or only text."""
    lower = path.lower()
    if os.path.isdir(path) or lower.endswith(_TEXT_SUFFIXES):
        return "gutenberg"
    for item in lines(path, DEFAULT_MAX_BOOK_BYTES + _LINE_OVERHEAD):
        if isinstance(item, DeadLetter):
            break
        if not item.data.strip():
            continue
        try:
            row = loads(item.data) if item.whole else None
        except ValueError:
            break
        if isinstance(row, dict):
            meta = row.get("meta") if isinstance(row.get("meta"), dict) else {}
            if "short_book_title" in row or "short_book_title" in meta:
                return "pg19"
            if "text" in row:
                return "books3"
        elif b'"short_book_title"' in item.data:  # the kept start of a line too long to parse
            return "pg19"
        elif item.data.lstrip().startswith(b'{"text"'):
            return "books3"
        break
    raise ValueError(f"{path}: neither text files nor PG-19 or Books3 JSON lines")


def read_books(
    path: str, kind: str, max_book_bytes: int = DEFAULT_MAX_BOOK_BYTES
) -> Iterator[Book | DeadLetter]:
    """The records of one input of `kind` ("gutenberg", "pg19" or "books3"), collection named
    after the kind."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "gutenberg":
        return read_gutenberg(path, max_book_bytes)
    return read_books_jsonl(path, kind, max_book_bytes)
