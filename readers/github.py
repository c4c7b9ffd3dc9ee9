"""Source files of GitHub repositories from three inputs, as `CodeFile` records or dead letters
(docs/recipe/github.md, Input).

- BigQuery `github_repos` exports (RedPajama's query joined `contents`, `files` and `licenses`):
  JSON lines, plain or gzip, or Parquet, with `repo_name`, `path`, `content`, `license`.
- The Stack (bigcode/the-stack) Parquet: the repository and licences of its `max_stars_` columns.
- Local repository trees, whose licence is detected from their top-level licence file.

Decoding is done here, once, for every input: `text` is the content decoded strictly as UTF-8
(a leading BOM dropped) and `content_md5` the md5 of the raw bytes, on which the pipeline dedups.
A file that cannot be text (a NUL byte in its first 8 KiB or the input's binary flag, invalid
UTF-8) or is over `max_file_bytes` becomes a dead letter that counts as a document; input that
names no file (a corrupt gzip stream, a line that is not JSON, a Parquet file that cannot be
opened) becomes one that does not, and reading goes on with the next line, row group or file.
A gzip export is one stream whose CRC is checked only at its end, so the lines before a break
are kept, and damaged deflate data that still decodes gives bad_json lines until the check.
Memory is bounded by a few times max_file_bytes (and a Parquet row group) whatever the input:
an oversized JSON line is skipped as it streams past, an oversized local file is never opened.
Only I/O errors of the file system raise.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core.deadletter import DeadLetter
from readers.jsonl import bounded_dead_letters, lines, loads

# BigQuery's github_repos.contents holds content only for files under 1 MiB (larger ones and
# binary ones have a null content), so its own cap is the default.
DEFAULT_MAX_FILE_BYTES = 1 << 20
BINARY_SNIFF = 8 << 10  # git's own binary test looks for a NUL in the first 8000 bytes
LICENSE_FILE_LIMIT = 256 << 10  # licence texts are under 50 KB; read no more of one
# JSON escapes turn one byte of content into at most 6 (\u00XX), so a line longer than this holds
# content over max_file_bytes and is skipped unparsed; 64 KiB leaves room for the other fields.
_ESCAPE_FACTOR = 6
_LINE_OVERHEAD = 64 << 10
_BOM = "\ufeff"
_PARQUET_MAGIC = b"PAR1"
_JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
_LICENSE_NAME = re.compile(r"(?i)(licen[cs]e|copying)([-._].*)?")
_STACK_PREFIXES = ("max_stars_repo_", "max_forks_repo_", "max_issues_repo_")
KINDS = ("bigquery", "stack", "tree")


@dataclass(frozen=True, slots=True)
class CodeFile:
    repo_name: str
    path: str  # inside the repository, "/"-separated
    content: bytes  # as the input holds it
    text: str  # content decoded strictly as UTF-8, without a leading BOM
    content_md5: str  # hex md5 of `content`
    license: str | list[str] | None  # as the input gives it (BigQuery key, SPDX ids, detected id)
    size: int  # len(content)
    source_file: str
    offset: int  # JSONL: line number (from 0); Parquet: row number; tree: 0
    ids: Mapping[str, Any] = field(default_factory=dict)  # the input's own: id, ref, hexsha...


def dead_letter(
    file: str,
    offset: int,
    reason: str,
    error: str,
    document: bool,
    repo_name: str | None = None,
    path: str | None = None,
) -> DeadLetter:
    """Input that did not become a CodeFile. `offset` is as CodeFile.offset.

    Reasons, document=True: binary, invalid_utf8, too_large, no_content (null content with no
    binary flag nor size over the cap). document=False: corrupt_gzip, truncated, bad_json,
    bad_record (not an object, no repo_name/path, or content neither a string nor null),
    bad_parquet, bad_schema, too_many_bad_lines (readers.jsonl.MAX_BAD_LINES).
    """
    details = {"repo_name": repo_name, "path": path}
    return DeadLetter(file, offset, reason, error, document, details)


def code_file(
    repo_name: str,
    path: str,
    content: bytes,
    license: str | list[str] | None,
    source_file: str,
    offset: int,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    binary: bool = False,
    ids: Mapping[str, Any] | None = None,
) -> CodeFile | DeadLetter:
    """The record of one file's bytes, or its dead letter: the one place every input decodes."""

    def dead(reason: str, error: str) -> DeadLetter:
        return dead_letter(source_file, offset, reason, error, True, repo_name, path)

    if len(content) > max_file_bytes:
        return dead("too_large", f"{len(content)} bytes is over max_file_bytes={max_file_bytes}")
    if binary:
        return dead("binary", "the input flags the file as binary")
    nul = content.find(b"\0", 0, BINARY_SNIFF)
    if nul >= 0:
        return dead("binary", f"NUL byte at {nul}")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        return dead("invalid_utf8", str(exc))
    return CodeFile(
        repo_name,
        path,
        content,
        text.removeprefix(_BOM),
        hashlib.md5(content, usedforsecurity=False).hexdigest(),
        license,
        len(content),
        source_file,
        offset,
        dict(ids or {}),
    )


