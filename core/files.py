"""Files on local disk or on any Beam file system (gs://, s3://): hashes, atomic writes, JSON.

Remote paths go through Apache Beam's FileSystems, imported only when a remote path is used, so
training/ and mixtures/ (which write locally) never load Beam.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

CHUNK = 1 << 20  # bytes read per step when streaming a file
TMP_PREFIX = ".tmp-"  # temporary files; a run deletes those an earlier, killed run left


def is_remote(path: str | Path) -> bool:
    return "://" in str(path)


def join(directory: str | Path, *names: str) -> str:
    """`directory/name…` with "/" for URLs, as Beam's FileSystems.join does."""
    if is_remote(directory):
        return "/".join([str(directory).rstrip("/"), *names])
    return os.path.join(directory, *names)


def _beam():
    from apache_beam.io.filesystems import FileSystems

    return FileSystems


def exists(path: str | Path) -> bool:
    return _beam().exists(str(path)) if is_remote(path) else os.path.isfile(path)


def read_bytes(path: str | Path) -> bytes:
    if not is_remote(path):
        return Path(path).read_bytes()
    with _beam().open(str(path), compression_type="uncompressed") as fh:
        return fh.read()


def bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path, chunk: int = 4 * CHUNK) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(path: str | Path, data: bytes) -> None:
    """Write under a temporary name in the same directory, then rename: a reader sees the old
    file or the new one, never half of one; a killed writer leaves only a `.tmp-` file."""
    path = str(path)
    directory, _, name = path.rpartition("/")
    tmp = (
        f"{directory}/{TMP_PREFIX}{uuid.uuid4().hex}-{name}" if directory else f"{TMP_PREFIX}{name}"
    )
    if not is_remote(path):
        try:
            if directory:
                os.makedirs(directory, exist_ok=True)
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException as exc:
            if os.path.exists(tmp):
                os.unlink(tmp)
            if isinstance(exc, OSError) and exc.errno:
                raise write_error(exc, path) from exc
            raise
        return
    fs = _beam()
    with fs.create(tmp, compression_type="uncompressed") as fh:
        fh.write(data)
    if fs.exists(path):
        fs.delete([path])
    fs.rename([tmp], [path])


def write_error(exc: OSError, path: str) -> OSError:
    """The OS error with the file named, as one line: Beam passes a worker's exception on as
    text, and "[Errno 28] No space left on device" alone does not say which output filled it."""
    reason = os.strerror(exc.errno)
    return type(exc)(exc.errno, f"{reason[:1].lower()}{reason[1:]} while writing {path}")


def json_bytes(value: Any) -> bytes:
    """How the project writes JSON files: sorted keys, one space indent, a final newline."""
    return json.dumps(value, indent=1, sort_keys=True).encode() + b"\n"


def write_json(path: str | Path, value: Any) -> None:
    write_atomically(path, json_bytes(value))


def read_json(path: str | Path) -> Any:
    """The parsed file, or None when there is none."""
    if not exists(path):
        return None
    return json.loads(read_bytes(path))
