"""Global line dedup (docs/recipe/commoncrawl.md §2) in two reads of the input, as CCNet ran it:
the first hashes lines, three shuffles of NumPy batches decide, and the second read applies the
decision. No worker ever holds the run's hash set, no Beam element stands for a line, and page
text never crosses a shuffle: what does is 8 bytes a line. Arrays cross shuffles as raw bytes.

Documents come from work items (a WET file): `tag_documents` gives each document it reads
`WORK` = (work index, work item, position among the item's documents), and `read(work item)` must
yield the same documents again, in the same order (a file read twice).

1. `HashLines`, per document of the first read: `line_hashes` hashes its lines once. A worker
   buffers (hash, work, position) for each document's distinct non-empty lines, up to
   `batch_pairs` pairs or the end of the bundle, and counts hashes across the batch, as a lifted
   combiner would. A hash that two or more of the batch's documents hold is a duplicate already:
   its pairs go straight to step 3 and its hash shard receives the bare hash (8 bytes), once.
   The other pairs (16 bytes each) go to their hash shard. Shard s holds the hashes in
   [s, s + 1) × 2**64 / `dedup_shards`, so a boilerplate line costs its shard one hash per batch,
   not one pair per document: no hot-key fan-out is needed. Every line's hash (8 bytes, empty
   lines too) and the document's position go to its work item for step 3, so no line is hashed
   twice; the document itself goes no further.
2. GroupByKey per hash shard, together with the hashes of earlier runs (hash-set files are read
   a chunk at a time, and each chunk is split at the shard bounds by a search: 8 bytes a hash).
   Per shard: sort, count documents per hash. A hash is duplicated when two or more documents
   hold it (in one batch, or across batches), and removed when duplicated or held by an earlier
   run. Out go the shard's rows of the run's hash set (hash, duplicated: 9 bytes each, sorted,
   for `WriteHashSet`) and the (hash, work, position) pairs of removed hashes, by work item.
3. GroupByKey per work item of its documents' line hashes and removed pairs; the item is read
   again and `dedup_lines` applied to each document that reached step 1 (a document the first
   read dropped, e.g. too short, is skipped: it was counted then). A document of the first read
   missing from the second, or with other lines, stops the run: the input changed.
Every decision is a count over the whole run and every output is sorted or per document, so the
result does not depend on how bundles and batches fall: runners give byte-identical files.

Memory, with N = `dedup_shards`: a hash shard holds 16 bytes per pair whose hash is in its range
(8 per repeated or earlier-run hash), about 3x that while sorting. Hashes are uniform, so that is
at most about 1/N of the run's pairs; a work item, 8 bytes per line of its documents and 16 per
removed line (39 MB for the benchmark's 40,374-page WET file), while documents stream through
step 3 one at a time. Choose N so that a shard fits a worker: a 3-billion-page snapshot has
~1.5e11 pairs (~2.4 TB), so N = 4096 gives ~600 MB a shard. The default, 64, suits one machine.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Container, Iterable, Iterator
from typing import Any, BinaryIO, Final

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms.window import GlobalWindows

from core.files import write_atomically
from core.manifest import write_manifest
from filters.base import Decision
from filters.dedup import dedup_lines, line_hashes
from pipelines import accounting
from pipelines.shards import remove_stale, shard_name

HASH_DTYPE: Final = np.dtype([("hash", "<u8"), ("duplicated", "?")])
HASH_SUFFIX: Final = ".npy"
PAIR_DTYPE: Final = np.dtype([("hash", "<u8"), ("work", "<u4"), ("position", "<u4")])
DEFAULT_DEDUP_SHARDS: Final = 64
DEFAULT_BATCH_PAIRS: Final = 1 << 20  # 16 MiB of pairs per worker before they are sent
_READ_ROWS: Final = 1 << 20  # hash-set rows per element when files are read (9 MiB)
WORK: Final = "_work"  # a first-read document's (work index, work item, position)
# Tags of the values that share a GroupByKey: per hash shard, per work item.
_PAIRS, _REPEATED, _PREVIOUS = 0, 1, 2
_LINES, _REMOVED = 0, 1

Reader = Callable[[Any], Iterable[Any]]


def tag_documents(read: Reader, work: tuple[int, Any]) -> Iterator[Any]:
    """What `read(item)` yields for the work item (index, item), each document (dict) tagged
    with WORK = (index, item, its position among the item's documents) for LineDedup; dead
    letters and the rest pass as they are."""
    index, item = work
    position = 0
    for out in read(item):
        if isinstance(out, dict):
            out[WORK] = (index, item, position)
            position += 1
        yield out


def _documents(read: Reader, item: Any) -> Iterator[tuple[int, dict]]:
    """(position, document) of the work item's second read, counted as `tag_documents` does."""
    return enumerate(out for out in read(item) if isinstance(out, dict))


@functools.cache
def shard_bounds(num_shards: int) -> np.ndarray:
    """The first uint64 of each shard: shard s holds [s, s + 1) × 2**64 / num_shards, i.e. the
    values v with floor(v × num_shards / 2**64) = s, so the shards in order are one sorted range."""
    bounds = np.array([-(-(s << 64) // num_shards) for s in range(num_shards)], np.uint64)
    bounds.flags.writeable = False
    return bounds


def split_by_shard(
    rows: np.ndarray, values: np.ndarray, num_shards: int
) -> Iterator[tuple[int, np.ndarray]]:
    """(shard, its rows) for every shard of uint64 `values` (one per row) that has rows; the rows
    keep their order within a shard."""
    shards = np.searchsorted(shard_bounds(num_shards), values, side="right") - 1
    counts = np.bincount(shards, minlength=num_shards)
    rows = rows[np.argsort(shards, kind="stable")]
    ends = np.cumsum(counts)
    for shard in np.flatnonzero(counts).tolist():
        yield shard, rows[ends[shard] - counts[shard] : ends[shard]]


def _removed_by_work(pairs: np.ndarray) -> Iterator[tuple[int, tuple[int, bytes]]]:
    """(work index, (_REMOVED, its pairs' bytes)): removed pairs on their way to step 3."""
    if not pairs.size:
        return
    works, inverse = np.unique(pairs["work"], return_inverse=True)
    pairs = pairs[np.argsort(inverse, kind="stable")]
    ends = np.cumsum(np.bincount(inverse, minlength=len(works))).tolist()
    for work, start, end in zip(works.tolist(), [0, *ends[:-1]], ends, strict=True):
        yield work, (_REMOVED, pairs[start:end].tobytes())


class _HashLines(beam.DoFn):
    """First-read documents → tagged "by_hash": (hash shard, (tag, bytes)) batches; tagged
    "by_work": (work index, (_LINES, (item, positions, line counts, line hashes as bytes))) and
    (work index, (_REMOVED, pairs' bytes)) batches."""

    def __init__(self, num_shards: int, batch_pairs: int):
        self.num_shards, self.batch_pairs = num_shards, batch_pairs

    def start_bundle(self):
        self._reset()

    def _reset(self) -> None:
        self._hashes: list[np.ndarray] = []
        self._works: list[tuple[int, int]] = []
        self._lines: dict[int, tuple[Any, list[int], list[np.ndarray]]] = {}
        self._buffered = 0

    def process(self, doc: dict):
        index, item, position = doc[WORK]
        hashes, nonempty = line_hashes(doc["raw_content"])
        distinct = np.unique(hashes[nonempty])
        if distinct.size:
            self._hashes.append(distinct)
            self._works.append((index, position))
        _, positions, lines = self._lines.setdefault(index, (item, [], []))
        positions.append(position)
        lines.append(hashes)
        self._buffered += distinct.size + hashes.size // 2  # a line hash is half a pair
        if self._buffered >= self.batch_pairs:
            yield from self._flush()

    def finish_bundle(self):
        # Outputs of finish_bundle need a window; the dedup runs in the global window.
        for output in self._flush():
            yield beam.pvalue.TaggedOutput(output.tag, GlobalWindows.windowed_value(output.value))

    def _flush(self) -> Iterator[beam.pvalue.TaggedOutput]:
        for index, (item, positions, lines) in self._lines.items():
            sizes = np.array([len(h) for h in lines], np.uint32).tobytes()
            value = (item, np.array(positions, np.uint32).tobytes(), sizes)
            hashes = np.concatenate(lines).tobytes()
            yield beam.pvalue.TaggedOutput("by_work", (index, (_LINES, (*value, hashes))))
        if self._hashes:
            pairs = np.empty(sum(len(h) for h in self._hashes), PAIR_DTYPE)
            pairs["hash"] = np.concatenate(self._hashes)
            sizes = [len(h) for h in self._hashes]
            works = np.array(self._works, np.uint32).reshape(-1, 2)
            pairs["work"] = np.repeat(works[:, 0], sizes)
            pairs["position"] = np.repeat(works[:, 1], sizes)
            yield from self._route(pairs)
        self._reset()

    def _route(self, pairs: np.ndarray) -> Iterator[beam.pvalue.TaggedOutput]:
        hashes, inverse, counts = np.unique(pairs["hash"], return_inverse=True, return_counts=True)
        repeated = counts >= 2
        in_repeated = repeated[inverse]
        single = pairs[~in_repeated]
        for shard, part in split_by_shard(single, single["hash"], self.num_shards):
            yield beam.pvalue.TaggedOutput("by_hash", (shard, (_PAIRS, part.tobytes())))
        repeated_hashes = hashes[repeated]
        for shard, part in split_by_shard(repeated_hashes, repeated_hashes, self.num_shards):
            yield beam.pvalue.TaggedOutput("by_hash", (shard, (_REPEATED, part.tobytes())))
        for removed in _removed_by_work(pairs[in_repeated]):
            yield beam.pvalue.TaggedOutput("by_work", removed)


def _route_previous(data: bytes, num_shards: int) -> Iterator[tuple[int, tuple[int, bytes]]]:
    """Hash-set rows of earlier runs → (hash shard, (_PREVIOUS, its hashes' bytes))."""
    hashes = np.ascontiguousarray(np.frombuffer(data, HASH_DTYPE)["hash"])
    for shard, part in split_by_shard(hashes, hashes, num_shards):
        yield shard, (_PREVIOUS, part.tobytes())


def _decide_shard(element: tuple[int, Iterable[tuple[int, bytes]]]):
    """(hash shard, batches) → the shard's hash-set rows as bytes of HASH_DTYPE, sorted by hash;
    tagged "removed": (work index, (_REMOVED, bytes of the pairs whose hash is removed))."""
    _, values = element
    parts: tuple[list[bytes], ...] = ([], [], [])
    for tag, data in values:
        parts[tag].append(data)
    pairs = np.frombuffer(b"".join(parts[_PAIRS]), PAIR_DTYPE)
    repeated = np.frombuffer(b"".join(parts[_REPEATED]), np.uint64)
    previous = np.frombuffer(b"".join(parts[_PREVIOUS]), np.uint64)
    singles, inverse, counts = np.unique(pairs["hash"], return_inverse=True, return_counts=True)
    duplicated = np.union1d(singles[counts >= 2], repeated)
    seen = np.union1d(singles, repeated)
    if seen.size:
        table = np.empty(seen.size, HASH_DTYPE)
        table["hash"] = seen
        table["duplicated"] = np.isin(seen, duplicated, assume_unique=True)
        yield table.tobytes()
    removed = np.isin(singles, duplicated, assume_unique=True) | np.isin(singles, previous)
    for out in _removed_by_work(pairs[removed[inverse]]):
        yield beam.pvalue.TaggedOutput("removed", out)


def dedup_document(
    doc: dict, duplicated: Container[int], hashes: np.ndarray | None = None
) -> tuple[dict, Decision]:
    """The document with CCNet's fields; `duplicated` holds uint64 line hashes, `hashes` the
    document's `line_hashes` when they are known already."""
    content: str = doc["raw_content"]
    lines = content.split("\n")
    if hashes is None:
        hashes, _ = line_hashes(content)
    elif len(hashes) != len(lines):
        raise ValueError(f"{doc.get('id')}: {len(lines)} lines but {len(hashes)} line hashes")
    kept = dedup_lines(lines, duplicated, hashes.tolist())
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


class _Apply(beam.DoFn):
    """(work index, its line hashes and removed pairs) → its documents, read again and
    deduplicated; tagged "dropped": (`id`, `reason`) of each document left with no line."""

    def __init__(self, source: str, group: str, read: Reader):
        self.source, self.group, self.read = source, group, read

    def process(self, element: tuple[int, Iterable[tuple[int, Any]]]):
        _, values = element
        item, positions, sizes, hashes, removed = None, [], [], [], []
        for tag, value in values:
            if tag == _REMOVED:
                removed.append(value)
                continue
            item = value[0]
            positions.append(np.frombuffer(value[1], np.uint32))
            sizes.append(np.frombuffer(value[2], np.uint32))
            hashes.append(np.frombuffer(value[3], np.uint64))
        if item is None:
            return
        line_hashes_ = np.concatenate(hashes)
        ends = np.cumsum(np.concatenate(sizes))
        starts = ends - np.concatenate(sizes)
        spans = zip(starts.tolist(), ends.tolist(), strict=True)
        lines = dict(zip(np.concatenate(positions).tolist(), spans, strict=True))
        pairs = np.frombuffer(b"".join(removed), PAIR_DTYPE)
        pairs = pairs[np.argsort(pairs["position"], kind="stable")]
        at = np.flatnonzero(np.diff(pairs["position"].astype(np.int64), prepend=-1, append=-1))
        lost = {
            int(pairs["position"][a]): pairs["hash"][a:b]
            for a, b in zip(at[:-1].tolist(), at[1:].tolist(), strict=True)
        }
        empty = np.empty(0, np.uint64)
        for position, doc in _documents(self.read, item):
            span = lines.pop(position, None)
            if span is None:  # dropped by the first read's filters, and counted there
                continue
            duplicated = set(lost.get(position, empty).tolist())
            out, decision = dedup_document(doc, duplicated, line_hashes_[span[0] : span[1]])
            if decision.keep:
                yield out
            else:
                accounting.count(self.source, self.group, f"dropped_{decision.reason}")
                yield beam.pvalue.TaggedOutput(
                    "dropped", {"id": doc["id"], "reason": decision.reason}
                )
        if lines:
            raise RuntimeError(
                f"{item}: {len(lines)} documents of the first read are missing from the second "
                "(the input changed while the run read it)"
            )


class LineDedup(beam.PTransform):
    """Documents of the first read (tagged by `tag_documents`) in the global window →
    {"documents": deduplicated documents of the second read (`read`), "hashes": the run's hash set
    as bytes of HASH_DTYPE arrays (every line hash of the run once, `duplicated` if two or more
    documents hold it; one array per hash shard, sorted by hash; `WriteHashSet` writes them),
    "dropped": (`id`, `reason`) of each document left with no line}.

    `previous_hashes`: hash sets of earlier runs, as a pattern of files that `WriteHashSet` wrote
    or a PCollection like "hashes"; a line whose hash is among them goes as a duplicate. Documents
    left empty are counted as `dropped_dedup_empty` in `source`/`group`. `dedup_shards`: hash
    ranges of the shuffle: one range's pairs must fit a worker's memory (module docstring).
    `batch_pairs`: pairs a worker counts together before sending.
    """

    def __init__(
        self,
        source: str,
        read: Reader,
        group: str = "dedup",
        *,
        previous_hashes: beam.PCollection | str | None = None,
        dedup_shards: int = DEFAULT_DEDUP_SHARDS,
        batch_pairs: int = DEFAULT_BATCH_PAIRS,
    ):
        super().__init__()
        if dedup_shards < 1 or batch_pairs < 1:
            raise ValueError("dedup_shards and batch_pairs must be at least 1")
        self.source, self.read, self.group = source, read, group
        self.previous_hashes = previous_hashes
        self.dedup_shards, self.batch_pairs = dedup_shards, batch_pairs

    def expand(self, docs: beam.PCollection) -> dict[str, beam.PCollection]:
        n = self.dedup_shards
        hashed = docs | "HashLines" >> beam.ParDo(_HashLines(n, self.batch_pairs)).with_outputs(
            "by_hash", "by_work"
        )
        by_hash = [hashed.by_hash]
        previous = self.previous_hashes
        if isinstance(previous, str):
            previous = docs.pipeline | "ReadPreviousHashes" >> ReadHashSet(previous)
        if previous is not None:
            by_hash.append(previous | "RoutePrevious" >> beam.FlatMap(_route_previous, n))
        decided = (
            by_hash
            | "AllByHash" >> beam.Flatten()
            | "GroupByHashShard" >> beam.GroupByKey()
            | "Decide" >> beam.FlatMap(_decide_shard).with_outputs("removed", main="hashes")
        )
        deduplicated = (
            (hashed.by_work, decided.removed)
            | "AllByWork" >> beam.Flatten()
            | "GroupByWork" >> beam.GroupByKey()
            | "ReadAgainAndApply"
            >> beam.ParDo(_Apply(self.source, self.group, self.read)).with_outputs(
                "dropped", main="documents"
            )
        )
        return {
            "documents": deduplicated.documents,
            "hashes": decided.hashes,
            "dropped": deduplicated.dropped,
        }


def _read_header(fh: BinaryIO, path: str) -> int:
    """Check a hash-set file's `.npy` header; its number of rows."""
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ValueError(f"{path}: .npy version {version} is not one np.save writes for a hash set")
    if dtype != HASH_DTYPE or len(shape) != 1:
        raise ValueError(
            f"{path}: dtype {dtype} is not a hash set's {HASH_DTYPE}; "
            "pass the part-*.npy files that WriteHashSet wrote"
        )
    return shape[0]


def _hash_set_chunks(path: str, rows: int = _READ_ROWS) -> Iterator[bytes]:
    """A hash-set file's rows, up to `rows` at a time, as bytes of HASH_DTYPE: a file is never
    in memory whole."""
    width = HASH_DTYPE.itemsize
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        expected = _read_header(fh, path)
        seen, rest = 0, b""
        while block := fh.read(rows * width):
            block = rest + block
            usable = len(block) - len(block) % width
            rest = block[usable:]
            if usable:
                seen += usable // width
                yield block[:usable]
    if rest or seen != expected:
        raise ValueError(f"{path}: {seen} rows and {len(rest)} bytes, not the {expected} rows")


def read_hash_set(path: str) -> np.ndarray:
    """One hash-set file as a structured array of HASH_DTYPE."""
    return np.frombuffer(b"".join(_hash_set_chunks(path)), HASH_DTYPE)


def _split_hash_rows(data: bytes, num_shards: int) -> Iterator[tuple[int, bytes]]:
    rows = np.frombuffer(data, HASH_DTYPE)
    for shard, part in split_by_shard(rows, rows["hash"], num_shards):
        yield shard, part.tobytes()


class _WriteHashShard(beam.DoFn):
    def __init__(self, directory: str, num_shards: int):
        self.directory, self.num_shards = directory, num_shards

    def process(self, element: tuple[int, Iterable[bytes]]):
        shard, parts = element
        table = np.frombuffer(b"".join(parts), HASH_DTYPE)
        table = table[np.lexsort((table["duplicated"], table["hash"]))]
        buffer = io.BytesIO()
        np.save(buffer, table, allow_pickle=False)
        data = buffer.getvalue()
        write_atomically(shard_name(self.directory, shard, self.num_shards, HASH_SUFFIX), data)
        yield shard, len(table), len(data)


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
    """Bytes of HASH_DTYPE arrays (LineDedup's "hashes") → `<directory>/part-SSSSS-of-NNNNN.npy`,
    one summary dict.

    Each file is a `.npy` array of HASH_DTYPE (`hash` uint64 little-endian, `duplicated` bool),
    sorted by hash; shard s holds the hashes in [s, s + 1) × 2**64 / N, so the files in order are
    one sorted array. The arrays are split at those bounds and regrouped, so N need not be
    LineDedup's `dedup_shards` (with a multiple of N, each array lands in one file). A file is
    built in memory (9 bytes a hash). Byte-identical for the same hashes on any runner; every
    shard is written, empty ones included, so a reader never mistakes a missing file for an empty
    range.
    """

    def __init__(self, directory: str, num_shards: int):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be at least 1")
        self.directory, self.num_shards = directory, num_shards

    def expand(self, tables: beam.PCollection) -> beam.PCollection:
        directory, n = self.directory, self.num_shards
        parts = tables | "Split" >> beam.FlatMap(_split_hash_rows, n)
        every_shard = tables.pipeline | "EveryShard" >> beam.Create([(s, b"") for s in range(n)])
        return (
            (parts, every_shard)
            | "Flatten" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteHashShard(directory, n))
            | "Collect" >> beam.combiners.ToList()
            | "Finalize" >> beam.Map(_finalize_hash_set, directory, n)
        )


class ReadHashSet(beam.PTransform):
    """The hash sets in the files matching `pattern`, e.g. `<run>/hashes/part-*.npy`, as bytes of
    HASH_DTYPE arrays of up to 2**20 rows; a pattern that matches nothing fails the run rather
    than silently deduplicating against nothing."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def expand(self, pbegin: beam.pvalue.PBegin) -> beam.PCollection:
        return (
            pbegin
            | "Match" >> fileio.MatchFiles(self.pattern, fileio.EmptyMatchTreatment.DISALLOW)
            | "Path" >> beam.Map(lambda metadata: metadata.path)
            | "Spread" >> beam.Reshuffle()
            | "Read" >> beam.FlatMap(_hash_set_chunks)
        )
