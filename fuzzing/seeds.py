"""Seed inputs cut from the sample corpus (`make sample`): small, real excerpts of every format."""

from __future__ import annotations

import bz2
import io
import json
import re
import tarfile
import zlib
from functools import cache
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MAX_SEED = 16 << 10  # bytes per seed record: keeps each example fast


def sample(relative: str) -> Path:
    path = SAMPLE / relative
    if not path.exists():
        raise FileNotFoundError(f"{path}: the sample corpus is missing; run `make sample` first")
    return path


def gzip_members(data: bytes, limit: int) -> list[bytes]:
    """The first `limit` gzip members of `data`, each as its own compressed bytes."""
    members, start = [], 0
    while start < len(data) and len(members) < limit:
        dec = zlib.decompressobj(wbits=31)
        dec.decompress(data[start:])
        end = len(data) - len(dec.unused_data)
        members.append(data[start:end])
        start = end
    return members


@cache
def wet_records() -> tuple[bytes, ...]:
    """Whole WET records (decompressed), the warcinfo and conversion records of two files."""
    out = []
    for name in ("CC-SAMPLE-00000", "CC-SAMPLE-00001"):
        data = sample(f"commoncrawl/wet/{name}.warc.wet.gz").read_bytes()
        for member in gzip_members(data, 10):
            record = zlib.decompress(member, wbits=31)
            if len(record) <= MAX_SEED:
                out.append(record)
    return tuple(out)


@cache
def warc_records() -> tuple[bytes, ...]:
    """Whole WARC records (request, response, metadata) of the sample crawl, the small ones."""
    data = sample("commoncrawl/warc/CC-SAMPLE-00000.warc.gz").read_bytes()
    records = (zlib.decompress(m, wbits=31) for m in gzip_members(data, 40))
    return tuple(r for r in records if len(r) <= MAX_SEED)


@cache
def html_pages() -> tuple[bytes, ...]:
    """HTTP payloads (HTML bytes as served) of the sample WARC's response records."""
    data = sample("commoncrawl/warc/CC-SAMPLE-00000.warc.gz").read_bytes()
    out = []
    for member in gzip_members(data, 30):
        record = zlib.decompress(member, wbits=31)
        if b"WARC-Type: response" not in record[:2000]:
            continue
        http = record.split(b"\r\n\r\n", 1)[1]
        out.append(http.split(b"\r\n\r\n", 1)[-1][:MAX_SEED])
    return tuple(out[:8])


_PAGE = re.compile(rb"  <page>.*?</page>\n", re.S)


@cache
def wiki_dump() -> tuple[bytes, tuple[bytes, ...]]:
    """The sample dump's header (up to its first page) and its pages of at most MAX_SEED."""
    xml = bz2.decompress(sample("wikipedia/enwiki-sample-pages-articles.xml.bz2").read_bytes())
    header = xml[: xml.index(b"  <page>")]
    pages = [m.group() for m in _PAGE.finditer(xml)]
    small = [p for p in pages if len(p) <= MAX_SEED and b"#REDIRECT" not in p]
    redirects = [p for p in pages if b"#REDIRECT" in p]
    return header, tuple(small[:10] + redirects[:2])


@cache
def wikitexts() -> tuple[str, ...]:
    """Article wikitexts of the sample dump, MAX_SEED characters of each at most."""
    xml = bz2.decompress(sample("wikipedia/enwiki-sample-pages-articles.xml.bz2").read_bytes())
    texts = []
    for match in _PAGE.finditer(xml):
        text = etree.fromstring(match.group()).findtext("revision/text") or ""
        if not text.startswith("#REDIRECT"):
            texts.append(text[:MAX_SEED])
    return tuple(texts[:12])


@cache
def arxiv_tar() -> bytes:
    return sample("arxiv/arXiv_src_2301_001.tar").read_bytes()


@cache
def arxiv_papers() -> tuple[bytes, ...]:
    """Each paper's `.gz` as the monthly tar holds it."""
    with tarfile.open(fileobj=io.BytesIO(arxiv_tar())) as tar:
        members = [m for m in tar.getmembers() if m.isreg()]
        return tuple(tar.extractfile(m).read() for m in members)  # type: ignore[union-attr]


@cache
def tex_files() -> tuple[str, ...]:
    """The LaTeX files of the sample papers, decoded, at most MAX_SEED characters each."""
    out = []
    for paper in arxiv_papers():
        data = zlib.decompress(paper, wbits=31)
        try:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for m in tar.getmembers():
                    if m.isreg() and m.name.endswith(".tex"):
                        out.append(tar.extractfile(m).read())  # type: ignore[union-attr]
        except tarfile.TarError:
            out.append(data)
    return tuple(t.decode("utf-8", "replace")[:MAX_SEED] for t in out)


_ROW = re.compile(rb"  <row [^\n]*/>\n")


@cache
def posts_xml() -> bytes:
    """A Posts.xml of the sample's first rows."""
    data = sample("stackexchange/python-faq-library.stackexchange.com/Posts.xml").read_bytes()
    rows = _ROW.findall(data)[:10]
    head = data[: data.index(b"<posts>") + len(b"<posts>\n")]
    return head + b"".join(r for r in rows if len(r) <= MAX_SEED) + b"</posts>\n"


@cache
def post_bodies() -> tuple[str, ...]:
    root = etree.fromstring(posts_xml())
    return tuple(row.get("Body", "") for row in root.iter("row"))


@cache
def posts_7z() -> bytes:
    return sample("stackexchange/python-faq-design.stackexchange.com.7z").read_bytes()


@cache
def gutenberg_books() -> tuple[bytes, ...]:
    """Three Gutenberg files, each its start and its end (header, licence footer)."""
    out = []
    for name in ("8868.txt", "lcet10.txt", "0ws2410.txt"):
        data = sample(f"books/gutenberg/{name}").read_bytes()
        out.append(data if len(data) <= 2 * MAX_SEED else data[:MAX_SEED] + data[-MAX_SEED:])
    return tuple(out)


def _jsonl_lines(relative: str, limit: int) -> list[bytes]:
    dec = zlib.decompressobj(wbits=31)
    head = dec.decompress(sample(relative).read_bytes(), 16 << 20)
    return head.split(b"\n")[:-1][:limit]


@cache
def book_lines() -> tuple[bytes, ...]:
    """Lines of the PG-19 and Books3 samples, each book's text cut to its start and end."""
    out = []
    for relative in ("books/pg19/pg19-00000.jsonl.gz", "books/books3/books3-00000.jsonl.gz"):
        for line in _jsonl_lines(relative, 6):
            row = json.loads(line)
            text = row["text"]
            row["text"] = text[:4096] + text[-4096:] if len(text) > 8192 else text
            out.append(json.dumps(row).encode())
    return tuple(out)


@cache
def bigquery_lines() -> tuple[bytes, ...]:
    lines = _jsonl_lines("github/bigquery/github-repos-00000.jsonl.gz", 30)
    return tuple([line for line in lines if len(line) <= MAX_SEED][:10])


@cache
def mixture_yaml() -> bytes:
    return (ROOT / "mixtures" / "llama1.yaml").read_bytes()
