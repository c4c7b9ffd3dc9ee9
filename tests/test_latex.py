"""filters/latex.py on small papers written for each construct."""

from __future__ import annotations

from collections import Counter

from filters.latex import MAX_DEPTH, assemble, clean, decode, strip_comments

MAIN = r"""\documentclass{article}
\begin{document}
\input{intro}
\include{parts/method.tex}
\input parts/results
% \input{commented}
\subfile{missing}
\end{document}
"""


def test_assemble_follows_includes_in_place():
    files = {
        "paper/main.tex": MAIN,
        "paper/intro.tex": "\\section{Intro}\nHi.\n",
        "paper/parts/method.tex": "\\section{Method}\n\\input{parts/detail}\n",
        "paper/parts/detail.tex": "Detail.\n",
        "paper/parts/results.tex": "\\section{Results}\n",
        "paper/commented.tex": "never\n",
        "paper/macros.sty": "\\documentclass{fake}\n",
    }
    assembled = assemble(files)
    assert assembled.main == "paper/main.tex"
    assert assembled.text == (
        "\\documentclass{article}\n\\begin{document}\n"
        "\\section{Intro}\nHi.\n"
        "\\section{Method}\nDetail.\n"
        "\\section{Results}\n"
        "% \\input{commented}\n"
        "\n"
        "\\end{document}\n"
    )
    assert assembled.problems == Counter(missing_include=1)


def test_assemble_cycle_is_counted_not_fatal():
    files = {
        "main.tex": "\\documentclass{article}\n\\input{a}\nend\n",
        "a.tex": "A \\input{b}\n",
        "b.tex": "B \\input{a.tex}\n",
    }
    assembled = assemble(files)
    assert assembled.text == "\\documentclass{article}\nA B \nend\n"
    assert assembled.problems == Counter(include_cycle=1)


def test_assemble_self_include_and_bomb_are_bounded():
    files = {"main.tex": "\\documentclass{article}\n\\input{main}" + "\\input{b}" * 4}
    for i in range(40):
        files[f"{'b' if i == 0 else f'b{i}'}.tex"] = f"\\input{{b{i + 1}}}" * 4
    assembled = assemble(files)
    assert assembled.problems["include_cycle"] == 1
    assert assembled.problems["include_bound"] > 0
    assert len(assembled.text) < 8 * sum(len(t) for t in files.values()) + 200_000


def test_main_file_rules():
    thesis = {
        "thesis.tex": "\\documentclass{book}\n\\subfile{ch1}\n",
        "ch1.tex": "\\documentclass[thesis]{subfiles}\n\\begin{document}\nChapter.\n"
        "\\end{document}\n",
    }
    assert assemble(thesis).main == "thesis.tex"
    assert assemble(thesis).text == "\\documentclass{book}\nChapter.\n"
    two = {"b.tex": "\\documentclass{article}\n", "sub/a.tex": "\\documentclass{article}\n"}
    assert assemble(two).main == "b.tex"
    assert assemble(two).problems == Counter(ambiguous_main=1)
    assert assemble({"only.tex": "Text.\n"}).main == "only.tex"
    assert assemble({"a.tex": "% \\documentclass{x}\n", "b.tex": "x"}) == (
        assemble({"a.tex": "", "b.tex": ""})
    )
    assert assemble({"a.tex": "x", "b.tex": "y"}).problems == Counter(no_main=1)


def test_decode():
    assert decode("é\r\nx\r".encode()) == ("é\nx\n", False)
    assert decode(b"\xef\xbb\xbfA") == ("A", False)
    assert decode(b"caf\xe9") == ("café", True)


def test_comments():
    text = "a % note\n  % whole line\nb 50\\% off\\\\% gone\nc\\%d %x\n"
    assert strip_comments(text) == "a \nb 50\\% off\\\\\nc\\%d \n"


def test_verbatim_bodies_are_untouched():
    text = (
        "\\section{Code}\n\\newcommand{\\x}{X}\n"
        "\\begin{verbatim}\n100% sure \\x\n\\section{no}\n\\end{verbatim}\n"
        "\\begin{lstlisting}[language=C]\nx %= 2; // \\x\n\\end{lstlisting}\n"
        "\\begin{minted}{python}\n'%s' % \\x\n\\end{minted}\n"
        "\\verb|%\\x| and \\x % real comment\n"
    )
    assert clean(text) == (
        "\\section{Code}\n"
        "\\begin{verbatim}\n100% sure \\x\n\\section{no}\n\\end{verbatim}\n"
        "\\begin{lstlisting}[language=C]\nx %= 2; // \\x\n\\end{lstlisting}\n"
        "\\begin{minted}{python}\n'%s' % \\x\n\\end{minted}\n"
        "\\verb|%\\x| and X"
    )


