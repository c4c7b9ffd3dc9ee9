"""StackExchange data dump: the rows of a site's `Posts.xml`, and a question's document.

The input is a plain `Posts.xml` or a site's `.7z` archive of the dump
(`cooking.stackexchange.com.7z`, `stackoverflow.com-Posts.7z`). Rows are parsed as a stream
with an incremental parser (entities, DTD and network off, libxml2's size limits on), elements
dropped as soon as they are read, so memory is bounded by one row whatever the site's size. A
`.7z` is decompressed by py7zr in a thread into a small queue of blocks: nothing is written to
disk. A truncated `.7z` yields no posts at all: the format keeps its index at the end.

Real dumps have no DTD. libxml2 expands internal entities inside attribute values even with
`resolve_entities=False`, and every field of a row is an attribute, so a file that declares a DTD
is refused before the parser sees it (an XML bomb, an entity pointing at a local file).

Every row is yielded as a `Post`, whatever its PostTypeId (1 question, 2 answer; wiki, tag and
moderator posts have others): the caller keeps types 1 and 2 and counts the rest by type.
Dead letters: `offset` is the line of the row (0: no row); `document` is True for a row that was
read but cannot be a post.
"""

from __future__ import annotations

import queue
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO

import py7zr
from apache_beam.io.filesystems import FileSystems
from lxml import etree

from core.deadletter import DeadLetter
from core.files import CHUNK
from filters.posthtml import html_to_text

QUESTION, ANSWER = 1, 2
POSTS_MEMBER = "Posts.xml"
DEFAULT_MAX_POSTS_BYTES = 256 << 30  # stackoverflow.com's Posts.xml is ~100 GB decompressed
PROLOG_LIMIT = 64 << 10  # bytes before the root element; a real prolog is one line
QUEUE_BLOCKS = 8  # decompressed blocks waiting for the parser
_ROOT = re.compile(rb"<(?![?!])")  # the first tag that is not `<?xml`, a comment or a DOCTYPE
_TAGS = re.compile(r"<([^<>]+)>|\|([^|]+)(?=\|)")


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    post_type: int
    parent_id: int | None  # answers: the question
    accepted_answer_id: int | None  # questions
    score: int
    title: str  # questions; "" otherwise
    body: str  # HTML
    creation_date: str  # as in the dump: "2010-07-09T19:19:03.353"
    tags: tuple[str, ...]
    site: str


def site_name(path: str) -> str:
    """`.../cooking.stackexchange.com.7z` or `.../cooking.stackexchange.com/Posts.xml` ->
    `cooking.stackexchange.com`; `stackoverflow.com-Posts.7z` -> `stackoverflow.com`."""
    p = PurePosixPath(path.replace("\\", "/"))
    if p.name.lower() == POSTS_MEMBER.lower():
        return p.parent.name
    name = p.name.removesuffix(".7z")
    return name.removesuffix("-Posts") if name.endswith("-Posts") else name


def _tags(value: str | None) -> tuple[str, ...]:
    """Both spellings of the dumps: `<python><list>` (to 2023) and `|python|list|` (since)."""
    if not value:
        return ()
    return tuple(a or b for a, b in _TAGS.findall(value))


def _int(attrib: dict[str, str], name: str, required: bool) -> int | None:
    value = attrib.get(name)
    if value is None:
        if required:
            raise ValueError(f"no {name}")
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name}={value[:40]!r} is not an integer") from None


def _post(attrib: dict[str, str], site: str) -> Post:
    return Post(
        id=_int(attrib, "Id", True),
        post_type=_int(attrib, "PostTypeId", True),
        parent_id=_int(attrib, "ParentId", False),
        accepted_answer_id=_int(attrib, "AcceptedAnswerId", False),
        score=_int(attrib, "Score", True),
        title=attrib.get("Title", ""),
        body=attrib.get("Body", ""),
        creation_date=attrib.get("CreationDate", ""),
        tags=_tags(attrib.get("Tags")),
        site=site,
    )


def _dead(path: str, line: int, reason: str, error: str, document: bool, **details) -> DeadLetter:
    return DeadLetter(path, line, reason, error, document, details)


# ---- byte sources ------------------------------------------------------------------------------


def _file_blocks(path: str) -> Iterator[bytes]:
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        while block := fh.read(CHUNK):
            yield block


class TooLarge(ValueError):
    """Posts.xml is larger than the bound the reader was given."""


class _Stopped(Exception):
    """The reader stopped listening: the decompressing thread ends."""


class _QueueIO(py7zr.io.Py7zIO):
    """Where py7zr writes the member: blocks go to the reader's queue, the total is bounded."""

    def __init__(self, out: queue.Queue, stop: threading.Event, max_bytes: int) -> None:
        self.out, self.stop, self.max_bytes, self.written = out, stop, max_bytes, 0

    def write(self, s: bytes | bytearray) -> int:
        self.written += len(s)
        if self.written > self.max_bytes:
            raise TooLarge(f"{POSTS_MEMBER} decompresses to more than {self.max_bytes} bytes")
        while True:
            if self.stop.is_set():
                raise _Stopped
            try:
                self.out.put(bytes(s), timeout=0.5)
                return len(s)
            except queue.Full:
                continue

    def read(self, size: int | None = None) -> bytes:
        return b""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return self.written


class _Factory(py7zr.io.WriterFactory):
    def __init__(self, sink: _QueueIO) -> None:
        self.sink = sink

    def create(self, filename: str) -> py7zr.io.Py7zIO:
        return self.sink


