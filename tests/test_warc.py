"""WARC/WET I/O: headers by name, every kind of bad input as an exact dead letter with the records
around it kept, WET document fields, the deterministic writer (and warcio reading it and being
read), and the HTTP reader's retries against a loopback server."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import io
import random
import socket
import struct
import threading
import tracemalloc
import uuid
import zlib
from pathlib import Path

import pytest
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from converters.warcwriter import WarcWriter, block_digest
from core.deadletter import DeadLetter
from core.files import CHUNK
from readers.http import FetchError, Retry, http_blocks
from readers.warc import DEFAULT_MAX_RECORD_BYTES, WarcRecord, iter_records, parse_headers
from readers.wet import document_id, segment_name, wet_document

DATE = "2019-04-18T10:48:49Z"
SEGMENT = (
    "crawl-data/CC-MAIN-2019-18/segments/1555578517558.8/wet/"
    "CC-MAIN-20190418101243-20190418123243-00000.warc.wet.gz"
)
_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "his",
    "her",
    "an",
    "which",
    "were",
    "are",
    "be",
    "river",
    "city",
    "music",
    "league",
    "season",
    "album",
    "film",
    "station",
    "county",
    "village",
    "church",
    "school",
    "party",
    "über",
    "café",
    "naïve",
    "straße",
    "東京",
    "данные",
]


def _text(i: int, lines: int = 30) -> str:
    """A WET-like page: a title line, then lines of words, ending with one newline as in CC."""
    rng = random.Random(i)
    body = [" ".join(rng.choices(_WORDS, k=rng.randint(3, 14))) for _ in range(lines)]
    return f"Page {i} title\n" + "\n".join(body) + "\n"


def _members(n: int = 5) -> tuple[bytes, list[int], list[str]]:
    """n conversion records, one gzip member each: the file, member offsets (+ its end), ids."""
    out, offsets, ids = io.BytesIO(), [], []
    with WarcWriter(out) as writer:
        for i in range(n):
            offsets.append(out.tell())
            ids.append(writer.conversion(f"https://example.com/{i}", _text(i), date=DATE))
    return out.getvalue(), [*offsets, out.tell()], ids


def _raw(i: int, *, delta: int = 0, body: bytes | None = None, kind: str = "conversion") -> bytes:
    """One uncompressed record whose Content-Length is `delta` bytes off."""
    block = _text(i).encode() if body is None else body
    head = (
        f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: https://example.com/{i}\r\n"
        f"WARC-Date: {DATE}\r\nWARC-Record-ID: {_rid(i)}\r\n"
        f"Content-Type: text/plain\r\nContent-Length: {len(block) + delta}\r\n\r\n"
    )
    return head.encode() + block + b"\r\n\r\n"


def _rid(i: int) -> str:
    return f"<urn:uuid:{uuid.UUID(int=i)}>"


def _gz(raw: bytes) -> bytes:
    return gzip.compress(raw, mtime=0)


def _layout(records: list[bytes], gzipped: bool) -> tuple[bytes, list[int]]:
    """Concatenated records (as gzip members or plain) and where each starts."""
    parts = [_gz(r) if gzipped else r for r in records]
    starts = [sum(len(p) for p in parts[:k]) for k in range(len(parts))]
    return b"".join(parts), starts


def _read(tmp_path: Path, data: bytes, name: str = "x.warc.wet.gz", **kw) -> list:
    path = tmp_path / name
    path.write_bytes(data)
    return list(iter_records(str(path), **kw))


def _summary(items: list) -> list[tuple]:
    return [
        ("dead", x.reason, x.offset, x.offset_in_member, x.record_id)
        if isinstance(x, DeadLetter)
        else ("record", x.offset, x.offset_in_member, x.record_id)
        for x in items
    ]


# ---- headers -----------------------------------------------------------------------------------


def test_headers_are_name_value_pairs_case_insensitive_ordered_repeated_and_folded():
    version, headers = parse_headers(
        b"WARC/1.1\r\nwarc-type: conversion\r\nWARC-Target-URI: https://example.com/a\r\n"
        b"WARC-Identified-Content-Language: eng,fra\r\nX-Note: first part\r\n  and a folded\r\n"
        b"\tsecond line\r\nWARC-Concurrent-To: <urn:uuid:1>\r\nWARC-Concurrent-To: <urn:uuid:2>\r\n"
        b"Content-Length: 12"
    )
    assert version == "WARC/1.1"
    assert headers.get("WARC-Type") == headers["WARC-TYPE"] == "conversion"
    assert headers.get("x-note") == "first part and a folded second line"
    assert headers.get_all("warc-concurrent-to") == ["<urn:uuid:1>", "<urn:uuid:2>"]
    assert headers.get("WARC-Concurrent-To") == "<urn:uuid:1>"
    assert [k for k, _ in headers.items][2:4] == ["WARC-Identified-Content-Language", "X-Note"]
    assert "content-length" in headers and "WARC-Refers-To" not in headers
    assert headers.get("Missing") is None
    with pytest.raises(KeyError):
        headers["Missing"]
    for bad in (b"WARC/1.0\r\nno colon here", b"HTTP/1.1 200 OK\r\nA: b", b"WARC/1.0\r\n folded"):
        with pytest.raises(ValueError):
            parse_headers(bad)


def test_an_added_language_header_shifts_no_field(tmp_path):
    """CCNet read Content-Length at line 8 and broke when dumps after 2020 added line 7."""
    text = "Titel\nEin Satz auf Deutsch.\n"
    out = io.BytesIO()
    with WarcWriter(out) as writer:
        writer.conversion("https://example.de/", text, date=DATE, refers_to=_rid(1), language="deu")
    (record,) = _read(tmp_path, out.getvalue())
    names = [k for k, _ in record.headers.items]
    assert names.index("WARC-Identified-Content-Language") == 6
    assert names.index("Content-Length") == 8
    assert record.body == text.encode()
    doc = wet_document(record, SEGMENT)
    assert (doc["length"], doc["identified_languages"]) == (len(text.encode()), ["deu"])


# ---- writing and reading back ------------------------------------------------------------------


def test_round_trip_exact_headers_digests_ids_offsets_and_byte_identical_output(tmp_path):
    http_body = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>caf\xc3\xa9</html>"
    text = "Caf\u00e9 \u2014 title\nbody line\n"

    def write(target) -> list[int]:
        starts = []
        with WarcWriter(target) as writer:
            starts.append(target.tell())
            writer.warcinfo(
                {"software": "llama-corpus", "format": "WARC/1.0"}, date=DATE, filename="x.warc.gz"
            )
            starts.append(target.tell())
            writer.response("https://example.com/", http_body, date=DATE)
            starts.append(target.tell())
            refers = writer.conversion(
                "https://example.com/", text, date=DATE, refers_to=_rid(7), language="eng,fra"
            )
            assert refers == _expected_id("conversion", "https://example.com/")
        return starts

    first, second = io.BytesIO(), io.BytesIO()
    starts = write(first)
    write(second)
    assert first.getvalue() == second.getvalue()
    records = _read(tmp_path, first.getvalue(), "x.warc.gz")
    assert [(r.offset, r.offset_in_member) for r in records] == [(s, 0) for s in starts]
    info, response, conversion = records

    def sha1_b32(block: bytes) -> str:
        return "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode()

    info_block = b"software: llama-corpus\r\nformat: WARC/1.0\r\n"
    assert info.version == "WARC/1.0"
    assert info.headers.items == (
        ("WARC-Type", "warcinfo"),
        ("WARC-Date", DATE),
        ("WARC-Record-ID", _expected_id("warcinfo", "x.warc.gz")),
        ("WARC-Filename", "x.warc.gz"),
        ("WARC-Block-Digest", sha1_b32(info_block)),
        ("Content-Type", "application/warc-fields"),
        ("Content-Length", str(len(info_block))),
    )
    assert info.body == info_block
    assert response.headers.items == (
        ("WARC-Type", "response"),
        ("WARC-Target-URI", "https://example.com/"),
        ("WARC-Date", DATE),
        ("WARC-Record-ID", _expected_id("response", "https://example.com/")),
        ("WARC-Block-Digest", sha1_b32(http_body)),
        ("Content-Type", "application/http; msgtype=response"),
        ("Content-Length", str(len(http_body))),
    )
    assert response.body == http_body
    assert conversion.headers.items == (
        ("WARC-Type", "conversion"),
        ("WARC-Target-URI", "https://example.com/"),
        ("WARC-Date", DATE),
        ("WARC-Record-ID", _expected_id("conversion", "https://example.com/")),
        ("WARC-Refers-To", _rid(7)),
        ("WARC-Block-Digest", sha1_b32(text.encode())),
        ("WARC-Identified-Content-Language", "eng,fra"),
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(text.encode()))),
    )
    assert conversion.body == text.encode()
    assert block_digest(text.encode()) == sha1_b32(text.encode())
    # every member is a gzip member with mtime 0, so the file does not depend on the clock
    assert all(first.getvalue()[s + 4 : s + 8] == b"\0\0\0\0" for s in starts)


def _expected_id(warc_type: str, uri: str) -> str:
    name = "\n".join((warc_type, uri, DATE))
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"


def test_writer_refuses_line_breaks_in_headers():
    with WarcWriter(io.BytesIO()) as writer, pytest.raises(ValueError, match="line break"):
        writer.conversion("https://example.com/\r\nWARC-Type: x", "text\n", date=DATE)


def test_writer_to_a_path(tmp_path):
    path = tmp_path / "sub" / "out.warc.wet.gz"
    with WarcWriter(str(path)) as writer:
        rid = writer.conversion("https://example.com/", "t\nx\n", date=DATE)
    assert [r.record_id for r in iter_records(str(path))] == [rid]


def test_warcio_reads_our_files_and_checks_their_digests(tmp_path):
    data, _, ids = _members(3)
    out = io.BytesIO()
    out.write(data)
    with WarcWriter(out) as writer:
        writer.response("https://example.com/r", b"HTTP/1.1 200 OK\r\n\r\nhello", date=DATE)
    theirs, passed = [], []
    for r in ArchiveIterator(
        io.BytesIO(out.getvalue()), no_record_parse=True, check_digests="raise"
    ):
        theirs.append((r.rec_type, r.rec_headers.get_header("WARC-Record-ID"), r.raw_stream.read()))
        passed.append(r.digest_checker.passed)
    ours = [(r.type, r.record_id, r.body) for r in _read(tmp_path, out.getvalue())]
    assert theirs == ours
    assert [t[1] for t in theirs[:3]] == ids
    assert passed == [True] * 4


def test_we_read_what_warcio_writes(tmp_path):
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    writer.write_record(writer.create_warcinfo_record("w.warc.gz", {"software": "warcio"}))
    http_headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(
            "https://example.com/",
            "response",
            payload=io.BytesIO(b"<p>hi</p>"),
            http_headers=http_headers,
        )
    )
    writer.write_record(
        writer.create_warc_record(
            "https://example.com/",
            "conversion",
            payload=io.BytesIO(b"hi\nthere\n"),
            warc_content_type="text/plain",
        )
    )
    theirs = [
        (r.rec_type, r.rec_headers.get_header("WARC-Record-ID"), r.raw_stream.read())
        for r in ArchiveIterator(io.BytesIO(out.getvalue()), no_record_parse=True)
    ]
    records = _read(tmp_path, out.getvalue(), "w.warc.gz")
    assert [(r.type, r.record_id, r.body) for r in records] == theirs
    assert [r.type for r in records] == ["warcinfo", "response", "conversion"]
    assert records[1].body.endswith(b"\r\n\r\n<p>hi</p>")


def test_members_single_stream_and_plain_give_the_same_records(tmp_path):
    raws = [_raw(i) for i in range(4)]
    members, starts = _layout(raws, gzipped=True)
    plain, plain_starts = _layout(raws, gzipped=False)
    read = {
        "members": _read(tmp_path, members, "a.warc.gz"),
        "stream": _read(tmp_path, gzip.compress(plain, mtime=0), "b.warc.gz"),
        "plain": _read(tmp_path, plain, "c.warc"),
    }
    content = {k: [(r.headers, r.body) for r in v] for k, v in read.items()}
    assert content["members"] == content["stream"] == content["plain"]
    assert [r.record_id for r in read["plain"]] == [_rid(i) for i in range(4)]
    assert [(r.offset, r.offset_in_member) for r in read["members"]] == [(s, 0) for s in starts]
    assert [(r.offset, r.offset_in_member) for r in read["stream"]] == [
        (0, s) for s in plain_starts
    ]
    assert [(r.offset, r.offset_in_member) for r in read["plain"]] == [(s, 0) for s in plain_starts]


# ---- broken gzip members -----------------------------------------------------------------------


def test_truncated_member_in_the_middle_costs_one_dead_letter(tmp_path):
    data, offs, ids = _members(5)
    cut = offs[2] + (offs[3] - offs[2]) // 2
    items = _read(tmp_path, data[:cut] + data[offs[3] :])
    shift = offs[3] - cut
    assert _summary(items) == [
        ("record", offs[0], 0, ids[0]),
        ("record", offs[1], 0, ids[1]),
        ("dead", "corrupt_gzip", offs[2], 0, ids[2]),
        ("record", offs[3] - shift, 0, ids[3]),
        ("record", offs[4] - shift, 0, ids[4]),
    ]
    assert f"resumed at the gzip member at byte {offs[3] - shift}" in items[2].error
    assert (items[2].url, items[2].warc_type) == ("https://example.com/2", "conversion")
    assert [r.body for r in items if isinstance(r, WarcRecord)] == [
        _text(i).encode() for i in (0, 1, 3, 4)
    ]


def test_corrupt_member_in_the_middle_costs_one_dead_letter(tmp_path):
    data, offs, ids = _members(5)
    broken = bytearray(data)
    middle = (offs[2] + offs[3]) // 2
    broken[middle : middle + 8] = bytes(b ^ 0x5A for b in broken[middle : middle + 8])
    items = _read(tmp_path, bytes(broken))
    assert _summary(items) == [
        ("record", offs[0], 0, ids[0]),
        ("record", offs[1], 0, ids[1]),
        ("dead", "corrupt_gzip", offs[2], 0, ids[2]),
        ("record", offs[3], 0, ids[3]),
        ("record", offs[4], 0, ids[4]),
    ]


def test_junk_between_members_and_a_damaged_first_member(tmp_path):
    data, offs, ids = _members(4)
    junk = b"not gzip at all\n"
    items = _read(tmp_path, data[: offs[2]] + junk + data[offs[2] :])
    n = len(junk)
    assert _summary(items) == [
        ("record", offs[0], 0, ids[0]),
        ("record", offs[1], 0, ids[1]),
        ("dead", "corrupt_gzip", offs[2], 0, None),
        ("record", offs[2] + n, 0, ids[2]),
        ("record", offs[3] + n, 0, ids[3]),
    ]
    # a damaged gzip magic number: the name still says gzip, and the later members are found
    items = _read(tmp_path, b"\x1f\x00" + data[2:])
    assert _summary(items) == [
        ("dead", "corrupt_gzip", 0, 0, None),
        *[("record", offs[k], 0, ids[k]) for k in (1, 2, 3)],
    ]


def test_truncated_last_member(tmp_path):
    data, offs, ids = _members(3)
    items = _read(tmp_path, data[: offs[2] + (offs[3] - offs[2]) // 2])
    assert _summary(items) == [
        ("record", offs[0], 0, ids[0]),
        ("record", offs[1], 0, ids[1]),
        ("dead", "truncated", offs[2], 0, ids[2]),
    ]
    assert "no later gzip member" in items[2].error


def test_corrupt_single_stream_keeps_the_records_before_and_passes_no_damaged_record(tmp_path):
    raws = [_raw(i) for i in range(60)]
    plain, starts = _layout(raws, gzipped=False)
    stream = bytearray(zlib.compress(plain, 6, wbits=31))
    at = len(stream) * 3 // 4
    stream[at : at + 4] = bytes(b ^ 0xFF for b in stream[at : at + 4])
    items = _read(tmp_path, bytes(stream), "s.warc.gz")
    records = [x for x in items if isinstance(x, WarcRecord)]
    dead = [x for x in items if isinstance(x, DeadLetter)]
    originals = _read(tmp_path, plain, "s.warc")
    assert len(records) >= 30  # everything before the damage, three quarters in
    assert [(r.headers, r.body) for r in records] == [
        (r.headers, r.body) for r in originals[: len(records)]
    ]
    assert [(r.offset, r.offset_in_member) for r in records] == [(0, s) for s in starts][
        : len(records)
    ]
    assert (dead[-1].reason, dead[-1].offset, dead[-1].record_id) == ("corrupt_gzip", 0, None)
    assert all(d.offset_in_member >= starts[len(records)] for d in dead[:-1])


# ---- broken records ----------------------------------------------------------------------------


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("delta", [-7, 7, 400])
def test_wrong_content_length_in_the_middle(tmp_path, gzipped, delta):
    raws = [_raw(i, delta=delta if i == 2 else 0) for i in range(5)]
    data, starts = _layout(raws, gzipped)
    items = _read(tmp_path, data, "x.warc.gz" if gzipped else "x.warc")
    assert _summary(items) == [
        ("record", starts[0], 0, _rid(0)),
        ("record", starts[1], 0, _rid(1)),
        ("dead", "bad_content_length", starts[2], 0, _rid(2)),
        ("record", starts[3], 0, _rid(3)),
        ("record", starts[4], 0, _rid(4)),
    ]
    assert [r.body for r in items if isinstance(r, WarcRecord)] == [
        _text(i).encode() for i in (0, 1, 3, 4)
    ]


@pytest.mark.parametrize(("delta", "reason"), [(-7, "bad_content_length"), (7, "truncated")])
def test_wrong_content_length_of_the_last_record(tmp_path, delta, reason):
    raws = [_raw(0), _raw(1, delta=delta)]
    data, starts = _layout(raws, gzipped=False)
    assert _summary(_read(tmp_path, data, "x.warc")) == [
        ("record", 0, 0, _rid(0)),
        ("dead", reason, starts[1], 0, _rid(1)),
    ]


def test_bad_headers(tmp_path):
    no_colon = _raw(1).replace(b"Content-Type: text/plain", b"Content-Type text/plain")
    no_id = _raw(2).replace(f"WARC-Record-ID: {_rid(2)}\r\n".encode(), b"")
    bad_length = _raw(3).replace(b"Content-Length: ", b"Content-Length: 0x")
    raws = [_raw(0), no_colon, no_id, bad_length, _raw(4)]
    data, starts = _layout(raws, gzipped=False)
    items = _read(tmp_path, data, "x.warc")
    assert _summary(items) == [
        ("record", starts[0], 0, _rid(0)),
        ("dead", "bad_header", starts[1], 0, _rid(1)),
        ("dead", "bad_header", starts[2], 0, None),
        ("dead", "bad_header", starts[3], 0, _rid(3)),
        ("record", starts[4], 0, _rid(4)),
    ]
    assert "without a field name" in items[1].error
    assert items[2].error == "missing WARC-Record-ID"
    assert items[2].url == "https://example.com/2"
    assert "is not a byte count" in items[3].error


def test_invalid_utf8_in_a_conversion_record_but_not_in_a_response(tmp_path):
    bad = b"Title\nfine line\n\xff\xfe broken \xc3\n"
    raws = [_raw(0), _raw(1, body=bad), _raw(2, body=bad, kind="response"), _raw(3)]
    data, starts = _layout(raws, gzipped=True)
    items = _read(tmp_path, data)
    assert _summary(items) == [
        ("record", starts[0], 0, _rid(0)),
        ("dead", "invalid_utf8", starts[1], 0, _rid(1)),
        ("record", starts[2], 0, _rid(2)),
        ("record", starts[3], 0, _rid(3)),
    ]
    assert "position 16" in items[1].error
    assert items[2].body == bad


def test_a_changed_block_in_a_file_no_crc_covers_fails_its_digest(tmp_path):
    out = io.BytesIO()
    with WarcWriter(out) as writer:
        ids = [writer.conversion(f"https://example.com/{i}", _text(i), date=DATE) for i in range(3)]
    plain = gzip.decompress(out.getvalue())
    damaged = plain.replace(b"Page 1 title", b"Page 1 TITLE")
    items = _read(tmp_path, damaged, "x.warc")
    assert [(type(x).__name__, getattr(x, "reason", None), x.record_id) for x in items] == [
        ("WarcRecord", None, ids[0]),
        ("DeadLetter", "bad_digest", ids[1]),
        ("WarcRecord", None, ids[2]),
    ]


@pytest.fixture(scope="module")
def huge_record() -> bytes:
    """A conversion record whose text is one 50 MB line."""
    body = b"Title\n" + b"word " * 10_000_000 + b"\n"
    head = (
        f"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: https://example.com/huge\r\n"
        f"WARC-Date: {DATE}\r\nWARC-Record-ID: {_rid(99)}\r\nContent-Type: text/plain\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body + b"\r\n\r\n"


@pytest.mark.parametrize("gzipped", [True, False])
def test_a_50_mb_single_line_record_is_too_large_with_bounded_memory(
    tmp_path, huge_record, gzipped
):
    parts = [_raw(0), huge_record, _raw(1)]
    path = tmp_path / ("h.warc.gz" if gzipped else "h.warc")
    path.write_bytes(b"".join(gzip.compress(p, 1, mtime=0) if gzipped else p for p in parts))
    sizes = [len(gzip.compress(p, 1, mtime=0)) if gzipped else len(p) for p in parts]
    tracemalloc.start()
    try:
        items = list(iter_records(str(path)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _summary(items) == [
        ("record", 0, 0, _rid(0)),
        ("dead", "too_large", sizes[0], 0, _rid(99)),
        ("record", sizes[0] + sizes[1], 0, _rid(1)),
    ]
    assert peak < 3 * DEFAULT_MAX_RECORD_BYTES, peak
    raised = list(iter_records(str(path), max_record_bytes=64 << 20))
    assert [type(x).__name__ for x in raised] == ["WarcRecord"] * 3
    assert (
        hashlib.sha1(raised[1].body).digest()
        == hashlib.sha1(huge_record[huge_record.index(b"\r\n\r\n") + 4 : -4]).digest()
    )


def test_empty_and_non_warc_files(tmp_path):
    rng = random.Random(0)
    noise = bytes(rng.getrandbits(8) for _ in range(5000))
    png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + noise[:100]
    cases = {
        "empty.warc.gz": b"",
        "image.png": png,
        "data.json": b'{"url": "https://example.com", "text": "WARC/1.0"}\n',
        "noise.warc.gz": gzip.compress(noise, mtime=0),
        "fake.warc.gz": b"\x1f\x8b\x08\x00" + noise,
        "short.warc": b"WAR",
    }
    found = {name: _read(tmp_path, data, name) for name, data in cases.items()}
    assert found.pop("empty.warc.gz") == []
    for name, items in found.items():
        assert [(x.reason, x.offset, x.offset_in_member, x.file) for x in items] == [
            ("not_warc", 0, 0, str(tmp_path / name))
        ], name
    assert "\\x89PNG" in found["image.png"][0].error


def test_pywb_style_sloppy_separators_are_dead_letters_not_guesses(tmp_path):
    """A record followed by three CRLFs instead of two: its length cannot be trusted."""
    raws = [_raw(0), _raw(1) + b"\r\n", _raw(2)]
    data, starts = _layout(raws, gzipped=False)
    assert _summary(_read(tmp_path, data, "x.warc")) == [
        ("record", 0, 0, _rid(0)),
        ("dead", "bad_content_length", starts[1], 0, _rid(1)),
        ("record", starts[2], 0, _rid(2)),
    ]


# ---- WET documents -----------------------------------------------------------------------------


def _ccnet_parse(record_bytes: bytes) -> tuple[str, str, int]:
    """CCNet's process_wet_file: text-mode lines, stripped; two trailing blanks dropped."""
    text = io.TextIOWrapper(io.BytesIO(record_bytes + b"WARC/1.0\r\n"), "utf-8", newline=None)
    lines = [line.strip() for line in text]
    doc = lines[lines.index("") + 1 : -1]
    last = -2 if not doc[-1] and not doc[-2] else None
    return doc[0], "\n".join(doc[1:last]), len(doc[1:last])


