"""Common Crawl WET records as documents: the fields CCNet reads, ids and segment names
(docs/recipe/commoncrawl.md §1), a snapshot's WET files, and the loop over WET files that model
training uses.
"""

from __future__ import annotations

import glob
import gzip
import re
from collections.abc import Iterator
from urllib.parse import urlparse

from core.deadletter import DeadLetter
from readers.http import http_blocks
from readers.warc import WarcRecord, iter_records

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# whitespace (what str.strip removes, bar "\n") just after or just before a "\n"
_EDGE_SPACE = re.compile(r"\n(?:[^\S\n]|(?<=[^\S\n]\n))")
# an http(s) URL's netloc when urlsplit takes it as is: no "[" "]" (IPv6 checks), and no tab or
# line break (urlsplit deletes those); the caller also wants it ASCII (no NFKC check)
_HTTP_NETLOC = re.compile(r"https?://([^/?#\[\]\t\r\n]*)(?:[/?#]|\Z)")


def segment_name(path: str) -> str:
    """The path from `crawl-data/` on (CCNet's cc_segment, a line of wet.paths.gz), else the name.

    `.../crawl-data/CC-MAIN-2019-18/segments/1555578517558.8/wet/CC-MAIN-…-00000.warc.wet.gz` →
    `crawl-data/CC-MAIN-2019-18/segments/1555578517558.8/wet/CC-MAIN-…-00000.warc.wet.gz`.
    """
    at = path.find("crawl-data/")
    return path[at:] if at >= 0 else path.rsplit("/", 1)[-1]


def document_id(segment: str, warc_record_id: str) -> str:
    """`cc/<segment>/<uuid>`: stable across runs, and unique since record ids are UUIDs."""
    return f"cc/{segment}/{warc_record_id.strip('<>').removeprefix('urn:uuid:')}"


def wet_document(record: WarcRecord, segment: str) -> dict | None:
    """docs/recipe/commoncrawl.md §1's fields of a `conversion` record (None for other types).

    The text is split into lines at "\\n", "\\r\\n" and a lone "\\r" (what CCNet's text-mode read
    does) and each line is stripped. Trailing empty lines are dropped; Common Crawl ends each
    text with one "\\n", and CCNet then drops the two blank lines of the record separator, so the
    result is CCNet's for every such record (CCNet would keep extra trailing blank lines of a
    body; we drop them). Empty lines inside the text are kept: line dedup removes them later.
    The first line is the title, the others joined by "\\n" are raw_content and nlines counts
    them. No minimum length is applied here: the pipeline counts short pages as a drop reason.
    """
    if record.type != "conversion":
        return None
    text = record.body.decode("utf-8") if record.text is None else record.text
    title, nlines, raw_content = _split_text(text)
    url = record.url or ""
    headers = record.headers
    languages = headers.get("WARC-Identified-Content-Language")
    return {
        "url": url,
        "date_download": headers.get("WARC-Date"),
        "digest": headers.get("WARC-Block-Digest"),
        "length": int(headers["Content-Length"]),
        "nlines": nlines,
        "source_domain": _netloc(url),
        "title": title,
        "raw_content": raw_content,
        "cc_segment": segment,
        "warc_record_id": record.record_id,
        "identified_languages": languages.split(",") if languages else None,
    }


def _split_text(text: str) -> tuple[str, int, str]:
    """(title, nlines, raw_content) of a WET text, as wet_document describes them."""
    if "\r" in text or _EDGE_SPACE.search(text) or _spaced(text[:1]) or _spaced(text[-1:]):
        # str.split is ~10x faster than the regex, and WET text has no "\r" (Common Crawl's lines
        # end in "\n"): the regex is only needed when there is one.
        lines = [
            line.strip() for line in (_LINE_BREAK.split(text) if "\r" in text else text.split("\n"))
        ]
        while lines and not lines[-1]:
            lines.pop()
        return (lines[0] if lines else ""), max(len(lines) - 1, 0), "\n".join(lines[1:])
    # no line has whitespace to strip (the usual WET text): its trailing empty lines are its
    # trailing "\n"s, and the lines need not be split at all (nor the text copied but once)
    end = len(text)
    while end and text[end - 1] == "\n":
        end -= 1
    first = text.find("\n", 0, end)
    if first < 0:
        return text[:end], 0, ""
    return text[:first], text.count("\n", first, end), text[first + 1 : end]


def _spaced(char: str) -> bool:
    """Whether `char` is whitespace that str.strip removes other than a line's "\n"."""
    return char.isspace() and char != "\n"


def _netloc(url: str) -> str:
    """urlparse(url).netloc, without urlparse's work for the usual http(s) URL."""
    m = _HTTP_NETLOC.match(url)
    if m is not None and m.group(1).isascii():
        return m.group(1)
    return urlparse(url).netloc


def snapshot_wet_paths(snapshot: str, segments: str, base: str) -> list[str]:
    """The WET files `start:end` (end excluded) of a snapshot's `wet.paths.gz`, as URLs."""
    listing = f"{base.rstrip('/')}/crawl-data/{snapshot}/wet.paths.gz"
    lines = gzip.decompress(b"".join(http_blocks(listing))).decode().split()
    start, _, end = segments.partition(":")
    chosen = lines[int(start or 0) : int(end) if end else None]
    if not chosen:
        raise SystemExit(f"{listing}: no WET file in segments {segments!r} of {len(lines)}")
    return [f"{base.rstrip('/')}/{line}" for line in chosen]


def wet_documents(patterns: list[str]) -> Iterator[dict]:
    """Every document of the local WET files matching `patterns`, files in name order; dead
    letters are skipped (model training samples the crawl, it does not account for it)."""
    for path in sorted({p for pattern in patterns for p in glob.glob(pattern)}):
        segment = segment_name(path)
        for record in iter_records(path):
            if isinstance(record, DeadLetter):
                continue
            doc = wet_document(record, segment)
            if doc is not None:
                yield doc
