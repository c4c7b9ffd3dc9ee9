"""Seeded mutational fuzzing of the cleaners that read outside text: a few hundred mutants of
real-looking seeds per target, each must come back as text (or a decision), never raise.

Mutations insert the characters and fragments these parsers treat specially (braces, `%`, `\\`,
comment and CDATA openers, LaTeX commands, licence markers), delete spans and duplicate spans.
The seed is fixed, so a failure names an input that reproduces it; crashes found are kept below
as regression cases.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest

from filters.c4 import CleanPage
from filters.code import strip_header
from filters.gutenberg import strip_gutenberg
from filters.latex import assemble, clean
from filters.licenses import detect_license
from filters.posthtml import html_to_text

LATEX = (
    "\\documentclass{article}\\newcommand{\\x}[2][d]{#1#2}\\def\\a#1{\\a{#1#1}}\n"
    "\\begin{document}\\section{S}\\x{y}\\x[z]{w} % comment\n5\\% \\a{q}\n"
    "\\begin{verbatim}%kept\\end{verbatim}\\input{a}\\begin{thebibliography}{9}\\bibitem{b}B."
    "\\end{thebibliography}\\appendix\\section{A}\\end{document}"
)
HTML = (
    "<p>a &amp; b</p><pre><code>x &lt; y</code></pre><ul><li>i<ul><li>j</li></ul></li></ul>"
    "<blockquote>q</blockquote><br/><a href='x'>link</a><ol><li>one</li></ol>"
)
GUTENBERG = (
    "The Project Gutenberg EBook of X\n\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\n"
    "Produced by Y\n\nCHAPTER I\nBody text.\n\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\n"
    "Section 1. General Terms of Use and Redistributing Project Gutenberg"
)
CODE = (
    "#!/bin/sh\n# -*- coding: utf-8 -*-\n# Copyright 2020 X\n# Licensed under the MIT license\n\n"
    '/* Copyright Y */\n#include <a.h>\n<!-- licence -->\n"""Module doc."""\nint main() {}\n'
)
FRAGMENTS = [
    *"\\{}[]%#\n $&<>/*-\"'`~^_",
    "\\begin{", "\\end{", "\\input{", "\\def", "\\newcommand", "\\section{", "<pre>", "</pre>",
    "<li>", "<ul>", "&#", "<![", "<!--", "-->", "***", "/*", "*/", '"""', "{-", "-}",
]  # fmt: skip


def mutants(seed_text: str, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    corpus, out = [seed_text], []
    for _ in range(n):
        chars = list(rng.choice(corpus))
        for _ in range(rng.randint(1, 20)):
            i = rng.randint(0, len(chars))
            action = rng.random()
            if action < 0.45:
                chars[i:i] = list(rng.choice(FRAGMENTS))
            elif action < 0.75:
                del chars[i : i + rng.randint(1, 10)]
            else:
                j = rng.randint(0, len(chars))
                chars[i:i] = chars[j : j + rng.randint(1, 50)]
        text = "".join(chars)
        out.append(text)
        if len(corpus) < 64:
            corpus.append(text)
    return out


TARGETS = {
    "latex_clean": (LATEX, lambda t: clean(t, problems=Counter())),
    "latex_assemble": (LATEX, lambda t: assemble({"main.tex": t, "a.tex": t[:200]}).text),
    "html_to_text": (HTML, html_to_text),
    "strip_gutenberg": (GUTENBERG, lambda t: strip_gutenberg(t).text),
    "strip_header_py": (CODE, lambda t: strip_header(t, "x.py")),
    "strip_header_c": (CODE, lambda t: strip_header(t, "x.c")),
    "strip_header_sql": (CODE, lambda t: strip_header(t, "x.sql")),
    "strip_header_html": (CODE, lambda t: strip_header(t, "x.html")),
    "c4_clean_page": (GUTENBERG + HTML, lambda t: CleanPage().decide({"text": t}).keep),
    "detect_license": (CODE, detect_license),
}


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_mutants_never_raise(name):
    seed_text, target = TARGETS[name]
    for i, text in enumerate(mutants(seed_text, 300, seed=len(name))):
        try:
            target(text)
        except Exception as exc:  # the failing input, to reproduce
            raise AssertionError(f"{name} mutant {i} raised {exc!r} on {text!r}") from exc


@pytest.mark.parametrize(
    "body",
    [
        # found by this fuzzer: the standard HTML parser asserted on `<![` openings
        "<p>a ></b><li>am&amp; b<![--e>ii>j><e>qamp; b/",
        "<p>a</p><![if !IE]>x<![endif]>",
    ],
)
def test_html_regressions(body):
    assert "<![" in html_to_text(body)