# ---- BigQuery exports: JSON lines or Parquet ---------------------------------------------------


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def _head(path: str, n: int = 4) -> bytes:
    with _open(path) as fh:
        return fh.read(n)


_PEEK_FIELD = re.compile(rb'"(repo_name|path)"\s*:\s*"((?:[^"\\]|\\.)*)"')


def _peek_names(head: bytes) -> tuple[str | None, str | None]:
    """repo_name and path of a line too large to parse, if its kept start holds them."""
    found: dict[str, str] = {}
    for m in _PEEK_FIELD.finditer(head):
        try:
            found.setdefault(m.group(1).decode(), json.loads(b'"' + m.group(2) + b'"'))
        except ValueError:
            continue
    return found.get("repo_name"), found.get("path")


_BIGQUERY_IDS = ("id", "ref", "mode", "copies", "language")


def _bigquery_ids(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in _BIGQUERY_IDS if row.get(k) is not None}


def _bigquery_row(
    row: Any, source_file: str, offset: int, max_file_bytes: int
) -> CodeFile | DeadLetter:
    """One exported row (a parsed JSON line or a Parquet row) as a record."""
    if not isinstance(row, dict):
        error = f"a {type(row).__name__}, not an object"
        return dead_letter(source_file, offset, "bad_record", error, False)
    repo, path = row.get("repo_name"), row.get("path")
    if not (isinstance(repo, str) and isinstance(path, str)):
        error = f"repo_name {repo!r} and path {path!r} are not both strings"
        return dead_letter(source_file, offset, "bad_record", error, False)
    content, size = row.get("content"), row.get("size")
    if content is None:
        if row.get("binary"):
            reason, error = "binary", "null content, flagged binary"
        elif isinstance(size, int) and size > max_file_bytes:
            reason, error = "too_large", f"null content of {size} bytes"
        else:
            reason, error = "no_content", "null content"
        return dead_letter(source_file, offset, reason, error, True, repo, path)
    if isinstance(content, str):
        try:
            content = content.encode("utf-8")  # JSON escapes can hold lone surrogates
        except UnicodeEncodeError as exc:
            return dead_letter(source_file, offset, "invalid_utf8", str(exc), True, repo, path)
    if not isinstance(content, bytes):
        error = f"content is a {type(content).__name__}, not a string"
        return dead_letter(source_file, offset, "bad_record", error, False, repo, path)
    return code_file(
        repo,
        path,
        content,
        row.get("license"),
        source_file,
        offset,
        max_file_bytes=max_file_bytes,
        binary=bool(row.get("binary")),
        ids=_bigquery_ids(row),
    )


@bounded_dead_letters
def _read_jsonl(path: str, max_file_bytes: int) -> Iterator[CodeFile | DeadLetter]:
    for line in lines(path, _ESCAPE_FACTOR * max_file_bytes + _LINE_OVERHEAD):
        if isinstance(line, DeadLetter):
            yield dead_letter(path, line.offset, line.reason, line.error, False)
            continue
        if not line.whole:
            error = f"line of {line.length} bytes: its content is over {max_file_bytes} bytes"
            names = _peek_names(line.data)
            yield dead_letter(path, line.index, "too_large", error, True, *names)
            continue
        if not line.data.strip():
            continue
        try:
            # surrogateescape: raw invalid UTF-8 reaches the content check as the
            # invalid_utf8 of a named file, not as an unreadable line
            row = loads(line.data.decode("utf-8", "surrogateescape"))
        except ValueError as exc:
            yield dead_letter(path, line.index, "bad_json", str(exc), False)
            continue
        yield _bigquery_row(row, path, line.index, max_file_bytes)


