"""The GitHub part of the bundled sample: real source code from registry packages.

No GitHub or BigQuery is reachable offline, but PyPI sdists and npm tarballs are source trees
with a licence file. Each package below becomes one repository (repo_name = the package name)
and is written twice:

- github/bigquery/github-repos-00000.jsonl.gz: a BigQuery `github_repos` export as RedPajama's
  query made it (one JSON line per file: repo_name, path, content, license, size), with the
  licence as BigQuery's key ("mit", "bsd-3-clause"), including the copyleft packages that the
  query's licence condition would have left out, so the pipeline's licence filter has work;
- github/trees/<repo>/: the repositories marked `tree`, as local trees with their licence file.

What the pipeline must meet is in there on purpose: copyleft repositories (chardet LGPL-2.1,
Unidecode GPL-2.0), minified files (jQuery's *.min.js: the long-line rule), a vendored duplicate
(six.py byte for byte in six and in pip's _vendor: exact dedup), and C, C++, Go, Rust, Python,
JavaScript, TypeScript, Java, shell, SQL, Markdown and HTML. github/bad/ holds the hostile input
of the dead-letter path: a binary file, invalid UTF-8, a 7 MB line and a truncated gzip file.

Downloads are pinned by version and sha256 and go into the cache once; files are taken in sorted
order, at most `limit` per package, so the same cache gives the same bytes.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import json
import logging
import shutil
import tarfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.files import bytes_sha256, write_atomically
from readers import registry

log = logging.getLogger("codesample")

EXPORT = "bigquery/github-repos-00000.jsonl.gz"
HOSTILE = "bad/hostile.jsonl.gz"
TRUNCATED = "bad/truncated.jsonl.gz"  # the first half of an export of MarkupSafe
MAX_MEMBER_BYTES = (
    4 << 20
)  # no file of the sample is larger; an archive's bigger members are skipped
# Every licence key of bigquery-public-data.github_repos.licenses.
BIGQUERY_LICENSES = frozenset(
    {
        *("agpl-3.0", "apache-2.0", "artistic-2.0", "bsd-2-clause", "bsd-3-clause", "cc0-1.0"),
        *("epl-1.0", "gpl-2.0", "gpl-3.0", "isc", "lgpl-2.1", "lgpl-3.0", "mit", "mpl-2.0"),
        "unlicense",
    }
)
LANGUAGES = {
    ".c": "C",
    ".h": "C",
    ".cpp": "C++",
    ".hpp": "C++",
    ".cc": "C++",
    ".go": "Go",
    ".rs": "Rust",
    ".py": "Python",
    ".pyi": "Python",
    ".js": "JavaScript",
    ".mjs": "JavaScript",
    ".ts": "TypeScript",
    ".java": "Java",
    ".sh": "Shell",
    ".sql": "SQL",
    ".md": "Markdown",
    ".html": "HTML",
    ".rst": "reStructuredText",
}


@dataclass(frozen=True, slots=True)
class Package:
    registry: str  # "pypi" (the sdist) or "npm" (the tarball)
    name: str
    version: str
    sha256: str  # of the downloaded archive
    spdx: str  # the licence of the package's licence file
    license_file: str  # its path below the archive's top directory
    include: tuple[str, ...]  # fnmatch patterns of the files taken (`*` also matches "/")
    limit: int = 40  # files taken at most, besides the licence file
    tree: bool = False  # also written as a local repository tree


PACKAGES = (
    Package(
        "pypi", "MarkupSafe", "2.1.5",
        "d283d37a890ba4c1ae73ffadf8046435c76e7bc2247bbb63c00bd1a709c6544b",
        "BSD-3-Clause", "LICENSE.rst",
        ("src/markupsafe/*.py", "src/markupsafe/*.c", "README.rst"), tree=True,
    ),
    Package(
        "pypi", "six", "1.16.0",
        "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926",
        "MIT", "LICENSE", ("six.py", "README.rst"), tree=True,
    ),
    Package(
        "pypi", "pip", "23.3.2",
        "7fd9972f96db22c8077a1ee2691b172c8089b17a5652a44494a9ecb0d78f9149",
        "MIT", "LICENSE.txt", ("src/pip/_vendor/six.py", "src/pip/_internal/utils/[a-f]*.py"),
    ),
    Package(
        "pypi", "bcrypt", "4.0.1",
        "27d375903ac8261cfe4047f6709d16f7d18d39b1ec92aaf72af989552a650ebd",
        "Apache-2.0", "LICENSE", ("src/_bcrypt/src/*.rs", "src/bcrypt/*.py", "tests/*.py"),
    ),
    Package(
        "pypi", "greenlet", "3.0.3",
        "43374442353259554ce33599da8b692d5aa96f8976d567d4badf263371fbe491",
        "MIT", "LICENSE", ("src/greenlet/*.cpp", "src/greenlet/*.hpp"), limit=25,
    ),
    Package(
        "pypi", "JPype1", "1.5.0",
        "425a6e1966afdd5848b60c2688bcaeb7e40ba504a686f1114589668e0631e878",
        "Apache-2.0", "LICENSE",
        ("native/java/org/jpype/*.java", "native/common/jp_c*.cpp", "*.sh"), limit=30,
    ),
    Package(
        "pypi", "sqlparse", "0.5.0",
        "714d0a4932c059d16189f58ef5411ec2287a4360f17cdd0edd2d09d4c5087c93",
        "BSD-3-Clause", "LICENSE", ("tests/files/*.sql", "sqlparse/*.py", "CONTRIBUTING.md"),
    ),
    Package(
        "pypi", "pygments", "2.17.2",
        "da46cec9fd2de5be3a8a784f434e4c4ab670b4ff54d605c4c2717e9d49c4c367",
        "BSD-2-Clause", "LICENSE",
        ("tests/examplefiles/go/*.go", "tests/examplefiles/rust/*.rs",
         "tests/examplefiles/bash/*.sh", "tests/examplefiles/java/*.java",
         "tests/examplefiles/html/*.html", "tests/examplefiles/md/*.md",
         "tests/examplefiles/c/*.c"),
    ),
    Package(
        "pypi", "chardet", "5.2.0",
        "1b3b6ff479a8c414bc3fa2c0852995695c4a026dcd6d0633b2dd092ca39c1cf7",
        "LGPL-2.1-or-later", "LICENSE", ("chardet/*.py",), limit=15, tree=True,
    ),
    Package(
        "pypi", "Unidecode", "1.3.8",
        "cfdb349d46ed3873ece4586b96aa75258726e2fa8ec21d6f00a591d98806c2f4",
        "GPL-2.0-or-later", "LICENSE", ("unidecode/*.py",), limit=10,
    ),
    Package(
        "npm", "jquery", "3.7.1",
        "68a9f787516da47c680e09c187bcbac4536b6f85d90eb882844e12919e583f53",
        "MIT", "LICENSE.txt",
        ("dist/jquery.js", "dist/*.min.js", "src/*.js", "README.md"), limit=30,
    ),
    Package(
        "npm", "immer", "10.1.1",
        "946cc79684ad1e080b09d4f2da14247b272aa667f3aaa100f35846148689f08f",
        "MIT", "LICENSE", ("src/*.ts", "readme.md"), tree=True,
    ),
)  # fmt: skip


# ---- pure parts --------------------------------------------------------------------------------


def bigquery_license(spdx: str) -> str:
    """BigQuery's licence key of an SPDX id: "GPL-2.0-or-later" -> "gpl-2.0"."""
    key = spdx.lower().removesuffix("-only").removesuffix("-or-later")
    if key not in BIGQUERY_LICENSES:
        raise ValueError(f"{spdx} has no key in BigQuery's github_repos.licenses")
    return key


