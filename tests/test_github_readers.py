"""readers/github.py on inputs written in the real schemas, and on bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tracemalloc
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.deadletter import DeadLetter
from readers.github import (
    CodeFile,
    detect_kind,
    read_bigquery,
    read_code,
    read_stack,
    read_tree,
    repository_license,
)

PY = b'def add(a, b):\n    """The sum of a and b."""\n    return a + b\n'
C = b'#include <stdio.h>\n\nint main(void) {\n    puts("h\xc3\xa9llo");\n    return 0;\n}\n'
BOM_JS = b"\xef\xbb\xbfexport const answer = 42;\n"
MIT = b"""MIT License

Copyright (c) 2024 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, subject to the following conditions: ...
"""
GPL = b"""                    GNU GENERAL PUBLIC LICENSE
                       Version 3, 29 June 2007
"""


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def record(repo, path, content, license, source, offset, ids=None, text=None) -> CodeFile:
    text = content.decode("utf-8") if text is None else text
    return CodeFile(
        repo, path, content, text, md5(content), license, len(content), source, offset, ids or {}
    )


def letters(items) -> list[tuple]:
    return [
        (d.offset, d.reason, d.document, d.repo_name, d.path)
        for d in items
        if isinstance(d, DeadLetter)
    ]


BIGQUERY_ROWS = [
    {
        "repo_name": "pallets/markupsafe",
        "ref": "refs/heads/main",
        "path": "src/add.py",
        "mode": 33188,
        "license": "bsd-3-clause",
        "id": "5f0c1b7d2f4c9e0a1b2c3d4e5f60718293a4b5c6",
        "size": len(PY),
        "binary": False,
        "copies": 3,
        "content": PY.decode(),
    },
    {
        "repo_name": "acme/hello",
        "path": "hello.c",
        "license": "mit",
        "id": "0b9a",
        "size": len(C),
        "binary": False,
        "content": C.decode(),
    },
    {"repo_name": "acme/web", "path": "a.js", "license": "apache-2.0", "content": BOM_JS.decode()},
]


def bigquery_expected(source: str) -> list[CodeFile]:
    return [
        record(
            "pallets/markupsafe",
            "src/add.py",
            PY,
            "bsd-3-clause",
            source,
            0,
            {
                "id": "5f0c1b7d2f4c9e0a1b2c3d4e5f60718293a4b5c6",
                "ref": "refs/heads/main",
                "mode": 33188,
                "copies": 3,
            },
        ),
        record("acme/hello", "hello.c", C, "mit", source, 1, {"id": "0b9a"}),
        record(
            "acme/web", "a.js", BOM_JS, "apache-2.0", source, 2, text="export const answer = 42;\n"
        ),
    ]


def jsonl(rows) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def test_bigquery_jsonl_gzip_and_plain(tmp_path: Path) -> None:
    gz = tmp_path / "github-000.jsonl.gz"
    gz.write_bytes(gzip.compress(jsonl(BIGQUERY_ROWS)))
    plain = tmp_path / "github-001.jsonl"
    plain.write_bytes(jsonl(BIGQUERY_ROWS))
    assert list(read_bigquery(str(gz))) == bigquery_expected(str(gz))
    assert list(read_code(str(plain), "bigquery", 1 << 20)) == bigquery_expected(str(plain))


def test_bigquery_parquet(tmp_path: Path) -> None:
    path = tmp_path / "github-000.parquet"
    columns = ["repo_name", "ref", "path", "mode", "license", "id", "size", "binary", "copies"]
    table = pa.table(
        {
            **{c: [r.get(c) for r in BIGQUERY_ROWS] for c in columns},
            "content": [r["content"] for r in BIGQUERY_ROWS],
        }
    )
    pq.write_table(table, path, row_group_size=2)
    assert detect_kind(str(path)) == "bigquery"
    assert list(read_bigquery(str(path))) == bigquery_expected(str(path))


def stack_table(contents: list) -> pa.Table:
    n = len(contents)
    columns = {
        "hexsha": ["a1" * 20, "b2" * 20][:n],
        "size": [len(c) for c in contents],
        "ext": ["py", "c"][:n],
        "lang": ["Python", "C"][:n],
        "content": contents,
    }
    for kind in ("stars", "issues", "forks"):
        columns[f"max_{kind}_repo_path"] = ["src/add.py", "hello.c"][:n]
        columns[f"max_{kind}_repo_name"] = [f"{kind}/a", f"{kind}/b"][:n]
        columns[f"max_{kind}_repo_licenses"] = [["MIT"], ["Apache-2.0", "MIT"]][:n]
    return pa.table(columns)


def test_stack_parquet(tmp_path: Path) -> None:
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(stack_table([PY.decode(), C.decode()]), path)
    assert detect_kind(str(path)) == "stack"
    assert list(read_code(str(path), "stack", 1 << 20)) == [
        record(
            "stars/a",
            "src/add.py",
            PY,
            ["MIT"],
            str(path),
            0,
            {"hexsha": "a1" * 20, "ext": "py", "lang": "Python"},
        ),
        record(
            "stars/b",
            "hello.c",
            C,
            ["Apache-2.0", "MIT"],
            str(path),
            1,
            {"hexsha": "b2" * 20, "ext": "c", "lang": "C"},
        ),
    ]


class Match(NamedTuple):
    spdx_id: str
    score: float


def fake_detect(text: str) -> Match | None:
    if "Permission is hereby granted" in text:
        return Match("MIT", 0.99)
    if "GNU GENERAL PUBLIC LICENSE" in text:
        return Match("GPL-3.0-only", 0.98)
    return None


def make_tree(root: Path) -> None:
    alpha = root / "alpha"
    (alpha / "src").mkdir(parents=True)
    (alpha / "LICENSE").write_bytes(MIT)
    (alpha / "src" / "add.py").write_bytes(PY)
    (alpha / "hello.c").write_bytes(C)
    (alpha / ".git").mkdir()
    (alpha / ".git" / "HEAD").write_bytes(b"ref: refs/heads/main\n")
    (alpha / "link.py").symlink_to("/etc/passwd")
    (alpha / "src" / "up").symlink_to(root)
    beta = root / "beta"
    beta.mkdir()
    (beta / "COPYING").write_bytes(GPL)
    (beta / "LICENSE-MIT").write_bytes(MIT)
    (beta / "a.js").write_bytes(BOM_JS)
    gamma = root / "gamma"
    gamma.mkdir()
    (gamma / "README.md").write_bytes(b"# gamma\n")


def test_tree_of_repositories(tmp_path: Path) -> None:
    make_tree(tmp_path)
    got = list(read_tree(str(tmp_path), detect=fake_detect))
    a, b, g = (str(tmp_path / n) for n in ("alpha", "beta", "gamma"))
    both = ["GPL-3.0-only", "MIT"]
    js_text = "export const answer = 42;\n"
    assert got == [
        record("alpha", "LICENSE", MIT, "MIT", f"{a}/LICENSE", 0),
        record("alpha", "hello.c", C, "MIT", f"{a}/hello.c", 0),
        record("alpha", "src/add.py", PY, "MIT", f"{a}/src/add.py", 0),
        record("beta", "COPYING", GPL, both, f"{b}/COPYING", 0),
        record("beta", "LICENSE-MIT", MIT, both, f"{b}/LICENSE-MIT", 0),
        record("beta", "a.js", BOM_JS, both, f"{b}/a.js", 0, text=js_text),
        record("gamma", "README.md", b"# gamma\n", None, f"{g}/README.md", 0),
    ]
    assert detect_kind(str(tmp_path)) == "tree"


def test_single_repository_given_directly(tmp_path: Path) -> None:
    make_tree(tmp_path)
    got = list(read_tree(str(tmp_path / "alpha") + "/", detect=fake_detect))
    assert [(r.repo_name, r.path, r.license) for r in got] == [
        ("alpha", "LICENSE", "MIT"),
        ("alpha", "hello.c", "MIT"),
        ("alpha", "src/add.py", "MIT"),
    ]
    assert repository_license(str(tmp_path / "gamma"), fake_detect) is None


def test_bad_records_in_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl.gz"
    lines = [
        json.dumps({"repo_name": "r/bin", "path": "logo.png", "binary": True, "content": None}),
        json.dumps({"repo_name": "r/nul", "path": "x.o", "content": "ELF\u0000\u0001"}),
        json.dumps({"repo_name": "r/big", "path": "big.js", "content": "a" * 2000}),
        json.dumps({"repo_name": "r/lone", "path": "s.py", "content": "x = '\udcff'\n"}),
        '{"repo_name": "r/latin1", "path": "l.txt", "content": "caf\xe9"}',
        '{"repo_name": "r/cut", "path": "c.py", "content": "de',
        "[1, 2]",
        json.dumps({"repo_name": "r/nopath", "content": "x"}),
        "",
        json.dumps({"repo_name": "r/null", "path": "n.py", "content": None, "size": 10}),
        json.dumps({"repo_name": "r/huge", "path": "h.bin", "content": None, "size": 5000}),
        json.dumps({"repo_name": "r/ok", "path": "add.py", "content": PY.decode()}),
    ]
    raw = "\n".join(lines).encode("utf-8").replace("caf\xe9".encode(), b"caf\xe9") + b"\n"
    path.write_bytes(gzip.compress(raw))
    got = list(read_bigquery(str(path), max_file_bytes=1000))
    assert letters(got) == [
        (0, "binary", True, "r/bin", "logo.png"),
        (1, "binary", True, "r/nul", "x.o"),
        (2, "too_large", True, "r/big", "big.js"),
        (3, "invalid_utf8", True, "r/lone", "s.py"),
        (4, "invalid_utf8", True, "r/latin1", "l.txt"),
        (5, "bad_json", False, None, None),
        (6, "bad_record", False, None, None),
        (7, "bad_record", False, None, None),
        (9, "no_content", True, "r/null", "n.py"),
        (10, "too_large", True, "r/huge", "h.bin"),
    ]
    assert got[-1] == record("r/ok", "add.py", PY, None, str(path), 11)


def test_gzip_members_corrupt_and_truncated(tmp_path: Path) -> None:
    member = gzip.compress(jsonl(BIGQUERY_ROWS * 200), mtime=0)
    two = tmp_path / "two-members.jsonl.gz"
    two.write_bytes(member + member)
    assert [r.offset for r in read_bigquery(str(two))] == list(range(1200))
    truncated = tmp_path / "truncated.jsonl.gz"
    truncated.write_bytes(member[: len(member) // 2])
    got = list(read_bigquery(str(truncated)))
    assert [r.offset for r in got[:-1] if isinstance(r, CodeFile)] == list(range(100))
    assert letters(got[-1:]) == [(99, "truncated", False, None, None)]
    bad_crc = tmp_path / "bad-crc.jsonl.gz"
    bad_crc.write_bytes(member + member[:-8] + bytes(4) + member[-4:])
    got = list(read_bigquery(str(bad_crc)))
    assert [r.offset for r in got[:-1] if isinstance(r, CodeFile)] == list(range(1200))
    assert letters(got[-1:]) == [(1199, "corrupt_gzip", False, None, None)]
    assert "incorrect data check" in got[-1].error
    # zeros decompress to garbage lines until the member's CRC check fails
    zeros = tmp_path / "zeros.jsonl.gz"
    zeros.write_bytes(member[:500] + bytes(64) + member[564:])
    got = list(read_bigquery(str(zeros)))
    assert [r.offset for r in got[:100]] == list(range(100))
    assert {d.reason for d in got[100:-1] if isinstance(d, DeadLetter)} == {"bad_json"}
    assert letters(got[-1:]) == [(got[-2].offset, "corrupt_gzip", False, None, None)]
    not_gzip = tmp_path / "binary.jsonl.gz"
    not_gzip.write_bytes(b"\x1f\x8b\x07garbage")
    assert letters(read_bigquery(str(not_gzip))) == [(0, "corrupt_gzip", False, None, None)]


def test_unreadable_parquet(tmp_path: Path) -> None:
    garbage = tmp_path / "broken.parquet"
    garbage.write_bytes(b"PAR1" + os.urandom(100))
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"text": ["x"]}), other)
    assert letters(read_stack(str(garbage))) == [(0, "bad_parquet", False, None, None)]
    assert letters(read_bigquery(str(other))) == [(0, "bad_schema", False, None, None)]
    assert letters(read_stack(str(other))) == [(0, "bad_schema", False, None, None)]


def test_bad_content_in_parquet(tmp_path: Path) -> None:
    path = tmp_path / "stack.parquet"
    invalid = pa.array([b"caf\xe9\n", b"\x00\x01ELF"], pa.binary()).view(pa.string())
    table = stack_table(["", ""]).set_column(4, "content", invalid)
    pq.write_table(table, path)
    got = list(read_stack(str(path)))
    assert letters(got) == [
        (0, "invalid_utf8", True, "stars/a", "src/add.py"),
        (1, "binary", True, "stars/b", "hello.c"),
    ]


def test_bad_files_in_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_bytes(PY)
    (repo / "big.js").write_bytes(b"x" * 5000)
    (repo / "latin1.txt").write_bytes(b"caf\xe9\n")
    (repo / "lib.so").write_bytes(b"\x7fELF\x02\x01\x01\x00")
    got = list(read_tree(str(repo), max_file_bytes=1000, detect=fake_detect))
    assert got[0] == record("repo", "a.py", PY, None, str(repo / "a.py"), 0)
    assert letters(got) == [
        (0, "too_large", True, "repo", "big.js"),
        (0, "invalid_utf8", True, "repo", "latin1.txt"),
        (0, "binary", True, "repo", "lib.so"),
    ]
    assert [d.file for d in got[1:]] == [str(repo / n) for n in ("big.js", "latin1.txt", "lib.so")]


def test_100_mb_line_is_skipped_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl.gz"
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b'{"repo_name": "r/huge", "path": "bundle.js", "content": "')
        block = b"var a = 1;" * (1 << 17)  # 1.25 MiB
        for _ in range(80):  # 100 MiB
            fh.write(block)
        fh.write(b'"}\n')
        fh.write(jsonl([{"repo_name": "r/ok", "path": "add.py", "content": PY.decode()}]))
    tracemalloc.start()
    try:
        got = list(read_bigquery(str(path)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert letters(got) == [(0, "too_large", True, "r/huge", "bundle.js")]
    assert got[1] == record("r/ok", "add.py", PY, None, str(path), 1)
    assert peak < 24 << 20  # a line limit of 6 MiB + 64 KiB plus a few 1 MiB chunks


def test_detect_kind_and_read_code_errors(tmp_path: Path) -> None:
    assert detect_kind("gs://bucket/github/github-000.json.gz") == "bigquery"
    assert detect_kind(str(tmp_path / "x.jsonl")) == "bigquery"
    other = tmp_path / "notes.txt"
    other.write_bytes(b"hello")
    with pytest.raises(ValueError, match="not a directory, JSON lines or Parquet"):
        detect_kind(str(other))
    with pytest.raises(ValueError, match="unknown kind"):
        read_code(str(other), "gitlab", 1 << 20)


def test_real_license_detection_on_the_sample_trees(sample: Path) -> None:
    trees = sample / "github" / "trees"
    if not trees.is_dir():
        pytest.fail(f"no GitHub trees in {sample}: run `make sample` again")
    got = list(read_tree(str(trees)))
    assert all(isinstance(r, CodeFile) for r in got)
    assert {r.repo_name: r.license for r in got} == {
        "MarkupSafe": "BSD-3-Clause",
        "chardet": "LGPL-2.1-only",
        "immer": "MIT",
        "six": "MIT",
    }
