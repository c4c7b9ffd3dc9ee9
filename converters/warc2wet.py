"""WARC → WET: the visible text of each HTML response, as Common Crawl's WET files carry it.

Each `response` record whose HTTP status is 200 and whose payload is HTML becomes a `conversion`
record: the page's title on the first line, then its text, one line per block element, the
boilerplate (navigation, footers, cookie banners) included, since CCNet's line dedup is what
removes it. The conversion record refers to the response and keeps its URL and date.

    python -m converters.warc2wet crawl/*.warc.gz --out wet/
"""

from __future__ import annotations

import argparse
import logging
import os
from collections import Counter
from pathlib import Path

from converters.warcwriter import WarcWriter
from core.deadletter import DeadLetter
from filters.html import html_to_text
from readers.warc import iter_records

log = logging.getLogger("warc2wet")

_HTML_TYPES = ("text/html", "application/xhtml+xml")


def parse_http(block: bytes) -> tuple[int, dict[str, str], bytes] | None:
    """(status, lower-cased headers, payload) of an HTTP response block; None if it is not one."""
    head, sep, payload = block.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        return None
    headers = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers, payload


def _charset(content_type: str) -> str | None:
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return None


def convert(warc: str, wet: str) -> Counter:
    """Write the WET file of one WARC file; returns what happened to its records."""
    counts: Counter = Counter()
    tmp = f"{wet}.tmp-{os.getpid()}"
    with WarcWriter(tmp) as writer:
        for record in iter_records(warc):
            if isinstance(record, DeadLetter):
                counts[f"dead_{record.reason}"] += 1
                log.warning("%s@%d: %s (%s)", warc, record.offset, record.reason, record.error)
                continue
            if record.type != "response":
                counts[f"skipped_{record.type}"] += 1
                continue
            http = parse_http(record.body)
            if http is None or http[0] != 200:
                counts["skipped_not_200"] += 1
                continue
            content_type = http[1].get("content-type", "")
            if not content_type.lower().startswith(_HTML_TYPES):
                counts["skipped_not_html"] += 1
                continue
            page = html_to_text(http[2], encoding_hint=_charset(content_type))
            text = "\n".join(line for line in (page.title, page.text) if line)
            if not text:
                counts["skipped_no_text"] += 1
                continue
            writer.conversion(
                record.url, text, date=record.headers["WARC-Date"], refers_to=record.record_id
            )
            counts["converted"] += 1
    os.replace(tmp, wet)
    return counts


def wet_name(warc: Path) -> str:
    name = warc.name.removesuffix(".gz").removesuffix(".warc")
    return f"{name}.warc.wet.gz"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="+", type=Path, help="WARC files (.warc or .warc.gz)")
    parser.add_argument("--out", type=Path, required=True, help="directory for the WET files")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for warc in args.warcs:
        counts = convert(str(warc), str(args.out / wet_name(warc)))
        log.info("%s → %s: %s", warc, wet_name(warc), dict(sorted(counts.items())))


if __name__ == "__main__":
    main()
