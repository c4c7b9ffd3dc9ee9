"""The fast paths of reading WET files give exactly what the careful ones give: records and dead
letters of readers.warc's fast gzip path (real sample members, intact and damaged), headers of
parse_headers' one-findall path, and wet_document's text split and source_domain."""

from __future__ import annotations

import gzip
import random
import re
import struct
import zlib
from pathlib import Path
from urllib.parse import urlparse

import pytest

from core.deadletter import DeadLetter
from readers import warc
from readers.warc import WarcRecord, iter_records, parse_headers
from readers.wet import _netloc, _split_text, wet_document

SAMPLES = [f"commoncrawl/wet/CC-SAMPLE-0000{i}.warc.wet.gz" for i in range(4)]


def _careful_only(window, file, max_bytes):
    """Stands in for warc._fast: hands every file to the careful layers from its first byte."""
    return False
    yield


def _read_both(path: Path, monkeypatch, **kw) -> tuple[list, list]:
    fast = list(iter_records(str(path), **kw))
    with monkeypatch.context() as m:
        m.setattr(warc, "_fast", _careful_only)
        careful = list(iter_records(str(path), **kw))
    return fast, careful


def _assert_same(fast: list, careful: list) -> None:
    assert fast == careful  # WarcRecord and DeadLetter compare every field (text aside)
    for a, b in zip(fast, careful, strict=True):
        assert type(a) is type(b)
        if isinstance(a, WarcRecord):
            assert (a.text, a.offset, a.offset_in_member) == (b.text, b.offset, b.offset_in_member)


