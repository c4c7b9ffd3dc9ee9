"""URL canonicalisation: a URL cited on Wikipedia and the crawled page's URL must compare equal.

Used on both sides of the Wikipedia-reference classifier (docs/recipe/commoncrawl.md): the positives
are CommonCrawl pages whose URL a Wikipedia article cites, and the two spellings of one address
differ in ways that do not change the page (scheme, ``www.``, default port, tracking parameters,
escaping).
"""

from __future__ import annotations

import re
from contextlib import suppress
from urllib.parse import urlsplit

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# A percent escape, or a character that is never written raw in a URL (space, control, non-ASCII).
_ESCAPE_OR_RAW = re.compile(r"%([0-9A-Fa-f]{2})|[^\x21-\x7e]")
_DEFAULT_PORT = {"http": 80, "https": 443}
_TRACKING = frozenset({"fbclid", "gclid"})
_BAD_HOST = re.compile(r"[\s/\\?#<>\"'{}|^`%]")


def _escape(match: re.Match[str]) -> str:
    hexa = match.group(1)
    if hexa is None:  # wikitext cites "…/Über", the crawler records "…/%C3%9Cber"
        return "".join(f"%{b:02X}" for b in match.group().encode("utf-8"))
    char = chr(int(hexa, 16))
    return char if char in _UNRESERVED else f"%{hexa.upper()}"


def _normalize_escapes(part: str) -> str:
    """RFC 3986 §6.2.2 (decode escaped unreserved characters, upper-case the other escapes), and
    UTF-8 escapes for raw spaces and non-ASCII, so both spellings of one path meet."""
    return _ESCAPE_OR_RAW.sub(_escape, part)


def _host(host: str) -> str:
    """Lower case, Unicode form of IDNA ("xn--") labels, no trailing dot, no leading www."""
    host = host.lower().rstrip(".")
    if "xn--" in host:
        labels = []
        for label in host.split("."):
            if label.startswith("xn--"):
                with suppress(UnicodeError):  # not valid punycode: keep it as written
                    label = label.encode("ascii").decode("idna").lower()
            labels.append(label)
        host = ".".join(labels)
    if host.startswith("www.") and "." in host[4:]:  # not the "www" of "www.com"
        host = host[4:]
    return host


def _query(query: str) -> str:
    kept = []
    for param in query.split("&"):
        if not param:
            continue
        name = param.partition("=")[0].lower()
        if name.startswith("utm_") or name in _TRACKING:
            continue
        kept.append(_normalize_escapes(param))
    return "&".join(kept)


def normalize_url(url: str) -> str | None:
    """A canonical form so that a cited URL and the crawled page's URL compare equal; None if not an
    http(s) URL.

    The result is ``host[:port]/path[?query]`` with the scheme dropped (http and https name the same
    page for this purpose), e.g. ``https://www.Example.com:443/a/b/?x=1&utm_source=t#top`` ->
    ``example.com/a/b?x=1``.
    """
    url = url.strip()
    if url.startswith("//"):  # protocol-relative, as wikitext often writes them
        url = "http:" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        return None
    hostport = parts.netloc.rpartition("@")[2]  # drop user:password@
    if hostport.startswith("["):  # IPv6 literal
        end = hostport.find("]")
        if end < 0:
            return None
        host, port = hostport[: end + 1], hostport[end + 1 :].removeprefix(":")
    else:
        host, _, port = hostport.partition(":")
    host = _host(host)
    if not host or _BAD_HOST.search(host):
        return None
    if port:
        if not port.isascii() or not port.isdigit() or int(port) > 65535:
            return None
        port = "" if int(port) == _DEFAULT_PORT[scheme] else f":{int(port)}"
    path = _normalize_escapes(parts.path).rstrip("/")
    query = _query(parts.query) if parts.query else ""
    return f"{host}{port}{path}?{query}" if query else f"{host}{port}{path}"
