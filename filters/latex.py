"""An arXiv paper's LaTeX as text: assemble it from its files, then clean it (docs/recipe/arxiv.md,
rules 2-7).

`assemble` finds the main file and inlines what it includes; `clean` removes comments, the
preamble, the bibliography (and, on request, the appendices) and expands the paper's own macros.
Both only scan forward with simple patterns and precomputed bounds, so a hostile paper costs time
linear in its size: an include or macro that recurses or explodes stops at a depth and size bound
and is counted, never fatal. Verbatim bodies (`verbatim`, `Verbatim`, `lstlisting`, `minted`,
`\\verb`) are code: no comment, include, section or macro is seen inside them.
"""

from __future__ import annotations

import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_DEPTH = 32  # nested includes, nested macro expansions
SIZE_FACTOR = 8  # output of includes and of macro expansion: at most this times the input ...
SIZE_SLACK = 64 << 10  # ... plus this many characters
MAX_GROUP = 256 << 10  # a brace group (an argument, a macro body) longer than this is not one
TEX_SUFFIXES = (".tex", ".ltx", ".latex")

_CS = re.compile(r"\\(?:[a-zA-Z]+|.)", re.S)  # a control sequence; `\\` is one, so `\\x` is no \x
_CS_NAME = re.compile(r"\\(?:[a-zA-Z@]+|.)", re.S)  # names in definitions may hold @ (.sty code)
_BRACE = re.compile(r"\\.|[{}]", re.S)
_BRACKET = re.compile(r"\\.|[{}\]]", re.S)
_SCAN = re.compile(
    r"(?P<escape>\\[\\%])"
    r"|(?P<comment>%[^\n]*\n?)"
    r"|\\begin\s*\{(?P<env>verbatim\*?|Verbatim|lstlisting|minted)\}"
    r"|\\verb\*?(?P<delim>[^a-zA-Z\s*])"
)
_INCLUDE = re.compile(
    r"\\(?:input|include|subfile)\s*\{\s*\"?(?P<braced>[^{}\"]*?)\"?\s*\}"
    r"|\\input(?![a-zA-Z])[ \t]+(?P<bare>[^\s{}\\%]+)"
)
_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)(?![a-zA-Z])")
_DEFINER = re.compile(
    r"\\(?:(?P<new>newcommand|renewcommand|providecommand)\*?"
    r"|(?P<def>[gex]?def)|DeclareMathOperator(?P<opstar>\*?))(?![a-zA-Z])"
)
_NARGS = re.compile(r"\s*\[\s*([0-9])\s*\]")
_DEF_PARAMS = re.compile(r"(?:#[1-9])*")
_PARAM = re.compile(r"#(#|[1-9])")
_SECTION = re.compile(
    r"(?<!\\)\\(?:part|chapter|section|subsection|subsubsection|paragraph|subparagraph)"
    r"(?![a-zA-Z])"
)
_BIB_ENV = re.compile(r"\\begin\s*\{(thebibliography|references)\}")
_BIB_COMMAND = re.compile(
    r"\\(?:bibliography|bibliographystyle)\s*\{[^{}]*\}"
    r"|\\printbibliography(?![a-zA-Z])(?:[ \t]*\[[^\[\]\n]*\])?"
)
_APPENDIX = re.compile(r"\\appendix(?![a-zA-Z])|\\begin\s*\{(?:appendix|appendices)\}")
_END_DOCUMENT = re.compile(r"\\end\s*\{document\}")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_PLACEHOLDER = re.compile("\ue000([0-9]+)\ue001")
_NO_PLACEHOLDER = {0xE000: None, 0xE001: None}


def decode(data: bytes) -> tuple[str, bool]:
    """The text of a file and whether it was not UTF-8. Older papers are often Latin-1, which
    decodes any bytes, so no paper is lost to its encoding; the caller counts the flag. A BOM is
    dropped and line ends become `\\n`, which the cleaner's line rules assume."""
    try:
        text, latin1 = data.decode("utf-8").removeprefix("\ufeff"), False
    except UnicodeDecodeError:
        text, latin1 = data.decode("latin-1"), True
    return text.replace("\r\n", "\n").replace("\r", "\n"), latin1