def test_wet_document_fields_match_ccnet(tmp_path):
    text = (
        "Example Domain \u2014 A Title  \n"
        "  First paragraph, with spaces around.  \n"
        "\n"
        "Second paragraph: caf\u00e9, na\u00efve, \u6771\u4eac.\r\n"
        "Third\rFourth\n"
    )
    out = io.BytesIO()
    with WarcWriter(out) as writer:
        rid = writer.conversion(
            "https://www.example.com:8443/a/b?q=1",
            text,
            date=DATE,
            refers_to=_rid(5),
            language="eng,fra",
        )
    raw = gzip.decompress(out.getvalue())
    (record,) = _read(tmp_path, raw, "x.warc")
    doc = wet_document(record, SEGMENT)
    block = text.encode()
    assert doc == {
        "url": "https://www.example.com:8443/a/b?q=1",
        "date_download": DATE,
        "digest": "sha1:" + base64.b32encode(hashlib.sha1(block).digest()).decode(),
        "length": len(block),
        "nlines": 5,
        "source_domain": "www.example.com:8443",
        "title": "Example Domain \u2014 A Title",
        "raw_content": (
            "First paragraph, with spaces around.\n\n"
            "Second paragraph: caf\u00e9, na\u00efve, \u6771\u4eac.\nThird\nFourth"
        ),
        "cc_segment": SEGMENT,
        "warc_record_id": rid,
        "identified_languages": ["eng", "fra"],
    }
    assert _ccnet_parse(raw) == (doc["title"], doc["raw_content"], doc["nlines"])
    assert document_id(SEGMENT, rid) == f"cc/{SEGMENT}/{rid[len('<urn:uuid:') : -1]}"


