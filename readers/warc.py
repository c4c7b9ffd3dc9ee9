"""WARC/WET records: a streaming reader that survives bad input (docs/recipe/commoncrawl.md §1).
HTTP(S) inputs are read through readers.http; WET records become documents in readers.wet.

Reading has two layers. The gzip layer decompresses one member at a time. Common Crawl (like every
WARC writer) puts each record in its own member, and such a member's output is kept back until its
CRC has been checked, so a corrupt or truncated record costs exactly one dead letter. When a member
breaks, the layer scans on for the next `1f 8b 08` that decompresses to a `WARC/` line and goes on
from there. A member holding several records (a single-stream file) or a huge one is passed on as
it decompresses, so the records before a break in it are kept; since no CRC vouches for those bytes
(nor for an uncompressed file), their records must match their WARC-Block-Digest.

A gzip file is first read by a fast path (_fast) that inflates each member whole (with zlib-ng,
whose inflate refuses what zlib's does) and takes it only as one well-formed record followed by
another such member or the end; at the first member that is anything else, the two layers below
take over from the member of the first record not yet passed on, so what is read and what is
dead-lettered are exactly theirs.

The record layer frames records by Content-Length, never by line, and checks that each block is
followed by "\\r\\n\\r\\n" and the next `WARC/` line (or the end of the input); when it is not,
the record is dead-lettered and reading resumes at the next `WARC/1.x` line. Headers are parsed as
name: value pairs, so new fields (WARC-Identified-Content-Language, which broke CCNet's fixed line
indexes) change nothing.

Every input byte ends in a record or is accounted for by a DeadLetter naming the file, the offset
and the reason; only I/O errors of the file system, or an HTTP read that runs out of tries, raise
(a worker should retry those, not skip the file). Memory is bounded by a few times
max_record_bytes plus CHUNK, whatever the file's size or compression ratio.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

from apache_beam.io.filesystems import CompressionTypes, FileSystems
from zlib_ng import zlib_ng

from core.deadletter import DeadLetter
from core.files import CHUNK
from readers.http import DEFAULT_RETRY, Retry, http_blocks

# Common Crawl truncates every fetched payload at 1 MiB, so its WARC records are at most ~1 MiB
# plus headers and its WET records (text extracted from such payloads) are smaller: 8 MiB refuses
# no real CC record while a broken or hostile file costs at most a few times 8 MiB of memory.
DEFAULT_MAX_RECORD_BYTES = 8 << 20
_FEED = 8 << 10  # first compressed step of a member: CC members are a few KB, and zlib copies
#                  whatever input follows a member's end, so small steps keep that copy small
_PEEK = 64 << 10  # how far to look for a broken record's id and URL, or for a member's first line
_GZIP_MEMBER = b"\x1f\x8b\x08"
_TRAILER = b"\r\n\r\n"
_NEXT_RECORD = b"\r\n\r\nWARC/"
_HEADER_END = re.compile(rb"\n\r?\n")
_VERSION_LINE = re.compile(rb"\nWARC/1\.[0-9]\r?\n")
_VERSION_TAIL = len(b"\nWARC/1.0\r\n") - 1  # bytes kept between scans so no line is missed
_VERSION = re.compile(r"WARC/[0-9]+\.[0-9]+")
_PEEK_FIELD = re.compile(rb"(?im)^(WARC-Record-ID|WARC-Target-URI|WARC-Type)[ \t]*:[ \t]*(.*?)\r?$")
_REQUIRED = ("WARC-Type", "WARC-Record-ID", "WARC-Date")
# A whole "Name: value" line after a CRLF, the name printable ASCII without ":" and the value with
# no whitespace at either end (every writer's): its name and value need no strip.
_PLAIN_FIELD = re.compile(r"\r\n([!-9;-~]+): (\S(?:[^\r\n]*\S)?)(?=\r\n|\r?\Z)")


# ---- records -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WarcHeaders:
    """Header fields in file order; names compare case-insensitively and may repeat."""

    items: tuple[tuple[str, str], ...]
    _first: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # built last to first, so the first of repeated names wins
        first = {k.lower(): v for k, v in reversed(self.items)}
        object.__setattr__(self, "_first", first)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [v for k, v in self.items if k.lower() == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._first


@dataclass(frozen=True, slots=True)
class WarcRecord:
    version: str  # "WARC/1.0"
    headers: WarcHeaders
    body: bytes
    file: str
    offset: int  # compressed offset of the record's gzip member (byte offset if uncompressed)
    offset_in_member: int  # decompressed offset inside that member (0 in Common Crawl's layout)
    # the body decoded, for a `conversion` record (decoded once, when its UTF-8 is checked)
    text: str | None = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str | None:
        return self.headers.get("WARC-Type")

    @property
    def record_id(self) -> str | None:
        return self.headers.get("WARC-Record-ID")

    @property
    def url(self) -> str | None:
        return self.headers.get("WARC-Target-URI")


def dead_letter(
    file: str,
    offset: int,
    offset_in_member: int,
    reason: str,
    error: str,
    record_id: str | None = None,
    url: str | None = None,
    warc_type: str | None = None,
) -> DeadLetter:
    """A record that could not be read. `offset` is as WarcRecord.offset (of the broken record,
    member or region). A `conversion` record whose headers were seen counts as a document read.

    Reasons: not_warc, corrupt_gzip, truncated, bad_header, bad_content_length, bad_digest,
    too_large, invalid_utf8.
    """
    details = {
        "offset_in_member": offset_in_member,
        "record_id": record_id,
        "url": url,
        "warc_type": warc_type,
    }
    return DeadLetter(file, offset, reason, error, warc_type == "conversion", details)


def parse_headers(block: bytes) -> tuple[str, WarcHeaders]:
    """Version line and fields of a header section (without its blank line).

    Raises UnicodeDecodeError or ValueError: a malformed header is dead-lettered, not guessed at.
    """
    text = block.decode("utf-8")
    crlf = text.count("\r\n")
    if crlf == text.count("\n"):  # every line ends in CRLF
        fields = _PLAIN_FIELD.findall(text)
        if len(fields) == crlf:  # every line is a plain field: what the loop below would make
            version = text[: text.find("\r\n")] if crlf else text.removesuffix("\r")
            if _VERSION.fullmatch(version):
                return version, WarcHeaders(tuple(fields))
        lines = text.removesuffix("\r").split("\r\n")
    else:
        lines = [line.removesuffix("\r") for line in text.split("\n")]
    if not _VERSION.fullmatch(lines[0]):
        raise ValueError(f"not a WARC version line: {lines[0][:40]!r}")
    items: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if line[:1] in (" ", "\t"):  # folded continuation of the previous field
            if not items:
                raise ValueError(f"continuation line before any field: {line[:80]!r}")
            name, value = items[-1]
            items[-1] = (name, f"{value} {line.strip()}".lstrip())
            continue
        name = name.strip()
        if not colon or not name:
            raise ValueError(f"header line without a field name and colon: {line[:80]!r}")
        items.append((name, value.strip()))
    return lines[0], WarcHeaders(tuple(items))


def _warc_record(
    version: str, headers: WarcHeaders, body: bytes, file: str, offset: int, inner: int
) -> WarcRecord:
    """The record; raises UnicodeDecodeError for a `conversion` record that is not UTF-8."""
    text = body.decode("utf-8") if headers.get("WARC-Type") == "conversion" else None
    return WarcRecord(version, headers, body, file, offset, inner, text)


def _digest_matches(value: str | None, block: bytes) -> bool:
    """Whether a `algorithm:base32-or-hex` digest matches; True if absent or not checkable."""
    if value is None:
        return True
    algorithm, _, encoded = value.partition(":")
    try:
        digest = hashlib.new(algorithm.strip().lower().replace("-", ""), block).digest()
    except ValueError:
        return True
    encoded = encoded.strip()
    if len(encoded) == 2 * len(digest):
        return encoded.lower() == digest.hex()
    return encoded.upper().rstrip("=") == base64.b32encode(digest).decode().rstrip("=")


def _peek(data: bytes) -> tuple[str | None, str | None, str | None]:
    """Best-effort record id, URL and type of a record whose headers could not be parsed."""
    head = data[:_PEEK]
    end = _HEADER_END.search(head)
    found: dict[str, str] = {}
    for m in _PEEK_FIELD.finditer(head[: end.start()] if end else head):
        found.setdefault(m.group(1).lower().decode(), m.group(2).decode("utf-8", "replace"))
    return found.get("warc-record-id"), found.get("warc-target-uri"), found.get("warc-type")


# ---- the gzip layer ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Data:
    offset: int  # compressed offset of the member the bytes come from
    inner: int  # decompressed offset of data[0] inside that member
    data: bytes
    checked: bool  # the member's CRC has vouched for these bytes


@dataclass(frozen=True, slots=True)
class _Broken:
    offset: int  # compressed offset of the member that could not be read
    reason: str
    error: str
    head: bytes  # what its start decompresses to, if it was kept back: the record's id and URL
    resumed_at: int | None  # the next good member, where reading goes on


def _slice(buf: bytearray, start: int, end: int) -> bytes:
    """buf[start:end] copied once (a bytearray slice would copy twice)."""
    with memoryview(buf) as view:
        return bytes(view[start:end])


class _Window:
    """The compressed bytes still needed, from `start` on, read from `blocks` on demand."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self.blocks = blocks
        self.buf = bytearray()
        self.start = 0

    @property
    def end(self) -> int:
        return self.start + len(self.buf)

    def fill(self) -> bool:
        """Read one more block; False at the end of the input."""
        block = next(self.blocks, None)
        if block is None:
            return False
        self.buf += block
        return True

    def get(self, pos: int, n: int) -> bytes:
        return _slice(self.buf, pos - self.start, pos - self.start + n)

    def forget(self, upto: int) -> None:
        if upto > self.start:
            del self.buf[: upto - self.start]
            self.start = upto


