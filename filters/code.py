"""LLaMA-1's GitHub rules for one source file, without Beam (docs/recipe/github.md).

`HeaderFilter` cleans a file (its licence header goes, `strip_header`), `CodeFilter` then applies
RedPajama-v1's quality rules (data_prep/github) to the cleaned text. The header rule fixes
RedPajama's `clean_copyright_comments`, which cut the first `/* */` block *anywhere* in a file
when it mentioned "copyright", deleted leading `#include`/`#define` lines and shebangs as if they
were comments, and kept a `// Copyright` header whenever a `/* */` comment existed further down.

Header rule: only the top of the file is looked at. Shebang, encoding declarations
(`-*- coding: -*-`, `vim: fileencoding=`, `coding=`), `<?xml ?>`, `<!DOCTYPE>` and `<?php` lines
are kept and skipped over, then each comment block in turn (a run of line comments, or one
block comment whose closing line holds nothing else) is removed while it reads as a licence
(`_LICENCE`), together with the blank lines after it. The first block that is not a licence
(documentation), or the first line of code, ends the header. A Python module docstring counts
as a block: it is a plain string statement, so removing a licence docstring changes nothing
but `__doc__`; it is only taken when its closing quotes are found and nothing follows them on
their line. Comment syntax is the file's language's (`#` is no comment in C, so `#include` and
`#define` end a header there); a path of unknown language gets every style, with C
preprocessor lines excluded. Everything is one forward scan: linear in the size of the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

from filters.base import KEEP, Decision, Filter

# RedPajama's whitelist verbatim, in its order: 66 entries,
# matched as a case-sensitive suffix (str.endswith).
EXTENSIONS: Final[tuple[str, ...]] = (
    ".asm", ".bat", ".cmd", ".c", ".h", ".cs", ".cpp", ".hpp", ".c++", ".h++", ".cc", ".hh",
    ".C", ".H", ".cmake", ".css", ".dockerfile", ".f90", ".f", ".f03", ".f08", ".f77", ".f95",
    ".for", ".fpp", ".go", ".hs", ".html", ".java", ".js", ".jl", ".lua", ".md", ".markdown",
    ".php", ".php3", ".php4", ".php5", ".phps", ".phpt", ".pl", ".pm", ".pod", ".perl", ".ps1",
    ".psd1", ".psm1", ".py", ".rb", ".rs", ".sql", ".scala", ".sh", ".bash", ".command", ".zsh",
    ".ts", ".tsx", ".tex", ".vb", "Dockerfile", "Makefile", ".xml", ".rst", ".m", ".smali",
)  # fmt: skip

_LANGUAGE_OF: Final[dict[str, str]] = {
    ".asm": "Assembly", ".bat": "Batchfile", ".cmd": "Batchfile", ".c": "C", ".h": "C",
    ".cs": "C#", ".cpp": "C++", ".hpp": "C++", ".c++": "C++", ".h++": "C++", ".cc": "C++",
    ".hh": "C++", ".C": "C++", ".H": "C++", ".cmake": "CMake", ".css": "CSS",
    ".dockerfile": "Dockerfile", ".f90": "Fortran", ".f": "Fortran", ".f03": "Fortran",
    ".f08": "Fortran", ".f77": "Fortran", ".f95": "Fortran", ".for": "Fortran", ".fpp": "Fortran",
    ".go": "Go", ".hs": "Haskell", ".html": "HTML", ".java": "Java", ".js": "JavaScript",
    ".jl": "Julia", ".lua": "Lua", ".md": "Markdown", ".markdown": "Markdown", ".php": "PHP",
    ".php3": "PHP", ".php4": "PHP", ".php5": "PHP", ".phps": "PHP", ".phpt": "PHP",
    ".pl": "Perl", ".pm": "Perl", ".pod": "Perl", ".perl": "Perl", ".ps1": "PowerShell",
    ".psd1": "PowerShell", ".psm1": "PowerShell", ".py": "Python", ".rb": "Ruby", ".rs": "Rust",
    ".sql": "SQL", ".scala": "Scala", ".sh": "Shell", ".bash": "Shell", ".command": "Shell",
    ".zsh": "Shell", ".ts": "TypeScript", ".tsx": "TypeScript", ".tex": "TeX",
    ".vb": "Visual Basic", "Dockerfile": "Dockerfile", "Makefile": "Makefile", ".xml": "XML",
    ".rst": "reStructuredText",
    # GitHub's own statistics put most `.m` files in Objective-C, the rest in MATLAB.
    ".m": "Objective-C", ".smali": "Smali",
}  # fmt: skip
# Longest first, so ".phps" is not taken for a shorter suffix of it.
_BY_LENGTH: Final = sorted(_LANGUAGE_OF, key=len, reverse=True)


def language_of(path: str) -> str | None:
    """The language of a whitelisted path, None for any other."""
    for suffix in _BY_LENGTH:
        if path.endswith(suffix):
            return _LANGUAGE_OF[suffix]
    return None


# Certificates, and licence files themselves (in any directory): the licence decides the
# repository, it is no training text. RedPajama skipped only the exact path "LICENSE".
_SKIPPED_PATH: Final = re.compile(
    r"(?:^|/)(?:(?:UN)?LICEN[CS]E|COPYING(?:\.LESSER|\.LIB)?)(?:[-_.][^/]*)?$|\.crt$",
    re.IGNORECASE,
)


def is_skipped_path(path: str) -> bool:
    """Certificates and licence texts; "license.py" or "copying.c" are code, not skipped."""
    if _SKIPPED_PATH.search(path) is None:
        return False
    return path.endswith(".crt") or language_of(path) in (None, "Markdown", "reStructuredText")


# What makes a comment a licence header rather than documentation.
_LICENCE: Final = re.compile(
    r"copyright|©|licen[cs]|spdx-license-identifier|all rights reserved|permission is hereby"
    r"|redistribution and use|public domain|warrant",
    re.IGNORECASE,
)
# Encoding declarations and editor mode lines (Emacs `-*- ... -*-`, vim modelines).
_ENCODING: Final = re.compile(
    r"[ \t\f]*#.*?coding[:=]|.*-\*-.*-\*-|.*\bvim?:.*(?:set|fileencoding)"
)
_KEPT_DECLARATION: Final = re.compile(r"\s*(?:<\?xml\b.*\?>|<!DOCTYPE\b|<\?php\s*$)", re.IGNORECASE)
_MAX_DECLARATION: Final = 1000  # longer lines are no declarations: bounds the regexes' work
_CPP_DIRECTIVE: Final = re.compile(
    r"\s*#\s*(?:include|define|undef|ifn?def|if|elif|else|endif|pragma|error|warning|line|import)\b"
)

# Comment styles: a line style is a prefix every line of a run starts with (after indentation),
# a block style an (opening, closing) pair. "not_line" prefixes start no comment run: Rust and
# C# `///`/`//!` doc comments, Haskell `{-#` pragmas, PHP `#[attributes]`.
_C: Final = (("//",), (("/*", "*/"),))
_HASH: Final = (("#",), ())
_STYLES: Final[dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]] = {
    "C": _C, "C++": _C, "C#": _C, "Java": _C, "JavaScript": _C, "TypeScript": _C, "Go": _C,
    "Rust": _C, "Scala": _C, "Objective-C": _C,
    "CSS": ((), (("/*", "*/"),)),
    "PHP": (("//", "#"), (("/*", "*/"),)),
    "Python": _HASH, "Shell": _HASH, "Perl": _HASH, "Ruby": _HASH, "Makefile": _HASH,
    "Dockerfile": _HASH, "CMake": _HASH, "Smali": _HASH,
    "Julia": (("#",), (("#=", "=#"),)),
    "PowerShell": (("#",), (("<#", "#>"),)),
    "SQL": (("--",), (("/*", "*/"),)),
    "Lua": (("--",), (("--[[", "]]"),)),
    "Haskell": (("--",), (("{-", "-}"),)),
    "HTML": ((), (("<!--", "-->"),)), "XML": ((), (("<!--", "-->"),)),
    "Markdown": ((), (("<!--", "-->"),)),
    "TeX": (("%",), ()),
    "Fortran": (("!",), ()),
    "Assembly": ((";",), ()),
    "Batchfile": (("::", "REM ", "rem "), ()),
    "Visual Basic": (("'",), ()),
}  # fmt: skip
_ANY: Final = (("//", "#", "--"), (("/*", "*/"), ("<!--", "-->")))
_NOT_LINE: Final = ("///", "//!", "{-#", "#[", "#!")
_DOCSTRING: Final = re.compile(r"[rRuU]?(\"\"\"|''')")


def _line_end(text: str, pos: int) -> int:
    """The index just past the line starting at `pos` (its newline included)."""
    end = text.find("\n", pos)
    return len(text) if end < 0 else end + 1


def _line_run(text: str, pos: int, prefixes: tuple[str, ...], cpp: bool) -> int:
    """End of the run of line comments starting at `pos` (`pos` itself when there is none)."""
    end = pos
    while end < len(text):
        nxt = _line_end(text, end)
        line = text[end:nxt].lstrip()
        if not line.startswith(prefixes) or line.startswith(_NOT_LINE):
            break
        if cpp and _CPP_DIRECTIVE.match(line):
            break
        end = nxt
    return end


def _block_end(text: str, pos: int, opening: str, closing: str) -> int:
    """End of the line closing a block comment opened at `pos`, or -1 when it is not closed or
    code follows the closing on its line."""
    close = text.find(closing, pos + len(opening))
    if close < 0:
        return -1
    end = _line_end(text, close)
    return end if not text[close + len(closing) : end].strip() else -1


def _docstring_end(text: str, pos: int) -> int:
    """End of the line closing a module docstring that starts at `pos`, or -1."""
    m = _DOCSTRING.match(text, pos)
    if m is None:
        return -1
    quote, raw = m.group(1), m.group(0)[0] in "rR"
    at = m.end()
    while True:
        close = text.find(quote, at)
        if close < 0:
            return -1
        backslashes = len(text[at:close]) - len(text[at:close].rstrip("\\"))
        if raw or backslashes % 2 == 0:
            break
        at = close + 1
    end = _line_end(text, close)
    return end if not text[close + 3 : end].strip() else -1


def _comment_end(text: str, pos: int, language: str | None) -> int:
    """End of the comment block on the line at `pos`, or -1 when no comment starts there."""
    prefixes, blocks = _STYLES.get(language, _ANY) if language else _ANY
    line_end = _line_end(text, pos)
    head = text[pos:line_end].lstrip()
    start = line_end - len(head)
    for opening, closing in blocks:
        if head.startswith(opening) and not head.startswith(_NOT_LINE):
            return _block_end(text, start, opening, closing)
    if language == "Python" and _DOCSTRING.match(head):
        return _docstring_end(text, start)
    end = _line_run(text, pos, prefixes, cpp=language is None)
    return end if end > pos else -1


def strip_header(text: str, path: str) -> str:
    """`text` without its leading licence/copyright comments (see the module docstring)."""
    language = language_of(path)
    kept: list[str] = []  # the kept leading lines, blank ones included
    pending: list[str] = []  # blank lines whose fate waits on the next block
    removed = after_removed = False
    pos = 0
    while pos < len(text):
        end = _line_end(text, pos)
        line = text[pos:end]
        if not line.strip():
            if not after_removed:
                pending.append(line)
            pos = end
            continue
        if (pos == 0 and line.startswith("#!")) or (
            len(line) <= _MAX_DECLARATION
            and (_ENCODING.match(line) or _KEPT_DECLARATION.match(line))
        ):
            kept += pending
            kept.append(line)
            pending, after_removed = [], False
            pos = end
            continue
        block_end = _comment_end(text, pos, language)
        if block_end < 0 or _LICENCE.search(text, pos, block_end) is None:
            break
        if kept:  # blank lines between a kept line (shebang) and the header stay
            kept += pending
        pending, removed, after_removed = [], True, True
        pos = block_end
    if not removed:
        return text
    return "".join(kept) + "".join(pending) + text[pos:]


@cache
def neox_counter(path: str | Path) -> Callable[[str], int]:
    """A token counter with GPT-NeoX-20B's tokenizer (`python -m filtermodels.lid --model neox`:
    EleutherAI's `20B_tokenizer.json`, 50,277 tokens, NFC, byte-level BPE with the whitespace-run
    tokens GPT-2 lacks; Pythia, RedPajama's tokenizer, shares its vocabulary). Counts tokens
    without special ones, RedPajama's `len(tokenizer.tokenize(text))`; about 1.5 MB/s a core.
    Loaded once per process and path."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


