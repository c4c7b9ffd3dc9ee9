"""Fuzz targets: one per reader or cleaner of outside data, each a strategy and a check.

A check runs the reader on a drawn input and raises AssertionError when a property it documents
does not hold; any other exception is a crash. The properties:
- only the documented errors: readers yield records or `DeadLetter`s (reasons from their
  documented lists) and raise nothing; loaders raise only their error class.
- bounded output: records never exceed the reader's size bound, so a decompression bomb ends
  as a dead letter, not in memory (time per input is bounded by the runner's deadline).
- accounting: what the reader read is in its records or its dead letters, in the framing the
  reader documents (one item per page, per JSON line, an intact gzip member's record kept).
Inputs are files in a scratch directory, since the readers take paths.
"""

from __future__ import annotations

import atexit
import base64
import bz2
import contextlib
import hashlib
import io
import json
import posixpath
import shutil
import tarfile
import tempfile
import tracemalloc
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import py7zr
import pyarrow as pa
import pyarrow.parquet as pq
import yaml
from hypothesis import strategies as st
from lxml import etree

from core.deadletter import DeadLetter
from core.files import CHUNK
from filters import html as webhtml
from filters.code import strip_header
from filters.latex import SIZE_FACTOR, SIZE_SLACK, assemble, clean, decode
from filters.posthtml import html_to_text as post_to_text
from filters.wikitext import WikitextCleaner
from fuzzing import seeds
from fuzzing.mutate import gz, mutated, mutated_text
from mixtures.mixture import Mixture, MixtureError, load_mixture
from readers import arxiv, books, c4, github, stackexchange, warc, wikidump
from tokenizer.shards import (
    TokenShard,
    TokenShardError,
    TokenSource,
    manifest,
    shard_bytes,
    shard_entry,
)

_scratch: Path | None = None


def scratch(name: str, data: bytes) -> str:
    """`data` written to `name` in this process's scratch directory (removed at exit)."""
    global _scratch
    if _scratch is None:
        _scratch = Path(tempfile.mkdtemp(prefix="fuzzing-"))
        atexit.register(shutil.rmtree, _scratch, True)
    path = _scratch / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return str(path)


class PropertyFailed(AssertionError):
    """A documented property of a reader does not hold for the drawn input."""


def expect(holds: object, message: str = "") -> None:
    if not holds:
        raise PropertyFailed(message)


def from_seeds(load: Callable[[], tuple]) -> st.SearchStrategy:
    """One of the seeds `load` returns, read when the first example is drawn (not at import)."""
    return st.deferred(lambda: st.sampled_from(load()))


@dataclass(frozen=True)
class Target:
    name: str
    strategy: st.SearchStrategy
    check: Callable[[Any], None]


DECOMPRESSED = 1 << 62  # `size` of _letters where offsets count decompressed bytes: any is fine


def _letters(items: Iterable[Any], reasons: frozenset[str], size: int) -> list[DeadLetter]:
    """The dead letters among `items`, checked: documented reason, offset inside the input."""
    dead = [x for x in items if isinstance(x, DeadLetter)]
    for letter in dead:
        expect(letter.reason in reasons, f"undocumented reason {letter.reason!r}: {letter}")
        expect(0 <= letter.offset <= max(size, 0), f"offset outside the input: {letter}")
    return dead


def _only(items: list, *kinds: type) -> None:
    for x in items:
        expect(isinstance(x, kinds), f"yielded a {type(x).__name__}: {x!r:.200}")


# ---- WARC / WET --------------------------------------------------------------------------------

WARC_REASONS = frozenset(
    [
        "not_warc",
        "corrupt_gzip",
        "truncated",
        "bad_header",
        "bad_content_length",
        "bad_digest",
        "too_large",
        "invalid_utf8",
    ]
)
WARC_FRAGMENTS = (
    b"WARC/1.0\r\n", b"\r\n\r\n", b"\r\n", b"\n", b"Content-Length: ", b"Content-Length: 99999",
    b"WARC-Type: conversion\r\n", b"\x1f\x8b\x08", b" \t", b":", b"WARC/1.1\r\n\r\n",
)  # fmt: skip


@dataclass(frozen=True)
class WarcCase:
    layout: str  # "members" (a gzip member per record), "stream" (one gzip) or "plain"
    records: tuple[bytes, ...]  # the records before mutation, each whole
    data: bytes  # the file as mutated
    max_record_bytes: int


def warc_record(
    index: int, warc_type: str, fields: list[tuple[str, str]], body: bytes, digest: bool
) -> bytes:
    """A WARC/1.0 record with the required fields, `fields` after them, a computed length."""
    head = [
        ("WARC-Type", warc_type),
        ("WARC-Record-ID", f"<urn:uuid:00000000-0000-4000-8000-{index:012d}>"),
        ("WARC-Date", "2019-04-18T10:00:00Z"),
        *fields,
    ]
    if digest:
        sha1 = base64.b32encode(hashlib.sha1(body).digest()).decode()  # noqa: S324 (WARC's)
        head.append(("WARC-Block-Digest", f"sha1:{sha1}"))
    head.append(("Content-Length", str(len(body))))
    lines = "".join(f"{k}: {v}\r\n" for k, v in head).encode("utf-8")
    return b"WARC/1.0\r\n" + lines + b"\r\n" + body + b"\r\n\r\n"


_FIELD_NAME = st.text("abcdefghijklmnopqrstuvwxyz-ABCXYZ", max_size=20).map(lambda s: "X-" + s)
_FIELD_VALUE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=60)


@st.composite
def _built_records(draw: st.DrawFn) -> tuple[bytes, ...]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        warc_type = draw(st.sampled_from(["conversion", "response", "x"]))
        fields = draw(st.lists(st.tuples(_FIELD_NAME, _FIELD_VALUE), max_size=4))
        text = draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
        body = draw(st.one_of(st.just(text), st.binary(max_size=300)))
        out.append(warc_record(i, warc_type, fields, body, draw(st.booleans())))
    return tuple(out)


