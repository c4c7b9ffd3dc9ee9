"""GitHub file rules: header removal, statistics, the quality filter (filters/code.py)."""

from __future__ import annotations

import pytest
from conftest import ROOT

from filters.base import apply
from filters.code import (
    EXTENSIONS,
    CodeFilter,
    CodeStats,
    HeaderFilter,
    PathFilter,
    code_stats,
    is_skipped_path,
    language_of,
    neox_counter,
    strip_header,
)

NEOX = ROOT / "models/gpt-neox-20b.tokenizer.json"  # make models

APACHE_C = (
    "/*\n"
    " * Copyright (c) 2015 The Foo Authors.\n"
    " *\n"
    ' * Licensed under the Apache License, Version 2.0 (the "License");\n'
    " * you may not use this file except in compliance with the License.\n"
    " */\n"
    "\n"
)


@pytest.mark.parametrize(
    ("path", "text", "expected"),
    [
        pytest.param(
            "tool.py",
            "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n"
            "# Copyright 2020 Foo Inc.\n# SPDX-License-Identifier: MIT\n\nimport os\n",
            "#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\nimport os\n",
            id="python-shebang-encoding",
        ),
        pytest.param(
            "main.c",
            APACHE_C + "#include <stdio.h>\n#define N 3\n\nint main(void) { return N; }\n",
            "#include <stdio.h>\n#define N 3\n\nint main(void) { return N; }\n",
            id="c-include-define-kept",
        ),
        pytest.param(
            "list.c",
            "// Copyright 2019 Bar Ltd.\n// Use of this source is governed by the MIT license.\n\n"
            "#include <list.h>\n\n/* Appends x; the list owns it afterwards. */\n"
            "void append(int x);\n",
            "#include <list.h>\n\n/* Appends x; the list owns it afterwards. */\n"
            "void append(int x);\n",
            id="c-slashes-then-later-block",
        ),
        pytest.param(
            "vec.cpp",
            "/* Copyright (C) 2018 Baz. All rights reserved. */\n#pragma once\nclass Vec {};\n",
            "#pragma once\nclass Vec {};\n",
            id="cpp-one-line-block",
        ),
        pytest.param(
            "main.go",
            "// Copyright 2009 The Go Authors. All rights reserved.\n"
            "// Use of this source code is governed by a BSD-style\n"
            "// license that can be found in the LICENSE file.\n\n"
            "// Package main prints.\npackage main\n",
            "// Package main prints.\npackage main\n",
            id="go-package-doc-kept",
        ),
        pytest.param(
            "lib.rs",
            "// SPDX-License-Identifier: MIT OR Apache-2.0\n//! Parses things.\nfn f() {}\n",
            "//! Parses things.\nfn f() {}\n",
            id="rust-spdx-line",
        ),
        pytest.param(
            "app.js",
            "/**\n * Array helpers: chunk, zip and flatten.\n */\nexport const x = 1;\n"
            "/* Copyright 2020 is not at the top */\n",
            "/**\n * Array helpers: chunk, zip and flatten.\n */\nexport const x = 1;\n"
            "/* Copyright 2020 is not at the top */\n",
            id="js-doc-comment-kept",
        ),
        pytest.param(
            "A.java",
            APACHE_C + "package org.foo;\n\n/** A thing. */\npublic class A {}\n",
            "package org.foo;\n\n/** A thing. */\npublic class A {}\n",
            id="java",
        ),
        pytest.param(
            "run.sh",
            "#!/bin/sh\n\n# Copyright 2021 Qux\n# Licensed under the BSD 3-Clause license.\n\n"
            "set -e\necho hi\n",
            "#!/bin/sh\n\nset -e\necho hi\n",
            id="shell",
        ),
        pytest.param(
            "schema.sql",
            "-- Copyright 2020 Foo\n-- Licensed under the Apache License 2.0\n\n"
            "-- The users table.\nCREATE TABLE users (id INT);\n",
            "-- The users table.\nCREATE TABLE users (id INT);\n",
            id="sql",
        ),
        pytest.param(
            "page.html",
            "<!DOCTYPE html>\n<!--\n  Copyright 2020 Foo. Licensed under the MIT License.\n-->\n"
            "<html></html>\n",
            "<!DOCTYPE html>\n<html></html>\n",
            id="html",
        ),
        pytest.param(
            "pom.xml",
            '<?xml version="1.0" encoding="UTF-8"?>\n<!-- Copyright 2020 Foo, Apache License -->\n'
            "<project/>\n",
            '<?xml version="1.0" encoding="UTF-8"?>\n<project/>\n',
            id="xml",
        ),
        pytest.param(
            "mod.py",
            '# coding=utf-8\n"""Copyright 2020 Foo.\n\nLicensed under the MIT License.\n"""\n'
            '"""Real documentation."""\nimport os\n',
            '# coding=utf-8\n"""Real documentation."""\nimport os\n',
            id="python-licence-docstring",
        ),
        pytest.param(
            "doc.py",
            '"""Parse the config file and return a dict."""\nimport os\n',
            '"""Parse the config file and return a dict."""\nimport os\n',
            id="python-doc-docstring-kept",
        ),
        pytest.param(
            "x.lua",
            "-- Utility functions for strings.\nlocal M = {}\n",
            "-- Utility functions for strings.\nlocal M = {}\n",
            id="lua-doc-kept",
        ),
        pytest.param(
            "open.c",
            "/* Copyright 2020 Foo\nint x; /* never closed on its own line */ int y;\n",
            "/* Copyright 2020 Foo\nint x; /* never closed on its own line */ int y;\n",
            id="code-after-closing-kept",
        ),
    ],
)
def test_strip_header(path: str, text: str, expected: str) -> None:
    assert strip_header(text, path) == expected