def language(path: str) -> str:
    return LANGUAGES.get(PurePosixPath(path).suffix, "other")


def is_text(data: bytes) -> bool:
    """What a BigQuery export holds as content: UTF-8 without NUL bytes."""
    if b"\0" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def archive_files(data: bytes) -> dict[str, bytes]:
    """The regular files of a .tar.gz, by path below its top directory; members with absolute
    paths or `..`, and members over MAX_MEMBER_BYTES, are left out."""
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if not member.isfile() or member.size > MAX_MEMBER_BYTES or len(parts) < 2:
                continue
            if member.name.startswith("/") or ".." in parts:
                continue
            content = tar.extractfile(member)
            if content is None:
                raise SystemExit(f"{member.name}: a file without a body in the archive")
            files["/".join(parts[1:])] = content.read()
    return files


def select_files(package: Package, files: dict[str, bytes]) -> list[tuple[str, bytes]]:
    """The licence file, then up to `limit` text files that match `include`, in path order."""
    if package.license_file not in files:
        raise ValueError(f"{package.name}: no {package.license_file}")
    chosen = [(package.license_file, files[package.license_file])]
    for path in sorted(files):
        if len(chosen) > package.limit:
            break
        wanted = any(fnmatch.fnmatchcase(path, pattern) for pattern in package.include)
        if wanted and path != package.license_file and is_text(files[path]):
            chosen.append((path, files[path]))
    return chosen