def _parquet_rows(
    path: str, columns: tuple[str, ...], optional: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, Any]] | DeadLetter]:
    """(row number, row) of a Parquet file, content as bytes; a row group that cannot be read
    is one dead letter and reading goes on with the next."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with _open(path) as fh:
        try:
            parquet = pq.ParquetFile(fh)
        except (pa.ArrowException, OSError, ValueError) as exc:
            yield dead_letter(path, 0, "bad_parquet", f"{type(exc).__name__}: {exc}", False)
            return
        names = set(parquet.schema_arrow.names)
        missing = [c for c in columns if c not in names]
        if missing:
            yield dead_letter(path, 0, "bad_schema", f"no column {', '.join(missing)}", False)
            return
        wanted = list(columns) + [c for c in optional if c in names]
        row = 0
        for group in range(parquet.num_row_groups):
            rows = parquet.metadata.row_group(group).num_rows
            try:
                table = parquet.read_row_group(group, columns=wanted)
                content = table.column("content")
                if pa.types.is_string(content.type) or pa.types.is_large_string(content.type):
                    # as bytes, so invalid UTF-8 is the strict decode's to find
                    binary = pa.large_binary() if pa.types.is_large_string(content.type) else None
                    content = content.cast(binary or pa.binary())
                table = table.set_column(wanted.index("content"), "content", content)
                batch = table.to_pylist()
            except (pa.ArrowException, OSError, ValueError) as exc:
                error = f"row group {group} ({rows} rows): {type(exc).__name__}: {exc}"
                yield dead_letter(path, row, "bad_parquet", error, False)
                row += rows
                continue
            for record in batch:
                yield row, record
                row += 1


def read_bigquery(
    path: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[CodeFile | DeadLetter]:
    """An export of BigQuery's github_repos: JSON lines (plain or gzip) or Parquet, told apart
    by their first bytes; `license` is BigQuery's key ("mit", "apache-2.0")."""
    if _head(path) == _PARQUET_MAGIC:
        optional = ("license", *_BIGQUERY_IDS, "size", "binary")
        for item in _parquet_rows(path, ("repo_name", "path", "content"), optional):
            if isinstance(item, DeadLetter):
                yield item
            else:
                yield _bigquery_row(item[1], path, item[0], max_file_bytes)
    else:
        yield from _read_jsonl(path, max_file_bytes)


# ---- The Stack ---------------------------------------------------------------------------------


def read_stack(
    path: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[CodeFile | DeadLetter]:
    """A Parquet file of The Stack. Its files carry the repository with the most stars among
    those holding them (max_stars_), the one with most forks or issues when that is null;
    `license` is that repository's list of SPDX ids."""
    required = ("content", "max_stars_repo_name", "max_stars_repo_path")
    columns = tuple(p + s for p in _STACK_PREFIXES for s in ("name", "path", "licenses"))
    optional = tuple(c for c in (*columns, "hexsha", "ext", "lang") if c not in required)
    for item in _parquet_rows(path, required, optional):
        if isinstance(item, DeadLetter):
            yield item
            continue
        offset, row = item
        prefix = next((p for p in _STACK_PREFIXES if row.get(p + "name") is not None), None)
        if prefix is None or row.get(prefix + "path") is None or row["content"] is None:
            error = "no repository name and path, or no content"
            yield dead_letter(path, offset, "bad_record", error, False)
            continue
        ids = {k: row[k] for k in ("hexsha", "ext", "lang") if row.get(k) is not None}
        yield code_file(
            row[prefix + "name"],
            row[prefix + "path"],
            row["content"],
            row.get(prefix + "licenses"),
            path,
            offset,
            max_file_bytes=max_file_bytes,
            ids=ids,
        )


# ---- local repository trees --------------------------------------------------------------------


def _entries(directory: str) -> list[os.DirEntry]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: e.name)


