"""gs:// URLs served from a local directory, so remote-path code runs offline in tests.

`serve_gs(root, monkeypatch)` routes Beam's `FileSystems` for every `gs://bucket/key` to
`root/bucket/key` in this process (and so in an in-process FnApiRunner's workers); paths that
come back from listings are gs:// URLs again.
"""

from __future__ import annotations

import os
from pathlib import Path

from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

SCHEME = "gs://"


class LocalBucket(LocalFileSystem):
    @classmethod
    def scheme(cls):
        # Beam finds file systems by scheme among all subclasses: not None (local), not "gs".
        return "localbucket-in-tests"

    def __init__(self, root: Path):
        super().__init__(pipeline_options=None)
        self.root = Path(root)
        self.opened: list[str] = []  # every gs:// URL opened for reading, in order

    def local(self, url: str) -> str:
        """The file behind a gs:// URL; a local path (LocalFileSystem calls itself) as it is."""
        return str(self.root / url.removeprefix(SCHEME)) if url.startswith(SCHEME) else url

    def url(self, path: str) -> str:
        return SCHEME + os.path.relpath(path, self.root)

    def _list(self, dir_or_prefix):
        for m in super()._list(self.local(dir_or_prefix)):
            yield FileMetadata(self.url(m.path), m.size_in_bytes, m.last_updated_in_seconds)

    def exists(self, path):
        return super().exists(self.local(path))

    def metadata(self, path):
        m = super().metadata(self.local(path))
        return FileMetadata(path, m.size_in_bytes, m.last_updated_in_seconds)

    def size(self, path):
        return super().size(self.local(path))

    def last_updated(self, path):
        return super().last_updated(self.local(path))

    def checksum(self, path):
        return super().checksum(self.local(path))

    def mkdirs(self, path):
        return super().mkdirs(self.local(path))

    def create(self, path, *args, **kwargs):
        return super().create(self.local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        self.opened.append(path)
        return super().open(self.local(path), *args, **kwargs)

    def copy(self, sources, destinations):
        return super().copy([self.local(s) for s in sources], [self.local(d) for d in destinations])

    def rename(self, sources, destinations):
        local = [self.local(d) for d in destinations]
        for path in local:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        return super().rename([self.local(s) for s in sources], local)

    def delete(self, paths):
        return super().delete([self.local(p) for p in paths])


def serve_gs(root: Path, monkeypatch) -> LocalBucket:
    """Route gs:// to `root` until the test ends; returns the file system (see `opened`)."""
    bucket = LocalBucket(root)
    original = FileSystems.get_filesystem

    def get_filesystem(path):
        return bucket if str(path).startswith(SCHEME) else original(path)

    monkeypatch.setattr(FileSystems, "get_filesystem", staticmethod(get_filesystem))
    return bucket