@st.composite
def warc_cases(draw: st.DrawFn) -> WarcCase:
    records = st.one_of(from_seeds(seeds.wet_records), from_seeds(seeds.warc_records))
    sample = st.lists(records, min_size=1, max_size=5, unique=True)
    records = tuple(draw(st.one_of(sample.map(tuple), _built_records())))
    layout = draw(st.sampled_from(["members", "stream", "plain"]))
    if layout == "members":
        data = b"".join(gz(r) for r in records)
    elif layout == "stream":
        data = gz(b"".join(records))
    else:
        data = b"".join(records)
    data = draw(mutated(st.just(data), WARC_FRAGMENTS if layout == "plain" else (), 4))
    max_bytes = draw(st.sampled_from([warc.DEFAULT_MAX_RECORD_BYTES, 4096, 600]))
    return WarcCase(layout, records, data, max_bytes)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def check_warc(case: WarcCase) -> None:
    """Records and dead letters only; records within the bound; an intact gzip member is its
    record, unchanged; an intact record of a plain file that is lost has a dead letter before
    it, or a record a mutation made (a header value changed) took it in. Of a record whose own
    bytes were mutated nothing is claimed: a cut at a member's end removes it, a deleted
    Content-Length line and version line merge it into the record before, both validly."""
    suffix = ".warc" if case.layout == "plain" else ".warc.gz"
    path = scratch("warc/CC-FUZZ-00000" + suffix, case.data)
    items = list(warc.iter_records(path, max_record_bytes=case.max_record_bytes))
    _only(items, warc.WarcRecord, DeadLetter)
    if not case.data:  # documented: an empty file gives nothing
        expect(not items, f"an empty file gave {items}")
        return
    dead = _letters(items, WARC_REASONS, len(case.data))
    records = [r for r in items if isinstance(r, warc.WarcRecord)]
    for r in records:
        expect(len(r.body) <= case.max_record_bytes, f"record over the bound: {r.record_id}")
    got = {(r.record_id, r.body) for r in records}
    originals, lost = set(), []
    for record in case.records:
        head, _, rest = record.partition(b"\r\n\r\n")
        _, parsed = warc.parse_headers(head)
        key = (parsed["WARC-Record-ID"], rest[: int(parsed["Content-Length"])])
        originals.add(key)
        block_end = len(head) + 4 + len(key[1])
        if block_end > case.max_record_bytes or key in got:
            continue
        if parsed["WARC-Type"] == "conversion" and not _is_utf8(key[1]):
            continue  # an invalid_utf8 dead letter
        lost.append((key[0], case.data.find(gz(record) if case.layout == "members" else record)))
    made = [r for r in records if (r.record_id, r.body) not in originals]
    for record_id, where in lost:
        expect(case.layout != "members" or where < 0, f"intact member at {where} lost: {record_id}")
        if case.layout == "plain" and where >= 0:
            before = any(d.offset <= where for d in dead)
            expect(before or made, f"intact record at {where} lost unaccounted: {record_id}")


# ---- Wikipedia ---------------------------------------------------------------------------------

SITEINFO_ERRORS = (ValueError, etree.XMLSyntaxError, EOFError, OSError, zlib.error)
WIKI_REASONS = frozenset(["xml_error", "invalid_utf8", "too_large", "corrupt_input", "truncated"])
XML_FRAGMENTS = (
    b"<page>", b"</page>", b"<title>", b"</title>", b"<id>", b"</id>", b"<text>", b"</text>",
    b"<revision>", b"&amp;", b"&lol;", b"&#0;", b"<![CDATA[", b"]]>", b"<!--", b"-->",
    b'<!DOCTYPE mediawiki [<!ENTITY lol "lol">]>', b"\xff", b"\xc3", b"<", b">", b'"',
)  # fmt: skip


@dataclass(frozen=True)
class WikiCase:
    xml: bytes  # the dump as mutated
    compression: str  # "", "bz2" or "gz": compressed after mutation
    damaged: bytes | None  # the compressed file mutated, when the compressed bytes are


@st.composite
def _page_xml(draw: st.DrawFn) -> bytes:
    title = draw(st.text(max_size=30))
    text = draw(st.one_of(from_seeds(seeds.wikitexts), st.text(max_size=200)))
    esc = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;"}
    page_id = draw(st.integers(-5, 10**6))
    return (
        f"  <page>\n    <title>{title.translate(esc)}</title>\n    <ns>0</ns>\n"
        f"    <id>{page_id}</id>\n    <revision>\n      <id>1</id>\n"
        f"      <timestamp>{draw(st.sampled_from(['2022-07-01T12:00:00Z', 'x', '']))}</timestamp>"
        f'\n      <text xml:space="preserve">{text.translate(esc)}</text>\n'
        "    </revision>\n  </page>\n"
    ).encode("utf-8", "surrogatepass")


@st.composite
def wiki_cases(draw: st.DrawFn) -> WikiCase:
    header, pages = seeds.wiki_dump()
    chosen = draw(st.lists(st.one_of(st.sampled_from(pages), _page_xml()), max_size=4))
    xml = draw(mutated(st.just(header + b"".join(chosen) + b"</mediawiki>\n"), XML_FRAGMENTS))
    compression = draw(st.sampled_from(["", "bz2", "gz"]))
    damaged = None
    if compression and draw(st.booleans()):
        packed = bz2.compress(xml) if compression == "bz2" else gz(xml)
        damaged = draw(mutated(st.just(packed), (), 3))
    return WikiCase(xml, compression, damaged)


def wiki_frames(xml: bytes) -> tuple[list[bytes], bool]:
    """The reader's documented framing, `<page>` to the next `</page>`; and whether the input
    ends inside a page."""
    frames, pos = [], 0
    while (i := xml.find(wikidump.PAGE_OPEN, pos)) >= 0:
        j = xml.find(wikidump.PAGE_CLOSE, i + len(wikidump.PAGE_OPEN))
        if j < 0:
            return frames, True
        pos = j + len(wikidump.PAGE_CLOSE)
        frames.append(xml[i:pos])
    return frames, False


