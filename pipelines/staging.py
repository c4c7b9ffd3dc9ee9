"""Model files on any Beam file system (gs://, s3://, ...) as the local files model libraries need.

Dataflow workers cannot see the launcher's disk, so there the models live on a bucket; fastText,
SentencePiece and KenLM open only local paths (KenLM memory-maps its binary). `local_copy` copies
a remote file once per worker process (and reuses a copy another process on the machine already
made), atomically, checked against the SHA-256 its model card records; a local path is returned
as it is. `publish` uploads local models, skipping files the destination already holds.

    python -m pipelines.staging models/lid.176.ftz gs://bucket/models   # upload by hand
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path, PurePosixPath
from typing import NamedTuple

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from core import files
from core.files import file_sha256

CACHE_ENV = "LLAMA_CORPUS_MODEL_CACHE"  # where worker copies go; default: <tmp>/llama-corpus-models
UPLOADED = "_sha256.json"  # at a publish destination: the SHA-256 of each file uploaded there
_CHUNK = 8 << 20
_RAW = CompressionTypes.UNCOMPRESSED  # a model named *.gz is still copied byte for byte

_lock = threading.Lock()  # one copy per file, however many DoFn threads of a process ask
_copies: dict[tuple[str, str | None], str] = {}


class Model(NamedTuple):
    """A model file as a worker reads it: where, and the SHA-256 it must have (None: unknown)."""

    url: str
    sha256: str | None = None


def basename(path: str) -> str:
    return str(path).rstrip("/").rsplit("/", 1)[-1]


def with_suffix(path: str, suffix: str) -> str:
    """`gs://b/m/wikiref.npz` → `gs://b/m/wikiref.json`: a model's card beside it."""
    head, _, name = str(path).rpartition("/")
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{head}/{stem}{suffix}" if head else f"{stem}{suffix}"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "llama-corpus-models")


def local_copy(url: str, sha256: str | None = None, cache: str | Path | None = None) -> str:
    """A local path holding `url`'s bytes: `url` itself when local, else a verified copy."""
    if not files.is_remote(url):
        return url
    with _lock:
        found = _copies.get((url, sha256))
        if found is None or not os.path.exists(found):
            found = _fetch(url, sha256, Path(cache) if cache else cache_dir())
            _copies[(url, sha256)] = found
    return found


def _fetch(url: str, sha256: str | None, cache: Path) -> str:
    """Copy to a temporary name, check, rename. The name holds the expected digest (or the
    remote's size and time), so a file already there is this content, complete and checked."""
    if sha256:
        tag = sha256[:16]
    else:
        (metadata,) = FileSystems.match([url])[0].metadata_list
        key = f"{url}\0{metadata.size_in_bytes}\0{metadata.last_updated_in_seconds}"
        tag = hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:16]
    target = cache / f"{tag}-{basename(url)}"
    if target.is_file():
        return str(target)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".tmp-{uuid.uuid4().hex}-{target.name}"
    digest = hashlib.sha256()
    try:
        with FileSystems.open(url, compression_type=_RAW) as src, open(tmp, "wb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                dst.write(chunk)
        if sha256 and digest.hexdigest() != sha256:
            raise ValueError(
                f"{url}: sha256 is {digest.hexdigest()}, but its model card says {sha256}; "
                "upload the model again (or its card, if the model was retrained)"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return str(target)


def upload(local: str | Path, url: str) -> None:
    """Stream a local file to `url` under a temporary name, then rename it into place."""
    directory, name = url.rsplit("/", 1)
    tmp = f"{directory}/{files.TMP_PREFIX}{uuid.uuid4().hex}-{name}"  # streamed: GBs
    with open(local, "rb") as src, FileSystems.create(tmp, compression_type=_RAW) as dst:
        while chunk := src.read(_CHUNK):
            dst.write(chunk)
    if FileSystems.exists(url):
        FileSystems.delete([url])
    FileSystems.rename([tmp], [url])


def publish(uploads: dict[str, str | Path], destination: str) -> dict[str, str]:
    """Upload local files to `destination/<relative name>` → their URLs. A file whose SHA-256
    the destination's `_sha256.json` already lists is not sent again (a KenLM binary is GBs)."""
    listing = files.join(destination, UPLOADED)
    uploaded: dict[str, str] = files.read_json(listing) or {}
    urls = {}
    for name, local in sorted(uploads.items()):
        url = urls[name] = files.join(destination, name)
        digest = file_sha256(local)
        if uploaded.get(name) == digest and FileSystems.exists(url):
            continue
        upload(local, url)
        uploaded[name] = digest
        # After every file, so that an interrupted upload resumes where it stopped.
        files.write_json(listing, uploaded)
    return urls


def upload_models(
    models: dict[str, Model],
    destination: str,
    layout: dict[str, tuple[str, str | None]],
    *,
    dry_run: bool,
) -> dict[str, Model]:
    """Local models → `destination`/<their relative name in `layout`>, each with its card when
    it has one there; remote models stay where they are. Returns the models as workers will read
    them. A dry run only names where they would go."""
    uploads: dict[str, str] = {}
    moved: dict[str, Model] = {}
    for role, model in models.items():
        if files.is_remote(model.url):
            moved[role] = model
            continue
        name, card = layout[role]
        uploads[name] = model.url
        moved[role] = Model(files.join(destination, name), model.sha256)
        if card and Path(card).is_file():
            uploads[str(PurePosixPath(name).with_name(Path(card).name))] = card
    if dry_run:
        logging.getLogger("staging").info("dry run: nothing is uploaded to %s", destination)
    else:
        publish(uploads, destination)
    return moved


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Upload files to a bucket (gs://, s3://, ...).")
    parser.add_argument("files", nargs="+", type=Path, help="local files")
    parser.add_argument("destination", help="a directory URL")
    args = parser.parse_args(argv)
    for name, url in publish({f.name: f for f in args.files}, args.destination).items():
        print(f"{name} → {url}")


if __name__ == "__main__":
    main()
