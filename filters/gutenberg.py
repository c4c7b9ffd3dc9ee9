"""Project Gutenberg's licence header and footer, cut from a book's text (docs/recipe/books.md,
rule 1).

The boilerplate took several forms over the years, all recognised here, case-insensitively, at
the start of a line (leading spaces and extra asterisks tolerated):

- the header ends at a start marker: "*** START OF THE/THIS PROJECT GUTENBERG EBOOK <TITLE> ***"
  (2000s on; "***START OF", "START OF THE COPYRIGHTED PROJECT GUTENBERG" too), or the last line of
  the 1990s legal "small print", "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.…*END*"
  ("*END THE SMALL PRINT", "ENDTHE SMALL PRINT"). When a file holds several, within its first
  HEAD_WINDOW characters and before its footer, the header ends at the last of them.
- an old etext with no start marker but an opening "The Project Gutenberg Etext of …" (or
  "EBook of", "Project Gutenberg's Etext of") has a header ending at its producer's credit
  ("This etext was prepared by …") when one lies in the first HEAD_WINDOW characters; with no
  credit there, where its header ends is unknown and it is left alone.
- the producer's credit that follows the start marker, "Produced by …", "This etext was prepared
  by …", "E-text prepared by …", "Transcribed from the … edition by …", is the volunteers', not
  the author's: its paragraph (to the next blank line) is cut with the header, as many times as
  such paragraphs follow each other. Since 2020 the credit sits in the header ("Credits: …").
- the footer starts at the first end marker after the header: "*** END OF THE/THIS PROJECT
  GUTENBERG EBOOK", "***END OF THE PROJECT GUTENBERG EBOOK", "End of the Project Gutenberg EBook
  of …", "End of Project Gutenberg's …", "End of this Project Gutenberg Etext", German "Ende
  dieses Projekt Gutenberg", or, where the end marker is missing, the full licence itself ("START:
  FULL LICENSE", "THE FULL PROJECT GUTENBERG LICENSE", "Section 1. General Terms of Use and
  Redistributing Project Gutenberg", the 1990s "***START**THE SMALL PRINT!" when it trails).

A line that merely mentions Project Gutenberg is book text. CRLF becomes LF, and the body's
leading and trailing blank lines are trimmed; nothing else of it changes. A text with no marker
at all is returned as it came, unchanged, with header_found and footer_found False: the caller
counts it. Every pattern is anchored at a line start and free of nested repetition, so a text is
scanned in linear time (a 200 MB text in seconds).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_WINDOW = 100_000  # characters: the longest 1990s headers (intro and small print) are ~30 KB
CREDIT_LIMIT = 2_000  # characters: a credit paragraph is a few lines

_FLAGS = re.IGNORECASE | re.MULTILINE
_SP = r"[ \t]+"
_PG = rf"PROJE[CK]T{_SP}GUTENBERG"
_START = re.compile(
    r"^[ \t]*(?:"
    rf"\*+[ \t]*START{_SP}OF{_SP}(?:THE{_SP}|THIS{_SP})?(?:COPYRIGHTED{_SP})?{_PG}"
    rf"|\**[ \t]*END[ \t*]*THE{_SP}SMALL{_SP}PRINT"
    r")[^\n]*",
    _FLAGS,
)
_END = re.compile(
    r"^[ \t]*(?:"
    rf"\**[ \t]*END{_SP}OF{_SP}(?:THE{_SP}|THIS{_SP})?(?:COPYRIGHTED{_SP})?{_PG}"
    rf"|ENDE{_SP}DIESES{_SP}{_PG}"
    rf"|\**[ \t]*START:[ \t]*FULL{_SP}LICEN[CS]E"
    rf"|THE{_SP}FULL{_SP}{_PG}(?:-tm)?{_SP}LICEN[CS]E"
    rf"|SECTION{_SP}1\.{_SP}GENERAL{_SP}TERMS{_SP}OF{_SP}USE{_SP}AND{_SP}REDISTRIBUTING{_SP}{_PG}"
    rf"|\**[ \t]*START\**[ \t]*THE{_SP}SMALL{_SP}PRINT"
    r")",
    _FLAGS,
)
_CREDIT = re.compile(
    r"^[ \t]*(?:"
    rf"PRODUCED{_SP}BY|TRANSCRIBED{_SP}(?:BY|FROM){_SP}|E-?TEXT{_SP}PREPARED{_SP}BY"
    rf"|THIS{_SP}(?:{_PG}{_SP})?(?:E-?TEXT|E-?BOOK){_SP}WAS{_SP}(?:PREPARED|PRODUCED){_SP}BY"
    r")",
    _FLAGS,
)
_NON_SPACE = re.compile(r"\S")
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_FIELD = re.compile(r"^(Title|Author|Release Date|Language):[ \t]*(.*)$", _FLAGS)
_CONTINUATION = re.compile(r"\n[ \t]+(\S[^\n]*)")
_EBOOK_NUMBER = re.compile(r"\[\s*E-?(?:BOOK|TEXT)\s*#\s*(\d+)\s*\]", re.IGNORECASE)
_OPENING = re.compile(  # the first line of an old header: "The Project Gutenberg Etext of …"
    rf"[\s*\ufeff]*(?:THIS{_SP}IS{_SP})?(?:THE{_SP})?{_PG}(?:'s)?{_SP}(?:E-?BOOK|E-?TEXT){_SP}OF{_SP}"
    r"([^\n]*)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class StrippedBook:
    text: str
    header_found: bool
    footer_found: bool
    title: str | None = None  # metadata read from the header, when it has them
    author: str | None = None
    release_date: str | None = None  # Gutenberg's release, not the book's publication
    ebook_number: int | None = None
    language: str | None = None


def strip_gutenberg(text: str) -> StrippedBook:
    """`text` without Project Gutenberg's header, producer's credit and footer."""
    source = text.replace("\r\n", "\n") if "\r" in text else text
    head = _header_end(source)
    end = _END.search(source, head or 0)
    if head is None and end is None:
        return StrippedBook(text, False, False)
    start = _skip_credits(source, head) if head is not None else 0
    body = _trim(source, start, end.start() if end else len(source))
    if head is None:
        return StrippedBook(body, False, True)
    return StrippedBook(body, True, end is not None, **_metadata(source[:head]))


def _header_end(text: str) -> int | None:
    """Where the header ends (after its last marker line), or None when there is none."""
    found = None
    for match in _START.finditer(text, 0, HEAD_WINDOW):
        if found is not None and _END.search(text, found, match.start()):
            break  # a marker after a footer (a trailing small print) ends no header
        found = _marker_line_end(text, match.end())
    if found is not None:
        return found
    if not _OPENING.match(text):
        return None
    credit = _CREDIT.search(text, 0, HEAD_WINDOW)
    return None if credit is None else _paragraph_end(text, credit.start())


def _marker_line_end(text: str, line_end: int) -> int:
    """After the marker's line and its newline; a long title can push the closing "***" onto
    the next line, which then belongs to the marker."""
    if text[text.rfind("\n", 0, line_end) + 1 : line_end].rstrip().endswith("*"):
        return min(line_end + 1, len(text))
    nxt = text.find("\n", line_end + 1)
    nxt = len(text) if nxt < 0 else nxt
    following = text[line_end + 1 : nxt].rstrip()
    if following.endswith("***") and not following.lstrip().startswith("*"):
        return min(nxt + 1, len(text))
    return min(line_end + 1, len(text))


def _paragraph_end(text: str, start: int) -> int | None:
    """After the paragraph at `start`; None when it runs past CREDIT_LIMIT characters, longer
    than any credit, so that no book text goes with it."""
    blank = _BLANK_LINE.search(text, start, start + CREDIT_LIMIT)
    if blank is not None:
        return blank.start() + 1
    return len(text) if len(text) - start <= CREDIT_LIMIT else None


def _skip_credits(text: str, pos: int) -> int:
    """Past the producer's credit paragraphs that come first after the header."""
    while (first := _NON_SPACE.search(text, pos)) is not None:
        line_start = text.rfind("\n", pos, first.start()) + 1 or pos
        end = _paragraph_end(text, line_start) if _CREDIT.match(text, line_start) else None
        if end is None:
            break
        pos = end
    return pos