def _consumed(dec: zlib._Decompress, data: bytes) -> int:
    """Input bytes the last decompress() call used (at a member's end, zlib leaves what follows
    in both unused_data and unconsumed_tail)."""
    return len(data) - len(dec.unused_data if dec.eof else dec.unconsumed_tail)


def _starts_warc(window: _Window, pos: int) -> bool:
    """Whether a gzip member starts at `pos` and decompresses to a line starting with `WARC/`."""
    dec, out = zlib.decompressobj(wbits=31), b""
    try:
        while len(out) < 5 and not dec.eof and pos - window.start < _PEEK:
            if pos == window.end and not window.fill():
                break
            data = window.get(pos, 512)
            out += dec.decompress(data, 5 - len(out))
            pos += _consumed(dec, data)
    except zlib.error:
        return False
    return out == b"WARC/"


def _replay(dec: zlib._Decompress, window: _Window, pos: int) -> bytes:
    """What a step that failed had decompressed before its error (zlib drops it with the error),
    by feeding its input again in small steps to a copy of the decompressor."""
    out = bytearray()
    try:
        while len(out) < CHUNK and not dec.eof and pos < window.end:
            data = window.get(pos, 64)
            out += dec.decompress(data, CHUNK - len(out))
            pos += _consumed(dec, data)
    except zlib.error:
        pass
    return bytes(out)


