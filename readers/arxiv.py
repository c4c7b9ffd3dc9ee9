"""arXiv's LaTeX sources as `Paper` records or dead letters (docs/recipe/arxiv.md, Input).

Inputs: a monthly tar of arXiv's bulk source (`arXiv_src_2301_001.tar`, local or on any Beam file
system), whose members are one file per paper (`2301/2301.00001.gz`, `9901/hep-th9901001.gz`,
`2301/2301.00005.pdf`); a loose `<id>.gz`; or a local directory holding monthly tars, loose
`<id>.gz` files, one directory per paper (named by its id) and folders of these. A paper's `.gz`
is either a gzip'd tar of its project or a single gzip'd file, told apart by the tar header
checksum; a single file is named `<member stem>.tex`.

Nothing is extracted to disk: a paper is decompressed into memory, a chunk at a time, up to
`max_paper_bytes` (a gzip bomb stops there), and its tar is then read in streaming mode, keeping
only text files (TEXT_SUFFIXES). A paper is refused whole, as a dead letter with document=True,
for an absolute path or `..` in its tar, a link, device or FIFO, more than `max_members` members,
more than `max_paper_bytes` (compressed or not), a corrupt or truncated gzip or tar, or no text
file at all (`no_tex`: PDF-only submissions). Members that are no paper (a name that is no arXiv
id) and a monthly tar that breaks are dead letters with document=False; after a break in a
monthly tar nothing more of it can be read. Only I/O errors of the file system raise.
"""

from __future__ import annotations

import gzip
import io
import os
import posixpath
import re
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core.deadletter import DeadLetter

# arXiv caps a submission at 50 MB; its source, decompressed, is seldom over a few MB of text.
DEFAULT_MAX_PAPER_BYTES = 64 << 20
DEFAULT_MAX_MEMBERS = 2_000
TEXT_SUFFIXES = (".tex", ".ltx", ".latex", ".bbl", ".bib", ".sty", ".cls", ".clo", ".cfg", ".def")
BINARY_SNIFF = 8 << 10
# A new-style id (0704.0001, 2301.00001) or an old-style one with its slash dropped, as arXiv
# names the files (hep-th9901001 for hep-th/9901001); a version may follow.
_ID = re.compile(
    r"(?:(?P<new>[0-9]{4}\.[0-9]{4,5})|(?P<archive>[a-z]+(?:-[a-z]+)?)/?(?P<number>[0-9]{7}))"
    r"(?:v(?P<version>[0-9]+))?"
)
_DRIVE = re.compile(r"[A-Za-z]:")
_NOT_TEX_MAGIC = (b"%PDF", b"%!PS")


@dataclass(frozen=True, slots=True)
class Paper:
    arxiv_id: str  # "2301.00001", or old-style "hep-th/9901001"
    version: int | None  # when the file name has one ("2301.00001v2.gz")
    month: str  # yymm of the id: "2301", "9901"
    files: dict[str, bytes]  # the text files, by their "/"-separated path in the paper
    source_file: str
    offset: int  # member number (from 0) in a monthly tar; 0 for a loose file or directory
    timestamp: int  # mtime of the paper's member, file or directory (RedPajama's `timestamp`)


def parse_id(stem: str) -> tuple[str, int | None, str] | None:
    """(arxiv id, version, yymm) of a file or directory name without its suffix."""
    match = _ID.fullmatch(stem)
    if match is None:
        return None
    version = int(match.group("version")) if match.group("version") else None
    if match.group("new"):
        return match.group("new"), version, match.group("new")[:4]
    number = match.group("number")
    return f"{match.group('archive')}/{number}", version, number[:4]


def dead_letter(
    file: str,
    offset: int,
    reason: str,
    error: str,
    document: bool,
    member: str | None = None,
    arxiv_id: str | None = None,
) -> DeadLetter:
    """Input that did not become a Paper. `offset` is as Paper.offset.

    Reasons, document=True: too_large, too_many_members, unsafe_path, unsafe_member,
    corrupt_gzip, truncated, corrupt_tar, no_tex. document=False: corrupt_tar (a monthly tar),
    unrecognised_member.
    """
    return DeadLetter(
        file, offset, reason, error, document, {"member": member, "arxiv_id": arxiv_id}
    )


class _Refused(Exception):
    """A paper broke a rule: its dead letter's reason and error."""

    def __init__(self, reason: str, error: str) -> None:
        super().__init__(error)
        self.reason, self.error = reason, error


def _unsafe_path(name: str) -> bool:
    parts = name.replace("\\", "/").split("/")
    return name.startswith(("/", "\\")) or bool(_DRIVE.match(name)) or ".." in parts


