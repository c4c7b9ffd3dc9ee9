"""JSON lines, plain or gzip, local or on any Beam file system, read with bounded memory.

Published corpora (C4's `c4-train.*.json.gz`, a BigQuery export of GitHub) are JSON lines. Lines
stream past in chunks: one longer than the limit is cut to its first `PEEK` bytes as it goes (so
a reader can still name what it held) and never held whole, so a hostile 100 MB line costs a
dead letter and a bounded buffer. gzip is decompressed here, member after member, a chunk at a
time: a stream that breaks (corrupt deflate data, a file cut short) ends in one dead letter after
every line before the break. A gzip CRC is checked only at the end of its member, so damaged
data that still inflates reads as lines (bad JSON, mostly) until then.
"""

from __future__ import annotations

import functools
import json
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core.deadletter import DeadLetter
from core.files import CHUNK

DEFAULT_MAX_LINE_BYTES = 8 << 20
MAX_BAD_LINES = 10_000  # dead letters of one file before the rest of it is given up
PEEK = 64 << 10  # what is kept of a line over the limit
_FEED = 64 << 10  # compressed bytes per decompression step
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True, slots=True)
class Line:
    index: int  # from 0
    data: bytes  # the line without its newline; its first PEEK bytes when it is too long
    length: int  # the whole line's bytes

    @property
    def whole(self) -> bool:
        return len(self.data) == self.length


def _gunzip(read: Callable[[int], bytes]) -> Iterator[bytes]:
    """The decompressed bytes of gzip members, CHUNK at most at a time. Raises zlib.error on
    corrupt data and EOFError on a truncated member, after yielding what came before."""
    dec, data, in_member = zlib.decompressobj(wbits=31), b"", False
    while True:
        fed = data or read(_FEED)
        if not fed and not in_member:
            return
        before = dec.copy()
        try:
            out = dec.decompress(fed, CHUNK)
        except zlib.error:
            yield from _replay(before, fed)
            raise
        in_member = True
        if out:
            yield out
        if dec.eof:
            data, dec, in_member = dec.unused_data, zlib.decompressobj(wbits=31), False
        elif not fed and not out:
            raise EOFError("the input ends inside a gzip member")
        else:
            data = dec.unconsumed_tail


def _replay(dec: Any, data: bytes) -> Iterator[bytes]:
    """What a step that failed had decompressed before its error (zlib drops it with the
    error), by feeding its input again in small pieces to a copy of the decompressor."""
    for start in range(0, len(data), 256):
        try:
            out = dec.decompress(data[start : start + 256], CHUNK)
        except zlib.error:
            return
        if out:
            yield out


def _split(blocks: Iterable[bytes], limit: int) -> Iterator[Line]:
    """Each line of the byte stream; one over `limit` bytes is cut to PEEK bytes as it streams
    past, so no more than `limit` + CHUNK bytes are held."""
    index, buf, length = 0, bytearray(), 0
    for block in blocks:
        start = 0
        with memoryview(block) as view:
            while True:
                newline = block.find(b"\n", start)
                end = len(block) if newline < 0 else newline
                if length <= limit:
                    buf += view[start:end]
                    if len(buf) > limit:
                        del buf[PEEK:]
                length += end - start
                if newline < 0:
                    break
                yield Line(index, bytes(buf), length)
                index, start, length = index + 1, newline + 1, 0
                buf.clear()
    if length:
        yield Line(index, bytes(buf), length)


def lines(path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES) -> Iterator[Line | DeadLetter]:
    """The lines of `path` (gzip or not, by its first bytes); a break in the stream or a file
    that cannot be opened is a dead letter (`truncated`, `corrupt_gzip`, `unreadable_file`)
    at the index of the last line read, `after_line` giving how many were."""
    index = -1
    try:
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as raw:
            gzipped = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            blocks = _gunzip(raw.read) if gzipped else iter(lambda: raw.read(CHUNK), b"")
            for line in _split(blocks, max_line_bytes):
                index = line.index
                yield line
    except (OSError, EOFError, zlib.error) as exc:
        reasons = {EOFError: "truncated", zlib.error: "corrupt_gzip"}
        reason = reasons.get(type(exc), "unreadable_file")
        error = f"{type(exc).__name__}: {exc}"
        yield DeadLetter(path, max(index, 0), reason, error, False, {"after_line": index + 1})


def bounded_dead_letters(reader: Callable[..., Iterator[Any]]) -> Callable[..., Iterator[Any]]:
    """A JSON-lines reader (its first argument the path) that gives up on a file after
    MAX_BAD_LINES dead letters: one more, `too_many_bad_lines`, says the rest is not read. Each
    bad line is a dead letter, so without a bound a 25 KB gzip of short broken lines would write
    some 12 million of them; a file that bad is not a corpus file."""

    @functools.wraps(reader)
    def read(path: str, *args: Any, **kwargs: Any) -> Iterator[Any]:
        bad = 0
        for item in reader(path, *args, **kwargs):
            if isinstance(item, DeadLetter):
                bad += 1
                if bad > MAX_BAD_LINES:
                    error = f"over {MAX_BAD_LINES} bad lines: the rest of the file is not read"
                    yield DeadLetter(path, item.offset, "too_many_bad_lines", error, False)
                    return
            yield item

    return read


def loads(data: bytes | str) -> Any:
    """json.loads, with input nested too deeply for its parser (a RecursionError) raised as the
    ValueError of any other bad JSON, so that readers dead-letter it instead of crashing."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply to parse") from None


def read_jsonl(
    path: str, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
) -> Iterator[tuple[int, dict[str, Any]] | DeadLetter]:
    """(line number from 1, object) for each line of `path`; a DeadLetter for a line that is
    too long, not UTF-8, not JSON or not an object (document=True, `line` in its details), or
    for a break in the file. Blank lines are skipped."""
    for item in lines(path, max_line_bytes):
        if isinstance(item, DeadLetter):
            yield item
            continue
        number, where = item.index + 1, {"line": item.index + 1}
        if not item.whole:
            error = f"line of {item.length} bytes, over {max_line_bytes}"
            yield DeadLetter(path, item.index, "too_large", error, True, where)
            continue
        if not item.data.strip():
            continue
        try:
            value = loads(item.data)
        except ValueError as exc:  # bad JSON and invalid UTF-8 alike
            reason = "invalid_utf8" if isinstance(exc, UnicodeDecodeError) else "bad_json"
            yield DeadLetter(path, item.index, reason, str(exc)[:200], True, where)
            continue
        if not isinstance(value, dict):
            error = f"a JSON {type(value).__name__}, not an object"
            yield DeadLetter(path, item.index, "bad_json", error, True, where)
            continue
        yield number, value