def _trim(text: str, start: int, end: int) -> str:
    """text[start:end] from its first non-blank line to the end of its last one."""
    first = _NON_SPACE.search(text, start, end)
    if first is None:
        return ""
    begin = text.rfind("\n", start, first.start()) + 1 or start
    last = end - 1
    while text[last].isspace():
        last -= 1
    stop = text.find("\n", last, end)
    return text[begin : end if stop < 0 else stop]


def _metadata(header: str) -> dict[str, str | int | None]:
    """Title, author, release date, ebook number and language named by the header: its
    "Title:"-style fields (a field's indented continuation lines joined with spaces), else the
    opening line "The Project Gutenberg EBook of <title>, by <author>"."""
    fields: dict[str, str] = {}
    for match in _FIELD.finditer(header):
        value = match.group(2).strip()
        pos = match.end()
        while (more := _CONTINUATION.match(header, pos)) is not None:
            value, pos = f"{value} {more.group(1).strip()}", more.end()
        fields.setdefault(match.group(1).lower(), value)
    title, author = fields.get("title") or None, fields.get("author") or None
    opening = _OPENING.match(header)
    if title is None and opening is not None:
        words = opening.group(1).strip().strip("*").strip()
        named, by, who = words.rpartition(", by ")
        title, author = (named, author or who) if by else (words, author)
    number = _EBOOK_NUMBER.search(header)
    release = fields.get("release date", "").split("[")[0].strip()
    return {
        "title": title or None,
        "author": author or None,
        "release_date": release or None,
        "ebook_number": int(number.group(1)) if number else None,
        "language": fields.get("language") or None,
    }