def _is_text(name: str) -> bool:
    return name.lower().endswith(TEXT_SUFFIXES)


def _gunzip(fileobj: IO[bytes], max_paper_bytes: int) -> bytes:
    """The decompressed paper; GzipFile.read(n) inflates at most n bytes, a chunk at a time."""
    try:
        with gzip.GzipFile(fileobj=fileobj) as unzipped:
            data = unzipped.read(max_paper_bytes + 1)
    except (EOFError, tarfile.ReadError) as exc:  # ReadError: the monthly tar ends mid-member
        raise _Refused("truncated", f"{type(exc).__name__}: {exc}") from None
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise _Refused("corrupt_gzip", f"{type(exc).__name__}: {exc}") from None
    if len(data) > max_paper_bytes:
        raise _Refused("too_large", f"over max_paper_bytes={max_paper_bytes} decompressed")
    return data


def _is_tar(data: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _tar_files(data: bytes, max_members: int) -> dict[str, bytes]:
    """The text files of a paper's tar, held in memory; refused on the first unsafe member."""
    files: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > max_members:
                    raise _Refused("too_many_members", f"over max_members={max_members}")
                if _unsafe_path(member.name):
                    raise _Refused("unsafe_path", f"member {member.name!r}")
                if member.isdir():
                    continue
                if not member.isreg():
                    kind = "link" if member.issym() or member.islnk() else "special file"
                    raise _Refused("unsafe_member", f"{kind} {member.name!r}")
                if _is_text(member.name):
                    content = tar.extractfile(member)
                    files[posixpath.normpath(member.name)] = content.read() if content else b""
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise _Refused("corrupt_tar", f"{type(exc).__name__}: {exc}") from None
    return files


def _single_file(data: bytes, stem: str) -> dict[str, bytes]:
    if data.startswith(_NOT_TEX_MAGIC) or b"\0" in data[:BINARY_SNIFF]:
        return {}
    return {f"{stem}.tex": data}


def read_paper(
    fileobj: IO[bytes],
    name: str,
    source_file: str,
    offset: int = 0,
    timestamp: int = 0,
    max_paper_bytes: int = DEFAULT_MAX_PAPER_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Paper | DeadLetter:
    """One paper's `.gz` (`name` is its file or member name), read from `fileobj`."""
    stem = posixpath.basename(name).removesuffix(".gz")
    parsed = parse_id(stem)
    if parsed is None:
        error = f"{name!r} is not an arXiv id"
        return dead_letter(source_file, offset, "unrecognised_member", error, False, name)
    arxiv_id, version, month = parsed
    try:
        data = _gunzip(fileobj, max_paper_bytes)
        files = _tar_files(data, max_members) if _is_tar(data) else _single_file(data, stem)
    except _Refused as refused:
        reason, error = refused.reason, refused.error
        return dead_letter(source_file, offset, reason, error, True, name, arxiv_id)
    if not files:
        error = "no text file in the source"
        return dead_letter(source_file, offset, "no_tex", error, True, name, arxiv_id)
    return Paper(arxiv_id, version, month, files, source_file, offset, timestamp)


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_monthly_tar(
    path: str,
    max_paper_bytes: int = DEFAULT_MAX_PAPER_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Iterator[Paper | DeadLetter]:
    """The papers of a monthly tar, read as a stream (S3 or GCS objects need no seeking)."""
    index = 0
    with _open(path) as raw:
        try:
            with tarfile.open(fileobj=raw, mode="r|*") as tar:
                for member in tar:
                    if not member.isdir():
                        yield _monthly_member(
                            tar, member, path, index, max_paper_bytes, max_members
                        )
                    index += 1
        except (tarfile.TarError, EOFError, zlib.error) as exc:
            yield dead_letter(path, index, "corrupt_tar", f"{type(exc).__name__}: {exc}", False)


def _monthly_member(
    tar: tarfile.TarFile,
    member: tarfile.TarInfo,
    path: str,
    index: int,
    max_paper_bytes: int,
    max_members: int,
) -> Paper | DeadLetter:
    name = member.name
    base = posixpath.basename(name)
    parsed = parse_id(base.removesuffix(".gz").removesuffix(".pdf"))
    if not member.isreg() or parsed is None or not base.endswith((".gz", ".pdf")):
        error = f"{name!r} is not a paper's .gz or .pdf"
        return dead_letter(path, index, "unrecognised_member", error, False, name)
    if base.endswith(".pdf"):
        return dead_letter(path, index, "no_tex", "PDF only", True, name, parsed[0])
    if member.size > max_paper_bytes:
        error = f"{member.size} bytes compressed is over max_paper_bytes={max_paper_bytes}"
        return dead_letter(path, index, "too_large", error, True, name, parsed[0])
    fileobj = cast(IO[bytes], tar.extractfile(member))  # a regular member (checked) has a body
    return read_paper(fileobj, name, path, index, int(member.mtime), max_paper_bytes, max_members)


def read_paper_directory(
    directory: str,
    max_paper_bytes: int = DEFAULT_MAX_PAPER_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Paper | DeadLetter:
    """A paper already unpacked into a directory named by its id, held to the rules of a tar."""
    name = os.path.basename(os.path.normpath(directory))
    arxiv_id, version, month = parse_id(name) or (name, None, "")

    def refuse(reason: str, error: str) -> DeadLetter:
        return dead_letter(directory, 0, reason, error, True, name, arxiv_id)

    files: dict[str, bytes] = {}
    count = total = 0
    pending = [(directory, "")]
    while pending:
        folder, prefix = pending.pop()
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            count += 1
            if count > max_members:
                return refuse("too_many_members", f"over max_members={max_members}")
            relative = prefix + entry.name
            if entry.is_symlink():
                return refuse("unsafe_member", f"link {relative!r}")
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, relative + "/"))
            elif not entry.is_file(follow_symlinks=False):
                return refuse("unsafe_member", f"special file {relative!r}")
            elif _is_text(entry.name):
                with open(entry.path, "rb") as fh:
                    files[relative] = fh.read(max_paper_bytes - total + 1)
                total += len(files[relative])
                if total > max_paper_bytes:
                    return refuse("too_large", f"over max_paper_bytes={max_paper_bytes}")
    if not files:
        return refuse("no_tex", "no text file in the directory")
    timestamp = int(os.stat(directory).st_mtime)
    return Paper(arxiv_id, version, month, files, directory, 0, timestamp)


def read_directory(
    path: str,
    max_paper_bytes: int = DEFAULT_MAX_PAPER_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Iterator[Paper | DeadLetter]:
    """The papers of a local directory, entries in name order (see the module's docstring)."""
    with os.scandir(path) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = entry.name
        if entry.is_symlink():
            yield dead_letter(entry.path, 0, "unrecognised_member", "a link", False, name)
        elif entry.is_dir():
            if parse_id(name):
                yield read_paper_directory(entry.path, max_paper_bytes, max_members)
            else:
                yield from read_directory(entry.path, max_paper_bytes, max_members)
        elif name.endswith(".tar"):
            yield from read_monthly_tar(entry.path, max_paper_bytes, max_members)
        elif name.endswith(".gz") and entry.is_file():
            yield _read_loose(entry.path, max_paper_bytes, max_members)
        elif name.endswith(".pdf") and parse_id(name.removesuffix(".pdf")):
            arxiv_id = parse_id(name.removesuffix(".pdf"))[0]
            yield dead_letter(entry.path, 0, "no_tex", "PDF only", True, name, arxiv_id)
        else:
            error = f"{name!r} is no monthly tar, paper or folder of papers"
            yield dead_letter(entry.path, 0, "unrecognised_member", error, False, name)


def _read_loose(path: str, max_paper_bytes: int, max_members: int) -> Paper | DeadLetter:
    name = path.rsplit("/", 1)[-1]
    stat = FileSystems.metadata(path) if "://" in path else None
    size = stat.size_in_bytes if stat else os.path.getsize(path)
    if size > max_paper_bytes:
        error = f"{size} bytes compressed is over max_paper_bytes={max_paper_bytes}"
        parsed = parse_id(name.removesuffix(".gz"))
        return dead_letter(path, 0, "too_large", error, True, name, parsed and parsed[0])
    mtime = int(stat.last_updated_in_seconds if stat else os.path.getmtime(path))
    with _open(path) as fh:
        return read_paper(fh, name, path, 0, mtime, max_paper_bytes, max_members)


def read_arxiv(
    path: str,
    max_paper_bytes: int = DEFAULT_MAX_PAPER_BYTES,
    max_members: int = DEFAULT_MAX_MEMBERS,
) -> Iterator[Paper | DeadLetter]:
    """The papers of an input: a local directory, a monthly `.tar` or a paper's `.gz`."""
    if os.path.isdir(path):
        yield from read_directory(path, max_paper_bytes, max_members)
    elif path.endswith(".tar"):
        yield from read_monthly_tar(path, max_paper_bytes, max_members)
    elif path.endswith(".gz"):
        yield _read_loose(path, max_paper_bytes, max_members)
    else:
        raise ValueError(f"{path}: neither a directory, a monthly .tar nor a paper's .gz")