def _members(data: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(data):
        dec = zlib.decompressobj(31)
        dec.decompress(data[pos:])
        end = len(data) - len(dec.unused_data)
        out.append(data[pos:end])
        pos = end
    return out


@pytest.fixture(scope="module")
def members(sample) -> list[bytes]:
    """The first members of a sample file: its warcinfo record, then conversion records."""
    return _members((sample / SAMPLES[0]).read_bytes())[:8]


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_files_read_by_the_fast_path_alone_as_the_careful_path_reads_them(
    sample, monkeypatch, name
):
    def careful_not_wanted(*args, **kwargs):
        raise AssertionError("the careful layers were used on an intact file")

    path = sample / name
    with monkeypatch.context() as m:
        m.setattr(warc._Framer, "feed", careful_not_wanted)
        fast = list(iter_records(str(path)))
    fast_again, careful = _read_both(path, monkeypatch)
    assert fast == fast_again
    _assert_same(fast, careful)
    assert len(fast) == len(_members(path.read_bytes()))
    assert all(r.text == r.body.decode() for r in fast if r.type == "conversion")


def _cases(members: list[bytes]) -> dict[str, bytes]:
    whole = b"".join(members)
    first = gzip.decompress(members[2])
    second = gzip.decompress(members[3])
    head, _, text = first.partition(b"\r\n\r\n")
    head, bad_text = head + b"\r\n\r\n", text.replace(b"e", b"\xff", 1)
    fname = members[4][:3] + b"\x08" + members[4][4:10] + b"name\x00" + members[4][10:]
    crc_off = sum(map(len, members[:3])) - 8
    isize_off = crc_off + 4
    cases = {
        "intact": whole,
        "flg_reserved_bit": _flip(whole, len(members[0]) + 3, 0x20),
        "deflate_byte": _flip(whole, len(members[0]) + 200, 0x01),
        "crc": _flip(whole, crc_off, 0x01),
        "isize": _flip(whole, isize_off, 0x01),
        "first_member_flipped": _flip(whole, 100, 0x80),
        "last_member_flipped": _flip(whole, len(whole) - 20, 0x10),
        "two_records_in_a_member": b"".join(
            [*members[:2], gzip.compress(first + second, mtime=0), *members[4:]]
        ),
        "fname_header": b"".join([*members[:4], fname, *members[5:]]),
        "trailing_garbage": whole + b"\x00" * 30,
        "trailing_text": whole + b"WARC/1.0\r\n",
        "member_not_warc": b"".join([*members[:3], gzip.compress(b"hello", mtime=0), *members[3:]]),
        "empty_member": b"".join([*members[:3], gzip.compress(b"", mtime=0), *members[3:]]),
        "bad_content_length": b"".join(
            [
                *members[:2],
                gzip.compress(first.replace(b"Content-Length: ", b"Content-Length: 1")),
                *members[3:],
            ]
        ),
        "uncompressed": b"".join(gzip.decompress(m) for m in members),
        "missing_warc_date": b"".join(
            [
                *members[:2],
                gzip.compress(re.sub(rb"WARC-Date: [^\r]*\r\n", b"", first)),
                *members[3:],
            ]
        ),
        # the same length: only the UTF-8 of the block is broken
        "invalid_utf8": b"".join([*members[:2], gzip.compress(head + bad_text), *members[3:]]),
    }
    for cut in (10, len(members[0]) + 5, len(whole) // 2, len(whole) - 9, len(whole) - 1):
        cases[f"truncated_at_{cut}"] = whole[:cut]
    return cases


def _flip(data: bytes, at: int, mask: int) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


# each case: records read, reasons of the dead letters (the same on both paths)
EXPECTED = {
    "intact": (8, []),
    "flg_reserved_bit": (7, ["corrupt_gzip"]),
    "deflate_byte": (7, ["corrupt_gzip"]),
    "crc": (7, ["corrupt_gzip"]),
    "isize": (7, ["corrupt_gzip"]),
    "first_member_flipped": (7, ["corrupt_gzip"]),
    "last_member_flipped": (7, ["corrupt_gzip"]),
    "two_records_in_a_member": (8, []),
    "fname_header": (8, []),
    "trailing_garbage": (8, ["corrupt_gzip"]),
    "trailing_text": (8, ["corrupt_gzip"]),
    "member_not_warc": (6, ["bad_content_length"]),
    "empty_member": (8, []),
    "bad_content_length": (7, ["bad_content_length"]),
    "uncompressed": (8, []),
    "missing_warc_date": (7, ["bad_header"]),
    "invalid_utf8": (7, ["invalid_utf8"]),
    "truncated_at_10": (0, ["not_warc"]),
    "truncated_at_1372": (1, ["truncated"]),
    "truncated_at_7825": (3, ["truncated"]),
    "truncated_at_15642": (7, ["truncated"]),
    "truncated_at_15650": (7, ["truncated"]),
}


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_damaged_copies_give_the_careful_paths_records_and_dead_letters(
    tmp_path, monkeypatch, members, case
):
    path = tmp_path / "CC-DAMAGED-00000.warc.wet.gz"
    path.write_bytes(_cases(members)[case])
    fast, careful = _read_both(path, monkeypatch)
    _assert_same(fast, careful)
    dead = [x.reason for x in fast if isinstance(x, DeadLetter)]
    assert (len(fast) - len(dead), dead) == EXPECTED[case]


@pytest.mark.parametrize("cut", [10, 1000, 5000, 9000])
def test_truncated_copies_give_the_careful_paths_items(tmp_path, monkeypatch, members, cut):
    path = tmp_path / "CC-CUT-00000.warc.wet.gz"
    path.write_bytes(b"".join(members)[:cut])
    _assert_same(*_read_both(path, monkeypatch))


def test_small_max_record_bytes_gives_the_careful_paths_items(tmp_path, monkeypatch, members):
    path = tmp_path / "CC-BIG-00000.warc.wet.gz"
    path.write_bytes(b"".join(members))
    sizes = sorted(len(gzip.decompress(m)) for m in members)
    for limit in (sizes[0] - 1, sizes[len(sizes) // 2], sizes[-1] - 1, sizes[-1]):
        _assert_same(*_read_both(path, monkeypatch, max_record_bytes=limit))


def test_a_member_split_over_file_blocks_is_read_whole(tmp_path, monkeypatch, members):
    monkeypatch.setattr(warc, "CHUNK", 1000)  # file blocks of 1000 bytes: members cross them
    path = tmp_path / "CC-BLOCKS-00000.warc.wet.gz"
    data = b"".join(members)
    path.write_bytes(data)
    fast, careful = _read_both(path, monkeypatch)
    _assert_same(fast, careful)
    assert [x.offset for x in fast] == [sum(map(len, members[:k])) for k in range(len(members))]
    path.write_bytes(_flip(data, len(data) - 300, 0x04))
    _assert_same(*_read_both(path, monkeypatch))


def test_random_byte_flips_give_the_careful_paths_items(tmp_path, monkeypatch, members):
    data = b"".join(members[:5])
    rng = random.Random(7)
    path = tmp_path / "CC-FLIPS-00000.warc.wet.gz"
    for _ in range(150):
        at = rng.randrange(len(data))
        path.write_bytes(_flip(data, at, rng.randrange(1, 256)))
        _assert_same(*_read_both(path, monkeypatch))


def test_an_incomplete_huffman_code_is_refused_by_both_inflaters(tmp_path, monkeypatch, members):
    """zlib refuses a dynamic block whose literal code is incomplete (some inflaters accept it,
    e.g. ISA-L): the fast path's inflater must refuse it too, so the member is dead-lettered."""
    bits: list[int] = []

    def put(value: int, n: int, msb_first: bool = False) -> None:
        order = reversed(range(n)) if msb_first else range(n)
        bits.extend((value >> i) & 1 for i in order)

    put(1, 1), put(2, 2), put(0, 5), put(0, 5), put(15, 4)  # last, dynamic, 257 + 1 codes, all 19
    order = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]
    for symbol in order:
        put(4 if symbol < 16 else 0, 3)  # code lengths 0..15 each coded as its own 4 bits
    lengths = [0] * 257 + [1]
    lengths[97], lengths[256] = 2, 1  # 'a' 2 bits, end of block 1 bit: a 2-bit code left unused
    for n in lengths:
        put(n, 4, msb_first=True)
    put(0b10, 2, True), put(0b10, 2, True), put(0, 1)  # "aa", end of block
    bits += [0] * (-len(bits) % 8)
    deflate = bytes(sum(bits[i + j] << j for j in range(8)) for i in range(0, len(bits), 8))
    member = (
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"
        + deflate
        + struct.pack("<II", zlib.crc32(b"aa"), 2)
    )
    with pytest.raises(zlib.error, match="invalid literal/lengths set"):
        zlib.decompress(member, 31)
    path = tmp_path / "CC-HUFF-00000.warc.wet.gz"
    path.write_bytes(b"".join([*members[:3], member, *members[3:]]))
    fast, careful = _read_both(path, monkeypatch)
    _assert_same(fast, careful)
    assert [x.reason for x in fast if isinstance(x, DeadLetter)] == ["corrupt_gzip"]


# ---- parse_headers -----------------------------------------------------------------------------


def _reference_parse_headers(block: bytes) -> tuple[str, tuple[tuple[str, str], ...]]:
    """parse_headers as it was before its one-findall path (the loop it falls back to)."""
    lines = [line.removesuffix("\r") for line in block.decode("utf-8").split("\n")]
    if not warc._VERSION.fullmatch(lines[0]):
        raise ValueError(f"not a WARC version line: {lines[0][:40]!r}")
    items: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):
            if not items:
                raise ValueError(f"continuation line before any field: {line[:80]!r}")
            items[-1][1] = f"{items[-1][1]} {line.strip()}".lstrip()
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip():
            raise ValueError(f"header line without a field name and colon: {line[:80]!r}")
        items.append([name.strip(), value.strip()])
    return lines[0], tuple((k, v) for k, v in items)


_PIECES = [
    "WARC-Type", "Content-Length", "X", "a b", ":", ": ", " ", "\t", "  ", "\u00a0", "\u2003",
    "\x1c", "\x85", "\u3000", "conversion", "12", "é", "東京", "\r", "\n", "\r\n", "\r\n ",
    "\r\n\t", "<urn:uuid:1>", "https://x.org/a?b#c", "=", "x:y", "",
]  # fmt: skip


def _header_texts() -> list[str]:
    rng = random.Random(3)
    texts = [
        "WARC/1.0",
        "WARC/1.0\r",
        "WARC/1.0\r\nWARC-Type: conversion\r",
        "WARC/1.0\r\nWARC-Type: conversion\r\nContent-Length: 5",
        "WARC/1.0\r\nA: b\r\n\tc\r",
        "WARC/1.0\r\nA:b\r\nB:  c  \r",
        "WARC/1.0\r\nA: b\r\r\nB: c\r",
        "WARC/1.0\nA: b\nB: c",
        "WARC/1.0\r\nA: b\nB: c\r",
        "WARC/1.0\r\n: b\r",
        "WARC/1.0\r\nA\r",
        "WARC/1.0\r\n A: b\r",
        "WARC/1.0\r\nA: \r",
        "WARC/1.0\r\nA:\r",
        "WARC/1.0 \r\nA: b\r",
        "WARC/1.1\r\nA: b \u00a0\r",
        "WARC/1.0\r\nA: \u2003b\r",
        "WARC/1.0\r\nA\u00a0: b\r",
        "WARC/10.25\r\nA: b: c\r\nA: d\r",
        "warc/1.0\r\nA: b\r",
    ]
    for _ in range(3000):
        lines = ["WARC/1.0"]
        for _ in range(rng.randint(0, 5)):
            if rng.random() < 0.6:
                lines.append(f"{rng.choice(['WARC-Type', 'X-Y', 'A'])}: {rng.choice(_PIECES)}x")
            else:
                lines.append("".join(rng.choices(_PIECES, k=rng.randint(1, 5))))
        texts.append(rng.choice(["\r\n", "\n"]).join(lines) + rng.choice(["", "\r"]))
    return texts


def test_parse_headers_equals_the_loop_on_plain_and_odd_headers():
    plain = 0
    for text in _header_texts():
        block = text.encode("utf-8", "surrogatepass")
        try:
            want = _reference_parse_headers(block)
        except (UnicodeDecodeError, ValueError) as exc:
            with pytest.raises(type(exc)) as got:
                parse_headers(block)
            assert str(got.value) == str(exc)
            continue
        version, headers = parse_headers(block)
        assert (version, headers.items) == want, repr(text)
        plain += bool(warc._PLAIN_FIELD.search(text))
    assert plain > 100


def test_headers_keep_the_first_of_repeated_names_case_insensitively():
    _, headers = parse_headers(b"WARC/1.0\r\nX-A: 1\r\nx-a: 2\r\nX-A: 3\r\nB: 4\r")
    assert headers.get("x-A") == "1"
    assert headers.get_all("X-A") == ["1", "2", "3"]
    assert headers["b"] == "4" and "B" in headers and "C" not in headers


# ---- wet_document ------------------------------------------------------------------------------


def _reference_split(text: str) -> tuple[str, int, str]:
    """wet_document's title, nlines and raw_content as they were computed line by line."""
    lines = [line.strip() for line in re.split(r"\r\n|\r|\n", text)]
    while lines and not lines[-1]:
        lines.pop()
    return (lines[0] if lines else ""), max(len(lines) - 1, 0), "\n".join(lines[1:])


_TEXT_PIECES = [
    "word", "two words", "é", "東京", "\n", "\n", "\n\n", " ", "\t", "\u00a0", "\u2028", "\x1c",
    "\x85", "\u3000", "\u200b", "\r", "\r\n", "\x0b", "\x0c", "",
]  # fmt: skip


def test_split_text_equals_the_line_by_line_split():
    rng = random.Random(5)
    texts = ["", "\n", "\n\n", " ", "a", "a\n", "a\n\n\n", "\na\nb\n", " a \n b \n", "a\n \n",
             "a\n\u00a0", "\u2003a\nb", "a\r\nb\n", "title\nline\n\nline 3\n"]  # fmt: skip
    texts += ["".join(rng.choices(_TEXT_PIECES, k=rng.randint(0, 12))) for _ in range(5000)]
    for text in texts:
        assert _split_text(text) == _reference_split(text), repr(text)


_URLS = [
    "https://docs.python.org/3/x.html", "http://example.com", "http://example.com:8080/a?b#c",
    "https://user:pw@host.org/p", "http://host?q", "http://host#f", "http://", "https:///path",
    "http://[::1]:80/x", "http://[::1/x", "http://a]b/", "http://ex\tample.com/", "http://a\nb/",
    "HTTP://Example.COM/", "https://例え.jp/パス", "http://ex%41mple.com", " http://lead.space/",
    "\x00http://c0.org/", "ftp://files.org/a", "//netloc/path", "mailto:a@b.org", "", "http:",
    "http:/one/slash", "https://host.org\\path", "http://a/b\tc", "http://host.org/\u2100",
    "http://\u2100.org/", "http://a\u3002b/", "https://x.org;p=1/y", "http://x.org:bad/",
]  # fmt: skip


def _netloc_or_error(fn, url: str) -> str:
    try:
        return fn(url)
    except ValueError as exc:
        return f"ValueError: {exc}"


def test_source_domain_equals_urlparse_netloc():
    rng = random.Random(11)
    alphabet = "ab.:/?#@[]%\t\n\r \u00e9\u2100\uff0e-_0123456789"
    urls = list(_URLS)
    for _ in range(5000):
        scheme = rng.choice(["http://", "https://", "http:", "HTTPS://", "", "x://"])
        urls.append(scheme + "".join(rng.choices(alphabet, k=rng.randint(0, 15))))
    for url in urls:
        want = _netloc_or_error(lambda u: urlparse(u).netloc, url)
        assert _netloc_or_error(_netloc, url) == want, repr(url)


def test_wet_document_of_a_careful_path_record_equals_the_fast_paths(sample, monkeypatch):
    path = sample / SAMPLES[1]
    fast, careful = _read_both(path, monkeypatch)
    docs = [wet_document(r, "seg") for r in fast]
    assert docs == [wet_document(r, "seg") for r in careful]
    plain = WarcRecord(fast[1].version, fast[1].headers, fast[1].body, "f", 0, 0)
    assert plain.text is None and wet_document(plain, "seg") == docs[1]