def _resync(window: _Window, pos: int) -> int | None:
    """Offset of the next gzip member from `pos` on that starts a WARC record, if any."""
    while True:
        i = window.buf.find(_GZIP_MEMBER, max(pos - window.start, 0))
        if i < 0:
            window.forget(max(pos, window.end - len(_GZIP_MEMBER) + 1))
            pos = window.start
            if not window.fill():
                return None
            continue
        candidate = window.start + i
        window.forget(candidate)
        if _starts_warc(window, candidate):
            return candidate
        pos = candidate + 1


def _pieces(member: int, pieces: list[bytes], checked: bool) -> Iterator[_Data]:
    """A member's kept-back output, which starts at its first byte."""
    start = 0
    for piece in pieces:
        yield _Data(member, start, piece, checked)
        start += len(piece)


def _gunzip(window: _Window, hold: int) -> Iterator[_Data | _Broken]:
    """Decompressed bytes member by member; a broken member becomes one _Broken event.

    A member's output is kept back until its CRC has been checked while it is one record (the
    layout of Common Crawl and of every WARC writer) of at most `hold` bytes, so a broken record
    costs one dead letter that names it. A member that holds more records (a single-stream file)
    or a huge one is passed on as it decompresses, so the records before a break in it are kept;
    so is one whose compressed bytes pass `hold` + CHUNK (deflate cannot need that many for
    `hold` bytes of output: a hostile member of empty blocks), which would otherwise stay in the
    window until its CRC.
    """
    member = window.start
    while member < window.end or window.fill():
        dec = zlib.decompressobj(wbits=31)
        pos, produced, step = member, 0, _FEED
        held: list[bytes] | None = []  # None once the member is passed on as it decompresses
        try:
            while not dec.eof:
                if pos == window.end:
                    window.fill()
                data, before, started = window.get(pos, step), dec.copy(), pos
                out = dec.decompress(data, CHUNK)
                pos += _consumed(dec, data)
                step = min(step * 2, CHUNK)
                if not out and not data:
                    raise EOFError("the input ends inside a gzip member")
                if held is None:
                    yield _Data(member, produced, out, False)
                    window.forget(max(member + 1, pos - hold))
                else:
                    held.append(out)
                    if (
                        produced + len(out) > hold
                        or pos - member > hold + CHUNK  # input no record of `hold` bytes needs
                        or _NEXT_RECORD in b"".join(held[-2:])
                    ):
                        yield from _pieces(member, held, False)
                        held = None
                produced += len(out)
        except (zlib.error, EOFError) as exc:
            last = _replay(before, window, started)
            head = b""
            if held is None:
                if last:
                    yield _Data(member, produced, last, False)
            else:
                held.append(last)
                output = b"".join(held)
                if _NEXT_RECORD in output:  # records before the break are kept
                    yield _Data(member, 0, output, False)
                else:
                    head = output[:_PEEK]
            resumed = _resync(window, max(member + 1, window.start))
            where = (
                f"reading resumed at the gzip member at byte {resumed}"
                if resumed is not None
                else "no later gzip member starts a WARC record"
            )
            yield _Broken(
                member,
                "truncated" if isinstance(exc, EOFError) and resumed is None else "corrupt_gzip",
                f"{type(exc).__name__}: {exc}; {where}",
                head,
                resumed,
            )
            if resumed is None:
                return
            member = resumed
            continue
        if held:
            yield from _pieces(member, held, True)
        window.forget(pos)
        member = pos