def test_wet_document_edge_cases(tmp_path):
    def doc(text: str, kind: str = "conversion", language: str | None = None) -> dict | None:
        out = io.BytesIO()
        with WarcWriter(out) as writer:
            content_type = "text/plain"
            writer.write(
                kind,
                text.encode(),
                date=DATE,
                content_type=content_type,
                uri="http://example.org/x",
                language=language,
            )
        (record,) = _read(tmp_path, out.getvalue())
        return wet_document(record, "seg")

    assert doc("x", kind="response") is None
    empty = doc("")
    assert (empty["title"], empty["raw_content"], empty["nlines"]) == ("", "", 0)
    assert empty["identified_languages"] is None
    trailing = doc("T\nbody\n\n\n  \n")  # all trailing blank lines go (CCNet kept all but two)
    assert (trailing["title"], trailing["raw_content"], trailing["nlines"]) == ("T", "body", 1)
    no_newline = doc("T\nbody")
    assert (no_newline["raw_content"], no_newline["nlines"]) == ("body", 1)
    assert doc("only a title\n")["nlines"] == 0
    assert doc("T\nx\n", language="eng")["identified_languages"] == ["eng"]
    short = doc("T\n" + "a" * 10 + "\n")  # no minimum length here: the pipeline counts it
    assert short["raw_content"] == "a" * 10


