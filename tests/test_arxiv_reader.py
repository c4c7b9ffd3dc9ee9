"""readers/arxiv.py on archives built here: monthly tars, papers' .gz files and directories."""

from __future__ import annotations

import gzip
import io
import os
import tarfile

import pytest

from core.deadletter import DeadLetter
from readers.arxiv import Paper, parse_id, read_arxiv

MAIN = b"\\documentclass{article}\n\\begin{document}\n\\input{sec/intro}\n\\end{document}\n"
INTRO = b"\\section{Introduction}\nHello.\n"
SINGLE = b"\\documentclass{article}\n\\begin{document}\n\\section{A}\nB.\n\\end{document}\n"


def tar(entries: list[tuple[str, bytes | None, bytes]], mtime: int = 1_700_000_000) -> bytes:
    """A tar of (name, type, data) entries; a link's data is its target."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as out:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            info.type = kind or tarfile.REGTYPE
            if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = data.decode()
                out.addfile(info)
            else:
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def project(*files: tuple[str, bytes]) -> bytes:
    return gz(tar([(name, None, data) for name, data in files]))


def monthly(tmp_path, members: list[tuple[str, bytes]]) -> str:
    path = tmp_path / "arXiv_src_2301_001.tar"
    path.write_bytes(tar([(name, None, data) for name, data in members]))
    return str(path)


def summary(items) -> list[tuple]:
    return [
        (i.reason, i.document, i.arxiv_id, i.offset)
        if isinstance(i, DeadLetter)
        else ("paper", i.arxiv_id, i.offset)
        for i in items
    ]


def test_parse_id():
    assert parse_id("2301.00001") == ("2301.00001", None, "2301")
    assert parse_id("0704.0001v3") == ("0704.0001", 3, "0704")
    assert parse_id("hep-th9901001") == ("hep-th/9901001", None, "9901")
    assert parse_id("math0101001v2") == ("math/0101001", 2, "0101")
    assert parse_id("README") is None
    assert parse_id("2301.001") is None


def test_monthly_tar_two_papers(tmp_path):
    multi = project(
        ("./main.tex", MAIN),
        ("sec/", b""),
        ("sec/intro.tex", INTRO),
        ("fig.png", b"\x89PNG\r\n\x1a\n"),
        ("main.bbl", b"\\begin{thebibliography}{1}\\end{thebibliography}\n"),
    )
    path = monthly(tmp_path, [("2301/2301.00001.gz", multi), ("2301/2301.00002v2.gz", gz(SINGLE))])
    assert list(read_arxiv(path)) == [
        Paper(
            "2301.00001",
            None,
            "2301",
            {
                "main.tex": MAIN,
                "sec/intro.tex": INTRO,
                "main.bbl": b"\\begin{thebibliography}{1}\\end{thebibliography}\n",
            },
            path,
            0,
            1_700_000_000,
        ),
        Paper("2301.00002", 2, "2301", {"2301.00002v2.tex": SINGLE}, path, 1, 1_700_000_000),
    ]


def test_old_style_id_and_pdf_and_stray_member(tmp_path):
    path = monthly(
        tmp_path,
        [
            ("9901/hep-th9901001.gz", gz(SINGLE)),
            ("9901/hep-th9901002.pdf", b"%PDF-1.4"),
            ("9901/README.txt", b"hello"),
        ],
    )
    items = list(read_arxiv(path))
    assert items[0].arxiv_id == "hep-th/9901001" and items[0].month == "9901"
    assert items[0].files == {"hep-th9901001.tex": SINGLE}
    assert summary(items[1:]) == [
        ("no_tex", True, "hep-th/9901002", 1),
        ("unrecognised_member", False, None, 2),
    ]
    assert items[2].member == "9901/README.txt"


def test_each_refusal_is_one_dead_letter_and_the_run_goes_on(tmp_path):
    good = project(("main.tex", SINGLE))
    bomb = gz(b"\0" * (4 << 20))  # 4 MiB of zeros, 4 KiB compressed
    many = project(*[(f"f{i}.tex", b"x") for i in range(30)])
    members = [
        ("2301/2301.00001.gz", gz(tar([("../../etc/passwd", None, b"x")]))),
        ("2301/2301.00002.gz", gz(tar([("/etc/passwd", None, b"x")]))),
        ("2301/2301.00003.gz", gz(tar([("link.tex", tarfile.SYMTYPE, b"/etc/passwd")]))),
        ("2301/2301.00004.gz", gz(tar([("a.tex", None, b"x"), ("b.tex", tarfile.LNKTYPE, b"a")]))),
        ("2301/2301.00005.gz", gz(tar([("dev", tarfile.CHRTYPE, b"")]))),
        ("2301/2301.00006.gz", bomb),
        ("2301/2301.00007.gz", many),
        ("2301/2301.00008.gz", b"\x1f\x8b\x08\x00garbage-not-deflate"),
        ("2301/2301.00009.gz", gz(SINGLE)[:-12]),  # cut short
        ("2301/2301.00010.gz", b"plain text, not gzip"),
        ("2301/2301.00011.gz", gz(tar([("a.tex", None, b"x")])[:700])),  # tar cut mid-member
        ("2301/2301.00012.gz", good),
    ]
    path = monthly(tmp_path, members)
    items = list(read_arxiv(path, max_paper_bytes=1 << 20, max_members=20))
    assert summary(items) == [
        ("unsafe_path", True, "2301.00001", 0),
        ("unsafe_path", True, "2301.00002", 1),
        ("unsafe_member", True, "2301.00003", 2),
        ("unsafe_member", True, "2301.00004", 3),
        ("unsafe_member", True, "2301.00005", 4),
        ("too_large", True, "2301.00006", 5),
        ("too_many_members", True, "2301.00007", 6),
        ("corrupt_gzip", True, "2301.00008", 7),
        ("truncated", True, "2301.00009", 8),
        ("corrupt_gzip", True, "2301.00010", 9),
        ("corrupt_tar", True, "2301.00011", 10),
        ("paper", "2301.00012", 11),
    ]
    assert items[0].error == "member '../../etc/passwd'"
    assert items[2].error == "link 'link.tex'"
    assert items[5].error == "over max_paper_bytes=1048576 decompressed"
    assert items[-1].files == {"main.tex": SINGLE}


def test_compressed_member_over_the_bound_is_not_read(tmp_path):
    path = monthly(tmp_path, [("2301/2301.00001.gz", os.urandom(2048))])
    assert summary(read_arxiv(path, max_paper_bytes=1024)) == [("too_large", True, "2301.00001", 0)]


def test_a_broken_monthly_tar_ends_in_one_input_error(tmp_path):
    data = tar([("2301/2301.00001.gz", None, gz(SINGLE)), ("2301/2301.00002.gz", None, b"x" * 600)])
    path = tmp_path / "arXiv_src_2301_002.tar"
    path.write_bytes(data[: 512 * 3 + 100])  # the second member's header, then its data cut
    items = list(read_arxiv(str(path)))
    assert items[0].arxiv_id == "2301.00001"
    assert summary(items[1:]) == [
        ("truncated", True, "2301.00002", 1),
        ("corrupt_tar", False, None, 2),
    ]


def test_directory_input(tmp_path):
    paper = tmp_path / "2302.00001"
    (paper / "sec").mkdir(parents=True)
    (paper / "main.tex").write_bytes(MAIN)
    (paper / "sec" / "intro.tex").write_bytes(INTRO)
    (paper / "plot.pdf").write_bytes(b"%PDF")
    month = tmp_path / "2303"
    month.mkdir()
    (month / "2303.00007.gz").write_bytes(gz(SINGLE))
    (tmp_path / "notes.md").write_bytes(b"x")
    linked = tmp_path / "2302.00002"
    linked.mkdir()
    (linked / "main.tex").symlink_to("/etc/passwd")
    items = list(read_arxiv(str(tmp_path)))
    assert [(type(i).__name__, i.arxiv_id) for i in items] == [
        ("Paper", "2302.00001"),
        ("DeadLetter", "2302.00002"),
        ("Paper", "2303.00007"),
        ("DeadLetter", None),
    ]
    assert items[0].files == {"main.tex": MAIN, "sec/intro.tex": INTRO}
    assert (items[1].reason, items[1].document) == ("unsafe_member", True)
    assert items[2].files == {"2303.00007.tex": SINGLE}
    assert items[2].source_file == str(month / "2303.00007.gz")
    assert (items[3].reason, items[3].document) == ("unrecognised_member", False)


def test_directory_paper_over_the_bounds(tmp_path):
    paper = tmp_path / "2302.00001"
    paper.mkdir()
    (paper / "a.tex").write_bytes(b"x" * 600)
    (paper / "b.tex").write_bytes(b"x" * 600)
    assert summary(read_arxiv(str(tmp_path), max_paper_bytes=1000)) == [
        ("too_large", True, "2302.00001", 0)
    ]
    assert summary(read_arxiv(str(tmp_path), max_members=1)) == [
        ("too_many_members", True, "2302.00001", 0)
    ]


def test_unknown_input_kind():
    with pytest.raises(ValueError):
        list(read_arxiv("/nonexistent/file.zip"))