def check_wiki(case: WikiCase) -> None:
    """One item per `<page>…</page>` and one for a page the input ends in; an original page that
    is framed unchanged is its RawPage; the header reader raises only ValueError; the wikitext
    cleaner takes every page's text."""
    suffix = {"": ".xml", "bz2": ".xml.bz2", "gz": ".xml.gz"}[case.compression]
    data = case.damaged
    if data is None:
        data = {"": case.xml, "bz2": bz2.compress(case.xml), "gz": gz(case.xml)}[case.compression]
    path = scratch("wiki/enwiki-fuzz-pages-articles" + suffix, data)
    items = list(wikidump.read_pages(path))
    _only(items, wikidump.RawPage, DeadLetter)
    _letters(items, WIKI_REASONS, DECOMPRESSED)
    with contextlib.suppress(*SITEINFO_ERRORS):
        wikidump.read_siteinfo(path)
    cleaner = WikitextCleaner("en")
    for page in items:
        if isinstance(page, wikidump.RawPage):
            cleaner.clean(page.text)
    if case.damaged is not None:
        return
    frames, truncated = wiki_frames(case.xml)
    pages = [x for x in items if isinstance(x, wikidump.RawPage) or x.document]
    expect(len(pages) == len(frames) + truncated, f"{len(pages)} pages for {len(frames)} frames")
    originals = set(seeds.wiki_dump()[1])
    for frame, item in zip(frames, pages, strict=False):
        if frame + b"\n" in originals:
            expect(isinstance(item, wikidump.RawPage), f"an intact page became {item}")


def check_wikitext(text: str) -> None:
    page = WikitextCleaner("en").clean(text)
    expect(isinstance(page.text, str) and isinstance(page.opening, str))


WIKITEXT_FRAGMENTS = (
    "{{", "}}", "[[", "]]", "{{{", "}}}", "|", "=", "==", "\n==", "''", "'''", "<ref>", "</ref>",
    "<ref name=a/>", "{|", "|}", "|-", "!", "[http://a.b c]", "http://x.y", "<!--", "-->",
    "&amp;", "&#", "&#x", ";", "<nowiki>", "</nowiki>", "<", ">", "[[File:", "[[Category:",
    "__TOC__", "<br/>", "<math>", "</math>", "\n*", "\n#", "~~~~", "<pre>", "{{#if:", ":",
)  # fmt: skip


# ---- HTML --------------------------------------------------------------------------------------

HTML_FRAGMENTS = (
    b"<", b">", b"</", b"<!--", b"-->", b"<![CDATA[", b"<script>", b"</script>", b"<meta charset=",
    b'<meta charset="utf-16">', b'<meta charset="shift_jis">', b"\xef\xbb\xbf", b"\xff\xfe",
    b"&amp;", b"&#", b"&#x110000;", b"<title>", b"</title>", b"<pre>", b"<table><tr><td>",
    b"\x00", b"\xed\xa0\x80", b"<svg><![CDATA[x]]></svg>", b"<template>", b"<noscript>",
)  # fmt: skip


@dataclass(frozen=True)
class HtmlCase:
    data: bytes
    hint: str | None


@st.composite
def html_cases(draw: st.DrawFn) -> HtmlCase:
    data = draw(mutated(from_seeds(seeds.html_pages), HTML_FRAGMENTS, 8))
    hints = [None, "utf-8", "latin-1", "iso-8859-1", "shift_jis", "utf-16", "x-bogus", ""]
    return HtmlCase(data, draw(st.one_of(st.sampled_from(hints), st.text(max_size=12))))


def check_html(case: HtmlCase) -> None:
    out = webhtml.html_to_text(case.data, encoding_hint=case.hint)
    expect(isinstance(out.text, str) and isinstance(out.title, str))
    expect("\n\n" not in out.text, "an empty line in the extracted text")


def check_posthtml(body: str) -> None:
    expect(isinstance(post_to_text(body), str))


POST_FRAGMENTS = (
    "<p>", "</p>", "<pre><code>", "</code></pre>", "<li>", "<ul>", "<ol>", "</ul>", "<blockquote>",
    "<![", "<!--", "-->", "&amp;", "&#", "&#0;", "<", ">", "</", "<br/>", "<a href='", "'>",
)  # fmt: skip


# ---- token shards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardCase:
    ids: tuple[str, ...]
    tokens: tuple[tuple[int, ...], ...]
    data: bytes  # the shard file as mutated
    manifest: bytes  # its manifest as mutated


@st.composite
def shard_cases(draw: st.DrawFn) -> ShardCase:
    docs = draw(
        st.lists(
            st.tuples(st.text(max_size=12), st.lists(st.integers(0, 65535), max_size=40)),
            max_size=6,
        )
    )
    ids = tuple(d[0] for d in docs)
    tokens = tuple(tuple(d[1]) for d in docs)
    raw = shard_bytes(list(ids), [np.array(t, dtype=np.uint16) for t in tokens])
    data = draw(mutated(st.just(raw), (b"ARROW1", b"\xff\xff\xff\xff", b"\x00" * 8), 4))
    entry = shard_entry("part-00000-of-00001.arrow", len(ids), sum(map(len, tokens)), 0, raw)
    text = json.dumps(manifest("fuzz", {"sha256": "0" * 64}, [entry])).encode()
    meta = draw(mutated(st.just(text), (b"null", b"[]", b"{}", b'"', b"-1", b"1e999"), 2))
    return ShardCase(ids, tokens, data, meta)


def check_token_shard(case: ShardCase) -> None:
    """The trainer's path: TokenShard raises only TokenShardError (it validates ids and offsets
    when opened, so damaged id offsets no longer abort the process); then ids and documents are
    in bounds, and an unmutated shard reads back as written."""
    path = scratch("tokens/fuzz/part-00000-of-00001.arrow", case.data)
    try:
        shard = TokenShard(path)
        ids = shard.document_ids()
        docs = [(ids[i], shard.document(i).tolist()) for i in range(len(shard))]
        expect(shard.lengths().tolist() == [len(d) for _, d in docs])
    except TokenShardError:
        docs = None
    original = shard_bytes(list(case.ids), [np.array(t, dtype=np.uint16) for t in case.tokens])
    if case.data == original:
        expect(docs == [(i, list(t)) for i, t in zip(case.ids, case.tokens, strict=True)])


def check_token_manifest(case: ShardCase) -> None:
    """A source directory whose manifest is mutated: TokenShardError is the only error."""
    raw = shard_bytes(list(case.ids), [np.array(t, dtype=np.uint16) for t in case.tokens])
    path = scratch("tokens/fuzz/part-00000-of-00001.arrow", raw)
    scratch("tokens/fuzz/_manifest.json", case.manifest)
    try:
        source = TokenSource(Path(path).parent)
        for i in range(len(source)):
            source.document(i)
    except TokenShardError:
        pass