def export_rows(package: Package, files: list[tuple[str, bytes]]) -> list[dict]:
    """The package's files as rows of a github_repos export."""
    license = bigquery_license(package.spdx)
    return [
        {
            "repo_name": package.name,
            "path": path,
            "content": data.decode("utf-8"),
            "license": license,
            "size": len(data),
        }
        for path, data in files
    ]


def jsonl_gz(rows: Iterable[dict | bytes]) -> bytes:
    """Gzip JSON lines with a fixed mtime, so equal rows give equal bytes; bytes are lines
    written as they are (hostile input no JSON writer would produce)."""
    lines = (
        r if isinstance(r, bytes) else json.dumps(r, ensure_ascii=False).encode() for r in rows
    )
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=9, mtime=0)


def hostile_rows() -> list[dict | bytes]:
    """One file each way a github_repos export can break a reader: NUL bytes, BigQuery's own
    binary flag with null content, raw invalid UTF-8, a lone surrogate escape, a 7 MB line."""
    return [
        {
            "repo_name": "hostile",
            "path": "build/app.o",
            "content": "\x7fELF\x02\x01\x01\x00\x00\x00",
            "license": "mit",
            "size": 10,
        },
        {
            "repo_name": "hostile",
            "path": "docs/logo.png",
            "content": None,
            "license": "mit",
            "size": 5120,
            "binary": True,
        },
        b'{"repo_name": "hostile", "path": "latin1.c", "content": "/* caf\xe9 */\\n", '
        b'"license": "mit", "size": 12}',
        b'{"repo_name": "hostile", "path": "surrogate.py", "content": "s = \'\\udcff\'\\n", '
        b'"license": "mit", "size": 11}',
        {
            "repo_name": "hostile",
            "path": "dist/bundle.js",
            "content": "var a=1;" * (7 << 17),
            "license": "mit",
            "size": 7 << 20,
        },
    ]


def tree_digest(files: list[tuple[str, bytes]]) -> str:
    """sha256 over a tree's sorted paths and their contents' sha256."""
    lines = "".join(f"{bytes_sha256(data)}  {path}\n" for path, data in sorted(files))
    return bytes_sha256(lines.encode())


def package_entry(package: Package, files: list[tuple[str, bytes]]) -> dict:
    """What the MANIFEST says of one package: where it came from and what went in."""
    return {
        "package": f"{package.name}=={package.version}",
        "registry": package.registry,
        "sha256": package.sha256,
        "spdx": package.spdx,
        "license": bigquery_license(package.spdx),
        "files": len(files),
        "languages": dict(sorted(Counter(language(path) for path, _ in files).items())),
    }


# ---- downloads ---------------------------------------------------------------------------------


def fetch(package: Package, cache: Path) -> Path:
    """The package's archive, downloaded into `cache` once and checked against its sha256."""
    if package.registry == "npm":
        return registry.npm(package.name, package.version, cache, package.sha256)
    return registry.pypi(package.name, package.version, cache, sdist=True, sha256=package.sha256)


# ---- the build ---------------------------------------------------------------------------------


def _write_tree(directory: Path, files: list[tuple[str, bytes]]) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    for path, data in files:
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def build_github(cache: Path, out: Path) -> list[dict]:
    """Write github/ under `out` (the sample's github directory); its MANIFEST entries."""
    rows: list[dict] = []
    packages = []
    entries = []
    for package in PACKAGES:
        files = select_files(package, archive_files(fetch(package, cache).read_bytes()))
        rows += export_rows(package, files)
        packages.append(package_entry(package, files))
        log.info("github: %s==%s (%d files)", package.name, package.version, len(files))
        if package.tree:
            _write_tree(out / "trees" / package.name, files)
            entry = {"file": f"github/trees/{package.name}", "sha256": tree_digest(files)}
            entries.append({**entry, "files": len(files), "spdx": package.spdx})
    first = [row for row in rows if row["repo_name"] == PACKAGES[0].name]
    cut = jsonl_gz(first)
    outputs = [
        (EXPORT, jsonl_gz(rows), {"records": len(rows), "packages": packages}),
        (HOSTILE, jsonl_gz(hostile_rows()), {"records": len(hostile_rows())}),
        (TRUNCATED, cut[: len(cut) // 2], {"records_uncut": len(first)}),
    ]
    for name, data, details in outputs:
        write_atomically(out / name, data)
        entries.append({"file": f"github/{name}", "sha256": bytes_sha256(data), **details})
    log.info("github: %d files of %d repositories", len(rows), len(PACKAGES))
    return sorted(entries, key=lambda e: e["file"])