@dataclass(frozen=True, slots=True)
class CodeStats:
    line_count: int
    max_line_length: int
    avg_line_length: float  # characters / lines, newlines included (RedPajama's definition)
    alnum_prop: float  # alphanumeric characters / characters
    alpha_per_token: float | None  # alphabetic characters / tokens; None when not counted


_ASCII_ALNUM: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_ASCII_ALPHA: Final = _ASCII_ALNUM[10:]
_NON_ASCII: Final = re.compile(r"[^\x00-\x7f]+")


def _alnum_alpha(text: str) -> tuple[int, int]:
    """str.isalnum/str.isalpha counts, at C speed for the ASCII part (where both are exactly
    [0-9A-Za-z]/[A-Za-z]); only non-ASCII characters are looked at one by one."""
    ascii_bytes = text.encode("ascii", "ignore")
    alnum = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_ALNUM))
    alpha = len(ascii_bytes) - len(ascii_bytes.translate(None, _ASCII_ALPHA))
    if len(ascii_bytes) != len(text):
        for run in _NON_ASCII.findall(text):
            alnum += sum(c.isalnum() for c in run)
            alpha += sum(c.isalpha() for c in run)
    return alnum, alpha


def code_stats(text: str, count_tokens: Callable[[str], int] | None = None) -> CodeStats:
    """RedPajama's file statistics. `count_tokens`: GPT-NeoX's BPE (`neox_counter`) is
    RedPajama's; another tokenizer (LLaMA's SentencePiece splits code into more, shorter pieces)
    moves the alpha_per_token threshold's meaning. None skips it: the costliest statistic."""
    lengths = [len(line) for line in text.splitlines()]
    if not lengths:
        return CodeStats(0, 0, 0.0, 0.0, 0.0 if count_tokens else None)
    alnum, alpha = _alnum_alpha(text)
    per_token = None if count_tokens is None else _per_token(alpha, text, count_tokens)
    return CodeStats(len(lengths), max(lengths), len(text) / len(lengths), alnum / len(text),
                     per_token)  # fmt: skip