# ---- mixtures ----------------------------------------------------------------------------------

YAML_FRAGMENTS = (
    b"&a ", b"*a", b"[", b"]", b"{", b"}", b": ", b"\n  ", b"- ", b"!!python/object:os.system",
    b"1e999", b"nan", b".inf", b"yes", b"~", b"9" * 400, b"'", b'"', b"\t", b"---\n", b"%YAML 1.1",
)  # fmt: skip
_YAML_VALUE = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=10),
        st.sampled_from([0.5, 1.0, 10**400, -1]),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner,
                                                                          max_size=3)),
    max_leaves=8,
)  # fmt: skip


@st.composite
def mixture_cases(draw: st.DrawFn) -> bytes:
    mutant = mutated(st.just(seeds.mixture_yaml()), YAML_FRAGMENTS, 6)
    names = st.sampled_from(["commoncrawl", "c4", "github", "books", "nope", ""])
    spec = st.fixed_dictionaries(
        {"sources": st.dictionaries(names, st.one_of(
            st.fixed_dictionaries({"weight": _YAML_VALUE}), _YAML_VALUE), max_size=3)},
        optional={"budget_tokens": _YAML_VALUE, "name": _YAML_VALUE, "model_budgets": _YAML_VALUE,
                  "max_epochs": _YAML_VALUE, "description": _YAML_VALUE},
    )  # fmt: skip
    built = spec.map(lambda s: yaml.safe_dump(s, allow_unicode=True).encode("utf-8"))
    return draw(st.one_of(mutant, built))


def check_mixture(data: bytes) -> None:
    """MixtureError is the only error; a loaded mixture's weights are in (0, 1] and sum to 1."""
    path = scratch("mixtures/fuzz.yaml", data)
    try:
        mixture = load_mixture(path)
    except MixtureError:
        return
    expect(isinstance(mixture, Mixture))
    expect(all(0 < w <= 1 for w in mixture.weights.values()))
    expect(abs(sum(mixture.weights.values()) - 1) < 1e-5)


# ---- books -------------------------------------------------------------------------------------

BOOK_REASONS = frozenset(
    [
        "too_large",
        "invalid_utf8",
        "duplicate_id",
        "unreadable_file",
        "corrupt_gzip",
        "truncated",
        "bad_json",
        "bad_record",
    ]
)
GUTENBERG_FRAGMENTS = (
    b"*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n", b"*** END OF THE PROJECT GUTENBERG",
    b"Title: ", b"Author: ", b"\r\n", b"\n\n", b"\xef\xbb\xbf", b"\xff", b"EBook #", b"***",
    b"End of the Project Gutenberg", b"*END*THE SMALL PRINT!",
)  # fmt: skip


@dataclass(frozen=True)
class BookCase:
    name: str
    data: bytes  # the file as written
    max_book_bytes: int


@st.composite
def gutenberg_cases(draw: st.DrawFn) -> BookCase:
    text = draw(mutated(from_seeds(seeds.gutenberg_books), GUTENBERG_FRAGMENTS, 6))
    name = draw(st.sampled_from(["1342-0.txt", "pg7.txt", "lcet10.txt", "9.txt.gz"]))
    data = text
    if name.endswith(".gz"):
        data = draw(mutated(st.just(gz(text)), (), draw(st.sampled_from([0, 2]))))
    return BookCase(name, data, draw(st.sampled_from([books.DEFAULT_MAX_BOOK_BYTES, 8192])))


def check_gutenberg(case: BookCase) -> None:
    path = scratch("books/gutenberg/" + case.name, case.data)
    item = books.read_gutenberg_file(path, len(case.data), case.max_book_bytes)
    _only([item], books.Book, DeadLetter)
    _letters([item], BOOK_REASONS, len(case.data))
    if isinstance(item, books.Book):
        expect(len(item.text.encode("utf-8", "surrogatepass")) <= case.max_book_bytes)
        expect(item.id == f"books/gutenberg/{books.gutenberg_book_id(path)}")


_JSON_VALUE = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=40)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=6,
)  # fmt: skip


