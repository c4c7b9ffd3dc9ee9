"""StackExchange post bodies (HTML) as plain text.

RedPajama turned `<li>` and `<ol>` into "\\n*" and called BeautifulSoup's get_text(), so
paragraphs and code blocks ran into the surrounding text. Here blocks stay apart: paragraphs by a
blank line, code blocks verbatim, list items as `* ` lines (indented by nesting), quotes as `> `
lines.

The stdlib `html.parser` is used rather than lxml.html: it is one linear pass of events with no
tree and no nesting limit, it never raises on broken markup (unclosed or stray tags), and it
decodes entities itself (`convert_charrefs`).
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

BLOCKS = frozenset(
    {"p", "div", "blockquote", "pre", "ul", "ol", "table", "hr", "dl", "h1", "h2", "h3", "h4"}
    | {"h5", "h6", "section", "article", "header", "footer", "figure", "details"}
)
LINES = frozenset({"li", "tr", "dt", "dd", "summary"})
CELLS = frozenset({"td", "th"})
SKIPPED = frozenset({"script", "style", "template"})
LISTS = frozenset({"ul", "ol"})
_SPACE = re.compile(r"\s+")


_ANY_TAG = re.compile(r"<[^>]*>")


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.line: list[str] = []  # the line being written; its first piece is the prefix
        self.gap = 0  # line ends owed before the next text: 1 a new line, 2 a blank line too
        self.quote = 0  # blockquote depth
        self.last_quote = 0  # quote depth of the last line written
        self.lists = 0  # list depth
        self.bullet = False  # the next line starts a list item
        self.pre: list[str] | None = None  # text of the open <pre>, kept verbatim
        self.pre_depth = 0
        self.skip = 0

    # ---- writing -------------------------------------------------------------------------------

    def _prefix(self) -> str:
        quote = "> " * self.quote
        if not self.lists:
            return quote
        if self.bullet:
            self.bullet = False
            return quote + "  " * (self.lists - 1) + "* "
        return quote + "  " * self.lists

    def _end_line(self) -> None:
        if self.line:
            self.lines.append("".join(self.line).rstrip())
            self.line = []
            self.last_quote = self.quote

    def _ask_gap(self, n: int) -> None:
        self._end_line()
        self.gap = max(self.gap, min(n, 1) if self.lists else n)

    def _start_line(self) -> None:
        if self.lines and self.gap == 2:
            self.lines.append(("> " * min(self.quote, self.last_quote)).rstrip())
        self.gap = 0
        self.line = [self._prefix()]

    def _write(self, text: str) -> None:
        if not self.line:
            text = text.lstrip()
            if not text:
                return
            self._start_line()
        elif text.startswith(" ") and self.line[-1].endswith(" "):
            text = text[1:]
        self.line.append(text)

    def _write_block(self, text: str) -> None:
        """A code block: every line as it is, blank ones included, under the current prefix."""
        text = text.removeprefix("\r").removeprefix("\n").rstrip("\r\n")
        if not text.strip():
            return
        self._ask_gap(2)
        for line in text.split("\n"):
            self._start_line()
            self.line.append(line.rstrip("\r"))
            written = "".join(self.line)
            self.lines.append(written if line.strip() else written.rstrip())
            self.line = []
            self.last_quote = self.quote
        self._ask_gap(2)

    # ---- parser events -------------------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED:
            self.skip += 1
        elif tag == "pre":
            self.pre_depth += 1
            if self.pre is None:
                self.pre = []
        elif self.pre is not None:
            return
        elif tag == "br":
            if not self.line:  # an empty line of its own
                self._start_line()
            self._end_line()
        elif tag in BLOCKS:
            self._ask_gap(2)
            self.quote += tag == "blockquote"
            self.lists += tag in LISTS
        elif tag in LINES:
            self._ask_gap(1)
            self.bullet = tag == "li" and self.lists > 0
        elif tag in CELLS and self.line:
            self._write(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("br", "hr"):
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED:
            self.skip = max(0, self.skip - 1)
        elif tag == "pre":
            self.pre_depth = max(0, self.pre_depth - 1)
            if self.pre is not None and not self.pre_depth:
                text, self.pre = "".join(self.pre), None
                self._write_block(text)
        elif self.pre is not None:
            return
        elif tag in BLOCKS:
            self.quote -= tag == "blockquote" and self.quote > 0
            self.lists -= tag in LISTS and self.lists > 0
            self._ask_gap(2)
        elif tag in LINES:
            self._ask_gap(1)

    def handle_data(self, data: str) -> None:
        if self.skip:
            return
        if self.pre is not None:
            self.pre.append(data)
        else:
            self._write(_SPACE.sub(" ", data))

    def text(self) -> str:
        if self.pre is not None:  # a <pre> left open: its text still counts
            text, self.pre = "".join(self.pre), None
            self._write_block(text)
        self._end_line()
        return "\n".join(self.lines).strip("\n")


def html_to_text(html: str) -> str:
    """The text of a post body: blocks apart, code verbatim, lists as `* ` lines.

    `<![` opens no section in HTML (CDATA only in SVG/MathML, which posts do not hold), but
    the standard parser asserts on most such openings (`<![--`): it is read as text. Should the
    parser still give up on a body, its tags are stripped and its entities decoded instead, so a
    hostile post costs its formatting, never the run."""
    parser = _Text()
    try:
        parser.feed(html.replace("<![", "&lt;!["))
        parser.close()
    except (AssertionError, ValueError):
        return unescape(_ANY_TAG.sub(" ", html)).strip()
    return parser.text()