PAPER = r"""\documentclass{article}
\usepackage{amsmath}
\title{A paper}
\begin{document}
\maketitle
\begin{abstract}Dropped with the preamble.\end{abstract}
\subsection*{Start} % first sectioning command
Body text.
\paragraph{Note} Still here.
\bibliographystyle{plain}
\bibliography{refs}
\appendix
\section{Proofs}
Proof.
\begin{thebibliography}{9}
\bibitem{a} A. Author.
\end{thebibliography}
After the references.
\end{document}
Trailing junk.
"""


def test_preamble_bibliography_and_appendix():
    assert clean(PAPER) == (
        "\\subsection*{Start}\nBody text.\n\\paragraph{Note} Still here.\n\n"
        "\\appendix\n\\section{Proofs}\nProof.\n\nAfter the references."
    )
    assert clean(PAPER, keep_appendix=False) == (
        "\\subsection*{Start}\nBody text.\n\\paragraph{Note} Still here."
    )
    env = "\\section{A}\nText.\n\\begin{appendix}\n\\section{B}\n\\end{appendix}\n"
    assert clean(env, keep_appendix=False) == "\\section{A}\nText."
    assert clean("\\paragraph{Only} x\n\\printbibliography[heading=none]\n") == (
        "\\paragraph{Only} x"
    )


def test_no_sectioning_command_gives_nothing():
    assert clean("\\documentclass{article}\n\\begin{document}\nText.\n\\end{document}\n") == ""


MACROS = r"""\documentclass{article}
\newcommand{\R}{\mathbb{R}}
\newcommand*\norm[1]{\lVert #1 \rVert}
\renewcommand{\vec}[1]{\mathbf{#1}}
\providecommand{\R}{\mathbf{R}}
\providecommand{\C}{\mathbb{C}}
\newcommand{\inner}[3][\cdot]{\langle #2, #3 \rangle_{#1}}
\newcommand{\set}[1]{%
  \{ #1 \}%
}
\def\pair#1#2{(#1,#2)}
\def\eps{\varepsilon}
\def\foo#1.{delimited}
\DeclareMathOperator{\rank}{rank}
\DeclareMathOperator*{\argmin}{arg\,min}
\newcommand{\nested}[1]{\norm{\vec{#1}} + \eps}
\begin{document}
\section{Macros}
$x \in \R, \C$; $\norm{x}$; $\vec v$; $\inner{a}{b}$; $\inner[W]{a}{b}$.
$\set{1,2}$ $\pair{a}{\eps}$ $\rank A$ $\argmin_x f$ $\nested{y}$ \\R
\newcommand{\late}{L}\late
\end{document}
"""


def test_macros_expanded_and_definitions_removed():
    problems = Counter()
    assert clean(MACROS, problems=problems) == (
        "\\section{Macros}\n"
        "$x \\in \\mathbb{R}, \\mathbb{C}$; $\\lVert x \\rVert$; $\\mathbf{v}$; "
        "$\\langle a, b \\rangle_{\\cdot}$; $\\langle a, b \\rangle_{W}$.\n"
        "$\\{ 1,2 \\}$ $(a,\\varepsilon)$ $\\operatorname{rank} A$ "
        "$\\operatorname*{arg\\,min}_x f$ $\\lVert \\mathbf{y} \\rVert + \\varepsilon$ \\\\R\n"
        "L"
    )
    assert problems == Counter(unsupported_macro=1)


def test_macro_bombs_stop_at_the_bound():
    problems = Counter()
    out = clean("\\def\\a{\\a\\a}\n\\section{S}\n\\a\n", problems=problems)
    assert problems == Counter(macro_bound=1)
    assert out.startswith("\\section{S}\n\\a\\a") and len(out) < 8 * 40 + (64 << 10) + 40
    problems = Counter()
    out = clean("\\newcommand{\\x}{x\\x}\n\\section{S} \\x\n", problems=problems)
    assert out == "\\section{S} " + "x" * MAX_DEPTH + "\\x"
    assert problems == Counter(macro_bound=1)
    # the "billion laughs": \h is ten \g, each ten \f ... down to \a = "lol", 10^7 of them
    lol = "\\def\\a{lol}\n" + "".join(
        "\\def\\" + name + "{" + ("\\" + previous) * 10 + "}\n"
        for previous, name in zip("abcdefg", "bcdefgh", strict=True)
    )
    problems = Counter()
    out = clean(lol + "\\section{S}\\h\n", problems=problems)
    assert problems == Counter(macro_bound=1)
    assert len(out) < 8 * len(lol) + (64 << 10) + 100