def _json_line(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode("utf-8", "surrogatepass")


@dataclass(frozen=True)
class LinesCase:
    kind: str
    lines: tuple[bytes, ...]  # before mutation
    data: bytes  # the JSON lines as mutated, before compression
    gzipped: bool
    damaged: bytes | None  # the gzip bytes mutated, when they are
    max_bytes: int


def _lines_case(
    draw: st.DrawFn, kind: str, rows: st.SearchStrategy[bytes], max_sizes: list[int]
) -> LinesCase:
    lines = tuple(draw(st.lists(rows, max_size=5)))
    fragments = (b"\n", b"{", b"}", b"[" * 5000, b'"', b"\\ud800", b"\xff", b"null", b",")
    data = draw(mutated(st.just(b"".join(line + b"\n" for line in lines)), fragments, 5))
    gzipped = draw(st.booleans())
    damaged = draw(mutated(st.just(gz(data)), (), 3)) if gzipped and draw(st.booleans()) else None
    return LinesCase(kind, lines, data, gzipped, damaged, draw(st.sampled_from(max_sizes)))


def _lines_file(case: LinesCase, name: str) -> str:
    data = gz(case.data) if case.gzipped else case.data
    data = case.damaged if case.damaged is not None else data
    return scratch(name + (".gz" if case.gzipped else ""), data)


def _check_line_accounting(case: LinesCase, items: list, break_reasons: set[str]) -> None:
    """One item per non-blank line; a break in the stream (a damaged gzip) ends in one dead
    letter after the items of the lines before it."""
    expected = sum(1 for line in case.data.split(b"\n") if line.strip())
    if case.damaged is None:
        expect(len(items) == expected, f"{len(items)} items for {expected} lines")
    else:
        breaks = [x for x in items if isinstance(x, DeadLetter) and x.reason in break_reasons]
        expect(len(breaks) <= 1 and (not breaks or items[-1] is breaks[0]))


@st.composite
def book_line_cases(draw: st.DrawFn) -> LinesCase:
    built = st.fixed_dictionaries(
        {"text": st.one_of(st.text(max_size=200), _JSON_VALUE)},
        optional={"url": _JSON_VALUE, "short_book_title": _JSON_VALUE, "id": _JSON_VALUE,
                  "meta": _JSON_VALUE, "publication_date": _JSON_VALUE, "title": _JSON_VALUE},
    ).map(_json_line)  # fmt: skip
    rows = st.one_of(from_seeds(seeds.book_lines), built)
    kind = draw(st.sampled_from(["pg19", "books3"]))
    return _lines_case(draw, kind, rows, [books.DEFAULT_MAX_BOOK_BYTES, 2048])


def check_book_lines(case: LinesCase) -> None:
    path = _lines_file(case, f"books/{case.kind}/{case.kind}-00000.jsonl")
    items = list(books.read_books_jsonl(path, case.kind, case.max_bytes))
    _only(items, books.Book, DeadLetter)
    _letters(items, BOOK_REASONS, DECOMPRESSED)
    _check_line_accounting(case, items, {"corrupt_gzip", "truncated", "unreadable_file"})
    for book in items:
        if isinstance(book, books.Book):
            expect(isinstance(book.text, str) and book.id.startswith(f"books/{case.kind}/"))
            expect(len(book.text) <= case.max_bytes + (64 << 10))


# ---- arXiv and LaTeX ---------------------------------------------------------------------------

ARXIV_REASONS = frozenset(
    [
        "too_large",
        "too_many_members",
        "unsafe_path",
        "unsafe_member",
        "corrupt_gzip",
        "truncated",
        "corrupt_tar",
        "no_tex",
        "unrecognised_member",
    ]
)
_MEMBER_NAMES = (
    "main.tex", "sec/a.tex", "a.bib", "fig.pdf", "../x.tex", "/etc/x.tex", "a/../../b.tex",
    "C:/x.tex", "..\\x.tex", "a/./b.tex", "./c.tex", "d/", "..", "a\\..\\..\\e.tex",
)  # fmt: skip
_TYPES = (tarfile.REGTYPE, tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
          tarfile.CHRTYPE, tarfile.FIFOTYPE)  # fmt: skip


def unsafe_name(name: str) -> bool:
    """An independent rule: a name that escapes the paper's directory on any platform."""
    path = name.replace("\\", "/")
    return path.startswith("/") or path[1:2] == ":" or ".." in path.split("/")


@dataclass(frozen=True)
class PaperCase:
    data: bytes  # the paper's .gz as given
    members: tuple[tuple[str, bytes, int], ...] | None  # a built tar's (name, type, size)
    max_paper_bytes: int


@st.composite
def _built_paper(draw: st.DrawFn) -> tuple[bytes, tuple]:
    buf, members = io.BytesIO(), []
    fmt = draw(st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT]))
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for _ in range(draw(st.integers(0, 5))):
            name = draw(st.one_of(st.sampled_from(_MEMBER_NAMES), st.text(min_size=1, max_size=20)))
            kind = draw(st.sampled_from(_TYPES))
            body = draw(from_seeds(seeds.tex_files)).encode()[: draw(st.integers(0, 4096))]
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = draw(st.sampled_from(["/etc/passwd", "main.tex", "../x"]))
            try:
                if kind == tarfile.REGTYPE:
                    info.size = len(body)
                    tar.addfile(info, io.BytesIO(body))
                else:
                    tar.addfile(info)
            except (ValueError, UnicodeEncodeError):  # a name the format cannot hold
                continue
            members.append((name, kind, info.size))
    return buf.getvalue(), tuple(members)


@st.composite
def paper_cases(draw: st.DrawFn) -> PaperCase:
    max_bytes = draw(st.sampled_from([arxiv.DEFAULT_MAX_PAPER_BYTES, 20000]))
    if draw(st.booleans()):
        raw, members = draw(_built_paper())
        return PaperCase(gz(raw), members, max_bytes)
    data = draw(mutated(from_seeds(seeds.arxiv_papers), (), 5))
    return PaperCase(data, None, max_bytes)


def _check_latex(files: dict[str, bytes]) -> None:
    texts = {name: decode(data)[0] for name, data in files.items()}
    assembled = assemble(texts)
    size = sum(len(t) for t in texts.values())
    expect(len(assembled.text) <= 2 * (SIZE_FACTOR * size + SIZE_SLACK), "assembly unbounded")
    problems: Counter = Counter()
    cleaned = clean(assembled.text, problems=problems)
    bound = SIZE_FACTOR * len(assembled.text) + SIZE_SLACK
    expect(len(cleaned) <= 2 * bound, f"macro expansion of {len(cleaned)} over {bound}")


def check_paper(case: PaperCase) -> None:
    """Paper or DeadLetter; a paper holds no unsafe path and no link, stays within the bound,
    and its LaTeX assembles and cleans within the documented size bounds."""
    item = arxiv.read_paper(
        io.BytesIO(case.data), "2301/2301.00001.gz", "fuzz.tar", 0, 0, case.max_paper_bytes, 50
    )
    _only([item], arxiv.Paper, DeadLetter)
    _letters([item], ARXIV_REASONS, len(case.data))
    if case.members is not None:
        unsafe = [m for m in case.members if unsafe_name(m[0])]
        links = [m for m in case.members if m[1] not in (tarfile.REGTYPE, tarfile.DIRTYPE)]
        if unsafe or links:
            expect(isinstance(item, DeadLetter), f"accepted {unsafe or links}")
            expect(item.reason in ("unsafe_path", "unsafe_member", "too_large"), item)
    if isinstance(item, arxiv.Paper):
        expect(sum(map(len, item.files.values())) <= case.max_paper_bytes)
        for name in item.files:
            expect(not unsafe_name(name) and not posixpath.isabs(name), name)
        _check_latex(item.files)


def check_monthly_tar(data: bytes) -> None:
    path = scratch("arxiv/arXiv_src_2301_001.tar", data)
    items = list(arxiv.read_monthly_tar(path, 1 << 20, 50))
    _only(items, arxiv.Paper, DeadLetter)
    _letters(items, ARXIV_REASONS, len(data))
    breaks = [x for x in items if isinstance(x, DeadLetter) and x.reason == "corrupt_tar"]
    expect(len(breaks) <= 1 and (not breaks or items[-1] is breaks[0]), "reading went on")


