"""URL canonicalisation: each rule, and the pairs that must (and must not) compare equal."""

from __future__ import annotations

import pytest

from filters.urls import normalize_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # scheme dropped, host lower-cased, www. and default port removed, trailing / removed
        ("https://www.Example.com:443/a/b/?x=1&utm_source=t#top", "example.com/a/b?x=1"),
        ("http://example.com", "example.com"),
        ("HTTP://EXAMPLE.COM:80/", "example.com"),
        ("  https://example.com/a//  \n", "example.com/a"),
        ("http://example.com./a", "example.com/a"),
        ("http://www2.example.com/", "www2.example.com"),
        ("http://www.www.example.com/", "www.example.com"),
        ("http://www.com/", "www.com"),
        # non-default ports stay; a default port of the other scheme is not a default
        ("http://example.com:8080/a", "example.com:8080/a"),
        ("https://example.com:80/", "example.com:80"),
        ("http://example.com:0443/", "example.com:443"),
        ("http://example.com:/a", "example.com/a"),
        # userinfo and fragment removed; the path is case-sensitive
        ("http://user:secret@Example.com/Path/Case#frag", "example.com/Path/Case"),
        # protocol-relative is taken as http
        ("//www.example.org/p", "example.org/p"),
        # tracking parameters removed, the others kept in order
        ("http://e.com/?b=2&utm_medium=x&a=1&fbclid=y&UTM_Campaign=z&gclid=w&c", "e.com?b=2&a=1&c"),
        ("http://e.com/p?utm_source=x&fbclid=y", "e.com/p"),
        ("http://e.com/p?", "e.com/p"),
        ("http://e.com/p?a=1&&b=2", "e.com/p?a=1&b=2"),
        # escapes: unreserved decoded, others upper-cased, raw non-ASCII and spaces escaped
        ("http://e.com/%7Euser/a%2db%2Fc%3f", "e.com/~user/a-b%2Fc%3F"),
        ("http://e.com/wiki/%c3%9cber", "e.com/wiki/%C3%9Cber"),
        ("http://e.com/wiki/Über uns", "e.com/wiki/%C3%9Cber%20uns"),
        ("http://e.com/s?q=%7e%20x", "e.com/s?q=~%20x"),
        # IDNA: punycode decoded, Unicode hosts kept in lower case
        ("http://xn--bcher-kva.example/", "bücher.example"),
        ("http://www.Bücher.Example/", "bücher.example"),
        ("http://пример.РФ/", "пример.рф"),
        # IPv6 literal
        ("http://[2001:DB8::1]:8080/x", "[2001:db8::1]:8080/x"),
        ("http://[::1]/", "[::1]"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "mailto:someone@example.com",
        "ftp://example.com/file",
        "javascript:alert(1)",
        "news:comp.lang.python",
        "example.com/no-scheme",
        "http://",
        "http:///path",
        "http:example.com",
        "https://user@/x",
        "http://[::1/x",
        "http://example.com:http/",
        "http://example.com:65536/",
        "http://exa mple.com/",
        "http://a%20b.com/",
    ],
)
def test_not_an_http_url(url: str) -> None:
    assert normalize_url(url) is None


@pytest.mark.parametrize(
    ("cited", "crawled"),
    [
        ("http://www.nytimes.com/2004/12/01/a.html", "https://nytimes.com/2004/12/01/a.html"),
        ("https://en.example.org/Über?utm_source=wiki", "http://EN.example.org:80/%C3%9Cber"),
        ("//example.com/a/", "https://www.example.com/a#section"),
    ],
)
def test_cited_and_crawled_spellings_compare_equal(cited: str, crawled: str) -> None:
    assert normalize_url(cited) == normalize_url(crawled) is not None


def test_different_pages_stay_different() -> None:
    urls = [
        "http://example.com/a",
        "http://example.com/A",
        "http://example.com/a?x=1",
        "http://example.com/a?x=2",
        "http://example.com:8080/a",
        "http://sub.example.com/a",
        "http://example.com/a%2Fb",
        "http://example.com/a/b",
    ]
    assert len({normalize_url(u) for u in urls}) == len(urls)
