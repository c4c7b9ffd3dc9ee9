"""The manifest beside every sharded output: `_manifest.json`, written last.

Document shards and token shards use the same name. The leading "_" makes dataset readers
(pyarrow, DuckDB, Spark, Hugging Face `datasets`) skip it, so a shard directory reads as one table.
Token shards written before this name was shared have `manifest.json`: it is still read, with a
warning that says how to rewrite it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from core import files

MANIFEST = "_manifest.json"
LEGACY_MANIFEST = "manifest.json"
TOKEN_FORMAT = "llama-corpus-tokens/1"  # noqa: S105 (a format name, not a secret)
# Folders beside a run's per-source folders that hold no source (their manifests are not sources').
NOT_SOURCES = frozenset({"dead_letter", "rejected"})

log = logging.getLogger("manifest")


def manifest_path(directory: str | Path) -> str | None:
    """The directory's manifest, or None; an old `manifest.json` is found with a warning."""
    path = files.join(directory, MANIFEST)
    if files.exists(path):
        return path
    legacy = files.join(directory, LEGACY_MANIFEST)
    if files.exists(legacy):
        log.warning(
            "%s: a manifest under its old name; it is read, but `make tokenize` rewrites it as %s",
            legacy,
            MANIFEST,
        )
        return legacy
    return None


def source_manifests(root: str | Path) -> dict[str, Path]:
    """{source: its manifest} for every `<root>/<source>/` (local) that has one."""
    root = Path(root)
    found = {p.parent.name: p for p in root.glob(f"*/{LEGACY_MANIFEST}")}
    found.update({p.parent.name: p for p in root.glob(f"*/{MANIFEST}")})
    found = {name: path for name, path in found.items() if name not in NOT_SOURCES}
    for source in sorted(found):
        if found[source].name == LEGACY_MANIFEST:
            manifest_path(found[source].parent)  # warns
    return dict(sorted(found.items()))


def read_manifest(directory: str | Path) -> dict[str, Any] | None:
    path = manifest_path(directory)
    return None if path is None else files.read_json(path)


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> None:
    files.write_json(files.join(directory, MANIFEST), manifest)