def _scan(text: str) -> Iterator[tuple[str, str]]:
    """The text as consecutive ("text" | "comment" | "verbatim", piece). A whole-line comment's
    piece holds its line's leading blanks and its newline, so removing it removes the line; an
    inline comment's piece ends before the newline."""
    pos = 0
    while match := _SCAN.search(text, pos):
        start = match.start()
        if match.group("escape"):
            yield "text", text[pos : match.end()]
            pos = match.end()
        elif match.group("comment") is not None:
            line = text.rfind("\n", 0, start) + 1
            if line >= pos and not text[line:start].strip(" \t"):
                yield "text", text[pos:line]
                yield "comment", text[line : match.end()]
                pos = match.end()
            else:
                end = match.end() - match.group("comment").endswith("\n")
                yield "text", text[pos:start]
                yield "comment", text[start:end]
                pos = end
        elif env := match.group("env"):
            end_marker = f"\\end{{{env}}}"
            close = text.find(end_marker, match.end())
            end = len(text) if close < 0 else close + len(end_marker)
            yield "text", text[pos:start]
            yield "verbatim", text[start:end]
            pos = end
        else:
            delim = match.group("delim")
            close = text.find(delim, match.end())
            newline = text.find("\n", match.end())
            if close < 0 or 0 <= newline < close:  # not a \verb: go on after "\verb"
                yield "text", text[pos : match.start("delim")]
                pos = match.start("delim")
                continue
            yield "text", text[pos:start]
            yield "verbatim", text[start : close + 1]
            pos = close + 1
    yield "text", text[pos:]


def strip_comments(text: str) -> str:
    """The text without its comments (rule 3); `\\%` and verbatim bodies stay."""
    return "".join(piece for kind, piece in _scan(text) if kind != "comment")


def _code(text: str) -> str:
    """Only what TeX reads as commands: no comments, no verbatim bodies."""
    return "".join(piece for kind, piece in _scan(text) if kind == "text")


def _group_end(text: str, start: int, pattern: re.Pattern[str] = _BRACE) -> int | None:
    """The end of the group opened at `start` (a `{`, or a `[` with `_BRACKET`), None when it
    does not close within MAX_GROUP characters."""
    depth = 0
    for match in pattern.finditer(text, start + 1, min(len(text), start + MAX_GROUP)):
        char = match.group()
        if char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                return match.end() if pattern is _BRACE else None
            depth -= 1
        elif char == "]" and depth == 0:
            return match.end()
    return None


# ---- assembly ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assembled:
    text: str  # the main file with its includes inlined; "" without a main file
    main: str | None  # the main file's name
    problems: Counter = field(default_factory=Counter)  # include_cycle, missing_include ...


def _resolve(files: dict[str, str], base: str, name: str) -> str | None:
    """The file `\\input{name}` reads: as LaTeX does, `name.tex` first, then `name`, relative
    to the main file's directory (TeX's working directory, for nested includes too)."""
    path = posixpath.normpath(posixpath.join(base, name.strip()))
    candidates = (path,) if path.endswith(".tex") else (path + ".tex", path)
    return next((c for c in candidates if c in files), None)


def _includes(files: dict[str, str], name: str, base: str) -> set[str]:
    found = set()
    for match in _INCLUDE.finditer(_code(files[name])):
        target = _resolve(files, base, match.group("braced") or match.group("bare") or "")
        if target is not None:
            found.add(target)
    return found