def _fast_record(out: bytes, file: str, offset: int, max_bytes: int) -> WarcRecord | None:
    """The record a whole gzip member holds when it is one well-formed record (what the careful
    layers would make of it, given that the next member starts with `WARC/`), else None."""
    if len(out) > max_bytes or _NEXT_RECORD in out:
        return None
    m = _HEADER_END.search(out)
    if m is None:
        return None
    try:
        version, headers = parse_headers(out[: m.start()])
        length = headers.get("Content-Length", "")
        if not (length.isascii() and length.isdigit()):
            return None
        block_end = m.end() + int(length)
        if len(out) != block_end + len(_TRAILER) or not out.endswith(_TRAILER):
            return None
        if not all(name in headers for name in _REQUIRED):
            return None
        return _warc_record(version, headers, out[m.end() : block_end], file, offset, 0)
    except (UnicodeDecodeError, ValueError):
        return None


def _fast(window: _Window, file: str, max_bytes: int) -> Generator[WarcRecord, None, bool]:
    """Records of a file in Common Crawl's layout, read with less work per record: each member is
    inflated whole and must be one well-formed record of at most `max_bytes`, and a record is
    passed on once the next member proves to be such a record too (or the input ends), which is
    exactly when the careful layers (_gunzip and _Framer) would pass it on unchanged.

    Returns True at the end of the input. At the first member that is anything else (broken,
    truncated, several records, too large, a bad header, trailing bytes), returns False with
    `window` set at the member of the first record not yet passed on, where the careful layers
    take over as if they had read the file from its start.
    """
    view, base = memoryview(bytes(window.buf)), window.start  # view[0] is the file's byte `base`
    pending: WarcRecord | None = None
    member = base
    while True:
        if member - base == len(view):
            more = _more(window, view, base, member if pending is None else pending.offset)
            if more is None:
                if pending is not None:
                    yield pending
                return True
            view, base = more
        dec, pos, step, pieces, produced = zlib_ng.decompressobj(31), member, _FEED, [], 0
        try:
            if member - base + step <= len(view):  # one step inflates most members whole
                out = dec.decompress(view[member - base : member - base + step], max_bytes + 1)
                pieces.append(out)
                produced = max_bytes + 1 if dec.unconsumed_tail else len(out)
                pos += step - len(dec.unused_data)  # (unused_data is empty until the end)
                step *= 2
            while not dec.eof and produced <= max_bytes:
                if pos - base == len(view):
                    if pos - member > max_bytes + CHUNK:
                        break  # many compressed bytes for little output: the careful layers decide
                    more = _more(window, view, base, member if pending is None else pending.offset)
                    if more is None:
                        break
                    view, base = more
                piece = view[pos - base : pos - base + step]
                out = dec.decompress(piece, max_bytes + 1 - produced)
                if dec.unconsumed_tail:
                    break  # over max_bytes
                pos += len(piece) - len(dec.unused_data)
                pieces.append(out)
                produced += len(out)
                step = min(step * 2, CHUNK)
        except zlib_ng.error:
            pass
        record = _fast_record(b"".join(pieces), file, member, max_bytes) if dec.eof else None
        if record is None:
            at = member if pending is None else pending.offset
            window.buf = bytearray(view[at - base :])
            window.start = at
            return False
        if pending is not None:
            yield pending
        pending, member = record, pos


