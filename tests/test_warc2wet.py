"""WARC → WET, on hand-made responses and on the sample built from real web pages."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from converters.warc2wet import convert, parse_http, wet_name
from converters.warcwriter import WarcWriter
from core.deadletter import DeadLetter
from readers.warc import iter_records
from readers.wet import wet_document

DATE = "2024-01-02T03:04:05Z"
PAGE = (
    b"<html><head><title>Caf\xe9 news</title><script>var x = 1;</script></head><body>"
    b"<nav>Home | About</nav><h1>Headline</h1><p>First paragraph.</p>"
    b"<footer>We use cookies.</footer></body></html>"
)


def _response(status: str, content_type: str, payload: bytes) -> bytes:
    return f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n\r\n".encode() + payload


def test_parse_http():
    status, headers, payload = parse_http(_response("200 OK", "text/html", b"<p>x</p>"))
    assert (status, headers, payload) == (200, {"content-type": "text/html"}, b"<p>x</p>")
    assert parse_http(b"not http\r\n\r\nbody") is None
    assert parse_http(b"HTTP/1.1 200 OK") is None


def test_convert_keeps_boilerplate_and_only_html_200(tmp_path):
    warc, wet = tmp_path / "a.warc.gz", tmp_path / "a.warc.wet.gz"
    with WarcWriter(str(warc)) as writer:
        writer.warcinfo({"software": "test"}, date=DATE)
        page_id = writer.response(
            "https://news.example/a",
            _response("200 OK", "text/html; charset=latin-1", PAGE),
            date=DATE,
        )
        writer.response(
            "https://news.example/b", _response("404 Not Found", "text/html", PAGE), date=DATE
        )
        writer.response(
            "https://news.example/c.png", _response("200 OK", "image/png", b"\x89PNG"), date=DATE
        )
    counts = convert(str(warc), str(wet))
    assert counts == Counter(converted=1, skipped_warcinfo=1, skipped_not_200=1, skipped_not_html=1)
    (record,) = list(iter_records(str(wet)))
    assert record.type == "conversion" and record.headers["WARC-Refers-To"] == page_id
    doc = wet_document(record, "a")
    assert (doc["url"], doc["date_download"], doc["title"]) == (
        "https://news.example/a",
        DATE,
        "Café news",
    )
    assert doc["raw_content"] == "Home | About\nHeadline\nFirst paragraph.\nWe use cookies."
    assert wet_name(warc) == "a.warc.wet.gz"


def test_sample_wet_files(sample):
    manifest = json.loads((sample / "MANIFEST.json").read_text())
    wet = sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz"))
    assert [p.name for p in wet] == [f"CC-SAMPLE-0000{i}.warc.wet.gz" for i in range(4)]
    docs, dead = [], []
    for path in wet:
        for record in iter_records(str(path)):
            if isinstance(record, DeadLetter):
                dead.append(record)
            else:
                docs.append(wet_document(record, path.name))
    assert dead == [] and len(docs) == 2243
    assert sum(e["records"] for e in manifest["files"] if "/wet/" in e["file"]) == 2243
    assert len({d["url"] for d in docs}) == 2243
    by_digest = Counter(d["digest"] for d in docs)
    # Exact duplicates: 5 Python doc directories served at "…/" and "…/index.html", three iana.org
    # captures of one page, and a LibreOffice page the Dutch help leaves in English.
    assert sorted(n for n in by_digest.values() if n > 1) == [2, 2, 2, 2, 2, 2, 3]
    assert sum(len(d["raw_content"]) >= 300 for d in docs) == 2149
    os_path = next(
        d for d in docs if d["url"] == "https://docs.python.org/3.11/library/os.path.html"
    )
    assert (
        os_path["title"] == "os.path — Common pathname manipulations — Python 3.11.2 documentation"
    )
    hosts = Counter(d["source_domain"] for d in docs)
    assert hosts["docs.python.org"] == 391 and hosts["help.libreoffice.org"] == 1800


@pytest.mark.parametrize("lines_shared_by", [100])
def test_sample_pages_share_boilerplate_lines(sample, lines_shared_by):
    """CCNet's line dedup has work to do: navigation lines repeat across many pages."""
    seen: Counter = Counter()
    for path in sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz")):
        for record in iter_records(str(path)):
            seen.update(set(wet_document(record, path.name)["raw_content"].split("\n")))
    assert sum(n >= lines_shared_by for n in seen.values()) >= 10
