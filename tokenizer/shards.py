"""Token shards: Arrow IPC files of `id: string, tokens: list<uint16>` that the trainer memory-maps.

Layout (docs/design.md, "Token shards"): `<out>/tokens/<source>/part-SSSSS-of-NNNNN.arrow` plus
`_manifest.json` (core.manifest) with the counts and the tokenizer's sha256. Files are
uncompressed so that a document's tokens are a NumPy view into the mapped file: reading costs
page faults, not copies.
Record batches are bounded in tokens, which keeps every list offset within int32.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from core.files import bytes_sha256, file_sha256
from core.manifest import MANIFEST, TOKEN_FORMAT, manifest_path, source_manifests

SCHEMA = pa.schema([("id", pa.string()), ("tokens", pa.list_(pa.uint16()))])
FORMAT = TOKEN_FORMAT
MAX_BATCH_TOKENS = 1 << 24  # 32 MiB of uint16 per record batch
MAX_BATCH_ROWS = 1 << 16


class TokenShardError(ValueError):
    """A shard or manifest that cannot be read as written: names the file and what is wrong."""


class TokenizerMismatchError(ValueError):
    """Shards made by different tokenizers: their ids mean different strings."""


def shard_bytes(ids: Sequence[str], tokens: Sequence[np.ndarray]) -> bytes:
    """One shard's Arrow IPC file, rows in the order given (callers sort by id)."""
    if len(ids) != len(tokens):
        raise ValueError(f"{len(ids)} ids but {len(tokens)} token arrays")
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, SCHEMA) as writer:
        for start, stop in _batch_bounds([len(t) for t in tokens]):
            writer.write_batch(_batch(ids[start:stop], tokens[start:stop]))
    return sink.getvalue().to_pybytes()


def _batch_bounds(lengths: list[int]) -> Iterator[tuple[int, int]]:
    start, total = 0, 0
    for i, n in enumerate(lengths):
        if i > start and (total + n > MAX_BATCH_TOKENS or i - start >= MAX_BATCH_ROWS):
            yield start, i
            start, total = i, 0
        total += n
    if start < len(lengths) or not lengths:
        yield start, len(lengths)


