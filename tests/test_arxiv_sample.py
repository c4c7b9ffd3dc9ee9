"""samples/arxiv.py: papers packed as arXiv's bulk source, and the built sample's layout."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from samples.arxiv import MODE, MTIME, PAPERS, TAR_NAME, monthly_tar, pack_paper, tar_bytes

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample" / "arxiv" / TAR_NAME
MAIN = b"\\documentclass{article}\n\\begin{document}\n\\input{intro}\n\\end{document}\n"
INTRO = b"\\section{Introduction}\nHello.\n"


def test_single_file_paper_is_the_gzipped_tex() -> None:
    packed = pack_paper([("paper.tex", MAIN)])
    assert packed[:2] == b"\x1f\x8b"
    assert packed[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    assert gzip.decompress(packed) == MAIN


def test_multi_file_paper_is_a_gzipped_sorted_tar() -> None:
    packed = pack_paper([("main.tex", MAIN), ("intro.tex", INTRO)])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(packed))) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["intro.tex", "main.tex"]
        assert {(m.mtime, m.mode, m.uid, m.gid, m.uname, m.gname) for m in members} == {
            (MTIME, MODE, 0, 0, "", "")
        }
        assert tar.extractfile("main.tex").read() == MAIN
    assert MTIME == 1_672_531_200  # 2023-01-01T00:00:00Z


def test_packing_is_deterministic() -> None:
    files = [("main.tex", MAIN), ("intro.tex", INTRO)]
    assert pack_paper(files) == pack_paper(list(reversed(files)))
    papers = [("2301/2301.00002.gz", b"b"), ("2301/2301.00001.gz", b"a")]
    assert monthly_tar(papers) == monthly_tar(list(reversed(papers)))


@pytest.mark.parametrize("name", ["/etc/paper.tex", "../paper.tex", "a/../../b.tex"])
def test_paths_leaving_the_paper_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="not a relative path"):
        tar_bytes([(name, b"x")])


def test_a_paper_needs_a_file() -> None:
    with pytest.raises(ValueError, match="at least one file"):
        pack_paper([])


def test_built_sample_has_arxivs_layout() -> None:
    """data/sample/arxiv/ as `python -m samples.build` writes it."""
    with tarfile.open(SAMPLE) as outer:
        members = outer.getmembers()
        assert [m.name for m in members] == [p.member for p in PAPERS]
        assert [m.name for m in members] == [f"2301/2301.0000{i}.gz" for i in range(1, 6)]
        kinds = {}
        for member, paper in zip(members, PAPERS, strict=True):
            raw = gzip.decompress(outer.extractfile(member).read())
            if raw[257:262] != b"ustar":  # not a tar: the gzipped .tex itself
                kinds[paper.arxiv_id] = "tex"
                assert b"\\documentclass" in raw
                continue
            with tarfile.open(fileobj=io.BytesIO(raw)) as inner:
                names = inner.getnames()
                assert names == sorted(name for name, _ in paper.files)
                texts = [inner.extractfile(n).read() for n in names if n.endswith(".tex")]
                assert any(b"\\documentclass" in t for t in texts)
                kinds[paper.arxiv_id] = "tar"
    assert kinds == {
        "2301.00001": "tex",
        "2301.00002": "tex",
        "2301.00003": "tar",
        "2301.00004": "tar",
        "2301.00005": "tex",
    }