def _more(window: _Window, view: memoryview, base: int, keep: int) -> tuple[memoryview, int] | None:
    """The bytes of `view` (at `base`) from `keep` on with more input appended, and where they
    start; None at the end of the input. It appends at least as many bytes as it keeps (or all
    that is left), so that small blocks do not make the copying quadratic."""
    parts, kept, added = [view[keep - base :]], len(view) - (keep - base), 0
    for block in window.blocks:
        parts.append(block)
        added += len(block)
        if added >= kept:
            break
    if not added:
        return None
    return memoryview(b"".join(parts)), keep


def _plain(window: _Window) -> Iterator[_Data]:
    while True:
        if window.buf:
            yield _Data(0, window.start, bytes(window.buf), False)
            window.forget(window.end)
        if not window.fill():
            return


# ---- the record layer --------------------------------------------------------------------------

_START, _RECORD, _SKIP, _RESYNC, _STOP = range(5)


class _Head(NamedTuple):
    version: str
    headers: WarcHeaders
    block_start: int
    length: int


class _Framer:
    """Frames records in the decompressed stream; each byte ends in a record or a dead letter."""

    def __init__(self, file: str, max_record_bytes: int, compressed: bool) -> None:
        self.file, self.max, self.compressed = file, max_record_bytes, compressed
        self.buf = bytearray()
        self.base = 0  # position of buf[0] in the whole decompressed output
        self.members: deque[tuple[int, int, int]] = deque()  # (base, member offset, inner)
        self.mode = _START
        self.scan = 0  # where the next _RESYNC search starts in buf
        self.skip = 0  # block bytes of a too-large record still to discard
        self.big: DeadLetter | None = None  # its dead letter, sent once its end is checked
        self.unchecked_end = 0  # end of the last bytes no gzip CRC has vouched for
        self.head: _Head | None = None  # the parsed header section of the record at buf[0]

    @property
    def stopped(self) -> bool:
        return self.mode == _STOP

    def feed(self, event: _Data) -> Iterator[WarcRecord | DeadLetter]:
        last = self.members[-1] if self.members else None
        at = self.base + len(self.buf)
        if last is None or (last[1], last[2] + at - last[0]) != (event.offset, event.inner):
            self.members.append((at, event.offset, event.inner))
        self.buf += event.data
        if not event.checked:
            self.unchecked_end = at + len(event.data)
        yield from self._drain(eof=False)

    def broken(self, event: _Broken) -> Iterator[WarcRecord | DeadLetter]:
        if self.mode == _START and event.resumed_at is None and event.head[:5] != b"WARC/":
            self.mode = _STOP
            yield self._not_warc(f"{event.error}; its output starts with {event.head[:16]!r}")
            return
        yield from self._drain(eof=True)  # what came before the broken member
        yield dead_letter(self.file, event.offset, 0, event.reason, event.error, *_peek(event.head))
        self._consume(len(self.buf))
        self.members.clear()
        self.mode = _RECORD  # the next member is known to start with `WARC/`

    def finish(self) -> Iterator[WarcRecord | DeadLetter]:
        yield from self._drain(eof=True)

    # -- positions and buffer

    def _where(self) -> tuple[int, int]:
        """(offset, offset_in_member) of buf[0]."""
        if not self.compressed:
            return self.base, 0
        at, offset, inner = self.members[0]
        return offset, inner + self.base - at

    def _consume(self, n: int) -> None:
        del self.buf[:n]
        self.base += n
        self.head = None
        while len(self.members) > 1 and self.members[1][0] <= self.base:
            self.members.popleft()

    def _dead(self, reason: str, error: str, headers: WarcHeaders | None = None) -> DeadLetter:
        if headers is None:
            ids = _peek(_slice(self.buf, 0, _PEEK))
        else:
            ids = tuple(headers.get(k) for k in ("WARC-Record-ID", "WARC-Target-URI", "WARC-Type"))
        return dead_letter(self.file, *self._where(), reason, error, *ids)

    def _not_warc(self, error: str) -> DeadLetter:
        return dead_letter(self.file, 0, 0, "not_warc", error)

    def _ends_at(self, end: int, eof: bool) -> bool:
        """Whether a block ending at buf[end] is followed by "\\r\\n\\r\\n" and a record or EOF."""
        if self.buf[end : end + 4] != _TRAILER:
            return False
        return self.buf[end + 4 : end + 9] == b"WARC/" or (eof and len(self.buf) == end + 4)

    def _resync_after(self, dead: DeadLetter, scan: int) -> DeadLetter:
        self.mode, self.scan = _RESYNC, scan
        return dead

    # -- the state machine

    def _drain(self, eof: bool) -> Iterator[WarcRecord | DeadLetter]:
        while True:
            if self.mode == _START:
                if not self.buf or (len(self.buf) < 5 and not eof):
                    return
                if self.buf[:5] != b"WARC/":
                    self.mode = _STOP
                    yield self._not_warc(f"it starts with {bytes(self.buf[:16])!r}, not WARC/")
                    return
                self.mode = _RECORD
            elif self.mode == _RECORD:
                if not self.buf:
                    return
                item = self._record(eof)
                if item is None:
                    return
                if item is not True:
                    yield item
            elif self.mode == _SKIP:
                n = min(self.skip, len(self.buf))
                self._consume(n)
                self.skip -= n
                if self.skip or (len(self.buf) < 9 and not eof):
                    if not eof:
                        return
                    self.mode = _RECORD
                    yield replace(self.big, error=f"{self.big.error}; the input ends inside it")
                    continue
                if self._ends_at(0, eof):
                    self._consume(len(_TRAILER))
                    self.mode = _RECORD
                    yield self.big
                else:
                    note = "; its Content-Length does not end it either"
                    yield self._resync_after(replace(self.big, error=self.big.error + note), 0)
            elif self.mode == _RESYNC:
                m = _VERSION_LINE.search(self.buf, self.scan)
                if m:
                    self._consume(m.start() + 1)
                    self.mode = _RECORD
                    continue
                keep = len(self.buf) if eof else max(self.scan, len(self.buf) - _VERSION_TAIL)
                self._consume(keep)
                self.scan = 0
                return
            else:
                return

    def _head(self, eof: bool) -> _Head | DeadLetter | None:
        """The header section of the record at buf[0], a dead letter, or None (needs input)."""
        m = _HEADER_END.search(self.buf)
        if m is None:
            if len(self.buf) > self.max:
                error = f"no end of the header section in max_record_bytes={self.max}"
                return self._resync_after(self._dead("too_large", error), 0)
            if not eof:
                return None
            return self._resync_after(self._dead("truncated", "the input ends in a header"), 0)
        try:
            version, headers = parse_headers(_slice(self.buf, 0, m.start()))
            length = headers.get("Content-Length", "")
            if not (length.isascii() and length.isdigit()):
                raise ValueError(f"Content-Length {length!r} is not a byte count")
        except (UnicodeDecodeError, ValueError) as exc:
            return self._resync_after(self._dead("bad_header", str(exc)), 0)
        return _Head(version, headers, m.end(), int(length))

    def _record(self, eof: bool) -> WarcRecord | DeadLetter | bool | None:
        """Frame the record at buf[0]: an item, True (consumed silently) or None (needs input)."""
        if self.head is None:  # parsed once per record, not once per read
            head = self._head(eof)
            if not isinstance(head, _Head):
                return head
            self.head = head
        version, headers, block_start, length = self.head
        buf = self.buf
        block_end = block_start + length
        if block_end > self.max:
            error = f"record of {block_end} bytes is over max_record_bytes={self.max}"
            self.big = self._dead("too_large", error, headers)
            self.skip = length
            self._consume(block_start)
            self.mode = _SKIP
            return True
        if len(buf) < block_end + 9 and not eof:
            return None
        if not self._ends_at(block_end, eof):
            complete = len(buf) >= block_end + len(_TRAILER)
            if complete or _VERSION_LINE.search(buf, block_start - 1, block_end + 9):
                error = f"Content-Length {length} is not followed by \\r\\n\\r\\nWARC/"
                reason = "bad_content_length"
            else:
                error = f"the input ends {block_end - len(buf)} bytes before the block does"
                reason = "truncated"
            return self._resync_after(self._dead(reason, error, headers), block_start - 1)
        missing = [name for name in _REQUIRED if name not in headers]
        item: WarcRecord | DeadLetter
        if missing:
            item = self._dead("bad_header", f"missing {', '.join(missing)}", headers)
        else:
            body = _slice(buf, block_start, block_end)
            if self.unchecked_end > self.base and not _digest_matches(
                headers.get("WARC-Block-Digest"), body
            ):
                error = f"WARC-Block-Digest {headers.get('WARC-Block-Digest')} does not match"
                item = self._dead("bad_digest", error, headers)
            else:
                try:
                    item = _warc_record(version, headers, body, self.file, *self._where())
                except UnicodeDecodeError as exc:
                    item = self._dead("invalid_utf8", str(exc), headers)
        self._consume(block_end + len(_TRAILER))
        return item