def _per_token(alpha: int, text: str, count_tokens: Callable[[str], int]) -> float:
    tokens = count_tokens(text)
    return alpha / tokens if tokens else 0.0


class PathFilter(Filter):
    """Before dedup, what the path alone decides: certificates and licence files go
    ("skipped_path"), and files whose extension is not in RedPajama's whitelist ("extension").
    Deciding these first keeps a whitelisted copy of a file when its first copy (in dedup's
    order) sits under a name the whitelist refuses."""

    name = "path"

    def decide(self, doc: dict[str, Any]) -> Decision:
        if is_skipped_path(doc["path"]):
            return Decision.drop("skipped_path")
        return KEEP if language_of(doc["path"]) else Decision.drop("extension")


class HeaderFilter(Filter):
    """Sets doc["text"] to doc["content"] without its licence header; skips certificates and
    licence files ("skipped_path"), and a file that was nothing but its header ("empty")."""

    name = "header"

    def decide(self, doc: dict[str, Any]) -> Decision:
        if is_skipped_path(doc["path"]):
            return Decision.drop("skipped_path")
        text = strip_header(doc["content"], doc["path"])
        if len(text) != len(doc["content"]):
            self.count("headers", "removed")
        doc["text"] = text
        return KEEP if text else Decision.drop("empty")