def _batch(ids: Sequence[str], tokens: Sequence[np.ndarray]) -> pa.RecordBatch:
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    if lengths.sum() >= 2**31:
        raise ValueError("one document exceeds 2^31 tokens")  # a batch holds at least one row
    offsets = np.zeros(len(tokens) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate([np.asarray(t) for t in tokens]) if tokens else np.empty(0)
    if flat.size and (flat.min() < 0 or flat.max() > np.iinfo(np.uint16).max):
        raise ValueError("token ids must fit in uint16 (vocabulary ≤ 65,536)")
    values = pa.array(flat.astype(np.uint16, copy=False), type=pa.uint16())
    column = pa.ListArray.from_arrays(pa.array(offsets, type=pa.int32()), values)
    return pa.record_batch([pa.array(list(ids), type=pa.string()), column], schema=SCHEMA)


@dataclass(frozen=True)
class _Batch:
    offsets: np.ndarray  # int32, rows + 1, starting at the batch's first value
    values: np.ndarray  # uint16 view into the mapped file
    ids: pa.StringArray


class TokenShard:
    """One memory-mapped shard; `document(i)` is a zero-copy uint16 view."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self._map = pa.memory_map(str(self.path), "r")
            # The file reader trusts the footer alone; the leading magic and schema are checked too.
            magic = self._map.read_at(6, 0)
            self._map.seek(8)
            if magic != b"ARROW1" or not pa.ipc.read_schema(self._map).equals(SCHEMA):
                raise TokenShardError(f"{self.path}: damaged header (magic or schema)")
            reader = pa.ipc.open_file(self._map)
            if not reader.schema.equals(SCHEMA):
                raise TokenShardError(f"{self.path}: schema {reader.schema} is not {SCHEMA}")
            batches = [reader.get_batch(i) for i in range(reader.num_record_batches)]
            for batch in batches:  # offsets and UTF-8 of the ids: linear, and no token is read
                batch.validate(full=True)
            self._batches = [self._view(batch) for batch in batches]
        except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
            raise TokenShardError(
                f"{self.path}: not a readable token shard ({exc}); re-run `make tokenize`"
            ) from exc
        rows = [len(b.ids) for b in self._batches]
        self._starts = np.concatenate([[0], np.cumsum(rows)]).astype(np.int64)
        self.num_tokens = int(sum(int(b.offsets[-1] - b.offsets[0]) for b in self._batches))

    def _view(self, batch: pa.RecordBatch) -> _Batch:
        column = batch.column(1)
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)
        offsets = offsets[column.offset : column.offset + len(column) + 1]
        values = np.frombuffer(column.buffers()[3], dtype=np.uint16)
        if len(offsets) and (
            offsets[0] < 0 or offsets[-1] > len(values) or np.any(np.diff(offsets) < 0)
        ):
            raise TokenShardError(f"{self.path}: list offsets out of range (corrupted shard)")
        return _Batch(offsets=offsets, values=values, ids=batch.column(0))

    def __len__(self) -> int:
        return int(self._starts[-1])

    def _locate(self, index: int) -> tuple[_Batch, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"document {index} of {len(self)} in {self.path}")
        b = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self._batches[b], index - int(self._starts[b])

    def document(self, index: int) -> np.ndarray:
        batch, row = self._locate(index)
        return batch.values[batch.offsets[row] : batch.offsets[row + 1]]

    def document_id(self, index: int) -> str:
        batch, row = self._locate(index)
        return batch.ids[row].as_py()

    def document_ids(self) -> list[str]:
        """Every document's id, in order."""
        return [doc_id for b in self._batches for doc_id in b.ids.to_pylist()]

    def lengths(self) -> np.ndarray:
        """Tokens per document, in order (int64)."""
        return np.concatenate([np.diff(b.offsets).astype(np.int64) for b in self._batches] or [[]])

    def __iter__(self) -> Iterator[np.ndarray]:
        for batch in self._batches:
            for start, stop in zip(batch.offsets[:-1], batch.offsets[1:], strict=True):
                yield batch.values[start:stop]

    def buffers(self) -> list[np.ndarray]:
        """The mapped value buffers, for checks that views share memory with the file."""
        return [b.values for b in self._batches]


def _check_manifest(found: object, path: Path) -> None:
    """The fields TokenSource reads, with their types: a damaged manifest is a TokenShardError,
    and a shard is a file of the source's own directory (no path)."""

    def bad(what: str) -> TokenShardError:
        return TokenShardError(f"{path}: {what}; re-run `make tokenize` for this source")

    if not isinstance(found, dict):
        raise bad(f"a {type(found).__name__}, not a manifest object")
    if found.get("format") != FORMAT:
        raise TokenShardError(f"{path}: format {found.get('format')!r}, not {FORMAT}")
    tokenizer = found.get("tokenizer")
    if not isinstance(tokenizer, dict) or not isinstance(tokenizer.get("sha256"), str):
        raise bad("no tokenizer sha256")
    shards = found.get("shards")
    if not isinstance(shards, list):
        raise bad("no list of shards")
    for entry in shards:
        if not isinstance(entry, dict):
            raise bad(f"a shard entry is a {type(entry).__name__}")
        name = entry.get("file")
        if not isinstance(name, str) or not name or Path(name).name != name or name in {".", ".."}:
            raise bad(f"shard file {name!r} is not a file name")
        for key in ("documents", "tokens"):
            if type(entry.get(key)) is not int:
                raise bad(f"{name}: {key} is not an integer")
        if not isinstance(entry.get("sha256"), str):
            raise bad(f"{name}: no sha256")


class TokenSource:
    """A source's shard directory, checked against its manifest when opened."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        found = manifest_path(self.directory)
        path = Path(found) if found else self.directory / MANIFEST
        try:
            self.manifest = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenShardError(f"{path}: missing; run `make tokenize` for this source") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TokenShardError(f"{path}: not valid JSON ({exc})") from exc
        _check_manifest(self.manifest, path)
        self.name = self.manifest.get("source", self.directory.name)
        self.tokenizer_sha256: str = self.manifest["tokenizer"]["sha256"]
        self.shards = [self._open(entry) for entry in self.manifest["shards"]]
        self._starts = np.concatenate([[0], np.cumsum([len(s) for s in self.shards])]).astype(
            np.int64
        )
        self.num_documents = int(self._starts[-1])
        self.num_tokens = sum(s.num_tokens for s in self.shards)

    def _open(self, entry: dict) -> TokenShard:
        shard = TokenShard(self.directory / entry["file"])
        if (len(shard), shard.num_tokens) != (entry["documents"], entry["tokens"]):
            raise TokenShardError(
                f"{shard.path}: {len(shard)} documents / {shard.num_tokens} tokens, manifest says "
                f"{entry['documents']} / {entry['tokens']} (truncated or replaced shard)"
            )
        return shard

    def verify(self) -> None:
        """Compare every shard's sha256 with the manifest (reads all bytes; opening does not)."""
        for entry, shard in zip(self.manifest["shards"], self.shards, strict=True):
            if file_sha256(shard.path) != entry["sha256"]:
                raise TokenShardError(f"{shard.path}: sha256 differs from its {MANIFEST}")

    def __len__(self) -> int:
        return self.num_documents

    def document(self, index: int) -> np.ndarray:
        if not 0 <= index < self.num_documents:
            raise IndexError(f"document {index} of {self.num_documents} in {self.directory}")
        s = int(np.searchsorted(self._starts, index, side="right")) - 1
        return self.shards[s].document(index - int(self._starts[s]))

    def __iter__(self) -> Iterator[np.ndarray]:
        for shard in self.shards:
            yield from shard


def shard_entry(
    path: str | Path, documents: int, tokens: int, text_bytes: int, data: bytes | None = None
) -> dict:
    """`data`: the file's bytes when the writer has them (a remote path cannot be re-read here)."""
    return {
        "file": Path(path).name,
        "documents": documents,
        "tokens": tokens,
        "bytes": text_bytes,
        "sha256": file_sha256(path) if data is None else bytes_sha256(data),
    }


def manifest(source: str, tokenizer: dict, shards: list[dict]) -> dict:
    """`tokenizer`: at least {"sha256": …}; `shards`: `shard_entry` dicts in shard order."""
    return {
        "format": FORMAT,
        "source": source,
        "tokenizer": tokenizer,
        "num_shards": len(shards),
        "documents": sum(s["documents"] for s in shards),
        "tokens": sum(s["tokens"] for s in shards),
        "bytes": sum(s["bytes"] for s in shards),
        "shards": shards,
    }


def check_same_tokenizer(sources: Sequence[TokenSource]) -> str:
    """The one tokenizer sha256 all sources share; refuses a mix (ids would mean other strings)."""
    by_sha: dict[str, list[str]] = {}
    for source in sources:
        by_sha.setdefault(source.tokenizer_sha256, []).append(str(source.directory))
    if len(by_sha) > 1:
        detail = "; ".join(f"{sha[:12]}…: {', '.join(dirs)}" for sha, dirs in by_sha.items())
        raise TokenizerMismatchError(
            f"token shards come from {len(by_sha)} different tokenizers ({detail}); "
            "re-tokenize them with one model (`make tokenize`)"
        )
    return next(iter(by_sha), "")


def open_sources(root: str | Path, names: Sequence[str] | None = None) -> dict[str, TokenSource]:
    """Every `<root>/<source>/` with a manifest (or the named ones), checked for one tokenizer."""
    dirs = [path.parent for path in source_manifests(root).values()]
    if names is not None:
        dirs = [d for d in dirs if d.name in set(names)]
    sources = {d.name: TokenSource(d) for d in dirs}
    check_same_tokenizer(list(sources.values()))
    return sources