def _extract(fh: IO[bytes], sink: _QueueIO) -> None:
    """The thread's work: put Posts.xml's blocks in the queue, then None or the error."""
    try:
        with py7zr.SevenZipFile(fh, mode="r") as archive:
            members = {info.filename: info for info in archive.list()}
            info = members.get(POSTS_MEMBER)
            if info is None:
                raise ValueError(f"no {POSTS_MEMBER} in the archive")
            if info.uncompressed > sink.max_bytes:
                raise TooLarge(f"{POSTS_MEMBER} is {info.uncompressed} bytes, over the bound")
            archive.extract(targets=[POSTS_MEMBER], factory=_Factory(sink))
        end: BaseException | None = None
    except _Stopped:
        return
    except Exception as exc:  # a hostile archive may break py7zr anywhere
        end = exc
    while not sink.stop.is_set():
        try:
            sink.out.put(end, timeout=0.5)
            return
        except queue.Full:
            continue


def _archive_blocks(path: str, max_bytes: int) -> Iterator[bytes]:
    """Posts.xml decompressed from a site's .7z; raises what broke the archive."""
    blocks: queue.Queue = queue.Queue(maxsize=QUEUE_BLOCKS)
    stop = threading.Event()
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        worker = threading.Thread(
            target=_extract, args=(fh, _QueueIO(blocks, stop, max_bytes)), daemon=True
        )
        worker.start()
        try:
            while True:
                item = blocks.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join()


# ---- rows --------------------------------------------------------------------------------------


def _parser() -> etree.XMLPullParser:
    return etree.XMLPullParser(
        events=("end",),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )


def read_posts(
    path: str, site: str | None = None, max_bytes: int = DEFAULT_MAX_POSTS_BYTES
) -> Iterator[Post | DeadLetter]:
    """The rows of a site's Posts.xml (plain, or in the site's .7z), in file order.

    A DTD, a broken or truncated file, an unreadable archive: one dead letter, after the posts
    read before it. A row with a missing or non-integer Id, PostTypeId or Score: a dead letter.
    """
    site = site or site_name(path)
    archive = path.endswith(".7z")
    blocks = _archive_blocks(path, max_bytes) if archive else _file_blocks(path)
    parser = _parser()
    prolog: bytearray | None = bytearray()  # None once the root element was reached
    read, tail = 0, b""  # the last bytes: does the file end with its root's end tag?
    try:
        for block in blocks:
            read += len(block)
            if not archive and read > max_bytes:
                yield _dead(path, 0, "too_large", f"more than {max_bytes} bytes", False, site=site)
                return
            if prolog is not None:
                prolog += block
                root = _ROOT.search(prolog)
                head = prolog if root is None else prolog[: root.start()]
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    error = "the file declares a DTD (entities are refused, not expanded)"
                    yield _dead(path, 0, "dtd_refused", error, False, site=site)
                    return
                if root is None:
                    if len(prolog) > PROLOG_LIMIT:
                        error = f"no root element in the first {PROLOG_LIMIT} bytes"
                        yield _dead(path, 0, "xml_error", error, False, site=site)
                        return
                    continue
                block, prolog = bytes(prolog), None
            tail = (tail + block)[-64:]
            parser.feed(block)
            yield from _rows(parser, path, site)
        parser.close()
        yield from _rows(parser, path, site)
    except etree.XMLSyntaxError as exc:
        yield from _rows(parser, path, site)
        reason = "xml_error" if tail.rstrip().endswith(b"</posts>") else "truncated"
        yield _dead(path, exc.lineno or 0, reason, str(exc), False, site=site)
    except TooLarge as exc:
        yield _dead(path, 0, "too_large", str(exc), False, site=site)
    except Exception as exc:  # from the archive thread: py7zr's errors vary
        error = f"{type(exc).__name__}: {exc}"
        yield _dead(path, 0, "corrupt_input", error, False, site=site)


def _rows(parser: etree.XMLPullParser, path: str, site: str) -> Iterator[Post | DeadLetter]:
    for _, element in parser.read_events():
        if element.tag != "row":
            continue
        line = element.sourceline or 0
        attrib = dict(element.attrib)
        element.clear()
        parent = element.getparent()
        if parent is not None:  # drop the rows already read
            while element.getprevious() is not None:
                del parent[0]
        try:
            yield _post(attrib, site)
        except ValueError as exc:
            yield _dead(path, line, "bad_row", str(exc), True, site=site, post_id=attrib.get("Id"))


# ---- documents ---------------------------------------------------------------------------------


def question_document(question: Post, answers: list[Post]) -> dict:
    """`Q: <title> <body>` then `\\nA: <answer>` per answer, highest score first (numerically,
    ties by id), with the scores in that order."""
    ordered = sorted(answers, key=lambda a: (-a.score, a.id))
    text = f"Q: {question.title} {html_to_text(question.body)}"
    text += "".join(f"\nA: {html_to_text(answer.body)}" for answer in ordered)
    return {
        "id": f"stackexchange/{question.site}/{question.id}",
        "text": text,
        "source": "stackexchange",
        "title": question.title,
        "url": f"https://{question.site}/questions/{question.id}",
        "site": question.site,
        "question_id": question.id,
        "question_score": question.score,
        "answer_scores": [answer.score for answer in ordered],
        "accepted_answer_id": question.accepted_answer_id,
    }
