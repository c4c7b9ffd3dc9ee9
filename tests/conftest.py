"""Shared fixtures: the sample corpus and small hand-made MediaWiki dumps."""

from __future__ import annotations

import bz2
from pathlib import Path
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