def test_extensions_and_languages() -> None:
    assert len(EXTENSIONS) == len(set(EXTENSIONS)) == 66  # RedPajama's tuple, verbatim
    assert [language_of(p) for p in ("a.py", "a.h", "x/Dockerfile", "a.C", "a.phps", "a.txt")] == [
        "Python", "C", "Dockerfile", "C++", "PHP", None,
    ]  # fmt: skip
    assert language_of("a.PY") is None  # case-sensitive, as RedPajama's endswith


def test_skipped_paths() -> None:
    skipped = [
        "LICENSE", "sub/LICENSE.txt", "COPYING", "COPYING.LESSER", "LICENSE-MIT",
        "a/b/licence.md", "LICENSE.APACHE", "x.crt",
    ]  # fmt: skip
    kept = ["license.py", "src/licenses/mit.go", "copying.c", "main.c"]
    assert [is_skipped_path(p) for p in skipped] == [True] * 8
    assert [is_skipped_path(p) for p in kept] == [False] * 4


def test_code_stats_exact() -> None:
    assert code_stats("ab\ncd 12\n", count_tokens=lambda t: 3) == CodeStats(
        line_count=2, max_line_length=5, avg_line_length=4.5, alnum_prop=6 / 9,
        alpha_per_token=4 / 3,
    )  # fmt: skip
    # Non-ASCII letters count as str.isalnum/isalpha do.
    assert code_stats("é1 ½", count_tokens=None) == CodeStats(1, 4, 4.0, 0.75, None)
    assert code_stats("", count_tokens=len) == CodeStats(0, 0, 0.0, 0.0, 0.0)


def test_neox_token_count() -> None:
    count = neox_counter(NEOX)
    # GPT-NeoX-20B's BPE has tokens for runs of spaces, which GPT-2's lacks.
    assert count("def f(x):\n    return x  # hello world\n") == 14
    assert code_stats("def f(x):\n    return x\n", count).alpha_per_token == 12 / 10


def test_path_filter_before_dedup() -> None:
    docs = [{"path": p} for p in ("src/a.py", "LICENSE", "certs/ca.crt", "notes.txt", "Makefile")]
    result = apply([PathFilter()], docs)
    assert [d["path"] for d in result.kept] == ["src/a.py", "Makefile"]
    assert [d.reason for _, _, d in result.dropped] == ["skipped_path", "skipped_path", "extension"]


def _doc(text: str, path: str = "a.py") -> dict:
    return {"text": text, "path": path}


def test_code_filter_reasons() -> None:
    good = "def compute_total(values):\n    return sum(values)\n"
    docs = [
        _doc(good),
        _doc(""),
        _doc(good, "a.txt"),
        _doc("x" * 1001 + "\n"),
        _doc(("word " * 30 + "\n") * 3),
        _doc("{}[]();\n" * 4),
        _doc("1 2 3 4 5 6 7 8 9\n"),
    ]
    result = apply([CodeFilter(neox_counter(NEOX))], docs)
    assert result.kept == [docs[0]]
    assert [d.reason for _, _, d in result.dropped] == [
        "empty", "extension", "long_line", "mean_line_length", "alnum_fraction",
        "alpha_per_token",
    ]  # fmt: skip
    assert docs[0] == {
        "text": good, "path": "a.py", "language": "Python", "line_count": 2,
        "max_line_length": 26, "avg_line_length": 25.0, "alnum_prop": 36 / 50,
        "alpha_per_token": 36 / 15,
    }  # fmt: skip


def test_header_filter() -> None:
    docs = [
        {"content": "# Copyright 2020 Foo, MIT license\nprint(1)\n", "path": "a.py"},
        {"content": "/* Copyright 2020 Foo. All rights reserved. */\n", "path": "b.c"},
        {"content": "MIT License ...", "path": "pkg/LICENSE"},
        {"content": "-----BEGIN CERTIFICATE-----", "path": "ca.crt"},
    ]
    stage = HeaderFilter()
    result = apply([stage], docs)
    assert [d["text"] for d in result.kept] == ["print(1)\n"]
    assert [d.reason for _, _, d in result.dropped] == ["empty", "skipped_path", "skipped_path"]
    assert dict(stage.take_counts()) == {("headers", "removed"): 2}


def test_large_file_is_linear() -> None:
    """20 MB through the header remover and the statistics: no quadratic path (one comment
    block that never closes, then a long comment run, then code)."""
    line = "    value = compute(value, 42)  # keep going\n"
    big = "/* Copyright 2020\n" + "# Licensed under MIT\n" * 200_000 + line * 450_000
    assert len(big) > 20_000_000
    assert strip_header(big, "a.py").startswith("/* Copyright 2020\n")
    assert strip_header(big, "a.c") == big
    stripped = strip_header(big[18:], "big.py")
    assert stripped == line * 450_000
    stats = code_stats(stripped, count_tokens=None)
    assert (stats.line_count, stats.max_line_length) == (450_000, len(line) - 1)
