"""The GitHub pipeline: licence, path, dedup, header and quality stages on real and crafted code."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT
from localbucket import serve_gs

from core.schema import document_schema
from pipelines import github

SAMPLE = ROOT / "data/sample/github"
NEOX = ROOT / "models/gpt-neox-20b.tokenizer.json"
SAMPLE_INPUTS = [
    str(SAMPLE / "bigquery/*.jsonl.gz"),
    str(SAMPLE / "bad/*.jsonl.gz"),
    str(SAMPLE / "trees"),
]

PY_WITH_HEADER = (
    "#!/usr/bin/env python3\n"
    "# -*- coding: utf-8 -*-\n"
    "# Copyright (c) 2020 Example Authors.\n"
    "# Licensed under the MIT License. See LICENSE for details.\n"
    "\n"
    "def add(first_value, second_value):\n"
    "    return first_value + second_value\n"
)
PY_CLEANED = (
    "#!/usr/bin/env python3\n"
    "# -*- coding: utf-8 -*-\n"
    "def add(first_value, second_value):\n"
    "    return first_value + second_value\n"
)
GO = 'package main\n\nfunc main() {\n\tprintln("hello from the example program")\n}\n'


def _rows(out: Path, folder: str = "documents") -> list[dict]:
    files = sorted((out / folder).glob("*.parquet"))
    return sorted((r for f in files for r in pq.read_table(f).to_pylist()), key=lambda r: r["id"])


def _jsonl(out: Path, folder: str) -> list[dict]:
    return [json.loads(x) for f in sorted((out / folder).glob("*.jsonl")) for x in f.open()]


def _run(inputs: list[str], out: Path, *extra: str) -> dict:
    args = ["--input", *inputs, "--output", str(out), "--tokenizer", str(NEOX)]
    return github.main([*args, "--num_shards", "2", *extra])


def _export(path: Path, rows: list[dict]) -> str:
    path.write_bytes(gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in rows)))
    return str(path)


def test_each_stage_on_a_crafted_export(tmp_path):
    rows = [
        {"repo_name": "b/tool", "path": "add.py", "content": PY_WITH_HEADER, "license": "mit"},
        {"repo_name": "a/copy", "path": "vendor/add.py", "content": PY_WITH_HEADER,
         "license": "apache-2.0"},  # the same bytes: a/copy comes first, it is kept
        {"repo_name": "c/gpl", "path": "main.go", "content": GO, "license": "gpl-3.0"},
        {"repo_name": "d/go", "path": "main.go", "content": GO, "license": "bsd-3-clause"},
        {"repo_name": "d/go", "path": "LICENSE", "content": "MIT License ...", "license": "mit"},
        {"repo_name": "d/go", "path": "notes.txt", "content": "Some notes.", "license": "mit"},
        {"repo_name": "d/go", "path": "min.js", "content": "var a=1;" * 200, "license": "mit"},
        {"repo_name": "e/none", "path": "x.py", "content": "print(1)\n", "license": None},
    ]  # fmt: skip
    out = tmp_path / "out"
    report = _run([_export(tmp_path / "export.jsonl.gz", rows)], out, "--write_rejects")
    assert report["invariant"]["holds"] and report["totals"]["read"] == 8
    assert report["by_stage"]["license"] == {
        "dropped_license_not_permissive": 1,
        "dropped_license_unknown": 1,
    }
    assert report["by_stage"]["path"] == {"dropped_skipped_path": 1, "dropped_extension": 1}
    assert report["by_stage"]["dedup"] == {"dropped_duplicate": 1}
    assert report["by_stage"]["quality"] == {"dropped_long_line": 1}
    assert report["headers_removed"] == 1
    assert report["languages"] == {"Go": 1, "Python": 1}
    add, go = _rows(out)
    assert add == {
        "id": "github/a/copy/vendor/add.py",
        "text": PY_CLEANED,
        "source": "github",
        "url": "https://github.com/a/copy/blob/HEAD/vendor/add.py",
        "title": None,
        "repo_name": "a/copy",
        "path": "vendor/add.py",
        "license": "Apache-2.0",
        "language": "Python",
        "size": len(PY_WITH_HEADER),
        "content_hash": hashlib.md5(PY_WITH_HEADER.encode()).hexdigest(),
        "line_count": 4,
        "max_line_length": 37,
        "avg_line_length": len(PY_CLEANED) / 4,
        "alnum_prop": add["alnum_prop"],
        "alpha_per_token": add["alpha_per_token"],
    }  # fmt: skip
    assert 0.25 < add["alnum_prop"] < 1 and add["alpha_per_token"] > 1.5
    assert (go["repo_name"], go["license"], go["text"]) == ("d/go", "BSD-3-Clause", GO)
    reasons = sorted((r["id"], r["reason"]) for r in _jsonl(out, "rejected"))
    assert reasons == [
        ("github/b/tool/add.py", "duplicate"),
        ("github/c/gpl/main.go", "license_not_permissive"),
        ("github/d/go/LICENSE", "skipped_path"),
        ("github/d/go/min.js", "long_line"),
        ("github/d/go/notes.txt", "extension"),
        ("github/e/none/x.py", "license_unknown"),
    ]


def test_the_sample_export_hostile_records_and_trees(tmp_path):
    out = tmp_path / "github"
    report = _run(SAMPLE_INPUTS, out)
    assert report["invariant"]["holds"]
    read = report["by_stage"]["read"]
    assert read == {
        "read": 259,
        "dropped_binary": 2,
        "dropped_invalid_utf8": 2,
        "dropped_too_large": 1,
        "input_errors": 1,  # the truncated export
    }
    assert report["by_stage"]["license"] == {"dropped_license_not_permissive": 43}
    assert report["by_stage"]["dedup"] == {"dropped_duplicate": 25}
    assert report["totals"]["kept"] == 154
    docs = _rows(out)
    assert pq.read_schema(next((out / "documents").glob("*.parquet"))).names == (
        document_schema("github").names
    )
    by_path = {(d["repo_name"], d["path"]) for d in docs}
    # copyleft repositories (chardet LGPL-2.1, Unidecode GPL-2.0) are gone, export and tree
    assert not {repo for repo, _ in by_path} & {"chardet", "Unidecode"}
    # six.py is vendored in pip byte for byte: one copy, the first by repository name
    assert ("pip", "src/pip/_vendor/six.py") in by_path and ("six", "six.py") not in by_path
    assert not [p for _, p in by_path if p.endswith(".min.js")]  # minified: long lines
    assert len(report["languages"]) >= 8
    dead = {(Path(d["file"]).name, d["reason"]) for d in _jsonl(out, "dead_letter")}
    assert dead == {
        ("hostile.jsonl.gz", "binary"),
        ("hostile.jsonl.gz", "invalid_utf8"),
        ("hostile.jsonl.gz", "too_large"),
        ("truncated.jsonl.gz", "truncated"),
    }
    # make tokenize and the tokenizer read the documents as any source's
    from pipelines.tokenize import document_files

    assert len(document_files(str(tmp_path), "github")) == 2


def test_inputs_of_unknown_kind_and_missing_tokenizer_stop_before_the_run(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SystemExit, match="not a directory, JSON lines or Parquet"):
        _run([str(tmp_path / "notes.txt")], tmp_path / "out")
    with pytest.raises(SystemExit, match="make models"):
        github.main(
            [*("--input", SAMPLE_INPUTS[0], "--output", str(tmp_path / "o")),
             *("--tokenizer", str(tmp_path / "none.json"))]
        )  # fmt: skip


def test_dataflow_job_builds_offline_with_dry_run(tmp_path, monkeypatch):
    args = ["--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN]
    with pytest.raises(SystemExit, match="cannot read local paths"):
        github.main(["--input", SAMPLE_INPUTS[0], "--tokenizer", str(NEOX), *args])
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(SAMPLE / "bigquery", tmp_path / "gcs/demo-bucket/github")
    shutil.copy(NEOX, tmp_path / "gcs/demo-bucket/neox.json")
    report = github.main(
        [
            *("--input", "gs://demo-bucket/github/*.jsonl.gz"),
            *("--tokenizer", "gs://demo-bucket/neox.json", *args),
        ]
    )
    assert report["dry_run"] and report["work_items"] == 1
    assert report["job"].proto_pipeline.components.transforms
    assert not (tmp_path / "gcs/demo-bucket/out").exists()


def test_near_duplicate_files_with_near_dedup(tmp_path):
    body = "".join(
        f"def function_{i}(value):\n    return value * {i} + offset\n" for i in range(60)
    )
    other = "".join(f"class Item{i}:\n    name = 'item number {i}'\n" for i in range(60))
    edited = body.replace("function_7(", "renamed_7(")
    rows = [
        {"repo_name": "z/fork", "path": "lib.py", "content": edited, "license": "mit"},
        {"repo_name": "a/origin", "path": "lib.py", "content": body, "license": "mit"},
        {"repo_name": "m/other", "path": "x.py", "content": other, "license": "mit"},
    ]  # fmt: skip
    export = _export(tmp_path / "export.jsonl.gz", rows)
    out = tmp_path / "out"
    report = _run([export], out, "--near_dedup", "--write_rejects")
    assert report["invariant"]["holds"]
    assert report["by_stage"]["near_dedup"] == {"dropped_near_duplicate": 1}
    assert [d["id"] for d in _rows(out)] == ["github/a/origin/lib.py", "github/m/other/x.py"]
    (cluster,) = _jsonl(out, "clusters")
    assert cluster["kept"] == "github/a/origin/lib.py"
    assert cluster["members"] == ["github/a/origin/lib.py", "github/z/fork/lib.py"]
    assert 0.85 <= cluster["pairs"][0][2] < 1.0
    assert report["outputs"]["clusters"]["rows"] == 1
    plain = _run([export], tmp_path / "plain")  # off by default: LLaMA had no near dedup
    assert plain["totals"]["kept"] == 3 and "near_dedup" not in plain["by_stage"]