def test_segment_name_and_document_id():
    url = f"https://data.commoncrawl.org/{SEGMENT}"
    assert segment_name(url) == SEGMENT
    assert segment_name(f"gs://bucket/cc/{SEGMENT}") == SEGMENT
    assert segment_name("/data/local/file-00001.warc.wet.gz") == "file-00001.warc.wet.gz"
    rid = "<urn:uuid:8865156e-d5f1-4734-9c68-4b46eaf2bb7e>"
    assert document_id("seg", rid) == "cc/seg/8865156e-d5f1-4734-9c68-4b46eaf2bb7e"


# ---- HTTP --------------------------------------------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    """Plays the server's script, one action per request: 429, 503, 404, cut (half the body,
    then the connection drops), ignore-range (a 200 with the whole body); then honours Range."""

    server: _Server

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        srv = self.server
        asked = self.headers.get("Range")
        srv.requests.append(asked)
        action = srv.script.pop(0) if srv.script else "ok"
        if action in ("429", "503", "404"):
            self.send_response(int(action))
            if action == "429":
                self.send_header("Retry-After", "7")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        start = int(asked.removeprefix("bytes=").rstrip("-")) if asked else 0
        if action == "ignore-range":
            start = 0
        body = srv.data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(srv.data) - 1}/{len(srv.data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if action == "cut":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.data, self.script, self.requests = b"", [], []

    def handle_error(self, request, client_address) -> None:
        pass  # the dropped connections are on purpose

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/{name}"


@pytest.fixture
def server():
    srv = _Server()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=10)


RETRY = Retry(tries=5, base=0.5, cap=30.0, timeout=5.0)


def test_http_retries_429_503_and_a_dropped_body_then_resumes_with_range(server):
    server.data = random.Random(1).randbytes(300_000)
    server.script = ["429", "503", "cut"]
    sleeps: list[float] = []
    got = b"".join(
        http_blocks(server.url("a.gz"), retry=RETRY, sleep=sleeps.append, rng=random.Random(0))
    )
    assert got == server.data
    assert server.requests == [None, None, None, f"bytes={len(server.data) // 2}-"]
    rng = random.Random(0)
    first = max(rng.uniform(0, 0.5), 7.0)  # Retry-After: 7 beats the 0.5 s backoff
    second = rng.uniform(0, 1.0)  # the second failure in a row doubles the backoff
    third = rng.uniform(0, 0.5)  # the cut body delivered bytes: the count starts again
    assert sleeps == [first, second, third]
    assert first == 7.0


def test_http_server_ignoring_range_is_read_again_and_the_delivered_bytes_skipped(server):
    server.data = random.Random(2).randbytes(100_000)
    server.script = ["cut", "ignore-range"]
    sleeps: list[float] = []
    got = b"".join(
        http_blocks(server.url("b"), retry=RETRY, sleep=sleeps.append, rng=random.Random(0))
    )
    assert got == server.data
    assert server.requests == [None, "bytes=50000-"]
    assert len(sleeps) == 1


def test_http_gives_up_after_the_last_try_naming_the_url(server):
    server.script = ["503"] * 10
    sleeps: list[float] = []
    url = server.url("c.warc.wet.gz")
    with pytest.raises(FetchError, match=r"c\.warc\.wet\.gz: gave up after 5 tries"):
        list(http_blocks(url, retry=RETRY, sleep=sleeps.append, rng=random.Random(0)))
    assert len(server.requests) == 5 and len(sleeps) == 4
    assert all(0 <= s <= min(30.0, 0.5 * 2**k) for k, s in enumerate(sleeps))


def test_http_404_fails_at_once(server):
    server.script = ["404"]
    sleeps: list[float] = []
    with pytest.raises(FetchError, match=r"d\.warc\.gz: HTTP 404"):
        list(http_blocks(server.url("d.warc.gz"), retry=RETRY, sleep=sleeps.append))
    assert sleeps == [] and server.requests == [None]


def test_iter_records_over_http_survives_a_dropped_connection(server, tmp_path):
    data, offs, ids = _members(40)
    server.data = data
    server.script = ["cut"]
    sleeps: list[float] = []
    records = list(iter_records(server.url("e.warc.wet.gz"), retry=RETRY, sleep=sleeps.append))
    assert [(r.offset, r.record_id, r.file) for r in records] == [
        (offs[i], ids[i], server.url("e.warc.wet.gz")) for i in range(40)
    ]
    assert len(sleeps) == 1 and server.requests == [None, f"bytes={len(data) // 2}-"]


def _padded_member(record: bytes, empty_blocks: int) -> bytes:
    """A valid gzip member of `record` whose deflate stream first holds `empty_blocks` empty
    stored blocks (5 bytes each, no output): much input, almost no output."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    pad = deflate.flush(zlib.Z_FULL_FLUSH)  # one empty stored block
    body = pad * empty_blocks + deflate.compress(record) + deflate.flush()
    trailer = struct.pack("<II", zlib.crc32(record), len(record) & 0xFFFFFFFF)
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + body + trailer


def test_a_member_of_empty_deflate_blocks_is_read_with_bounded_memory(tmp_path):
    # 10 MB of compressed input that inflates to one small record: the member is passed on as it
    # inflates once its input passes the bound, so the input is not held for a CRC check.
    member = _padded_member(_raw(1), 2_000_000)
    path = tmp_path / "padded.warc.gz"
    path.write_bytes(
        gzip.compress(_raw(0), 1, mtime=0) + member + gzip.compress(_raw(2), 1, mtime=0)
    )
    limit = 64 << 10
    tracemalloc.start()
    try:
        items = list(iter_records(str(path), max_record_bytes=limit))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [getattr(x, "record_id", None) for x in items] == [_rid(0), _rid(1), _rid(2)]
    assert len(member) > 9_000_000 and peak < 6 * (limit + CHUNK), peak  # 13.5 MB unbounded