def _is_repository(directory: str) -> bool:
    """A repository has a .git or files at its top; a directory of repositories only folders."""
    return any(e.name == ".git" or not e.is_dir(follow_symlinks=False) for e in _entries(directory))


def _walk(directory: str, prefix: str = "") -> Iterator[tuple[str, os.DirEntry]]:
    """(path in the repository, entry) of its regular files, sorted; symlinks (whose target is
    either read where it lies in the tree or is not part of it), .git and special files skipped."""
    for entry in _entries(directory):
        if entry.name == ".git" or entry.is_symlink():
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, f"{prefix}{entry.name}/")
        elif entry.is_file(follow_symlinks=False):
            yield prefix + entry.name, entry


def repository_license(
    directory: str, detect: Callable[[str], Any] | None = None
) -> str | list[str] | None:
    """SPDX id(s) detected in the top-level LICENSE*, LICENCE* and COPYING* files: one id, a
    list when the files name several (LICENSE-MIT and LICENSE-APACHE), None when none matches."""
    if detect is None:
        from filters.licenses import detect_license as detect
    found: list[str] = []
    for entry in _entries(directory):
        if not _LICENSE_NAME.fullmatch(entry.name) or not entry.is_file(follow_symlinks=False):
            continue
        with open(entry.path, "rb") as fh:
            text = fh.read(LICENSE_FILE_LIMIT).decode("utf-8", "replace")
        match = detect(text)
        if match is not None and match.spdx_id not in found:
            found.append(match.spdx_id)
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def repositories(path: str) -> list[tuple[str, str]]:
    """(name, directory) of the repositories of a tree input: the directory itself when it is
    one (it has .git or a file at its top), else each of its folders, named by the folder."""
    root = os.path.normpath(path)
    if _is_repository(root):
        return [(os.path.basename(root), root)]
    return [(e.name, e.path) for e in _entries(root) if e.is_dir(follow_symlinks=False)]


def read_repository(
    name: str,
    directory: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    detect: Callable[[str], Any] | None = None,
) -> Iterator[CodeFile | DeadLetter]:
    """The files of one repository directory, its licence detected from its licence files;
    `detect` defaults to filters.licenses.detect_license."""
    license = repository_license(directory, detect)
    for relative, entry in _walk(directory):
        size = entry.stat(follow_symlinks=False).st_size
        if size > max_file_bytes:
            error = f"{size} bytes is over max_file_bytes={max_file_bytes}"
            yield dead_letter(entry.path, 0, "too_large", error, True, name, relative)
            continue
        with open(entry.path, "rb") as fh:
            content = fh.read(max_file_bytes + 1)  # it may have grown since the stat
        yield code_file(
            name, relative, content, license, entry.path, 0, max_file_bytes=max_file_bytes
        )


def read_tree(
    path: str,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    detect: Callable[[str], Any] | None = None,
) -> Iterator[CodeFile | DeadLetter]:
    """The files of a repository directory, or of each repository in a directory of them."""
    for name, directory in repositories(path):
        yield from read_repository(name, directory, max_file_bytes, detect)


# ---- dispatch ----------------------------------------------------------------------------------


def detect_kind(path: str) -> str:
    """ "tree" for a directory, "bigquery" for JSON lines, and for Parquet "stack" or "bigquery"
    by its columns (max_stars_repo_name or repo_name)."""
    if os.path.isdir(path):
        return "tree"
    name = path.lower().removesuffix(".gz")
    if name.endswith(_JSONL_SUFFIXES):
        return "bigquery"
    if _head(path) == _PARQUET_MAGIC:
        import pyarrow.parquet as pq

        with _open(path) as fh:
            names = set(pq.ParquetFile(fh).schema_arrow.names)
        if "max_stars_repo_name" in names:
            return "stack"
        if "repo_name" in names:
            return "bigquery"
        raise ValueError(f"{path}: Parquet with neither max_stars_repo_name nor repo_name")
    raise ValueError(f"{path}: not a directory, JSON lines or Parquet")


def read_code(
    path: str, kind: str, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
) -> Iterator[CodeFile | DeadLetter]:
    """The records of one input of `kind` ("bigquery", "stack" or "tree")."""
    readers = {"bigquery": read_bigquery, "stack": read_stack, "tree": read_tree}
    if kind not in readers:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    return readers[kind](path, max_file_bytes)