LATEX_FRAGMENTS = (
    "\\def\\a{\\a\\a}", "\\def\\b#1{#1#1#1#1}", "\\newcommand{\\c}[2][x]{#1#2#2}",
    "\\c{\\c{\\c{y}}}",
    "\\input{main}", "\\input{sec/a}", "\\include{", "\\begin{verbatim}", "\\end{verbatim}",
    "\\verb|", "%", "\\%", "\\\\", "{", "}", "[", "]", "#", "##", "\\begin{document}",
    "\\end{document}", "\\documentclass{article}", "\\section{", "\\appendix", "\\bibitem{",
    "\\begin{thebibliography}{9}", "\\renewcommand*\\d[9]{#9}", "\\let\\e\\a", "\\b{\\b{\\b{z}}}",
)  # fmt: skip


@dataclass(frozen=True)
class LatexCase:
    main: str
    other: str


def check_latex(case: LatexCase) -> None:
    _check_latex({"main.tex": case.main.encode(), "sec/a.tex": case.other.encode()})


# ---- StackExchange -----------------------------------------------------------------------------

SE_REASONS = frozenset(
    ["too_large", "dtd_refused", "xml_error", "truncated", "corrupt_input", "bad_row"]
)
SE_FRAGMENTS = (
    b"<row ", b"/>", b'Id="', b'PostTypeId="1" ', b'Score="-3" ', b'Body="&lt;p&gt;', b'"',
    b"</posts>", b"<posts>", b"<!DOCTYPE posts [<!ENTITY e \"x\">]>", b"&e;", b"&#0;",
    b'<!ENTITY x SYSTEM "file:///etc/passwd">', b"\xff", b"<?xml version='1.0'?>", b"\n",
)  # fmt: skip


@dataclass(frozen=True)
class PostsCase:
    data: bytes  # the file as given
    archive: bool
    xml: bytes | None  # the Posts.xml it holds, unless the archive's own bytes are mutated


def _row(attrs: dict[str, str]) -> bytes:
    esc = {ord("&"): "&amp;", ord("<"): "&lt;", ord('"'): "&quot;", ord(">"): "&gt;"}
    parts = " ".join(f'{k}="{v.translate(esc)}"' for k, v in attrs.items())
    return f"  <row {parts} />\n".encode("utf-8", "surrogatepass")


@st.composite
def posts_cases(draw: st.DrawFn) -> PostsCase:
    if draw(st.integers(0, 3)) == 0:
        return PostsCase(draw(mutated(st.just(seeds.posts_7z()), (), 3)), True, None)
    xml_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
    number = st.one_of(st.integers(-5, 10**6).map(str), xml_text)
    row = st.fixed_dictionaries(
        {"Id": number, "PostTypeId": st.sampled_from(["1", "2", "5", "x"]), "Score": number},
        optional={"Body": st.one_of(from_seeds(seeds.post_bodies), xml_text),
                  "Tags": st.sampled_from(["<a><b>", "|a|b|", "", "<"]), "Title": xml_text,
                  "ParentId": number, "AcceptedAnswerId": number},
    ).map(_row)  # fmt: skip
    base = seeds.posts_xml()
    head, tail = base[: base.index(b"<posts>") + 8], b"</posts>\n"
    built = st.lists(row, max_size=4).map(lambda rows: head + b"".join(rows) + tail)
    data = draw(mutated(st.one_of(st.just(base), built), SE_FRAGMENTS, 5))
    if draw(st.integers(0, 3)) == 0:  # the same XML inside a .7z
        buffer = io.BytesIO()
        with py7zr.SevenZipFile(buffer, "w") as archive:
            archive.writestr(data, "Posts.xml")
        return PostsCase(buffer.getvalue(), True, data)
    return PostsCase(data, False, data)


def check_posts(case: PostsCase) -> None:
    """Posts and dead letters; a DTD is refused before any row; corrupt_input (the archive's
    catch-all) never comes from a plain file; every post's body converts to text."""
    name = "fuzz.stackexchange.com.7z" if case.archive else "fuzz.stackexchange.com/Posts.xml"
    path = scratch("stackexchange/" + name, case.data)
    items = list(stackexchange.read_posts(path, max_bytes=64 << 20))
    _only(items, stackexchange.Post, DeadLetter)
    dead = _letters(items, SE_REASONS, DECOMPRESSED)
    if case.xml is not None:
        expect(not any(d.reason == "corrupt_input" for d in dead), dead)
        rows = [x for x in items if isinstance(x, stackexchange.Post) or x.document]
        expect(len(rows) <= case.xml.count(b"<row"), "more rows than the input holds")
        root = stackexchange._ROOT.search(case.xml)
        prolog = case.xml if root is None else case.xml[: root.start()]
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            expect([d.reason for d in dead] == ["dtd_refused"] and len(items) == 1, items)
            return
        try:  # the oracle: a well-formed file is one Post or bad_row per <row>, nothing else
            safe = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            tree = etree.fromstring(case.xml, safe)
        except etree.XMLSyntaxError:
            tree = None
        if tree is not None:
            expect(len(rows) == len(items) == sum(1 for _ in tree.iter("row")), items)
    for post in items:
        if isinstance(post, stackexchange.Post):
            stackexchange.question_document(post, [post])


# ---- GitHub ------------------------------------------------------------------------------------

GITHUB_REASONS = frozenset(
    [
        "binary",
        "invalid_utf8",
        "too_large",
        "no_content",
        "corrupt_gzip",
        "truncated",
        "bad_json",
        "bad_record",
        "bad_parquet",
        "bad_schema",
        "unreadable_file",
    ]
)


@st.composite
def bigquery_cases(draw: st.DrawFn) -> LinesCase:
    text = st.text(max_size=200)
    built = st.fixed_dictionaries(
        {"repo_name": st.one_of(st.just("a/b"), _JSON_VALUE),
         "path": st.one_of(st.sampled_from(["x.py", "a.c", "b.sql", "c.html", "Makefile"]),
                           _JSON_VALUE),
         "content": st.one_of(st.sampled_from(["\ud800", "\ufeffx", "a\x00b"]), text, _JSON_VALUE)},
        optional={"license": _JSON_VALUE, "binary": _JSON_VALUE, "size": _JSON_VALUE,
                  "id": _JSON_VALUE, "copies": _JSON_VALUE},
    ).map(_json_line)  # fmt: skip
    rows = st.one_of(from_seeds(seeds.bigquery_lines), built)
    return _lines_case(draw, "bigquery", rows, [github.DEFAULT_MAX_FILE_BYTES, 1000])


