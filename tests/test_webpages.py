"""The CommonCrawl-like sample's page collection, on small packages made here: URL derivation,
which pages are chosen and in what order, duplicates, headers, and the cache. (The real packages
are downloads; the suite does not depend on them.)"""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile
from pathlib import Path

import pytest

from samples import webpages
from samples.webpages import (
    LIBREOFFICE_HELP,
    PYTHON_DIRECTORY_INDEXES,
    PYTHON_DOC_MAX_BYTES,
    PYWB_FILES,
    PYWB_WARCS,
    SDISTS,
    PackagedPage,
    Sdist,
    WebPage,
    collect_pages,
    content_type,
    declared_url,
    exact_duplicates,
    fetch_deb,
    libreoffice_help_url,
    libreoffice_pages,
    libreoffice_version,
    python_doc_pages,
    python_doc_url,
    sdist_pages,
    select_pages,
    warc_pages,
)

MTIME = 1_780_000_000  # 2026-05-28T20:26:40Z


def _tar(files: dict[str, bytes], mode: str, prefix: str = "") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size, info.mtime = len(content), MTIME
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def make_deb(path: Path, files: dict[str, bytes]) -> Path:
    """A Debian package: an ar archive of debian-binary, control.tar.xz and data.tar.xz."""
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", _tar({"control": b"Package: x\n"}, "w:xz", "./")),
        ("data.tar.xz", _tar(files, "w:xz", "./")),
    ]
    out = bytearray(b"!<arch>\n")
    for name, content in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(content):<10}`\n".encode()
        out += content + b"\n" * (len(content) % 2)
    path.write_bytes(bytes(out))
    return path


def page(title: str, head: str = "") -> bytes:
    return f'<html><head><meta charset="utf-8">{head}<title>{title}</title></head>'.encode() + (
        f"<body><nav>Menu</nav><p>{title}</p></body></html>".encode()
    )


def warc(*records: tuple[str, str, bytes]) -> bytes:
    """A gzipped WARC of response records (URI, date, HTTP message), one gzip member each."""
    out = b""
    for number, (uri, date, http) in enumerate(records):
        head = (
            f"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: {uri}\r\nWARC-Date: {date}\r\n"
            f"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-{number:012d}>\r\n"
            f"Content-Type: application/http; msgtype=response\r\n"
            f"Content-Length: {len(http)}\r\n\r\n"
        )
        out += gzip.compress(head.encode() + http + b"\r\n\r\n")
    return out


def http(status: str, content_type: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nServer: Apache\r\nContent-Type: {content_type}\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


# ---- URLs ------------------------------------------------------------------------------------


def test_python_doc_url() -> None:
    assert python_doc_url("library/os.html") == "https://docs.python.org/3.11/library/os.html"
    assert python_doc_url("") == "https://docs.python.org/3.11/"


@pytest.mark.parametrize(
    ("deb_version", "version"),
    [("4:7.4.7-1+deb12u14", "7.4"), ("7.4.7-1", "7.4"), ("1:24.8.2-1", "24.8")],
)
def test_libreoffice_version(deb_version: str, version: str) -> None:
    assert libreoffice_version(deb_version) == version


def test_libreoffice_help_url() -> None:
    url = libreoffice_help_url("7.4", "de/text/shared/optionen/java.html")
    assert url == "https://help.libreoffice.org/7.4/de/text/shared/optionen/java.html"


@pytest.mark.parametrize(
    ("head", "url"),
    [
        # canonical and og:url agree on the host: the canonical
        (
            '<link rel="canonical" href="https://www.e.com/a/firstrun/">'
            '<meta property="og:url" content="https://www.e.com/a/">',
            "https://www.e.com/a/firstrun/",
        ),
        # they disagree on the host: the canonical names a back end, og:url the public page
        (
            '<link rel="canonical" href="https://backend.wordpress.com/2013/x/">'
            '<meta property="og:url" content="https://www.news.com/2013/x">',
            "https://www.news.com/2013/x",
        ),
        # a relative canonical is no address
        (
            '<link rel="canonical" href="8003098"><meta property="og:url" content="http://c.com/p">',
            "http://c.com/p",
        ),
        ('<link href="http://a.com/p" rel="canonical">', "http://a.com/p"),
        ('<link rel="alternate canonical" href=" http://a.com/p ">', "http://a.com/p"),
        ('<meta content="https://o.com/" property="og:url">', "https://o.com/"),
        ('<link rel="canonical" href="file:///usr/share/doc/x.html">', None),
        ('<link rel="alternate" href="http://a.com/feed">', None),
        ("", None),
    ],
)
def test_declared_url(head: str, url: str | None) -> None:
    assert declared_url(page("t", head)) == url


# ---- selection, duplicates, headers -------------------------------------------------------------


def test_select_pages_is_independent_of_input_order_and_sorted() -> None:
    paths = [f"text/module{i % 7}/page{i:04d}.html" for i in range(500)]
    chosen = select_pages(paths, 40)
    assert len(chosen) == 40 == len(set(chosen))
    assert chosen == sorted(chosen)
    assert select_pages(reversed(paths), 40) == chosen
    assert select_pages(paths + paths[:10], 40) == chosen  # repeats do not count twice
    assert set(select_pages(paths, 20)) < set(chosen)  # a smaller sample is a subset
    assert len({path.split("/")[1] for path in chosen}) == 7  # spread over the tree
    assert select_pages(paths[:5], 40) == sorted(paths[:5])


def test_exact_duplicates_groups_urls_in_page_order() -> None:
    def web(url: str, html: bytes) -> WebPage:
        return WebPage(url, html, "2026-01-01T00:00:00Z", "s", "en", ())

    pages = [web("u1", b"a"), web("u2", b"b"), web("u3", b"a"), web("u4", b"c"), web("u5", b"b")]
    pages.append(web("u6", b"a"))
    assert exact_duplicates(pages) == [("u1", "u3", "u6"), ("u2", "u5")]
    assert exact_duplicates(pages[:2]) == []


@pytest.mark.parametrize(
    ("html", "header"),
    [
        (b'<meta charset="UTF-8"><p>x</p>', "text/html; charset=utf-8"),
        (b'<meta content="text/html; charset=Shift_JIS">', "text/html; charset=shift_jis"),
        ("<p>Grüße</p>".encode(), "text/html; charset=utf-8"),  # no declaration, but UTF-8
        ("<p>Grüße</p>".encode("latin-1"), "text/html"),  # unknown: left to the reader
    ],
)
def test_content_type(html: bytes, header: str) -> None:
    assert content_type(html) == header


# ---- reading packages --------------------------------------------------------------------------


def python_doc_deb(directory: Path) -> Path:
    root = "usr/share/doc/python3.11/html/"
    files = {root + path: page(path) for path in PYTHON_DIRECTORY_INDEXES}
    files[root + "library/os.html"] = page("os")
    files[root + "library/huge.html"] = b"<p>" + b"x" * PYTHON_DOC_MAX_BYTES + b"</p>"
    files[root + "_static/pydoctheme.css"] = b"body {}"
    files["usr/share/doc/python3.11-doc/copyright"] = b"PSF"
    return make_deb(directory / "python3.11-doc_3.11.2-6+deb12u9_all.deb", files)


def test_python_doc_pages(tmp_path: Path) -> None:
    pages = python_doc_pages(python_doc_deb(tmp_path))
    base = "https://docs.python.org/3.11/"
    assert [p.url.removeprefix(base) for p in pages] == [
        "", "howto/", "howto/index.html", "index.html", "library/", "library/index.html",
        "library/os.html", "reference/", "reference/index.html", "tutorial/",
        "tutorial/index.html",
    ]  # fmt: skip
    assert {p.source for p in pages} == {"python3.11-doc=3.11.2-6+deb12u9"}
    assert {p.fetch_date for p in pages} == {"2026-05-28T20:26:40Z"}
    assert {p.language for p in pages} == {"en"}
    assert {p.headers for p in pages} == {(("Content-Type", "text/html; charset=utf-8"),)}
    assert len(exact_duplicates(pages)) == len(PYTHON_DIRECTORY_INDEXES)
    assert pages[0].html == pages[3].html == page("index.html")


def libreoffice_deb(directory: Path, package: str, topics: list[str]) -> Path:
    code = {"en-us": "en-US"}.get(package.rpartition("help-")[2], package.rpartition("-")[2])
    files = {f"usr/share/libreoffice/help/{code}/{t}": page(f"{code}/{t}") for t in topics}
    files[f"usr/share/libreoffice/help/{code}/noscript.html"] = page("noscript")
    files[f"usr/share/libreoffice/help/media/helpimg/{code}/x.png"] = b"PNG"
    return make_deb(directory / f"{package}_4%3a7.4.7-1+deb12u14_all.deb", files)


def test_libreoffice_pages_take_the_same_topics_in_every_language(tmp_path: Path) -> None:
    topics = [f"text/s{i % 5}/{i:08d}.html" for i in range(60)]
    english_deb = libreoffice_deb(tmp_path, "libreoffice-help-en-us", topics)
    english = libreoffice_pages(english_deb, "en", 9)
    german = libreoffice_pages(libreoffice_deb(tmp_path, "libreoffice-help-de", topics), "de", 9)
    assert len(english) == len(german) == 9
    assert [p.url.replace("/en-US/", "/de/") for p in english] == [p.url for p in german]
    assert [p.url for p in german] == sorted(p.url for p in german)
    first = german[0]
    assert first.url.startswith("https://help.libreoffice.org/7.4/de/text/s")
    assert first.url.removeprefix("https://help.libreoffice.org/7.4/de/") in topics
    assert first.html == page(first.url.removeprefix("https://help.libreoffice.org/7.4/"))
    assert (first.source, first.language) == ("libreoffice-help-de=4:7.4.7-1+deb12u14", "de")
    assert first.fetch_date == "2026-05-28T20:26:40Z"


def test_a_deb_without_help_pages_is_an_error(tmp_path: Path) -> None:
    deb = make_deb(tmp_path / "libreoffice-help-xx_1_all.deb", {"usr/share/doc/x": b"x"})
    with pytest.raises(ValueError, match="no help pages"):
        libreoffice_pages(deb, "xx", 3)
    (tmp_path / "not.deb").write_bytes(b"PK\x03\x04")
    with pytest.raises(ValueError, match="not a Debian package"):
        libreoffice_pages(tmp_path / "not.deb", "xx", 3)


SPEC = Sdist(
    "newsy",
    "1.0",
    "2026-07-19T16:46:30Z",
    (
        PackagedPage("tests/b.html", "de"),
        PackagedPage("tests/a.html.gz", "en"),
        PackagedPage("tests/c.html", "ja", "http://given.example/c"),
    ),
)


def make_sdist(directory: Path, spec: Sdist, files: dict[str, bytes]) -> Path:
    path = directory / f"{spec.name}-{spec.version}.tar.gz"
    path.write_bytes(_tar(files, "w:gz", f"{spec.name}-{spec.version}/"))
    return path


def test_sdist_pages_follow_the_spec(tmp_path: Path) -> None:
    files = {
        "tests/a.html.gz": gzip.compress(page("a", '<meta property="og:url" content="http://a/">')),
        "tests/b.html": page("b", '<link rel="canonical" href="https://b/x">'),
        "tests/c.html": page("c"),
        "tests/unused.html": page("u"),
    }
    pages = sdist_pages(make_sdist(tmp_path, SPEC, files), SPEC)
    assert [(p.url, p.language) for p in pages] == [
        ("https://b/x", "de"),
        ("http://a/", "en"),
        ("http://given.example/c", "ja"),
    ]
    assert pages[1].html == page("a", '<meta property="og:url" content="http://a/">')
    assert {(p.source, p.fetch_date) for p in pages} == {("newsy==1.0", "2026-07-19T16:46:30Z")}


def test_sdist_pages_missing_member_or_url_is_an_error(tmp_path: Path) -> None:
    archive = make_sdist(tmp_path, SPEC, {"tests/b.html": page("b")})
    with pytest.raises(ValueError, match=r"missing .*a\.html\.gz"):
        sdist_pages(archive, SPEC)
    files = {"tests/a.html.gz": gzip.compress(page("a")), "tests/b.html": page("b")}
    files["tests/c.html"] = page("c")
    with pytest.raises(ValueError, match="names no URL"):
        sdist_pages(make_sdist(tmp_path, SPEC, files), SPEC)


def pywb_wheel(directory: Path) -> Path:
    same = http("200 OK", "text/html", page("Example Domain"))
    iana = http("200 OK", "text/html", page("I"))
    warcs = {
        PYWB_FILES[0]: warc(
            ("http://www.iana.org/", "2014-01-26T20:06:24Z", iana),
            ("http://www.iana.org/a", "2014-01-26T20:06:30Z", http("302 Found", "text/html", b"")),
            ("http://www.iana.org/x.js", "2014-01-26T20:06:31Z", http("200 OK", "text/js", b"1")),
        ),
        PYWB_FILES[1]: warc(("http://example.com?x=1", "2014-01-03T03:03:21Z", same)),
        PYWB_FILES[2]: warc(("http://example.com/", "2014-02-16T01:29:08Z", same)),
        PYWB_FILES[3]: warc(("http://example.iana.org/", "2013-07-02T19:54:02Z", same)),
    }
    path = directory / "pywb-2.10.0-py2.py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in warcs.items():
            zf.writestr(PYWB_WARCS + name, content)
    return path


def test_warc_pages_keep_html_answered_200_as_recorded(tmp_path: Path) -> None:
    pages = warc_pages(pywb_wheel(tmp_path))
    assert [(p.url, p.fetch_date) for p in pages] == [
        ("http://www.iana.org/", "2014-01-26T20:06:24Z"),
        ("http://example.com?x=1", "2014-01-03T03:03:21Z"),
        ("http://example.com/", "2014-02-16T01:29:08Z"),
        ("http://example.iana.org/", "2013-07-02T19:54:02Z"),
    ]
    assert pages[0].html == page("I")
    # the recorded headers, less the framing (the body is written whole and decoded)
    assert pages[0].headers == (("Server", "Apache"), ("Content-Type", "text/html"))
    assert {(p.source, p.language) for p in pages} == {("pywb==2.10.0", "en")}
    assert exact_duplicates(pages) == [tuple(p.url for p in pages[1:])]


# ---- the cache and the whole collection ------------------------------------------------------


def fake_cache(cache: Path) -> Path:
    """Every package `collect_pages` reads, tiny, already downloaded."""
    cache.mkdir()
    python_doc_deb(cache)
    for package in LIBREOFFICE_HELP:
        libreoffice_deb(cache, package, [f"text/m/{i}.html" for i in range(400)])
    for spec in SDISTS:
        files = {}
        for item in spec.pages:
            url = f"https://{spec.name}/{item.member}"
            html = page(item.member, f'<link rel="canonical" href="{url}">')
            files[item.member] = gzip.compress(html) if item.member.endswith(".gz") else html
        make_sdist(cache, spec, files)
    pywb_wheel(cache)
    return cache


def test_collect_pages_uses_the_cache_only_and_is_deterministic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = fake_cache(tmp_path / "cache")

    def no_download(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"downloaded although cached: {args}")

    monkeypatch.setattr(webpages.subprocess, "run", no_download)
    pages = collect_pages(cache)
    assert collect_pages(cache) == pages
    sources = [p.source.split("=")[0] for p in pages]
    expected = ["python3.11-doc", *LIBREOFFICE_HELP, *(s.name for s in SDISTS), "pywb"]
    assert list(dict.fromkeys(sources)) == expected
    per_language = webpages.LIBREOFFICE_PAGES_PER_LANGUAGE
    assert all(sources.count(package) == per_language for package in LIBREOFFICE_HELP)
    assert [p.url for p in pages if p.source.startswith("newspaper4k")][:2] == [
        "http://hosted.ap.org/dynamic/fronts/HOME?SITE=AP&SECTION=HOME",  # given in SDISTS
        "https://newspaper4k/tests/data/html/arabic_article.html",  # its own canonical
    ]
    assert len(exact_duplicates(pages)) == len(PYTHON_DIRECTORY_INDEXES) + 1


def test_fetch_deb_refuses_an_ambiguous_cache(tmp_path: Path) -> None:
    for version in ("1", "2"):
        (tmp_path / f"python3.11-doc_{version}_all.deb").write_bytes(b"")
    with pytest.raises(SystemExit, match=r"expected one python3\.11-doc"):
        fetch_deb("python3.11-doc", tmp_path)


def test_fetch_deb_without_package_lists_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Failed:
        returncode, stderr = 100, "E: Unable to locate package"

    monkeypatch.setattr(webpages.shutil, "which", lambda _: "/usr/bin/apt-get")
    monkeypatch.setattr(webpages.subprocess, "run", lambda *a, **k: Failed())
    monkeypatch.setattr(webpages.os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit, match=r"run `sudo apt-get update`"):
        fetch_deb("libreoffice-help-de", tmp_path)