# ---- byte sources and the reader ---------------------------------------------------------------


def _is_http(path: str) -> bool:
    return path.startswith(("http://", "https://"))


def _file_blocks(path: str) -> Iterator[bytes]:
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as fh:
        while block := fh.read(CHUNK):
            yield block


def iter_records(
    path: str,
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    retry: Retry = DEFAULT_RETRY,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[WarcRecord | DeadLetter]:
    """Records of a WARC/WET file (local, any Beam file system, or http(s)), and dead letters.

    Gzip (one member per record or a single stream) is recognised by its magic bytes, or by a
    `.gz` name when those are damaged. An empty file gives nothing; a file that is not WARC gives
    one `not_warc` dead letter. http(s) URLs are read through http_blocks with `retry`.
    """
    blocks = http_blocks(path, retry=retry, sleep=sleep) if _is_http(path) else _file_blocks(path)
    window = _Window(blocks)
    if not window.fill():
        return
    # by magic, or by name when the first bytes are damaged but the rest may still be readable
    compressed = window.buf[:2] == _GZIP_MEMBER[:2] or (
        path.endswith(".gz") and window.buf[:5] != b"WARC/"
    )
    framer = _Framer(path, max_record_bytes, compressed)
    if window.buf[:3] == _GZIP_MEMBER:
        if (yield from _fast(window, path, max_record_bytes)):
            return
        if window.start > 0:
            framer.mode = _RECORD  # the records before were read, ending where this one starts
    for event in _gunzip(window, max_record_bytes) if compressed else _plain(window):
        yield from framer.feed(event) if isinstance(event, _Data) else framer.broken(event)
        if framer.stopped:
            return
    yield from framer.finish()
