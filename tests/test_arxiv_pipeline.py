"""The arXiv pipeline on a monthly source tar packed as arXiv ships it."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT

from core.schema import document_schema
from pipelines import arxiv

MAIN = r"""\documentclass{article}
\newcommand{\R}{\mathbb{R}}
\newcommand{\norm}[1]{\lVert #1 \rVert}
\title{A Test}
\begin{document}
\maketitle
\section{Introduction}
Let $x \in \R$ and $\norm{x} = 1$. % a comment
We spend 5\% of the time here.
\input{sections/method}
\begin{thebibliography}{9}
\bibitem{a} A. Author, A paper.
\end{thebibliography}
\end{document}
"""
METHOD = r"""\section{Method}
It works.
"""
SINGLE = r"""\documentclass{article}
\begin{document}
\section*{Only}
One file.
\end{document}
"""
NO_SECTION = r"""\documentclass{article}
\begin{document}
Just text, no section.
\end{document}
"""


def _tar_gz(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1672531200
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _monthly(path: Path, members: dict[str, bytes]) -> str:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1672531200
            tar.addfile(info, io.BytesIO(data))
    return str(path)


def test_a_monthly_tar_end_to_end(tmp_path):
    evil = _tar_gz({"../../etc/passwd": "x", "main.tex": SINGLE})
    members = {
        "2301/2301.00001.gz": _tar_gz({"main.tex": MAIN, "sections/method.tex": METHOD}),
        "2301/2301.00002v2.gz": gzip.compress(SINGLE.encode(), mtime=0),
        "2301/2301.00003.gz": gzip.compress(NO_SECTION.encode(), mtime=0),
        "2301/2301.00004.gz": evil,
        "2301/2301.00005.gz": gzip.compress(SINGLE.replace("One", "Caf\xe9").encode("latin-1")),
    }
    source = _monthly(tmp_path / "arXiv_src_2301_001.tar", members)
    out = tmp_path / "out"
    report = arxiv.main(["--input", source, "--output", str(out), "--num_shards", "1"])
    assert report["invariant"]["holds"] and report["totals"]["read"] == 5
    assert report["by_stage"]["clean"] == {"dropped_no_section": 1}
    assert report["totals"]["kept"] == 3
    assert report["latex"] == {"not_utf8_paper": 1}  # decoded as Latin-1, kept, counted
    files = sorted((out / "documents").glob("*.parquet"))
    assert pq.read_schema(files[0]).names == document_schema("arxiv").names
    rows = {r["arxiv_id"]: r for f in files for r in pq.read_table(f).to_pylist()}
    first = rows["2301.00001"]
    assert first["text"].startswith(r"\section{Introduction}")
    assert r"$x \in \mathbb{R}$" in first["text"] and r"\lVert x \rVert" in first["text"]
    assert r"5\% of the time" in first["text"] and "a comment" not in first["text"]
    assert r"\section{Method}" in first["text"] and "thebibliography" not in first["text"]
    assert (first["month"], first["main_file"], first["url"]) == (
        "2301",
        "main.tex",
        "https://arxiv.org/abs/2301.00001",
    )
    assert rows["2301.00002"]["version"] == 2
    assert "Café file." in rows["2301.00005"]["text"]
    dead = [json.loads(x) for f in (out / "dead_letter").glob("*.jsonl") for x in f.open()]
    assert [d["reason"] for d in dead] == ["unsafe_path"]


def test_dataflow_job_builds_offline_with_dry_run(tmp_path):
    source = _monthly(tmp_path / "arXiv_src_2301_001.tar", {})
    with pytest.raises(SystemExit, match="cannot read local paths"):
        arxiv.main(["--input", source, "--output", "gs://b/out", *DATAFLOW_DRY_RUN])


def test_the_sample_monthly_tar(tmp_path):
    source = ROOT / "data/sample/arxiv/arXiv_src_2301_001.tar"
    report = arxiv.main(["--input", str(source), "--output", str(tmp_path), "--num_shards", "1"])
    assert report["invariant"]["holds"]
    # five real documents; pybtex's xampl.tex has nothing after its preamble
    assert report["totals"] == {"read": 5, "kept": 4, "dropped_no_section": 1}
    assert "not_utf8_paper" not in report["latex"]