class CodeFilter(Filter):
    """RedPajama's quality rules on the cleaned doc["text"]; stores the statistics and the
    language. The tokenizer runs last, on files every cheaper rule kept, so it never sees a line
    over 1,000 characters (a long single "word" is what makes BPE slow)."""

    name = "quality"

    def __init__(self, count_tokens: Callable[[str], int]):
        self.count_tokens = count_tokens

    def decide(self, doc: dict[str, Any]) -> Decision:
        text, path = doc["text"], doc["path"]
        if not text:
            return Decision.drop("empty")
        language = language_of(path)
        if language is None:
            return Decision.drop("extension")
        stats = code_stats(text, count_tokens=None)
        doc.update(
            language=language,
            line_count=stats.line_count,
            max_line_length=stats.max_line_length,
            avg_line_length=stats.avg_line_length,
            alnum_prop=stats.alnum_prop,
            alpha_per_token=None,  # counted only for a file the cheaper rules keep
        )
        if stats.max_line_length > 1000:
            return Decision.drop("long_line")
        if stats.avg_line_length > 100:
            return Decision.drop("mean_line_length")
        if stats.alnum_prop < 0.25:
            return Decision.drop("alnum_fraction")
        doc["alpha_per_token"] = _per_token(_alnum_alpha(text)[1], text, self.count_tokens)
        if doc["alpha_per_token"] < 1.5:
            return Decision.drop("alpha_per_token")
        return KEEP
