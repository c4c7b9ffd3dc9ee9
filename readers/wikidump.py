"""MediaWiki XML dumps: site info, byte ranges of multistream dumps, and a page reader.

The reader never hands the whole dump to an XML parser. It scans the decompressed bytes for
`<page>` … `</page>` (a literal `<` cannot occur inside XML text, so the markers are exact) and
parses each page on its own with entities and network off. A broken page then costs one
dead-letter record instead of the rest of the file, and memory is bounded by the largest page
allowed, whatever the dump's size or compression ratio.
"""

from __future__ import annotations

import bz2
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from apache_beam.io.filesystems import FileSystems
from lxml import etree

from core.deadletter import DeadLetter
from core.files import CHUNK

HEADER_LIMIT = 4 << 20  # a <siteinfo> header is a few KB; refuse to look further
DEFAULT_MAX_PAGE_BYTES = 8 << 20  # the largest real articles are ~2-4 MB of XML

PAGE_OPEN = b"<page>"
PAGE_CLOSE = b"</page>"
_DB_LANGUAGE = re.compile(r"^([a-z_-]+?)wiki$")
_ROOT = re.compile(rb"<mediawiki\b[^>]*>")
_XML_LANG = re.compile(rb'xml:lang="([a-z-]+)"')


def _safe_parser() -> etree.XMLParser:
    # huge_tree lifts libxml2's 10 MB text-node cap: page size is bounded by max_page_bytes instead.
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, recover=False
    )


@dataclass(frozen=True, slots=True)
class SiteInfo:
    dbname: str
    language: str
    base: str
    namespaces: dict[int, str] = field(default_factory=dict)
    dtd: bool = False  # the header declares a DTD; its entities are never expanded


@dataclass(frozen=True, slots=True)
class RawPage:
    page_id: int
    title: str
    ns: int
    redirect: bool
    revision_id: int | None
    timestamp: datetime | None
    text: str
    file: str
    stream_offset: int  # compressed byte offset of the stream holding the page (0: single stream)
    offset: int  # decompressed byte offset of `<page>` inside that stream


def dead_letter(
    file: str,
    stream_offset: int,
    offset: int,
    reason: str,
    error: str,
    is_page: bool,
    title: str | None = None,
    page_id: int | None = None,
) -> DeadLetter:
    """Input that could not become a page: `offset` is the decompressed offset inside the bz2
    stream at `stream_offset`; `is_page`: a `<page>` was seen, so it counts as a page read."""
    details = {"stream_offset": stream_offset, "title": title, "page_id": page_id}
    return DeadLetter(file, offset, reason, error, is_page, details)


# ---- byte sources ------------------------------------------------------------------------------


def _read_range(path: str, start: int, end: int | None) -> Iterator[bytes]:
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        if start:
            fh.seek(start)
        remaining = None if end is None else end - start
        while remaining is None or remaining > 0:
            block = fh.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not block:
                if remaining:
                    raise EOFError(
                        f"the file ends {remaining} bytes before the range [{start}, {end})"
                    )
                return
            if remaining is not None:
                remaining -= len(block)
            yield block


