"""Shared fixtures: the sample corpus, small hand-made MediaWiki dumps, a local crawl server."""

from __future__ import annotations

import bz2
import functools
import gzip
import http.server
import shutil
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"

# Beam options that build a Dataflow job offline without submitting it.
DATAFLOW_DRY_RUN = [
    "--runner=DataflowRunner",
    "--project=demo-project",
    "--region=us-central1",
    "--temp_location=gs://demo-bucket/tmp",
    "--dry_run=True",
]

HEADER = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" xml:lang="{lang}">
  <siteinfo>
    <sitename>Wikipedia</sitename>
    <dbname>{lang}wiki</dbname>
    <base>https://{lang}.wikipedia.org/wiki/Main_Page</base>
    <namespaces>
      <namespace key="-2" case="first-letter">Media</namespace>
      <namespace key="0" case="first-letter" />
      <namespace key="6" case="first-letter">File</namespace>
      <namespace key="14" case="first-letter">Category</namespace>
    </namespaces>
  </siteinfo>
"""


def page_xml(page_id: int, title: str, text: str, ns: int = 0, redirect: str | None = None) -> str:
    redirect_tag = f'    <redirect title="{escape(redirect)}" />\n' if redirect else ""
    return (
        f"  <page>\n    <title>{escape(title)}</title>\n    <ns>{ns}</ns>\n    <id>{page_id}</id>\n"
        f"{redirect_tag}    <revision>\n      <id>{page_id * 10}</id>\n"
        f"      <timestamp>2022-07-01T12:00:00Z</timestamp>\n"
        f'      <text bytes="{len(text)}" xml:space="preserve">{escape(text)}</text>\n'
        f"    </revision>\n  </page>\n"
    )


def dump_xml(pages: list[str], lang: str = "en", prolog: str = "") -> bytes:
    return (prolog + HEADER.format(lang=lang) + "".join(pages) + "</mediawiki>\n").encode()


def write_bz2(path: Path, data: bytes) -> Path:
    path.write_bytes(bz2.compress(data))
    return path


@pytest.fixture(scope="session")
def sample() -> Path:
    wiki = SAMPLE / "wikipedia"
    if not (wiki / "enwiki-sample-pages-articles.xml.bz2").exists():
        pytest.fail(f"the sample corpus is missing under {SAMPLE}: run `make sample` first")
    return SAMPLE


@pytest.fixture(scope="session")
def sample_pages(sample) -> list[str]:
    """The raw_content of every page of the bundled crawl sample (2,243 pages, a third of them
    not English): real text for the scorers' bit-for-bit comparisons."""
    from readers.warc import WarcRecord, iter_records
    from readers.wet import segment_name, wet_document

    pages = []
    for path in sorted((sample / "commoncrawl" / "wet").glob("*.warc.wet.gz")):
        for record in iter_records(str(path)):
            if isinstance(record, WarcRecord) and (
                doc := wet_document(record, segment_name(str(path)))
            ):
                pages.append(doc["raw_content"])
    assert len(pages) == 2243
    return pages


@pytest.fixture(scope="session")
def models(tmp_path_factory, sample) -> Path:
    """The en language model and cut-offs (`make lm`) and lid.176, in a directory of their own,
    built once for the session (a fresh checkout has none under models/ until it is made)."""
    out = tmp_path_factory.mktemp("cc-models")
    proc = subprocess.run(
        ["make", "--no-print-directory", "lm", "LM_LANG=en", f"OUTPUT={out}", f"MODELS={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


@pytest.fixture
def web_root(tmp_path):
    """(folder, URL): a loopback HTTP server over the folder."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def crawl_server(web_root, sample):
    """A loopback HTTP server laid out like data.commoncrawl.org, with one WET file missing."""
    root, url = web_root
    wet_dir = root / "crawl-data/CC-MAIN-TEST/segments/1/wet"
    wet_dir.mkdir(parents=True)
    names = [f"CC-MAIN-TEST-0000{i}.warc.wet.gz" for i in range(3)]
    for name, real in zip(
        names[:2], sorted((sample / "commoncrawl/wet").glob("*.gz")), strict=False
    ):
        shutil.copy(real, wet_dir / name)
    listing = "".join(f"crawl-data/CC-MAIN-TEST/segments/1/wet/{n}\n" for n in names)
    (root / "crawl-data/CC-MAIN-TEST/wet.paths.gz").write_bytes(gzip.compress(listing.encode()))
    return url


def results_in_threads(call: Callable[[], Any], count: int = 4) -> list:
    """call()'s results from `count` threads run at once: the native engines release the GIL
    while they work, and must give each thread what one thread alone gets."""
    results: list = [None] * count

    def work(k: int) -> None:
        results[k] = call()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
