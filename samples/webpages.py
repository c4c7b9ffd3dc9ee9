"""Real web pages for the CommonCrawl-like sample, gathered from registry packages.

No web crawl is reachable offline, but several packages ship real HTML (docs/design.md, "Models and
data without internet" §1). Each page gets the URL it is published at, a fetch date, the package it
came from, its language (checked with lid.176 on the extracted text) and the HTTP headers to write:

- python3.11-doc (Debian): the Python docs as built Sphinx HTML, published at
  https://docs.python.org/3.11/ with the same relative paths. Every page carries the same
  navigation and footer, the boilerplate that CCNet's line dedup is meant to remove.
- libreoffice-help-{en-us,de,fr,it,nl,cs} (Debian): the LibreOffice help, a fixed pseudo-random
  subset of topics (the same in every language, as far as each language has them).
- newspaper4k, trafilatura and inscriptis sdists (PyPI): real news and company pages saved whole
  for those projects' tests, with their ads, menus and cookie notices.
- pywb wheel (PyPI): the HTML responses of real WARC captures of iana.org and example.com,
  with their recorded URL, date and headers.

Fetch dates: a Debian package's pages were built at its files' modification time (the Python
pages' footers say "Last updated on" that day); an sdist's pages are dated by the sdist's upload
to PyPI; WARC captures keep their WARC-Date. Downloads go into ``cache`` once (a cached file is
never replaced, so a cache pins the sample); nothing else is fetched.

    python -m samples.webpages --cache .cache/downloads --list
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from fastwarc.warc import ArchiveIterator, WarcRecordType
from resiliparse.parse.html import HTMLTree

from filters.html import decode_html, meta_charset
from readers import registry

log = logging.getLogger("ccsample")


@dataclass(frozen=True, slots=True)
class WebPage:
    url: str
    html: bytes
    fetch_date: str  # ISO 8601, UTC: "2026-10-07T12:35:00Z"
    source: str  # the package: "python3.11-doc=3.11.2-6+deb12u9" (Debian), "pywb==2.10.0" (PyPI)
    language: str  # as lid.176 names it: "en", "de", "zh", ...
    headers: tuple[tuple[str, str], ...]  # the HTTP response headers to write


@dataclass(frozen=True, slots=True)
class PackagedPage:
    member: str  # path inside the archive, below its top directory; ".gz" is unpacked
    language: str
    url: str | None = None  # None: the page's own canonical / og:url (see `declared_url`)


@dataclass(frozen=True, slots=True)
class Sdist:
    name: str
    version: str
    uploaded: str  # PyPI's upload time of the sdist: the fetch date of its pages
    pages: tuple[PackagedPage, ...]


PYTHON_DOC = "python3.11-doc"
PYTHON_DOC_ROOT = "usr/share/doc/python3.11/html/"
PYTHON_DOC_URL = "https://docs.python.org/3.11/"
# Keeps the sample to tens of MB: 386 of the 530 pages (the large ones are API references).
PYTHON_DOC_MAX_BYTES = 100_000
# Exact duplicates: docs.python.org serves these pages at their directory URL too.
PYTHON_DIRECTORY_INDEXES = (
    "index.html",
    "library/index.html",
    "tutorial/index.html",
    "reference/index.html",
    "howto/index.html",
)

# package -> the language its pages are written in. These are the best-translated help sets:
# lid.176 names the package's language on 98.4% (fr) to 100% (en) of all 2,560 pages, the rest
# being reference pages left partly in English. (es: 93%, pl: 90%, ca/pt/ru/sv: 71-86%.)
LIBREOFFICE_HELP = {
    "libreoffice-help-en-us": "en",
    "libreoffice-help-de": "de",
    "libreoffice-help-fr": "fr",
    "libreoffice-help-it": "it",
    "libreoffice-help-nl": "nl",
    "libreoffice-help-cs": "cs",
}
LIBREOFFICE_ROOT = "usr/share/libreoffice/help/"
LIBREOFFICE_PAGES_PER_LANGUAGE = 300

# Pages with no known address are put under this host: the reserved TLD .invalid (RFC 2606)
# can never be a real site, so no such page can be mistaken for (or matched to) a real one.
UNKNOWN_URL_HOST = "unknown-url.invalid"

# Pages whose URL is not in their HTML name it here, with the evidence. Left out of newspaper4k:
# google_meta_refresh.html (a redirect stub), sample_rss.html (an RSS feed) and
# video_article_01.html (a byte-identical copy of cleveland.com1.html, at the same URL).
_NEWS = "tests/data/html/"
SDISTS = (
    Sdist(
        "newspaper4k",
        "0.9.6",
        "2026-07-19T16:46:30Z",
        (
            # its own "Home" link (the page has no canonical or og:url)
            PackagedPage(
                _NEWS + "ap_meta_refresh.html",
                "en",
                "http://hosted.ap.org/dynamic/fronts/HOME?SITE=AP&SECTION=HOME",
            ),
            PackagedPage(_NEWS + "arabic_article.html", "ar"),
            PackagedPage(_NEWS + "article_with_br.html", "en"),
            PackagedPage(_NEWS + "article_with_divs.html", "en"),
            PackagedPage(_NEWS + "autoindustria.html", "en"),
            PackagedPage(_NEWS + "burmese_article.html", "my"),
            # its dc.identifier (newspaper4k's tests pair it with an unrelated sohu.com URL)
            PackagedPage(
                _NEWS + "chinese_article.html",
                "zh",
                "http://www.bbc.co.uk/zhongwen/simp/chinese_news/2012/12/121210_hongkong_politics.shtml",
            ),
            PackagedPage(_NEWS + "chinese_article_001.html", "zh"),
            # newspaper4k's tests/conftest.py; its publishid meta is the same article number
            PackagedPage(
                _NEWS + "chinese_article_002.html",
                "zh",
                "http://www.news.cn/fortune/2023-11/17/c_1129981476.htm",
            ),
            PackagedPage(_NEWS + "cleveland.com1.html", "en"),
            PackagedPage(_NEWS + "cnn_001.html", "en"),
            PackagedPage(_NEWS + "cnn_002.html", "en"),
            PackagedPage(_NEWS + "cnn_article.html", "en"),
            PackagedPage(_NEWS + "cnn_main_site.html", "en"),
            PackagedPage(_NEWS + "cnn_test_nlp.html", "en"),
            PackagedPage(_NEWS + "fox13now_001.html", "en"),
            PackagedPage(_NEWS + "japanese_article.html", "ja"),
            PackagedPage(_NEWS + "japanese_article2.html", "ja"),
            PackagedPage(_NEWS + "latvian_article.html", "lv"),
            # its twitter:url
            PackagedPage(
                _NEWS + "spanish_article.html",
                "es",
                "http://ultimahora.es/mallorca/noticia/noticias/local/"
                "fiscalia-anticorrupcion-estudia-recurre-imputacion-infanta.html",
            ),
            PackagedPage(_NEWS + "thai_article.html", "th"),
            PackagedPage(_NEWS + "time_001.html", "en"),
            PackagedPage(_NEWS + "video_article_02.html", "en"),
            PackagedPage(_NEWS + "wired_001.html", "en"),
            PackagedPage(_NEWS + "wired_main_site.html", "en"),
            PackagedPage(_NEWS + "yahoo_main_site.html", "en"),
            PackagedPage(_NEWS + "yna_co_kr.html", "en"),
        ),
    ),
    Sdist(
        "trafilatura",
        "2.3.1",
        "2026-10-06T19:30:26Z",
        (
            PackagedPage("tests/resources/mozilla.org.firefox.developer.html", "en"),
            # a real Tor hidden-service page (a spam example); its address is unknown
            PackagedPage(
                "tests/resources/scam.html",
                "en",
                f"http://{UNKNOWN_URL_HOST}/trafilatura-2.3.1/tests/resources/scam.html",
            ),
            PackagedPage("tests/resources/webpage.html.gz", "en"),
        ),
    ),
    Sdist(
        "inscriptis",
        "2.7.6",
        "2026-10-23T19:33:13Z",
        (
            PackagedPage("tests/html/real-world/avantec-team.html", "de"),
            PackagedPage("tests/html/real-world/naturgruen-team.html", "de"),
            # its own navigation links to "mitarbeiter.html" of the site http://www.rswag.ch
            PackagedPage(
                "tests/html/real-world/rswag-mitarbeiter.html",
                "de",
                "http://www.rswag.ch/mitarbeiter.html",
            ),
        ),
    ),
)

PYWB = ("pywb", "2.10.0")
PYWB_WARCS = "pywb-2.10.0.data/data/sample_archive/warcs/"
# iana.warc.gz: a crawl of iana.org (16 HTML pages answered 200). The other three hold one
# capture each of the same example.com page, byte for byte, at three URLs: exact duplicates.
PYWB_FILES = (
    "iana.warc.gz",
    "example.warc.gz",
    "example-wget-1-14.warc.gz",
    "example-url-agnostic-orig.warc.gz",
)
# The body is written decoded and whole; the writer sets its own length.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "content-encoding"})


def _iso(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def content_type(html: bytes) -> str:
    """The Content-Type a server would send: the charset the page declares, else UTF-8 when the
    bytes are UTF-8, else none (so that a reader detects it, as browsers do)."""
    charset = meta_charset(html)
    if charset is None:
        try:
            html.decode("utf-8")
        except UnicodeDecodeError:
            return "text/html"
        charset = "utf-8"
    return f"text/html; charset={charset.lower()}"


def _page(url: str, html: bytes, fetch_date: str, source: str, language: str) -> WebPage:
    headers = (("Content-Type", content_type(html)),)
    return WebPage(url, html, fetch_date, source, language, headers)


def declared_url(html: bytes) -> str | None:
    """The page's own absolute http(s) URL: its canonical link, or its og:url when the two name
    different hosts (the canonical then names a back end, e.g. fox13now's WordPress host), or
    when the canonical is missing or relative."""
    tree = HTMLTree.parse(decode_html(html))

    def absolute(selector: str, attribute: str) -> str | None:
        element = tree.document.query_selector(selector)
        value = (element.getattr(attribute) or "").strip() if element else ""
        return value if urlsplit(value).scheme in ("http", "https") else None

    canonical = absolute('link[rel~="canonical"]', "href")
    og_url = absolute('meta[property="og:url"]', "content")
    if canonical and (og_url is None or urlsplit(canonical).hostname == urlsplit(og_url).hostname):
        return canonical
    return og_url


def python_doc_url(path: str) -> str:
    """``library/os.html`` -> ``https://docs.python.org/3.11/library/os.html``."""
    return PYTHON_DOC_URL + path


def libreoffice_version(deb_version: str) -> str:
    """``4:7.4.7-1+deb12u14`` -> ``7.4``: the help site has one tree per major.minor release."""
    upstream = deb_version.partition(":")[2] or deb_version
    return ".".join(upstream.split(".")[:2])


def libreoffice_help_url(version: str, path: str) -> str:
    """``de/text/shared/main0108.html`` -> ``https://help.libreoffice.org/7.4/de/text/…``.

    The installed tree is the site's tree: every page's ``<base href>`` climbs to the version
    root, which the site's help.html redirects to as ``<version>/index.html``.
    """
    return f"https://help.libreoffice.org/{version}/{path}"


def select_pages(paths: Iterable[str], count: int) -> list[str]:
    """``count`` paths spread over the whole tree, the same ones whatever order they come in and
    whatever the language (the rank is a hash of the path), returned sorted."""
    ranked = sorted(
        set(paths), key=lambda p: (hashlib.sha1(p.encode(), usedforsecurity=False).digest(), p)
    )
    return sorted(ranked[:count])


def exact_duplicates(pages: Iterable[WebPage]) -> list[tuple[str, ...]]:
    """The URLs of each group of pages with byte-identical HTML, in page order."""
    groups: dict[bytes, list[str]] = {}
    for page in pages:
        groups.setdefault(hashlib.sha1(page.html, usedforsecurity=False).digest(), []).append(
            page.url
        )
    return [tuple(urls) for urls in groups.values() if len(urls) > 1]


# ---- reading the packages ------------------------------------------------------------------


def deb_version(deb: Path) -> str:
    """``libreoffice-help-de_4%3a7.4.7-1+deb12u14_all.deb`` -> ``4:7.4.7-1+deb12u14``."""
    return unquote(deb.name.split("_")[1])


def deb_files(
    deb: Path, root: str, keep: Callable[[str, int], bool]
) -> Iterator[tuple[str, bytes, float]]:
    """(path below ``root``, content, mtime) of the regular files of a .deb that ``keep(path,
    size)`` accepts, read in one pass (a .deb is an ar archive holding data.tar.*)."""
    with deb.open("rb") as f:
        if f.read(8) != b"!<arch>\n":
            raise ValueError(f"{deb}: not a Debian package (no ar header)")
        while header := f.read(60):
            name, size = header[:16].decode().strip(), int(header[48:58])
            if name.startswith("data.tar"):
                data = io.BytesIO(f.read(size))
                break
            f.seek(size + size % 2, io.SEEK_CUR)
        else:
            raise ValueError(f"{deb}: no data.tar member")
    with tarfile.open(fileobj=data, mode="r|*") as tar:
        for member in tar:
            path = member.name.removeprefix("./")
            if member.isfile() and path.startswith(root) and keep(path[len(root) :], member.size):
                content = tar.extractfile(member)
                if content is None:
                    raise SystemExit(f"{member.name}: a file without a body in the archive")
                yield path[len(root) :], content.read(), member.mtime


def python_doc_pages(deb: Path) -> list[WebPage]:
    source = f"{PYTHON_DOC}={deb_version(deb)}"
    files = list(
        deb_files(
            deb,
            PYTHON_DOC_ROOT,
            lambda path, size: path.endswith(".html") and size <= PYTHON_DOC_MAX_BYTES,
        )
    )
    missing = set(PYTHON_DIRECTORY_INDEXES) - {path for path, _, _ in files}
    if missing:
        raise ValueError(f"{deb}: no {sorted(missing)} of at most {PYTHON_DOC_MAX_BYTES} bytes")
    date = _iso(max(mtime for _, _, mtime in files))
    pages = []
    for path, html, _ in files:
        pages.append(_page(python_doc_url(path), html, date, source, "en"))
        if path in PYTHON_DIRECTORY_INDEXES:
            directory = path.removesuffix("index.html")
            pages.append(_page(python_doc_url(directory), html, date, source, "en"))
    return sorted(pages, key=lambda page: page.url)


def libreoffice_pages(deb: Path, language: str, count: int) -> list[WebPage]:
    """``count`` help pages of one language package, chosen by `select_pages`."""
    package = deb.name.split("_")[0]
    files = {
        path: (html, mtime)
        for path, html, mtime in deb_files(
            deb,
            LIBREOFFICE_ROOT,
            lambda path, _: path.split("/")[1:2] == ["text"] and path.endswith(".html"),
        )
    }
    if not files:
        raise ValueError(f"{deb}: no help pages under {LIBREOFFICE_ROOT}<language>/text/")
    # The rank ignores the language directory, so every language gets the same topics.
    topics = {path.partition("/")[2]: path for path in files}
    chosen = [topics[topic] for topic in select_pages(topics, count)]
    date = _iso(max(mtime for _, mtime in files.values()))
    version = libreoffice_version(deb_version(deb))
    source = f"{package}={deb_version(deb)}"
    return [
        _page(libreoffice_help_url(version, path), files[path][0], date, source, language)
        for path in chosen
    ]


def sdist_pages(archive: Path, sdist: Sdist) -> list[WebPage]:
    """The pages ``sdist.pages`` names, in that order; a missing one is an error."""
    top = f"{sdist.name}-{sdist.version}/"
    wanted = {top + page.member for page in sdist.pages}
    found: dict[str, bytes] = {}
    with tarfile.open(archive, mode="r|gz") as tar:
        for member in tar:
            if member.name in wanted and member.isfile():
                content = tar.extractfile(member)
                if content is None:
                    raise SystemExit(f"{member.name}: a file without a body in the archive")
                found[member.name] = content.read()
    missing = wanted - found.keys()
    if missing:
        raise ValueError(f"{archive}: missing {sorted(missing)}")
    source = f"{sdist.name}=={sdist.version}"
    pages = []
    for page in sdist.pages:
        html = found[top + page.member]
        if page.member.endswith(".gz"):
            html = gzip.decompress(html)
        url = page.url or declared_url(html)
        if url is None:
            raise ValueError(f"{archive}: {page.member} names no URL; give one in SDISTS")
        pages.append(_page(url, html, sdist.uploaded, source, page.language))
    return pages


def warc_pages(wheel: Path) -> list[WebPage]:
    """The HTML answered 200 in pywb's sample WARCs, as recorded, in file and record order."""
    source = f"{PYWB[0]}=={PYWB[1]}"
    pages = []
    with zipfile.ZipFile(wheel) as zf:
        for name in PYWB_FILES:
            records = ArchiveIterator(
                io.BytesIO(zf.read(PYWB_WARCS + name)),
                record_types=WarcRecordType.response,
                parse_http=True,
            )
            for record in records:
                if record.http_headers.status_code != 200:
                    continue
                if not (record.http_content_type or "").startswith("text/html"):
                    continue
                headers = tuple(
                    (key, value)
                    for key, value in record.http_headers.items()
                    if key.lower() not in _FRAMING_HEADERS
                )
                url = record.headers["WARC-Target-URI"]
                html = record.reader.read()
                pages.append(WebPage(url, html, record.headers["WARC-Date"], source, "en", headers))
    return pages


# ---- fetching the packages into the cache --------------------------------------------------


def _apt_knows(package: str) -> bool:
    return subprocess.run(["apt-cache", "show", package], capture_output=True).returncode == 0


def _apt_download(package: str, cache: Path) -> None:
    if shutil.which("apt-get") is None:
        raise SystemExit(
            f"fetching {package} needs Debian's apt-get; or put {package}_*.deb into {cache}"
        )
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        command = ["apt-get", "download", "-q", package]
        done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0 and not _apt_knows(package):  # no package lists (or none list it)
            if os.geteuid() != 0:
                raise SystemExit(f"apt knows no {package}: run `sudo apt-get update`, then again")
            log.info("apt-get update (the package lists are missing)")
            subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
            done = subprocess.run(command, cwd=tmp, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"`apt-get download {package}` failed:\n{done.stderr}")
        for deb in Path(tmp).glob("*.deb"):
            deb.rename(cache / deb.name)


def fetch_deb(package: str, cache: Path) -> Path:
    """The package's .deb from the Debian archive (the current version), downloaded once."""
    found = sorted(cache.glob(f"{package}_*.deb"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s from the Debian archive", package)
        _apt_download(package, cache)
        found = sorted(cache.glob(f"{package}_*.deb"))
    if len(found) != 1:
        raise SystemExit(f"expected one {package}_*.deb in {cache}, found {len(found)}")
    return found[0]


def collect_pages(cache: Path) -> list[WebPage]:
    """Every page of the sample, in a fixed order: the same list on every run over one cache."""
    pages = python_doc_pages(fetch_deb(PYTHON_DOC, cache))
    for package, language in LIBREOFFICE_HELP.items():
        deb = fetch_deb(package, cache)
        pages += libreoffice_pages(deb, language, LIBREOFFICE_PAGES_PER_LANGUAGE)
    for sdist in SDISTS:
        pages += sdist_pages(registry.pypi(sdist.name, sdist.version, cache, sdist=True), sdist)
    pages += warc_pages(registry.pypi(*PYWB, cache))
    return pages


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Fetch the packages of the CommonCrawl-like sample into a cache.",
    )
    parser.add_argument("--cache", type=Path, default=Path(".cache/downloads"))
    parser.add_argument(
        "--list", action="store_true", help="print the pages per source and per language"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", force=True)
    pages = collect_pages(args.cache)
    if not args.list:
        return
    for key in ("source", "language"):
        print(f"\n{'pages':>6}  {'HTML MB':>8}  {key}")
        counts: Counter[str] = Counter()
        sizes: Counter[str] = Counter()
        for page in pages:
            counts[getattr(page, key)] += 1
            sizes[getattr(page, key)] += len(page.html)
        for name, count in counts.most_common():
            print(f"{count:>6}  {sizes[name] / 1e6:>8.1f}  {name}")
    print(f"{len(pages):>6}  {sum(len(p.html) for p in pages) / 1e6:>8.1f}  total")
    print("\nexact duplicates (byte-identical HTML):")
    for urls in exact_duplicates(pages):
        print("  " + "  =  ".join(urls))


if __name__ == "__main__":
    main()