def main_file(files: dict[str, str]) -> tuple[str | None, bool]:
    """The main file and whether the choice was ambiguous. The main file has `\\documentclass`
    (`\\documentstyle` in LaTeX 2.09) outside comments; of several, those that no other one
    includes (a thesis's chapters can have their own, for `subfiles`); of several still, the one
    nearest the top directory, then the first by name. With none, a paper with a single TeX
    file has it as its main file."""
    tex = sorted(n for n in files if n.lower().endswith(TEX_SUFFIXES))
    candidates = [n for n in tex if _DOCUMENTCLASS.search(_code(files[n]))]
    if not candidates:
        return (tex[0] if len(tex) == 1 else None), False
    included: set[str] = set()
    for name in candidates:
        included |= _includes(files, name, posixpath.dirname(name)) - {name}
    roots = [n for n in candidates if n not in included] or candidates
    roots.sort(key=lambda n: (n.count("/"), n))
    return roots[0], len(roots) > 1


def _document_body(text: str) -> str:
    """What an included file adds: a `subfiles` chapter (a document of its own) only its body;
    any file without its last newline, so that a line of its own stays one."""
    begin = _BEGIN_DOCUMENT.search(text)
    if begin:
        end = _END_DOCUMENT.search(text, begin.end())
        text = text[begin.end() : end.start() if end else len(text)].removeprefix("\n")
    return text.removesuffix("\n")


class _Assembler:
    def __init__(self, files: dict[str, str], base: str, problems: Counter) -> None:
        self.files, self.base, self.problems = files, base, problems
        self.budget = SIZE_FACTOR * sum(len(t) for t in files.values()) + SIZE_SLACK

    def file(self, name: str, stack: tuple[str, ...]) -> str:
        """The file with its includes inlined; the budget pays for what is read (at least one
        per visit, so a tree of empty includes is bounded too) and what is produced."""
        self.budget -= len(self.files[name]) + 1
        out = []
        for kind, piece in _scan(self.files[name]):
            if kind != "text":
                out.append(piece)
                continue
            pos = 0
            for match in _INCLUDE.finditer(piece):
                out.append(piece[pos : match.start()])
                pos = match.end()
                target = _resolve(
                    self.files, self.base, match.group("braced") or match.group("bare") or ""
                )
                if target is None:
                    self.problems["missing_include"] += 1
                elif target in stack:
                    self.problems["include_cycle"] += 1
                elif len(stack) >= MAX_DEPTH or self.budget < 0:
                    self.problems["include_bound"] += 1
                else:
                    out.append(_document_body(self.file(target, (*stack, target))))
            out.append(piece[pos:])
        text = "".join(out)
        self.budget -= len(text)
        return text


def assemble(files: dict[str, str]) -> Assembled:
    """The paper as one text: its main file (see `main_file`) with `\\input{x}`, `\\input x`,
    `\\include{x}` and `\\subfile{x}` replaced by the file they name (its last newline dropped),
    outside comments and verbatim. A missing file, a cycle or the depth and size bounds drop the
    command and are counted in `problems` (missing_include, include_cycle, include_bound); so
    are no_main and ambiguous_main."""
    files = {posixpath.normpath(name): text for name, text in files.items()}
    problems: Counter = Counter()
    main, ambiguous = main_file(files)
    if main is None:
        problems["no_main"] += 1
        return Assembled("", None, problems)
    if ambiguous:
        problems["ambiguous_main"] += 1
    text = _Assembler(files, posixpath.dirname(main), problems).file(main, (main,))
    return Assembled(text, main, problems)


# ---- macros ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Macro:
    nargs: int
    default: str | None  # the first argument's, when it is optional
    body: str


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n":
        i += 1
    return i


def _trim_body(body: str) -> str:
    """A body written over several lines (`{%` newline ... newline `}`) without those line
    breaks, which TeX never sees: they follow comments that are already gone."""
    head = body.lstrip()
    if "\n" in body[: len(body) - len(head)]:
        body = head
    tail = body.rstrip()
    return tail if "\n" in body[len(tail) :] else body


