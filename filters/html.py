"""HTML to plain text the way Common Crawl's WET files hold it: the WARC→WET step.

This is *not* a main-content extractor. Every visible text node is kept, navigation, headers,
footers and cookie banners included, because CCNet's line dedup (docs/recipe/commoncrawl.md §2) is
what removes that boilerplate later, and it can only do so if the text looks like real WET text.
Script, style, noscript and template content is dropped, as are form controls (their labels are UI,
not prose) and image alt texts (not rendered). Each block element becomes one line with its
whitespace collapsed; empty lines are dropped. CSS is not evaluated: text hidden by a class or
inline style is kept, as a crawler without a renderer sees it.

Bytes are decoded as a browser would, in the HTML standard's order: byte-order mark, then the
transport charset (``encoding_hint``, e.g. from the HTTP Content-Type), then ``<meta charset>``,
then detection. Undecodable bytes become U+FFFD; no input makes this raise.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.encoding import detect_encoding, map_encoding_to_html5
from resiliparse.parse.html import HTMLTree

# The HTML standard's prescan looks at the first 1024 bytes; both <meta charset="x"> and
# <meta http-equiv="Content-Type" content="text/html; charset=x"> carry "charset=".
_PRESCAN_BYTES = 1024
_META_CHARSET = re.compile(rb"<meta[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:+-]+)", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """``title`` is the <title> text ("" if none); ``text`` is the page, one line per block."""

    title: str
    text: str


def _known(label: str | None) -> str | None:
    """The WHATWG-mapped Python codec for a charset label, or None for a label the WHATWG list
    lacks (e.g. "latin-1"): browsers ignore those, where the mapping would answer UTF-8."""
    if not label:
        return None
    try:
        python_name = codecs.lookup(label).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    mapped = map_encoding_to_html5(label)
    return None if mapped == "utf-8" and python_name != "utf-8" else mapped


def meta_charset(data: bytes) -> str | None:
    """The charset label a page declares in a <meta> of its first 1024 bytes, as written."""
    found = _META_CHARSET.search(data, 0, _PRESCAN_BYTES)
    return found.group(1).decode("ascii") if found else None


def _encoding(data: bytes, encoding_hint: str | None) -> tuple[str, int]:
    """The codec to decode ``data`` with, and how many leading BOM bytes to skip."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, len(bom)
    hinted = _known(encoding_hint)
    if hinted:
        return hinted, 0
    declared = _known(meta_charset(data))
    if declared:
        # A page that could be read to find the <meta> is not UTF-16 (the standard's rule).
        return ("utf-8" if declared.startswith("utf-16") else declared), 0
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return detect_encoding(data), 0
    return "utf-8", 0  # most of the web, and every ASCII page


def decode_html(data: bytes, *, encoding_hint: str | None = None) -> str:
    """``data`` as text, never raising: bytes invalid in the chosen encoding become U+FFFD."""
    encoding, skip = _encoding(data, encoding_hint)
    return data[skip:].decode(encoding, errors="replace")


def html_to_text(html: bytes | str, *, encoding_hint: str | None = None) -> ExtractedText:
    """The page's title and its visible text as a WET record holds it (see the module notes)."""
    if isinstance(html, bytes):
        html = decode_html(html, encoding_hint=encoding_hint)
    try:
        tree = HTMLTree.parse(html)
    except UnicodeEncodeError:  # lone surrogates, e.g. from a "surrogateescape" decode
        tree = HTMLTree.parse(html.encode("utf-8", "replace").decode("utf-8"))
    raw = extract_plain_text(tree, preserve_formatting=True, list_bullets=False, alt_texts=False)
    lines = (" ".join(line.split()) for line in raw.splitlines())
    title = " ".join((tree.title or "").split())
    return ExtractedText(title=title, text="\n".join(line for line in lines if line))
