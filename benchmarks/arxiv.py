"""bench-arxiv: papers/s/core and MB/s/core of reading and cleaning arXiv sources; the macro
expander's worst case.

    python -m benchmarks.arxiv --out benchmarks/results/arxiv.json

The sample's monthly source tar (real LaTeX documents from registry packages, packed as arXiv
ships them) is read `--copies` times, one core, in this process: extraction (readers.arxiv), then
assembly and cleaning (filters.latex), each timed apart; MB are of decompressed sources. Worst
cases of the macro expander, each a document written to hit a bound: a self-doubling macro
(`\\def\\a{\\a\\a}`), a chain of macros each expanding to ten of the next, and a deep
`\\newcommand` nesting; each must stop at the bound, and its time is recorded. No peer: RedPajama's
cleaner is not packaged (its regex expander has no bounds).
"""

from __future__ import annotations

import argparse
import glob
import time
from collections import Counter
from itertools import pairwise
from pathlib import Path

from benchmarks.common import machine, max_rss_mb, write_result
from filters.latex import TEX_SUFFIXES, assemble, clean, decode
from readers.arxiv import Paper, read_arxiv

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data/sample/arxiv"

BACKSLASH = "\\"


def _chain_of_ten() -> str:
    """\\a is "lol"; \\b is ten \\a, \\c ten \\b, … \\h: 10^7 copies of "lol" unbounded."""
    names = "abcdefgh"
    lines = [BACKSLASH + "def" + BACKSLASH + "a{lol}"]
    for prev, name in pairwise(names):
        lines.append(BACKSLASH + "def" + BACKSLASH + name + "{" + (BACKSLASH + prev) * 10 + "}")
    return "\n".join(lines) + "\n" + BACKSLASH + "section{S}" + BACKSLASH + "h\n"


WORST_CASES = {
    "self_doubling": "\\def\\a{\\a\\a}\n\\section{S}\\a\n",
    "chain_of_ten": _chain_of_ten(),
    "deep_nesting": "".join(
        f"{BACKSLASH}newcommand{{{BACKSLASH}m{i}}}{{{BACKSLASH}m{i + 1}}}\n" for i in range(200)
    )
    + "\\section{S}\\m0\n",
}


def papers(copies: int) -> tuple[list[Paper], float, int]:
    tars = sorted(glob.glob(str(SAMPLE / "*.tar")))
    started = time.perf_counter()
    found = [p for _ in range(copies) for t in tars for p in read_arxiv(t) if isinstance(p, Paper)]
    seconds = time.perf_counter() - started
    size = sum(len(d) for p in found for d in p.files.values())
    return found, seconds, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--copies", type=int, default=20)
    args = parser.parse_args()
    found, read_seconds, size = papers(args.copies)
    started = time.perf_counter()
    kept = 0
    for paper in found:
        sources = {n: decode(d)[0] for n, d in paper.files.items() if n.endswith(TEX_SUFFIXES)}
        text = clean(assemble(sources).text)
        kept += bool(text.strip())
    clean_seconds = time.perf_counter() - started
    megabytes = size / 1e6
    worst = {}
    for name, document in WORST_CASES.items():
        problems: Counter = Counter()
        started = time.perf_counter()
        out = clean(document, problems=problems)
        worst[name] = {
            "seconds": round(time.perf_counter() - started, 4),
            "output_chars": len(out),
            "counted": dict(problems),
        }
    result = {
        "benchmark": "arxiv",
        "machine": machine(),
        "papers": len(found),
        "kept": kept,
        "megabytes": round(megabytes, 2),
        "one_core": {
            "read_papers_per_s": round(len(found) / read_seconds, 1),
            "clean_papers_per_s": round(len(found) / clean_seconds, 1),
            "clean_mb_per_s": round(megabytes / clean_seconds, 2),
            "all_papers_per_s": round(len(found) / (read_seconds + clean_seconds), 1),
            "all_mb_per_s": round(megabytes / (read_seconds + clean_seconds), 2),
        },
        "macro_worst_cases": worst,
        "max_rss_mb": max_rss_mb(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