def _definition(text: str, match: re.Match[str]) -> tuple[str, _Macro | None, int] | None:
    """(name, macro or None when it is a `\\def` with delimited parameters, end) of the
    definition `match` starts, None when it is not a well-formed one."""
    i = _skip_blanks(text, match.end())
    if text.startswith("{", i) and not match.group("def"):
        end = _group_end(text, i)
        if end is None:
            return None
        name, i = text[i + 1 : end - 1].strip(), end
        if not _CS_NAME.fullmatch(name):
            return None
    else:
        cs = _CS_NAME.match(text, i)
        if cs is None:
            return None
        name, i = cs.group(), cs.end()
    nargs, default = 0, None
    if match.group("new"):
        if count := _NARGS.match(text, i):
            nargs, i = int(count.group(1)), count.end()
            j = _skip_blanks(text, i)
            if nargs and text.startswith("[", j):
                end = _group_end(text, j, _BRACKET)
                if end is None:
                    return None
                default, i = text[j + 1 : end - 1], end
        params = ""
    elif match.group("def"):
        brace = text.find("{", i, i + 200)
        if brace < 0:
            return None
        params, i = text[i:brace].strip(), brace
    else:
        params = ""
    i = _skip_blanks(text, i)
    if not text.startswith("{", i):
        return None
    end = _group_end(text, i)
    if end is None:
        return None
    body = _trim_body(text[i + 1 : end - 1])
    if match.group("def"):
        if not _DEF_PARAMS.fullmatch(params):
            return name, None, end
        nargs = len(params) // 2
    elif not match.group("new"):
        body = f"\\operatorname{match.group('opstar')}{{{body}}}"
    return name, _Macro(nargs, default, body), end


def _definitions(text: str, problems: Counter) -> tuple[dict[str, _Macro], str]:
    """The macros defined in the text, and the text without their definitions (a line left
    blank by one goes too). One meaning per name: the last definition's, except that
    `\\providecommand` defines only a name not yet defined. Names with @ (package internals) and
    `\\def`s with delimited parameters are removed but not expanded (unsupported_macro)."""
    macros: dict[str, _Macro] = {}
    out, pos = [], 0
    for match in _DEFINER.finditer(text):
        if match.start() < pos:  # inside a definition already removed
            continue
        found = _definition(text, match)
        if found is None:
            continue
        name, macro, end = found
        if macro is None or "@" in name:
            problems["unsupported_macro"] += 1
        elif match.group("new") != "providecommand" or name not in macros:
            macros[name] = macro
        start = match.start()
        line = text.rfind("\n", 0, start) + 1
        after = end
        while after < len(text) and text[after] in " \t":
            after += 1
        if line >= pos and not text[line:start].strip() and text.startswith("\n", after):
            start, end = line, after + 1
        out.append(text[pos:start])
        pos = end
    out.append(text[pos:])
    return macros, "".join(out)


class _Expander:
    """Expands macros in a text, each body expanded in turn (not the text after it), to
    MAX_DEPTH levels and within a budget of characters produced; past either, uses stay as
    written and `macro_bound` is counted once."""

    def __init__(self, macros: dict[str, _Macro], size: int, problems: Counter) -> None:
        self.macros, self.problems = macros, problems
        self.budget = SIZE_FACTOR * size + SIZE_SLACK
        self.bounded = False

    def _bound(self) -> None:
        if not self.bounded:
            self.bounded = True
            self.problems["macro_bound"] += 1

    def _arguments(self, text: str, i: int, macro: _Macro) -> tuple[list[str], int] | None:
        args: list[str] = []
        wanted = macro.nargs
        if macro.default is not None and wanted:
            j = i
            while j < len(text) and text[j] in " \t":
                j += 1
            if text.startswith("[", j):
                end = _group_end(text, j, _BRACKET)
                if end is None:
                    return None
                args.append(text[j + 1 : end - 1])
                i = end
            else:
                args.append(macro.default)
            wanted -= 1
        for _ in range(wanted):
            j = i
            while j < len(text) and text[j] in " \t":
                j += 1
            if text.startswith("\n", j):  # one line break, as TeX; a blank line ends the call
                j += 1
                while j < len(text) and text[j] in " \t":
                    j += 1
            if j >= len(text) or text[j] in "}\n":
                return None
            if text[j] == "{":
                end = _group_end(text, j)
                if end is None:
                    return None
                args.append(text[j + 1 : end - 1])
            else:
                cs = _CS.match(text, j)
                end = cs.end() if cs else j + 1
                args.append(text[j:end])
            i = end
        return args, i

    def expand(self, text: str, depth: int = 0) -> str:
        out, pos = [], 0
        for match in _CS.finditer(text):
            if match.start() < pos:  # inside the arguments of a use just expanded
                continue
            macro = self.macros.get(match.group())
            if macro is None:
                continue
            parsed = self._arguments(text, match.end(), macro)
            if parsed is None:
                continue
            args, end = parsed
            pieces = _substitute(macro.body, args)
            size = sum(len(p) for p in pieces)
            if depth >= MAX_DEPTH or size >= self.budget:
                self._bound()
                continue
            self.budget -= size + 1  # an empty body costs too: each expansion is work
            out.append(text[pos : match.start()])
            out.append(self.expand("".join(pieces), depth + 1))
            pos = end
        out.append(text[pos:])
        return "".join(out)


