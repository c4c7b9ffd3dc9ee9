"""Build the bundled sample corpus, deterministically and offline, from registry packages.

CommonCrawl: about 2,200 real web pages in six main languages (Python's documentation, the
LibreOffice help in six languages, news pages from newspaper4k's tests, pywb's iana.org crawl;
see pipelines/ccsample.py) written as WARC files by the project and turned into WET files by its
own WARC→WET step (pipelines/warc2wet.py), the way Common Crawl publishes both.

Wikipedia: the real English and Bulgarian dump excerpts shipped as test data in the `gensim`
wheel, as single-stream dumps and as multistream copies (bz2 streams of 100 pages plus the
`-multistream-index.txt.bz2` index, the layout Wikimedia publishes), so the parallel reader runs
on the sample exactly as on a full dump.

    python -m samples.build --out data/sample
"""

from __future__ import annotations

import argparse
import bz2
import hashlib
import json
import logging
import zipfile
from pathlib import Path

from converters.multistream import split_dump, write_multistream
from converters.warc2wet import convert, wet_name
from converters.warcwriter import WarcWriter
from core.files import file_sha256
from readers import registry
from samples.arxiv import build_arxiv
from samples.books import build_books
from samples.code import build_github
from samples.stackexchange import build_stackexchange
from samples.webpages import WebPage, collect_pages

log = logging.getLogger("sample")

GENSIM = ("gensim", "4.4.0")
_TEST_DATA = "gensim/test/test_data/"
# (member of the gensim wheel, sample name, how the member is encoded)
WIKI_DUMPS = [
    (
        "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
        "enwiki-sample",
        "utf-8",
    ),
    ("enwiki-table-markup.xml.bz2", "enwiki-tables-sample", "utf-8"),
    ("bgwiki-latest-pages-articles-shortened.xml.bz2", "bgwiki-sample", "utf-16"),
]
PAGES_PER_STREAM = 100
CC_FILES = 4  # WARC (and WET) files the web pages are spread over, like a crawl's segments
CC_PREFIX = "CC-SAMPLE"


def _to_utf8(raw: bytes, encoding: str) -> bytes:
    """Real dumps are UTF-8 with LF; gensim's Bulgarian excerpt is UTF-16 with CRLF."""
    if encoding == "utf-8":
        return raw
    return raw.decode(encoding).replace("\r\n", "\n").encode("utf-8")


def build_wikipedia(wheel: Path, out: Path) -> list[dict]:
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    with zipfile.ZipFile(wheel) as zf:
        for member, name, encoding in WIKI_DUMPS:
            xml = _to_utf8(bz2.decompress(zf.read(_TEST_DATA + member)), encoding)
            single = out / f"{name}-pages-articles.xml.bz2"
            single.write_bytes(bz2.compress(xml, 9))
            multi = out / f"{name}-pages-articles-multistream.xml.bz2"
            index = out / f"{name}-pages-articles-multistream-index.txt.bz2"
            write_multistream(xml, str(multi), str(index), PAGES_PER_STREAM)
            pages = len(split_dump(xml)[1])
            for path in (single, multi, index):
                origin = f"{wheel.name}:{_TEST_DATA}{member}"
                entry = {"file": f"wikipedia/{path.name}", "sha256": file_sha256(path)}
                entries.append({**entry, "from": origin, "pages": pages})
            log.info("wikipedia: %s (%d pages)", name, pages)
    return entries


def _http_response(page: WebPage) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in page.headers)
    return f"HTTP/1.1 200 OK\r\n{head}\r\n".encode("latin-1") + page.html


def build_commoncrawl(cache: Path, out: Path) -> list[dict]:
    """Real web pages written as WARC files by the project, then WET by its own WARC→WET step.

    Pages are spread over the files by a hash of their URL, as a crawl's segments mix sites.
    """
    pages = collect_pages(cache)
    warc_dir, wet_dir = out / "warc", out / "wet"
    warc_dir.mkdir(parents=True, exist_ok=True)
    wet_dir.mkdir(parents=True, exist_ok=True)
    groups: list[list[WebPage]] = [[] for _ in range(CC_FILES)]
    for page in pages:
        digest = hashlib.blake2b(page.url.encode(), digest_size=8).digest()
        groups[int.from_bytes(digest, "little") % CC_FILES].append(page)
    entries = []
    for i, group in enumerate(groups):
        name = f"{CC_PREFIX}-{i:05d}.warc.gz"
        warc = warc_dir / name
        with WarcWriter(str(warc)) as writer:
            writer.warcinfo(
                {"software": "llama-corpus sample", "format": "WARC File Format 1.0"},
                date=min(p.fetch_date for p in group),
                filename=name,
            )
            for page in group:
                writer.response(page.url, _http_response(page), date=page.fetch_date)
        wet = wet_dir / wet_name(warc)
        counts = convert(str(warc), str(wet))
        for path, records in ((warc, len(group)), (wet, counts["converted"])):
            entry = {"file": f"commoncrawl/{path.parent.name}/{path.name}", "records": records}
            entries.append({**entry, "sha256": file_sha256(path)})
        log.info("commoncrawl: %s (%d pages, %s)", name, len(group), dict(counts))
    return entries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/sample", help="sample directory")
    parser.add_argument("--cache", default=".cache/downloads", help="downloaded packages")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    out = Path(args.out)
    wheel = registry.pypi(*GENSIM, Path(args.cache))
    files = build_wikipedia(wheel, out / "wikipedia")
    files += build_commoncrawl(Path(args.cache), out / "commoncrawl")
    files += build_github(Path(args.cache), out / "github")
    files += build_books(Path(args.cache), out / "books")
    files += build_stackexchange(Path(args.cache), out / "stackexchange")
    files += build_arxiv(Path(args.cache), out / "arxiv")
    manifest = {"sources": {"gensim": f"{GENSIM[0]}=={GENSIM[1]}"}, "files": files}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    log.info("sample written to %s (%d files)", out, len(files))


if __name__ == "__main__":
    main()