def _bunzip(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress concatenated bz2 streams, producing at most CHUNK bytes per step."""
    dec, fed = bz2.BZ2Decompressor(), False
    for block in blocks:
        data = block
        while True:
            if dec.eof:
                data = dec.unused_data + data
                dec, fed = bz2.BZ2Decompressor(), False
            if not data and dec.needs_input:
                break
            out = dec.decompress(data, CHUNK)
            fed, data = fed or bool(data), b""
            if out:
                yield out
    if fed and not dec.eof:
        raise EOFError("bz2 stream ended before its end-of-stream marker (truncated file?)")


def _gunzip(blocks: Iterable[bytes]) -> Iterator[bytes]:
    """Decompress concatenated gzip members, producing at most CHUNK bytes per step."""
    dec, fed = zlib.decompressobj(wbits=47), False
    for block in blocks:
        data = block
        while data:
            out = dec.decompress(data, CHUNK)
            fed = True
            if out:
                yield out
            if dec.eof:
                data = dec.unused_data
                dec, fed = zlib.decompressobj(wbits=47), False
            else:
                data = dec.unconsumed_tail
    if fed and not dec.eof:
        raise EOFError("gzip member ended before its end (truncated file?)")


def decompressed(path: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
    """Decompressed bytes of `path` (or of the compressed streams in [start, end))."""
    blocks = _read_range(path, start, end)
    if path.endswith(".bz2"):
        return _bunzip(blocks)
    if path.endswith(".gz"):
        return _gunzip(blocks)
    return blocks


# ---- header and multistream index --------------------------------------------------------------


def read_siteinfo(path: str) -> SiteInfo:
    """Parse the dump's header, reading at most HEADER_LIMIT decompressed bytes.

    Real dumps carry `<siteinfo>`; an export without it still names its language in the
    root's `xml:lang`, and then the built-in namespace names are all there is. A header that
    cannot be read raises ValueError, etree.XMLSyntaxError, or EOFError, OSError or zlib.error
    from its decompression; a namespace without an integer key is skipped.
    """
    head = bytearray()
    for chunk in decompressed(path):
        head += chunk
        if b"</siteinfo>" in head or PAGE_OPEN in head or len(head) > HEADER_LIMIT:
            break
    root_tag = _ROOT.search(head)
    if root_tag is None:
        raise ValueError(f"{path}: no <mediawiki> header in the first {HEADER_LIMIT} bytes")
    prolog = bytes(head[: root_tag.start()])
    dtd = b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog
    start, end = head.find(b"<siteinfo>"), head.find(b"</siteinfo>")
    if start < 0 or end < 0:
        lang = _XML_LANG.search(root_tag.group(0))
        if lang is None:
            raise ValueError(f"{path}: neither <siteinfo> nor xml:lang in the dump's header")
        language = lang.group(1).decode()
        return SiteInfo(dbname=f"{language}wiki", language=language, base="", dtd=dtd)
    root = etree.fromstring(bytes(head[start : end + len(b"</siteinfo>")]), _safe_parser())
    dbname = root.findtext("dbname") or ""
    match = _DB_LANGUAGE.match(dbname)
    keys = ((_int(ns.get("key")), ns) for ns in root.iter("namespace"))
    namespaces = {key: ns.text or "" for key, ns in keys if key is not None}
    return SiteInfo(
        dbname=dbname,
        language=match.group(1).replace("_", "-") if match else "",
        base=root.findtext("base") or "",
        namespaces=namespaces,
        dtd=dtd,
    )


def index_path(path: str) -> str | None:
    """The `-multistream-index.txt.bz2` that belongs to a `-multistream.xml.bz2` dump, if any."""
    if not path.endswith("-multistream.xml.bz2"):
        return None
    candidate = path[: -len(".xml.bz2")] + "-index.txt.bz2"
    return candidate if FileSystems.exists(candidate) else None


def stream_offsets(index: str) -> list[int]:
    """Distinct stream offsets listed in a multistream index (`offset:page_id:title` lines)."""
    offsets: set[int] = set()
    for line in b"".join(decompressed(index)).splitlines():
        head, _, _ = line.partition(b":")
        if head:
            offsets.add(int(head))
    return sorted(offsets)


def work_ranges(path: str, streams_per_range: int = 1) -> list[tuple[int, int | None]]:
    """Byte ranges a dump is split into: groups of bz2 streams, or the whole file."""
    index = index_path(path)
    if index is None:
        return [(0, None)]
    offsets = stream_offsets(index)
    if not offsets:
        return [(0, None)]
    starts = offsets[::streams_per_range]
    return [(s, e) for s, e in zip(starts, [*starts[1:], None], strict=True)]


# ---- pages -------------------------------------------------------------------------------------


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().lstrip("-").isdigit() else None


def _parse_page(data: bytes, file: str, stream_offset: int, offset: int) -> RawPage | DeadLetter:
    try:
        page = etree.fromstring(data, _safe_parser())
    except etree.XMLSyntaxError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as uexc:
            return dead_letter(
                file, stream_offset, offset, "invalid_utf8", str(uexc), True, *_peek(data)
            )
        return dead_letter(file, stream_offset, offset, "xml_error", str(exc), True, *_peek(data))
    revision = page.find("revision")
    text = revision.findtext("text") if revision is not None else None
    stamp = revision.findtext("timestamp") if revision is not None else None
    page_id = _int(page.findtext("id"))
    title = page.findtext("title")
    if page_id is None or title is None or text is None:
        return dead_letter(
            file,
            stream_offset,
            offset,
            "xml_error",
            "page without id, title or text",
            True,
            title,
            page_id,
        )
    try:
        timestamp = datetime.fromisoformat(stamp).astimezone(UTC) if stamp else None
    except ValueError:
        timestamp = None
    return RawPage(
        page_id=page_id,
        title=title,
        ns=_int(page.findtext("ns")) or 0,
        redirect=page.find("redirect") is not None,
        revision_id=_int(revision.findtext("id")),
        timestamp=timestamp,
        text=text,
        file=file,
        stream_offset=stream_offset,
        offset=offset,
    )


TITLE_TAG = re.compile(rb"<title>([^<]{0,512})</title>")
ID_TAG = re.compile(rb"<id>(\d{1,20})</id>")


def _peek(data: bytes) -> tuple[str | None, int | None]:
    """Best-effort title and id of a page that failed to parse, for the dead-letter record."""
    title, page_id = TITLE_TAG.search(data[:4096]), ID_TAG.search(data[:4096])
    return (
        title.group(1).decode("utf-8", "replace") if title else None,
        int(page_id.group(1)) if page_id else None,
    )


def read_pages(
    path: str,
    start: int = 0,
    end: int | None = None,
    max_page_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> Iterator[RawPage | DeadLetter]:
    """Pages of one dump (or of the byte range [start, end) of a multistream dump).

    Yields a DeadLetter for each page that cannot be parsed (it counts as a page read) and one for
    a stream that cannot be read to its end (a page too, if it broke inside one).
    """
    buf = bytearray()
    base = 0  # decompressed offset of buf[0]
    pos = 0  # where the next marker search starts in buf
    opened: int | None = None  # decompressed offset of the current `<page>`, if inside one
    page_start = 0  # position of the current page's first kept byte in buf
    oversize: bytes | None = None  # head of a page that outgrew max_page_bytes, being skipped
    try:
        for chunk in decompressed(path, start, end):
            buf += chunk
            while True:
                if opened is None:
                    i = buf.find(PAGE_OPEN, pos)
                    if i < 0:
                        pos = max(pos, len(buf) - len(PAGE_OPEN) + 1)
                        break
                    opened, page_start, pos, oversize = base + i, i, i + len(PAGE_OPEN), None
                j = buf.find(PAGE_CLOSE, pos)
                if j < 0:
                    pos = max(pos, len(buf) - len(PAGE_CLOSE) + 1)
                    if oversize is None and len(buf) - page_start > max_page_bytes:
                        oversize = bytes(buf[page_start : page_start + 4096])
                    if oversize is not None:
                        page_start = pos  # discard what was read of it
                    break
                stop = j + len(PAGE_CLOSE)
                if oversize is None and stop - page_start > max_page_bytes:  # within one chunk
                    oversize = bytes(buf[page_start : page_start + 4096])
                if oversize is not None:
                    yield dead_letter(
                        path,
                        start,
                        opened,
                        "too_large",
                        f"page larger than max_page_bytes={max_page_bytes}",
                        True,
                        *_peek(oversize),
                    )
                else:
                    yield _parse_page(bytes(buf[page_start:stop]), path, start, opened)
                opened, pos = None, stop
            keep_from = page_start if opened is not None else pos
            del buf[:keep_from]
            base, pos, page_start = base + keep_from, pos - keep_from, page_start - keep_from
    except (EOFError, OSError, zlib.error) as exc:
        where = opened if opened is not None else base + pos
        yield dead_letter(
            path, start, where, "corrupt_input", f"{type(exc).__name__}: {exc}", opened is not None
        )
        return
    if opened is not None:
        yield dead_letter(path, start, opened, "truncated", "the dump ends inside a page", True)