def _substitute(body: str, args: list[str]) -> list[str]:
    """The body's pieces with #1…#9 replaced by the arguments and ## by #."""
    pieces, pos = [], 0
    for match in _PARAM.finditer(body):
        ref = match.group(1)
        if ref != "#" and int(ref) > len(args):
            continue
        pieces.append(body[pos : match.start()])
        pieces.append("#" if ref == "#" else args[int(ref) - 1])
        pos = match.end()
    pieces.append(body[pos:])
    return pieces


# ---- cleaning ----------------------------------------------------------------------------------


def _drop_bibliography(text: str) -> str:
    """Without `thebibliography` and `references` environments (to their end, or to the end
    of the text when unclosed), `\\bibliography{…}`, `\\bibliographystyle{…}` and
    `\\printbibliography`; what follows them (appendices) stays."""
    out, pos = [], 0
    while match := _BIB_ENV.search(text, pos):
        out.append(text[pos : match.start()])
        close = re.compile(rf"\\end\s*\{{{match.group(1)}\}}").search(text, match.end())
        pos = close.end() if close else len(text)
    out.append(text[pos:])
    return _BIB_COMMAND.sub("", "".join(out))


def _tidy(text: str) -> str:
    """Trailing blanks off every line, runs of blank lines down to one."""
    text = "\n".join(line.rstrip(" \t") for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def clean(text: str, keep_appendix: bool = True, problems: Counter | None = None) -> str:
    """An assembled paper as the text LLaMA trained on: comments removed; macro definitions
    collected (from the preamble too) and removed; everything before the first sectioning
    command and after `\\end{document}` dropped ("" when there is no sectioning command); the
    bibliography dropped; appendices kept unless `keep_appendix` is False (then dropped from
    `\\appendix` or `\\begin{appendix}` to the end); macros expanded. Verbatim bodies come out
    as they went in. What is counted (macro_bound, unsupported_macro) is added to `problems`."""
    problems = problems if problems is not None else Counter()
    verbatim: list[str] = []
    pieces = []
    for kind, piece in _scan(text.translate(_NO_PLACEHOLDER)):
        if kind == "text":
            pieces.append(piece)
        elif kind == "verbatim":
            pieces.append(f"\ue000{len(verbatim)}\ue001")
            verbatim.append(piece)
    macros, body = _definitions("".join(pieces), problems)
    if end := _END_DOCUMENT.search(body):
        body = body[: end.start()]
    first = _SECTION.search(body)
    if first is None:
        return ""
    body = _drop_bibliography(body[first.start() :])
    if not keep_appendix and (appendix := _APPENDIX.search(body)):
        body = body[: appendix.start()]
    body = _Expander(macros, len(body), problems).expand(body)
    return _PLACEHOLDER.sub(lambda m: verbatim[int(m.group(1))], _tidy(body))
