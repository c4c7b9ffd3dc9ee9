"""Licence names, expressions, the licence filter, and the LICENSE-file matcher on real texts."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest

from filters.base import apply
from filters.licenses import (
    PERMISSIVE,
    LicenseFilter,
    detect_license,
    is_permissive,
    license_verdict,
    spdx_of,
)

BIGQUERY = {
    "mit": "MIT", "apache-2.0": "Apache-2.0", "bsd-3-clause": "BSD-3-Clause",
    "bsd-2-clause": "BSD-2-Clause", "gpl-2.0": "GPL-2.0-only", "gpl-3.0": "GPL-3.0-only",
    "lgpl-2.1": "LGPL-2.1-only", "lgpl-3.0": "LGPL-3.0-only", "agpl-3.0": "AGPL-3.0-only",
    "mpl-2.0": "MPL-2.0", "epl-1.0": "EPL-1.0", "isc": "ISC", "cc0-1.0": "CC0-1.0",
    "unlicense": "Unlicense", "artistic-2.0": "Artistic-2.0",
}  # fmt: skip
PYPI = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)":
        "GPL-3.0-or-later",
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Library or Lesser General Public License (LGPL)":
        "LGPL-2.0-or-later",
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved": None,
    "BSD": "BSD-3-Clause", "Apache 2.0": "Apache-2.0", "MIT License": "MIT",
    "The MIT License": "MIT", "Apache License, Version 2.0": "Apache-2.0",
    "Apache License 2.0": "Apache-2.0", "GPLv3": "GPL-3.0-only", "GPL v2": "GPL-2.0-only",
    "BSD 3-Clause License": "BSD-3-Clause", "3-clause BSD": "BSD-3-Clause",
    "Simplified BSD": "BSD-2-Clause", "Foo License": None, "": None,
}  # fmt: skip
STACK = {
    "MIT": "MIT", "Apache-2.0": "Apache-2.0", "BSD-3-Clause-Clear": "BSD-3-Clause-Clear",
    "0BSD": "0BSD", "GPL-2.0-or-later": "GPL-2.0-or-later", "LGPL-2.1+": "LGPL-2.1-or-later",
    "gpl-3.0-only": "GPL-3.0-only", "BSD-2-Clause-FreeBSD": "BSD-2-Clause", "Zlib": "Zlib",
}  # fmt: skip


@pytest.mark.parametrize("table", [BIGQUERY, PYPI, STACK], ids=["bigquery", "pypi", "stack"])
def test_spdx_of(table: dict[str, str | None]) -> None:
    assert {name: spdx_of(name) for name in table} == table


def test_permissive_set() -> None:
    assert {spdx_of(k) for k in ("mit", "apache-2.0", "bsd-2-clause", "bsd-3-clause")} < PERMISSIVE
    assert {"ISC", "BSD-4-Clause", "GPL-2.0-only", "MPL-2.0", "Unlicense"}.isdisjoint(PERMISSIVE)


@pytest.mark.parametrize(
    ("licenses", "verdict"),
    [
        ("mit", True), ("gpl-3.0", False), ("isc", False), ("Foo", None), ("", None),
        (None, None), ("MIT OR GPL-3.0", True), ("Apache-2.0 AND GPL-2.0", False),
        ("(MIT OR Apache-2.0) AND BSD-3-Clause", True),
        ("GPL-2.0 WITH Classpath-exception-2.0", False), ("MIT/Apache-2.0", True),
        ("MIT or Apache 2.0", True), ("Foo OR MIT", True), ("Foo AND MIT", None),
        ("MIT AND", None), (["MIT", "Apache-2.0"], True), (["MIT", "GPL-3.0"], False),
        (["MIT", "Foo"], None), ([], None),
    ],
)  # fmt: skip
def test_license_verdict(licenses, verdict) -> None:
    assert license_verdict(licenses) is verdict
    assert is_permissive(licenses) is (verdict is True)


def test_license_filter() -> None:
    docs = [{"license": v} for v in ("mit", ["Apache-2.0"], "gpl-2.0", None, "", "weird")]
    result = apply([LicenseFilter()], docs)
    assert result.kept == docs[:2]
    assert [d.reason for _, _, d in result.dropped] == [
        "license_not_permissive", "license_unknown", "license_unknown", "license_unknown",
    ]  # fmt: skip


def _dist_file(dist: str, name: str) -> str:
    files = [f for f in distribution(dist).files or () if f.name == name and "dist-info" in str(f)]
    assert len(files) == 1, (dist, name, files)
    return Path(str(files[0].locate())).read_text(encoding="utf-8")


# Installed wheels' own licence files (the project's dependencies), with their known licences.
REAL = [
    ("click", "LICENSE.txt", "BSD-3-Clause"),  # Pallets' 3-clause text
    ("markupsafe", "LICENSE.txt", "BSD-3-Clause"),
    ("pygments", "LICENSE", "BSD-2-Clause"),
    ("urllib3", "LICENSE.txt", "MIT"),
    ("attrs", "LICENSE", "MIT"),
    ("six", "LICENSE", "MIT"),
    ("requests", "LICENSE", "Apache-2.0"),  # the full text without its appendix
    ("rsa", "LICENSE", "Apache-2.0"),  # only the short Apache notice
    ("google-auth", "LICENSE", "Apache-2.0"),
    ("dnspython", "LICENSE", "ISC"),
    ("ufal.kenlm", "COPYING", "LGPL-2.1-only"),
    ("ufal.kenlm", "COPYING.3", "GPL-3.0-only"),
    ("ufal.kenlm", "COPYING.LESSER.3", "LGPL-3.0-only"),
    ("spdx", "LICENSE", "CC0-1.0"),
]
DEBIAN = {  # /usr/share/common-licenses, Debian's base-files
    "Apache-2.0": "Apache-2.0", "BSD": "BSD-3-Clause", "GPL-2": "GPL-2.0-only",
    "GPL-3": "GPL-3.0-only", "LGPL-2.1": "LGPL-2.1-only", "LGPL-3": "LGPL-3.0-only",
    "MPL-2.0": "MPL-2.0",
}  # fmt: skip


@pytest.mark.parametrize(("dist", "name", "expected"), REAL)
def test_detect_license_on_wheels(dist: str, name: str, expected: str) -> None:
    match = detect_license(_dist_file(dist, name))
    assert match is not None and match.spdx_id == expected
    assert match.score >= 0.9


@pytest.mark.parametrize(("name", "expected"), sorted(DEBIAN.items()))
def test_detect_license_on_debian_texts(name: str, expected: str) -> None:
    match = detect_license(Path("/usr/share/common-licenses", name).read_text(encoding="utf-8"))
    assert match is not None and match.spdx_id == expected


def test_gpl_with_permissive_terms_is_gpl() -> None:
    gpl = Path("/usr/share/common-licenses/GPL-3").read_text(encoding="utf-8")
    mit = _dist_file("urllib3", "LICENSE.txt")
    for text in (mit + "\n\n" + gpl, gpl + "\n\n" + mit):
        assert detect_license(text).spdx_id == "GPL-3.0-only"
    # A licence followed by an appendix still matches.
    assert (
        detect_license(mit + "\n\nThird-party notices:\n- foo: see foo/NOTICE\n").spdx_id == "MIT"
    )


def test_detect_license_unknown() -> None:
    assert detect_license("") is None
    assert detect_license("All code here belongs to ACME. Do not copy.\n") is None
    assert detect_license(_dist_file("certifi", "LICENSE")) is None  # an MPL notice, no text