def check_bigquery(case: LinesCase) -> None:
    """One item per non-blank line; a file's text is its content decoded, within the bound;
    its licence header strips without error."""
    path = _lines_file(case, "github/bigquery/github-repos-00000.jsonl")
    items = list(github.read_bigquery(path, case.max_bytes))
    _only(items, github.CodeFile, DeadLetter)
    _letters(items, GITHUB_REASONS, DECOMPRESSED)
    _check_line_accounting(case, items, {"corrupt_gzip", "truncated", "unreadable_file"})
    for item in items:
        if isinstance(item, github.CodeFile):
            expect(item.size == len(item.content) <= case.max_bytes)
            expect(item.text == item.content.decode("utf-8").removeprefix("\ufeff"))
            expect(item.content_md5 == hashlib.md5(item.content).hexdigest())  # noqa: S324
            strip_header(item.text, item.path)


@dataclass(frozen=True)
class ParquetCase:
    stack: bool  # The Stack's columns, else BigQuery's
    data: bytes  # the Parquet file as mutated
    max_bytes: int


_CELL = st.one_of(st.none(), st.text(max_size=30))


@st.composite
def parquet_cases(draw: st.DrawFn) -> ParquetCase:
    stack = draw(st.booleans())
    names = (
        ["content", "max_stars_repo_name", "max_stars_repo_path", "max_forks_repo_name", "lang"]
        if stack
        else ["repo_name", "path", "content", "license", "binary"]
    )
    columns = draw(st.lists(st.sampled_from(names), min_size=1, max_size=5, unique=True))
    rows = draw(st.integers(0, 6))
    table = {}
    for name in columns:
        if name == "binary":
            table[name] = pa.array(draw(st.lists(st.booleans(), min_size=rows, max_size=rows)))
        elif name == "content" and draw(st.booleans()):
            cells = st.one_of(st.none(), st.binary(max_size=60))
            table[name] = pa.array(draw(st.lists(cells, min_size=rows, max_size=rows)), pa.binary())
        else:
            table[name] = pa.array(draw(st.lists(_CELL, min_size=rows, max_size=rows)), pa.string())
    sink = pa.BufferOutputStream()
    pq.write_table(pa.table(table), sink, row_group_size=draw(st.integers(1, 4)))
    data = draw(mutated(st.just(sink.getvalue().to_pybytes()), (b"PAR1", b"\xff" * 4), 3))
    return ParquetCase(stack, data, draw(st.sampled_from([github.DEFAULT_MAX_FILE_BYTES, 20])))


def check_parquet(case: ParquetCase) -> None:
    """Parquet from BigQuery or The Stack, mutated: records and dead letters only."""
    path = scratch("github/parquet/part-00000.parquet", case.data)
    read = github.read_stack if case.stack else github.read_bigquery
    items = list(read(path, case.max_bytes))
    _only(items, github.CodeFile, DeadLetter)
    _letters(items, GITHUB_REASONS, DECOMPRESSED)
    for item in items:
        if isinstance(item, github.CodeFile):
            expect(item.size == len(item.content) <= case.max_bytes)


@dataclass(frozen=True)
class TreeCase:
    files: tuple[tuple[str, bytes], ...]  # (relative path, content)
    links: tuple[tuple[str, str], ...]  # (relative path, target)
    max_bytes: int


_TREE_NAMES = ("a.py", "src/b.c", "LICENSE", ".git/config", "COPYING-MIT", "d/e/f.js", "x.bin")


@st.composite
def tree_cases(draw: st.DrawFn) -> TreeCase:
    names = st.one_of(
        st.sampled_from(_TREE_NAMES), st.from_regex(r"[a-z]{1,6}(/[a-z]{1,6})?\.py", fullmatch=True)
    )
    content = st.one_of(from_seeds(seeds.bigquery_lines), st.binary(max_size=200))
    files = draw(st.lists(st.tuples(names, content), max_size=6, unique_by=lambda f: f[0]))
    targets = st.sampled_from(["/etc/passwd", "..", "../..", "a.py", "/", "src"])
    links = draw(st.lists(st.tuples(st.sampled_from(["l.py", "src/l", "LICENSE-X"]), targets),
                          max_size=2, unique_by=lambda f: f[0]))  # fmt: skip
    return TreeCase(tuple(files), tuple(links), draw(st.sampled_from([1 << 20, 100])))


def check_tree(case: TreeCase) -> None:
    """A repository directory: links are never followed (no record of a link's path, no file
    outside the tree), .git is skipped, every record is a regular file of the tree."""
    root = Path(scratch("github/tree/.keep", b"")).parent
    shutil.rmtree(root)
    repo = root / "repo"
    regular: dict[str, bytes] = {}
    for name, data in case.files:
        path = repo / name
        if any(p.is_file() for p in path.parents) or path.is_dir():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        regular[name] = data
    for name, target in case.links:
        path = repo / name
        if path.exists() or path.is_symlink() or any(p.is_file() for p in path.parents):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)
    repo.mkdir(parents=True, exist_ok=True)
    items = list(github.read_repository("repo", str(repo), case.max_bytes))
    _only(items, github.CodeFile, DeadLetter)
    _letters(items, GITHUB_REASONS, DECOMPRESSED)
    seen = [x.path if isinstance(x, github.CodeFile) else x.details["path"] for x in items]
    expected = sorted(n for n in regular if not n.startswith(".git/"))
    expect(sorted(seen) == expected, f"read {sorted(seen)}, the tree's files are {expected}")
    for item in items:
        if isinstance(item, github.CodeFile):
            expect(item.content == regular[item.path], f"{item.path} is not the file's bytes")


# ---- bombs -------------------------------------------------------------------------------------

BOMB_LIMIT = 64 << 10  # the readers' size bound in this target
SEVEN_ZIP_MEMORY = 24 << 20  # py7zr's buffers take ~16 MiB per archive, whatever its size


@dataclass(frozen=True)
class BombCase:
    reader: str
    size: int  # decompressed bytes
    unit: bytes  # repeated to make them


@st.composite
def bomb_cases(draw: st.DrawFn) -> BombCase:
    reader = draw(st.sampled_from(["warc", "jsonl", "gutenberg", "arxiv", "wikipedia", "7z"]))
    size = draw(st.integers(BOMB_LIMIT + 1, 8 << 20))
    return BombCase(reader, size, draw(st.sampled_from([b"\0", b"a", b"<page>", b"{", b"\xff"])))


