"""Global line dedup (SPEC §1.2) as Beam shuffles: no worker ever holds the run's hash set.

What crosses a shuffle, per document with L distinct non-empty lines, R of them duplicated:

1. Count: (line hash, 1) per distinct line → `CombinePerKey(sum)` with hot-key fan-out. The
   combiner is lifted, so at most one (hash, partial count) per hash, fan-out slot and bundle
   is shuffled (≤ L records of ~12 bytes), then at most `hot_key_fanout` partials per hash.
2. Per-hash join: (line hash, document key) per distinct line, ~20 bytes each, grouped with the
   hashes of earlier runs (one ~10-byte record per previous hash). A hash held by two or more
   documents, or by an earlier run, sends (document key, hash) back: R records of ~20 bytes.
   Lines in `hot_threshold` or more documents skip this shuffle: Beam's CoGroupByKey holds a
   key's values in one list, so their hashes (at most #pairs / hot_threshold of them, boilerplate)
   reach every worker as a side input instead.
3. Per-document join: the document itself, the only time its text is shuffled, with its ≤ R
   duplicated hashes.

Inside the pipeline hashes and document keys are int64 (the same 8 bytes read as signed), which
Beam's VarIntCoder carries in ≤ 10 bytes; it cannot encode a uint64 of 2**63 or more.
Hash-set files hold them as uint64, CCNet's values. A document key is a 64-bit BLAKE2b
fingerprint of `id`; a collision is harmless, since the two documents then receive each other's
duplicated hashes, which are duplicated for them too.
"""

from __future__ import annotations

import hashlib
import io
from array import array
from collections.abc import Iterable, Iterator
from typing import Any, Final

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems

from filters.base import Decision
from filters.dedup import dedup_lines, document_hashes
from pipelines import accounting
from pipelines.shards import remove_stale, shard_name, write_atomically, write_manifest

HASH_DTYPE: Final = np.dtype([("hash", "<u8"), ("duplicated", "?")])
HASH_SUFFIX: Final = ".npy"
_U64: Final = 1 << 64
_I64_MAX: Final = (1 << 63) - 1


def to_int64(h: int) -> int:
    """A uint64 line hash as the pipeline carries it."""
    return h - _U64 if h > _I64_MAX else h


