"""samples/code.py: the pure parts without network, and the built sample when it is there."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections import Counter
from pathlib import Path

import pytest

from core.deadletter import DeadLetter
from readers.github import CodeFile, read_bigquery
from samples.code import (
    EXPORT,
    PACKAGES,
    Package,
    archive_files,
    bigquery_license,
    export_rows,
    hostile_rows,
    jsonl_gz,
    language,
    select_files,
    tree_digest,
)

SIX = b'"""Utilities for writing code that runs on Python 2 and 3"""\n'
MIT = b"Copyright (c) 2010-2020 Benjamin Peterson\n\nPermission is hereby granted...\n"


def tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


PKG = Package("pypi", "six", "1.16.0", "0" * 64, "MIT", "LICENSE", ("*.py", "README.rst"), limit=2)


def test_bigquery_license_keys() -> None:
    assert [bigquery_license(p.spdx) for p in PACKAGES] == [
        "bsd-3-clause",
        "mit",
        "mit",
        "apache-2.0",
        "mit",
        "apache-2.0",
        "bsd-3-clause",
        "bsd-2-clause",
        "lgpl-2.1",
        "gpl-2.0",
        "mit",
        "mit",
    ]
    assert bigquery_license("GPL-3.0-only") == "gpl-3.0"
    with pytest.raises(ValueError, match="no key"):
        bigquery_license("BSL-1.0")


def test_archive_files_and_selection() -> None:
    data = tarball(
        {
            "six-1.16.0/LICENSE": MIT,
            "six-1.16.0/six.py": SIX,
            "six-1.16.0/test_six.py": b"import six\n",
            "six-1.16.0/setup.py": b"from setuptools import setup\n",
            "six-1.16.0/logo.py": b"\x89PNG\r\n\x1a\n\x00",
            "six-1.16.0/latin1.py": b"# caf\xe9\n",
            "six-1.16.0/../evil.py": b"x\n",
            "/abs.py": b"x\n",
            "top.py": b"x\n",
        }
    )
    files = archive_files(data)
    assert sorted(files) == ["LICENSE", "latin1.py", "logo.py", "setup.py", "six.py", "test_six.py"]
    # sorted, text only, the licence file first and `limit` files besides it
    assert select_files(PKG, files) == [
        ("LICENSE", MIT),
        ("setup.py", files["setup.py"]),
        ("six.py", SIX),
    ]
    with pytest.raises(ValueError, match="no LICENSE"):
        select_files(PKG, {"six.py": SIX})


def test_export_rows_are_read_back_exactly(tmp_path: Path) -> None:
    rows = export_rows(PKG, [("LICENSE", MIT), ("six.py", SIX)])
    assert rows == [
        {
            "repo_name": "six",
            "path": "LICENSE",
            "content": MIT.decode(),
            "license": "mit",
            "size": len(MIT),
        },
        {
            "repo_name": "six",
            "path": "six.py",
            "content": SIX.decode(),
            "license": "mit",
            "size": len(SIX),
        },
    ]
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(jsonl_gz(rows))
    assert [(r.repo_name, r.path, r.content, r.license) for r in read_bigquery(str(path))] == [
        ("six", "LICENSE", MIT, "mit"),
        ("six", "six.py", SIX, "mit"),
    ]


def test_deterministic_output() -> None:
    rows = export_rows(PKG, [("LICENSE", MIT), ("six.py", SIX)])
    assert jsonl_gz(rows) == jsonl_gz(list(rows))
    assert gzip.decompress(jsonl_gz(rows)).count(b"\n") == 2
    assert tree_digest([("b", b"2"), ("a", b"1")]) == tree_digest([("a", b"1"), ("b", b"2")])
    assert tree_digest([("a", b"1")]) != tree_digest([("a", b"2")])
    assert jsonl_gz(hostile_rows()) == jsonl_gz(hostile_rows())


def test_hostile_rows_are_dead_letters(tmp_path: Path) -> None:
    path = tmp_path / "hostile.jsonl.gz"
    path.write_bytes(jsonl_gz(hostile_rows()))
    got = list(read_bigquery(str(path)))
    assert [(d.reason, d.document, d.path) for d in got if isinstance(d, DeadLetter)] == [
        ("binary", True, "build/app.o"),
        ("binary", True, "docs/logo.png"),
        ("invalid_utf8", True, "latin1.c"),
        ("invalid_utf8", True, "surrogate.py"),
        ("too_large", True, "dist/bundle.js"),
    ]


def test_languages() -> None:
    assert [language(p) for p in ("a.c", "b.hpp", "c.go", "d.rs", "e.ts", "f.sh", "g.toml")] == [
        "C",
        "C++",
        "Go",
        "Rust",
        "TypeScript",
        "Shell",
        "other",
    ]


def test_built_sample(sample: Path) -> None:
    github = sample / "github"
    if not (github / EXPORT).exists():
        pytest.fail(f"no GitHub part in {sample}: run `make sample` again")
    records = list(read_bigquery(str(github / EXPORT)))
    assert all(isinstance(r, CodeFile) for r in records)
    languages = {language(r.path) for r in records} - {"other", "reStructuredText"}
    assert len(languages) >= 8
    assert {"lgpl-2.1", "gpl-2.0", "mit", "apache-2.0"} <= {r.license for r in records}
    by_md5 = Counter(r.content_md5 for r in records if r.path.endswith("six.py"))
    assert list(by_md5.values()) == [2]  # six.py vendored in pip, byte for byte
    minified = [r for r in records if r.path.endswith(".min.js")]
    assert minified and all(max(map(len, r.text.splitlines())) > 1000 for r in minified)
    manifest = json.loads((sample / "MANIFEST.json").read_text())
    entry = next(e for e in manifest["files"] if e["file"] == f"github/{EXPORT}")
    assert entry["records"] == len(records) == sum(p["files"] for p in entry["packages"])
    assert (github / "trees" / "six" / "LICENSE").exists()
