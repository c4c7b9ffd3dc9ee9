"""Deterministic sharded outputs: the same rows give byte-identical files on any runner.

A row's shard is a hash of its key modulo the shard count; a shard's rows are sorted by key,
written to a temporary name and renamed, so a retried bundle or a re-run never leaves a partial
or duplicate file. Beam's own sinks assign rows round-robin from a random offset per bundle, so
their shard contents change from run to run; this writer's do not.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from core import files
from core.files import TMP_PREFIX, write_atomically
from core.ids import shard_file, shard_of
from core.manifest import LEGACY_MANIFEST, MANIFEST, write_manifest
from core.schema import check_row

PARQUET_ROW_GROUP = 4096


def shard_name(directory: str, shard: int, num_shards: int, suffix: str) -> str:
    return files.join(directory, shard_file(shard, num_shards, suffix))


def _parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    for row in rows:
        check_row(schema, row)
    table = pa.Table.from_pylist(rows, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd", row_group_size=PARQUET_ROW_GROUP)
    return sink.getvalue()


def _jsonl_bytes(rows: list[dict], schema: pa.Schema | None) -> bytes:
    return b"".join(
        json.dumps(r, ensure_ascii=False, sort_keys=True, default=str).encode() + b"\n"
        for r in rows
    )


FORMATS: dict[str, tuple[str, Callable[[list[dict], Any], bytes]]] = {
    "parquet": (".parquet", _parquet_bytes),
    "jsonl": (".jsonl", _jsonl_bytes),
}


def write_shard(directory: str, shard: int, num_shards: int, fmt: str, schema, rows: list[dict]):
    """Write one shard of already sorted rows; returns (shard, rows, bytes) for `finalize`."""
    suffix, encode = FORMATS[fmt]
    data = encode(rows, schema)
    write_atomically(shard_name(directory, shard, num_shards, suffix), data)
    return shard, len(rows), len(data)


class _WriteShard(beam.DoFn):
    def __init__(self, directory: str, num_shards: int, fmt: str, schema, sort_key):
        self.directory, self.num_shards, self.fmt = directory, num_shards, fmt
        self.schema, self.sort_key = schema, sort_key

    def process(self, element: tuple[int, Iterable[dict]]):
        shard, rows = element
        rows = sorted(rows, key=self.sort_key)
        yield write_shard(self.directory, shard, self.num_shards, self.fmt, self.schema, rows)


def finalize(written: list[tuple[int, int, int]], directory, num_shards, fmt, schema) -> dict:
    """Write the empty shards, delete files of earlier runs that this run does not own, and
    write `_manifest.json` (rows and bytes per shard) for reports and downstream readers."""
    suffix, encode = FORMATS[fmt]
    done = {shard: (rows, size) for shard, rows, size in written}
    for shard in range(num_shards):
        if shard not in done:
            data = encode([], schema)
            write_atomically(shard_name(directory, shard, num_shards, suffix), data)
            done[shard] = (0, len(data))
    remove_stale(directory, num_shards, suffix)
    manifest = {
        "format": fmt,
        "num_shards": num_shards,
        "rows": sum(r for r, _ in done.values()),
        "bytes": sum(b for _, b in done.values()),
        "shards": [{"shard": s, "rows": done[s][0], "bytes": done[s][1]} for s in sorted(done)],
    }
    write_manifest(directory, manifest)
    return manifest


def remove_stale(directory: str, num_shards: int, suffix: str) -> None:
    """Delete shards this run does not own (an earlier run's other shard count) and temp files."""
    expected = {shard_name(directory, s, num_shards, suffix) for s in range(num_shards)}
    stale = [
        m.path
        for pattern in (f"part-*-of-*{suffix}", f"{TMP_PREFIX}*{suffix}")
        for m in FileSystems.match([FileSystems.join(directory, pattern)])[0].metadata_list
        if m.path not in expected
    ]
    if stale:
        FileSystems.delete(stale)


def clear_unfinished(
    output: str, top_level: Iterable[str] = (), manifests: Iterable[str] | None = None
) -> list[str]:
    """Before a run: delete what could pass an earlier, maybe killed, run's files off as this
    run's finished output: temporary files, manifests (files named as in `manifests`, at any
    depth), and the `top_level` files (a report) that mark a run complete. This run writes each
    again, last, so while it runs or after it is killed nothing under `output` claims to be
    complete. Returns what was deleted."""
    names = {MANIFEST, LEGACY_MANIFEST} if manifests is None else set(manifests)
    root, top = output.rstrip("/"), set(top_level)
    found = []
    for m in FileSystems.match([f"{root}/**"])[0].metadata_list:  # one listing, even on GCS
        parent, _, name = m.path.rpartition("/")
        if name.startswith(TMP_PREFIX) or name in names or (parent == root and name in top):
            found.append(m.path)
    if found:
        FileSystems.delete(sorted(found))
    return sorted(found)


class WriteShards(beam.PTransform):
    """Rows (dicts) → `<directory>/part-SSSSS-of-NNNNN.<fmt>`; outputs one summary dict."""

    def __init__(
        self,
        directory: str,
        num_shards: int,
        *,
        key: str | Callable[[dict], str] = "id",
        sort_key: Callable[[dict], Any] | None = None,
        fmt: str = "parquet",
        schema: pa.Schema | None = None,
    ):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be at least 1")
        if fmt == "parquet" and schema is None:
            raise ValueError("parquet shards need a schema")
        self.directory, self.num_shards, self.fmt, self.schema = (
            directory,
            num_shards,
            fmt,
            schema,
        )
        self.key = (lambda row, k=key: row[k]) if isinstance(key, str) else key
        self.sort_key = sort_key or self.key

    def expand(self, rows):
        directory, n, fmt, schema = self.directory, self.num_shards, self.fmt, self.schema
        return (
            rows
            | "Key" >> beam.Map(lambda row, key=self.key: (shard_of(key(row), n), row))
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShard(directory, n, fmt, schema, self.sort_key))
            | "Collect" >> beam.combiners.ToList()
            | "Finalize" >> beam.Map(finalize, directory, n, fmt, schema)
        )


def dead_letter_order(record: dict) -> tuple:
    """Dead letters by file, then position (whichever fields the reader gave), then reason."""
    position = (record.get(k) or 0 for k in ("stream_offset", "offset", "offset_in_member", "line"))
    return (record["file"], *position, record["reason"])


def reject_order(record: dict) -> tuple:
    return record["id"], record["reason"]


class WriteDeadLetters(beam.PTransform):
    """The dead letters of any number of PCollections → one JSON-lines shard under `directory`
    (they are few), in `order`; an empty shard when there are none."""

    def __init__(self, directory: str, order: Callable[[dict], Any] = dead_letter_order):
        super().__init__()
        self.directory, self.order = directory, order

    def expand(self, pcollections):
        return (
            tuple(pcollections)
            | "Flatten" >> beam.Flatten()
            | "Write"
            >> WriteShards(self.directory, 1, key="file", sort_key=self.order, fmt="jsonl")
        )


class WriteRejects(beam.PTransform):
    """The rejects (id, reason, …) of any number of PCollections → one JSON-lines shard."""

    def __init__(self, directory: str):
        super().__init__()
        self.directory = directory

    def expand(self, pcollections):
        return (
            tuple(pcollections)
            | "Flatten" >> beam.Flatten()
            | "Write" >> WriteShards(self.directory, 1, sort_key=reject_order, fmt="jsonl")
        )