def doc_key(doc_id: Any) -> int:
    digest = hashlib.blake2b(str(doc_id).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def _hash_pairs(doc: dict) -> Iterator[tuple[int, int]]:
    key = doc_key(doc["id"])
    for h in document_hashes(doc["raw_content"].split("\n")):
        yield to_int64(h), key


def _shared_hashes(
    element: tuple[int, dict[str, list]],
) -> Iterator[tuple[int, int]]:
    """(document key, hash) for every document of a hash held by ≥ 2 documents or a past run."""
    h, grouped = element
    keys = grouped["documents"]
    if len(keys) >= 2 or grouped.get("previous"):
        for key in keys:
            yield key, h


class _SplitHot(beam.DoFn):
    """A hot line's pair is a decision already; every other pair goes on to the per-hash join."""

    def process(self, pair: tuple[int, int], hot: frozenset[int] | set[int]):
        h, key = pair
        if h in hot:
            yield beam.pvalue.TaggedOutput("decided", (key, h))
        else:
            yield pair


def dedup_document(doc: dict, duplicated: Iterable[int]) -> tuple[dict, Decision]:
    """The document with CCNet's fields; `duplicated` holds int64 hashes as the pipeline does."""
    content: str = doc["raw_content"]
    lines = content.split("\n")
    kept = dedup_lines(lines, {h % _U64 for h in duplicated})
    text = "\n".join(kept.lines)
    out = {
        **doc,
        "raw_content": text,
        "nlines": len(kept.lines),
        "length": len(text),
        # CCNet copies the reader's counts when it has them (WET `Content-Length` is bytes).
        "original_nlines": doc.get("nlines", len(lines)),
        "original_length": doc.get("length", len(content)),
        "line_ids": kept.line_ids,
    }
    return out, kept.decision


class _ApplyDedup(beam.DoFn):
    def __init__(self, source: str, group: str):
        self.source, self.group = source, group

    def process(self, element: tuple[int, dict[str, list]]):
        _, grouped = element
        duplicated = grouped["duplicated"]
        for doc in grouped["documents"]:
            out, decision = dedup_document(doc, duplicated)
            if decision.keep:
                yield out
            else:
                accounting.count(self.source, self.group, f"dropped_{decision.reason}")
                yield beam.pvalue.TaggedOutput(
                    "dropped", {"id": doc["id"], "reason": decision.reason}
                )


class LineDedup(beam.PTransform):
    """Documents (`id`, `raw_content`, ...) → {"documents": deduplicated documents,
    "hashes": (int64 hash, held by ≥ 2 documents) for every line hash of this run,
    "dropped": (`id`, `reason`) of each document left with no line}.

    `previous_hashes`: int64 hashes of earlier runs (a PCollection, or a pattern of files that
    `WriteHashSet` wrote); a line whose hash is among them goes as a duplicate. Documents left
    empty are counted as `dropped_dedup_empty` in `source`/`group`.
    """

    def __init__(
        self,
        source: str,
        group: str = "dedup",
        *,
        previous_hashes: beam.PCollection | str | None = None,
        hot_key_fanout: int = 16,
        hot_threshold: int = 10_000,
    ):
        super().__init__()
        if hot_threshold < 2:
            raise ValueError("hot_threshold must be at least 2: a hot line must be a duplicate")
        self.source, self.group = source, group
        self.previous_hashes = previous_hashes
        self.hot_key_fanout, self.hot_threshold = hot_key_fanout, hot_threshold

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        threshold = self.hot_threshold
        pairs = docs | "HashLines" >> beam.FlatMap(_hash_pairs)
        counts = (
            pairs
            | "One" >> beam.Map(lambda pair: (pair[0], 1))
            | "CountDocuments" >> beam.CombinePerKey(sum).with_hot_key_fanout(self.hot_key_fanout)
        )
        hot = (
            counts
            | "Hot" >> beam.Filter(lambda hc: hc[1] >= threshold)
            | "HotHashes" >> beam.Keys()
            | "HotSet" >> beam.combiners.ToSet()
        )
        split = pairs | "SplitHot" >> beam.ParDo(
            _SplitHot(), hot=beam.pvalue.AsSingleton(hot)
        ).with_outputs("decided", main="cold")
        by_hash = {"documents": split.cold}
        previous = self.previous_hashes
        if isinstance(previous, str):
            previous = docs.pipeline | "ReadPreviousHashes" >> ReadHashSet(previous)
        if previous is not None:
            by_hash["previous"] = previous | "KeyPrevious" >> beam.Map(lambda h: (h, None))
        shared = (
            by_hash
            | "JoinByHash" >> beam.CoGroupByKey()
            | "SharedHashes" >> beam.FlatMap(_shared_hashes)
        )
        duplicated = (split.decided, shared) | "AllDuplicated" >> beam.Flatten()
        deduplicated = (
            {
                "documents": docs | "KeyDocuments" >> beam.Map(lambda d: (doc_key(d["id"]), d)),
                "duplicated": duplicated,
            }
            | "JoinByDocument" >> beam.CoGroupByKey()
            | "Apply"
            >> beam.ParDo(_ApplyDedup(self.source, self.group)).with_outputs(
                "dropped", main="documents"
            )
        )
        hashes = counts | "Flag" >> beam.Map(lambda hc: (hc[0], hc[1] >= 2))
        return {
            "documents": deduplicated.documents,
            "hashes": hashes,
            "dropped": deduplicated.dropped,
        }


def hash_shard(h: int, num_shards: int) -> int:
    """Shards are ranges of the uint64 hash, so the shards in order are one sorted array."""
    return ((h % _U64) * num_shards) >> 64


def hash_set_bytes(pairs: Iterable[tuple[int, bool] | None]) -> tuple[int, bytes]:
    """(rows, `.npy` bytes) of (hash, duplicated) pairs sorted by uint64 hash; Nones skipped.

    The pairs stream into two typed arrays (9 bytes a hash), never a Python list of tuples.
    """
    hashes, flags = array("q"), array("B")
    for pair in pairs:
        if pair is not None:
            hashes.append(pair[0])
            flags.append(pair[1])
    table = np.empty(len(hashes), HASH_DTYPE)
    table["hash"] = np.frombuffer(hashes, dtype=np.int64).view(np.uint64)
    table["duplicated"] = np.frombuffer(flags, dtype=np.uint8)
    table.sort(order=["hash", "duplicated"])
    buffer = io.BytesIO()
    np.save(buffer, table, allow_pickle=False)
    return len(table), buffer.getvalue()


def read_hash_set(path: str) -> np.ndarray:
    """One hash-set file as a structured array of HASH_DTYPE."""
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        table = np.load(io.BytesIO(fh.read()), allow_pickle=False)
    if table.dtype != HASH_DTYPE:
        raise ValueError(
            f"{path}: dtype {table.dtype} is not a hash set's {HASH_DTYPE}; "
            "pass the part-*.npy files that WriteHashSet wrote"
        )
    return table


def _int64_hashes(path: str, chunk: int = 1 << 16) -> Iterator[int]:
    """A file's hashes as Python ints a chunk at a time: ints cost ~30 bytes each, not 8."""
    hashes = read_hash_set(path)["hash"].view(np.int64)
    for start in range(0, len(hashes), chunk):
        yield from hashes[start : start + chunk].tolist()


class _WriteHashShard(beam.DoFn):
    def __init__(self, directory: str, num_shards: int):
        self.directory, self.num_shards = directory, num_shards

    def process(self, element: tuple[int, Iterable[tuple[int, bool] | None]]):
        shard, pairs = element
        rows, data = hash_set_bytes(pairs)
        write_atomically(shard_name(self.directory, shard, self.num_shards, HASH_SUFFIX), data)
        yield shard, rows, len(data)


def _finalize_hash_set(written: list[tuple[int, int, int]], directory: str, n: int) -> dict:
    """Delete files of earlier runs that this one does not own; write `_manifest.json`."""
    remove_stale(directory, n, HASH_SUFFIX)
    shards = [{"shard": s, "rows": r, "bytes": b} for s, r, b in sorted(written)]
    manifest = {
        "format": "npy",
        "dtype": str(HASH_DTYPE.descr),
        "num_shards": n,
        "rows": sum(s["rows"] for s in shards),
        "bytes": sum(s["bytes"] for s in shards),
        "shards": shards,
    }
    write_manifest(directory, manifest)
    return manifest


class WriteHashSet(beam.PTransform):
    """(int64 hash, duplicated) → `<directory>/part-SSSSS-of-NNNNN.npy`, one summary dict.

    Each file is a `.npy` array of HASH_DTYPE (`hash` uint64 little-endian, `duplicated` bool),
    sorted by hash; shard s holds the hashes in [s, s + 1) × 2**64 / N, so the files in order are
    one sorted array. Byte-identical for the same hashes on any runner; every shard is written,
    empty ones included, so a reader never mistakes a missing file for an empty range.
    """

    def __init__(self, directory: str, num_shards: int):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be at least 1")
        self.directory, self.num_shards = directory, num_shards

    def expand(self, hashes: beam.PCollection) -> beam.PCollection:
        directory, n = self.directory, self.num_shards
        keyed = hashes | "Key" >> beam.Map(lambda hd: (hash_shard(hd[0], n), hd))
        every_shard = hashes.pipeline | "EveryShard" >> beam.Create([(s, None) for s in range(n)])
        return (
            (keyed, every_shard)
            | "Flatten" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteHashShard(directory, n))
            | "Collect" >> beam.combiners.ToList()
            | "Finalize" >> beam.Map(_finalize_hash_set, directory, n)
        )


class ReadHashSet(beam.PTransform):
    """Every hash (int64) in the files matching `pattern`, e.g. `<run>/hashes/part-*.npy`; a
    pattern that matches nothing fails the run rather than silently deduplicating against
    nothing."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Match" >> fileio.MatchFiles(self.pattern, fileio.EmptyMatchTreatment.DISALLOW)
            | "Path" >> beam.Map(lambda metadata: metadata.path)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_int64_hashes)
        )