def _bomb_reader(case: BombCase) -> Callable[[], Iterable]:
    """The bomb written to a file, and the reader to run on it with the bound."""
    body = (case.unit * (case.size // len(case.unit) + 1))[: case.size]
    if case.reader == "warc":
        path = scratch("bombs/bomb.warc.gz", gz(warc_record(0, "conversion", [], body, False)))
        return lambda: warc.iter_records(path, max_record_bytes=BOMB_LIMIT)
    if case.reader == "jsonl":
        path = scratch("bombs/c4-train.00000-of-00001.json.gz", gz(b'{"text": "' + body))
        return lambda: c4.read_published(path, BOMB_LIMIT)
    if case.reader == "gutenberg":
        path = scratch("bombs/7.txt.gz", gz(body))
        size = Path(path).stat().st_size
        return lambda: [books.read_gutenberg_file(path, size, BOMB_LIMIT)]
    if case.reader == "arxiv":
        data = gz(body)
        return lambda: [arxiv.read_paper(io.BytesIO(data), "2301.00001.gz", "x", 0, 0, BOMB_LIMIT)]
    if case.reader == "wikipedia":
        page = b"  <page><title>B</title><id>1</id><revision><text>" + body
        xml = seeds.wiki_dump()[0] + page + b"</text></revision></page>\n</mediawiki>\n"
        path = scratch("bombs/enwiki-bomb.xml.bz2", bz2.compress(xml))
        return lambda: wikidump.read_pages(path, max_page_bytes=BOMB_LIMIT)
    path = scratch("bombs/bomb.stackexchange.com.7z", b"")
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"<posts>\n" + body, "Posts.xml")
    return lambda: stackexchange.read_posts(path, max_bytes=BOMB_LIMIT)


_warm: set[str] = set()


def check_bomb(case: BombCase) -> None:
    """A small file that decompresses to up to 8 MB, read with a 64 KiB bound: dead letters,
    never the bytes; traced memory stays a few MiB. (Lines of a bomb are not drawn: a gzip of
    short broken lines is one dead letter per line, linear in time, not a memory bomb.)"""
    read = _bomb_reader(case)
    if case.reader not in _warm:  # first use imports modules and fills caches: not traced
        _warm.add(case.reader)
        for _ in read():
            pass
    dead = biggest = 0
    tracemalloc.start()
    try:
        for item in read():
            size = len(getattr(item, "body", b"")) + len(getattr(item, "text", "") or "")
            biggest = max(biggest, size)
            dead += isinstance(item, DeadLetter)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    bound = SEVEN_ZIP_MEMORY if case.reader == "7z" else 4 * CHUNK + 4 * BOMB_LIMIT
    expect(peak < bound, f"{peak} bytes traced for a {case.size}-byte bomb")
    expect(biggest <= BOMB_LIMIT, f"a record of {biggest} bytes, over the bound")
    expect(dead, "no dead letter for a bomb")


# ---- C4 ----------------------------------------------------------------------------------------

C4_REASONS = frozenset(
    [
        "truncated",
        "corrupt_gzip",
        "unreadable_file",
        "too_large",
        "invalid_utf8",
        "bad_json",
        "bad_record",
    ]
)


@st.composite
def c4_cases(draw: st.DrawFn) -> LinesCase:
    stamp = st.sampled_from(["2019-04-25T12:57:54Z", "2019-04-25T12:57:54", "x", ""])
    built = st.fixed_dictionaries(
        {"text": st.one_of(st.text(max_size=200), _JSON_VALUE),
         "url": st.one_of(st.just("https://example.com/a"), _JSON_VALUE)},
        optional={"timestamp": st.one_of(stamp, _JSON_VALUE)},
    ).map(_json_line)  # fmt: skip
    return _lines_case(draw, "c4", built, [8 << 20, 300])


def check_c4(case: LinesCase) -> None:
    path = _lines_file(case, "c4/c4-train.00001-of-01024.json")
    items = list(c4.read_published(path, case.max_bytes))
    _only(items, dict, DeadLetter)
    _letters(items, C4_REASONS, DECOMPRESSED)
    _check_line_accounting(case, items, {"corrupt_gzip", "truncated", "unreadable_file"})
    docs = [x for x in items if isinstance(x, dict)]
    expect(len({d["id"] for d in docs}) == len(docs), "ids repeat")
    for doc in docs:
        expect(isinstance(doc["text"], str) and doc["text"] and isinstance(doc["url"], str))


# ---- the registry ------------------------------------------------------------------------------

TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("warc", warc_cases(), check_warc),
        Target("wikipedia", wiki_cases(), check_wiki),
        Target(
            "wikitext",
            mutated_text(from_seeds(seeds.wikitexts), WIKITEXT_FRAGMENTS),
            check_wikitext,
        ),
        Target("html", html_cases(), check_html),
        Target(
            "posthtml",
            mutated_text(from_seeds(seeds.post_bodies), POST_FRAGMENTS),
            check_posthtml,
        ),
        Target("token_shard", shard_cases(), check_token_shard),
        Target("token_manifest", shard_cases(), check_token_manifest),
        Target("mixture", mixture_cases(), check_mixture),
        Target("gutenberg", gutenberg_cases(), check_gutenberg),
        Target("books_jsonl", book_line_cases(), check_book_lines),
        Target("arxiv_paper", paper_cases(), check_paper),
        Target(
            "arxiv_monthly_tar",
            mutated(st.deferred(lambda: st.just(seeds.arxiv_tar())), (b"../", b"\0" * 512), 4),
            check_monthly_tar,
        ),
        Target(
            "latex",
            st.builds(
                LatexCase,
                mutated_text(from_seeds(seeds.tex_files), LATEX_FRAGMENTS, 10),
                mutated_text(from_seeds(seeds.tex_files), LATEX_FRAGMENTS, 4),
            ),
            check_latex,
        ),
        Target("stackexchange", posts_cases(), check_posts),
        Target("github_bigquery", bigquery_cases(), check_bigquery),
        Target("c4", c4_cases(), check_c4),
        Target("github_parquet", parquet_cases(), check_parquet),
        Target("github_tree", tree_cases(), check_tree),
        Target("bombs", bomb_cases(), check_bomb),
    )
}
