"""The mixture data loader: token shards → deterministic, resumable training batches.

Each source's split is an endless token stream: epoch after epoch, its documents as `<s> doc </s>`
in a seeded order. Window k of a source is stream positions [k·(L+1), (k+1)·(L+1)), split into
inputs and targets shifted by one. Which source fills each window is one fixed sequence, a divisor
apportionment of windows by weight, so realised token shares stay within a window or two of the
weights at every step; a seeded shuffle of each global batch's rows spreads the sources over ranks.
All of it is a function of (seed, batches done, tokens drawn per source): the whole resume state.

An epoch's order is two-level, a permutation of the shards and then of the documents inside each
shard, so memory is O(shards) per source plus 16 bytes per document of the few shards being read
(one global permutation of 1B CommonCrawl documents would take 12-16 GB on every rank). It samples
documents uniformly because a document's shard is a hash of its id (docs/design.md, "Token shards").
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from core.ids import shard_of
from core.manifest import MANIFEST
from mixtures.mixture import Mixture
from tokenizer.shards import TokenSource, open_sources

IGNORE_INDEX = -100  # torch.nn.functional.cross_entropy's default ignore_index
VAL_BUCKETS = 1_000_000
SPLITS = ("train", "val")
STATE_VERSION = 1
CACHED_SHARDS = 4  # per source: the shard being read, the next ones a window may reach
# First SeedSequence word of each random stream, so that no two draws share a seed.
_SHARD_ORDER, _DOC_ORDER, _ROW_ORDER = 1, 2, 3


class DataLoaderError(ValueError):
    """Token shards, weights or a resume state the loader cannot use as given."""


def id_bucket(doc_id: str) -> int:
    """The document's validation bucket: the id hash that also picks its shard."""
    return shard_of(doc_id, VAL_BUCKETS)


class SourceSplit:
    """Which documents of a source are held out for validation, by their id's hash.

    A document is held out when `id_bucket(id) < val_fraction · 10⁶`, so the split survives
    re-sharding and re-tokenizing. A source keeps at least one document to train on (the highest
    bucket) and, with two or more and val_fraction > 0, holds at least one out (the lowest; ties
    by id). Opening hashes every id once (about 1 µs per document); only held-out rows are kept.
    """

    def __init__(self, source: TokenSource, val_fraction: float):
        threshold = round(val_fraction * VAL_BUCKETS)
        self.source = source
        self.val_rows: list[np.ndarray] = []
        extremes: list[tuple[int, str, int, int]] = []  # (bucket, id, shard, row)
        for s, shard in enumerate(source.shards):
            ids = shard.document_ids()
            buckets = np.fromiter(map(id_bucket, ids), dtype=np.int64, count=len(ids))
            self.val_rows.append(np.flatnonzero(buckets < threshold))
            for edge in (buckets.min(), buckets.max()) if ids else ():
                rows = np.flatnonzero(buckets == edge)
                extremes += [(int(edge), ids[r], s, int(r)) for r in rows]
        held_out = sum(len(rows) for rows in self.val_rows)
        if held_out == 0 and threshold and source.num_documents >= 2:
            _, _, s, row = min(extremes)
            self.val_rows[s] = np.array([row], dtype=np.int64)
        elif held_out and held_out == source.num_documents:
            _, _, s, row = max(extremes)
            self.val_rows[s] = self.val_rows[s][self.val_rows[s] != row]

    def rows(self, shard: int, split: str) -> np.ndarray:
        """The shard's rows in `split`, ascending."""
        held_out = self.val_rows[shard]
        if split == "val":
            return held_out
        keep = np.ones(len(self.source.shards[shard]), dtype=bool)
        keep[held_out] = False
        return np.flatnonzero(keep)


class SourceStream:
    """One source's split as an endless stream of `<s> doc </s>`, epoch after epoch.

    Training epochs are shuffled (shard order by (seed, source, epoch), documents inside a shard
    by (seed, source, epoch, shard)); validation reads documents in shard and row order.
    """

    def __init__(self, split: SourceSplit, which: str, *, name: str, seed: int, bos: int, eos: int):
        self.name, self._split, self._which = name, split, which
        self._shards = split.source.shards
        self._shuffle = which == "train"
        self._seed, self._bos, self._eos = seed, bos, eos
        self._key = int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")
        docs, tokens = [], []
        for s, shard in enumerate(self._shards):
            rows = split.rows(s, which)
            docs.append(len(rows))
            tokens.append(int(shard.lengths()[rows].sum()) + 2 * len(rows))
        self.documents = sum(docs)
        self._shard_tokens = np.array(tokens, dtype=np.int64)
        self.epoch_tokens = int(self._shard_tokens.sum())
        self._epochs: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._orders: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def _rng(self, *words: int) -> np.random.Generator:
        return np.random.default_rng([words[0], self._seed, self._key, *words[1:]])

    def _epoch(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """The epoch's shard order and where each shard starts in it (n + 1 offsets)."""
        epoch = epoch if self._shuffle else 0
        if epoch not in self._epochs:
            n = len(self._shards)
            order = self._rng(_SHARD_ORDER, epoch).permutation(n) if self._shuffle else np.arange(n)
            starts = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(self._shard_tokens[order], out=starts[1:])
            _remember(self._epochs, epoch, (order, starts), 2)
        return self._epochs[epoch]

    def _documents(self, epoch: int, shard: int) -> tuple[np.ndarray, np.ndarray]:
        """The shard's rows in epoch order and where each `<s> doc </s>` ends in the shard."""
        key = (epoch if self._shuffle else 0, shard)
        if key not in self._orders:
            rows = self._split.rows(shard, self._which)
            if self._shuffle:
                rows = rows[self._rng(_DOC_ORDER, *key).permutation(len(rows))]
            ends = np.cumsum(self._shards[shard].lengths()[rows] + 2)
            _remember(self._orders, key, (rows, ends), CACHED_SHARDS)
        return self._orders[key]

    def read(self, start: int, out: np.ndarray) -> None:
        """Fill `out` with stream positions [start, start + len(out))."""
        filled, size = 0, len(out)
        while filled < size:
            epoch, offset = divmod(start + filled, self.epoch_tokens)
            order, starts = self._epoch(epoch)
            k = int(np.searchsorted(starts, offset, side="right")) - 1  # skips empty shards
            shard = self._shards[int(order[k])]
            rows, ends = self._documents(epoch, int(order[k]))
            offset -= int(starts[k])
            d = int(np.searchsorted(ends, offset, side="right"))
            at = offset - (int(ends[d - 1]) if d else 0)  # position inside `<s> doc </s>`
            while filled < size and d < len(rows):
                doc = shard.document(int(rows[d]))
                stop = min(len(doc) + 2, at + size - filled)
                self._copy(doc, at, stop, out[filled : filled + stop - at])
                filled, at, d = filled + stop - at, 0, d + 1

    def _copy(self, doc: np.ndarray, a: int, b: int, out: np.ndarray) -> None:
        """Positions [a, b) of `<s> doc </s>` into `out`, which is b - a long."""
        if a == 0:
            out[0] = self._bos
        if b == len(doc) + 2:
            out[-1] = self._eos
        first, stop = max(a, 1), min(b, len(doc) + 1)
        if stop > first:
            out[first - a : stop - a] = doc[first - 1 : stop - 1]


def _remember(cache: OrderedDict, key, value, size: int) -> None:
    cache[key] = value
    while len(cache) > size:
        cache.popitem(last=False)


class MixtureLoader:
    """Deterministic mixture sampler over token sources; state = a few integers.

    Every rank plans the whole global batch (world_size × batch_size windows) and reads only its
    rows, so the ranks together read each window once and all agree on `tokens_by_source`.
    """

    def __init__(
        self,
        sources: Mapping[str, TokenSource],
        weights: Mapping[str, float],
        *,
        seq_len: int,
        batch_size: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        bos_id: int = 1,
        eos_id: int = 2,
        split: str = "train",
        val_fraction: float = 0.005,
    ):
        _check_arguments(seq_len, batch_size, seed, rank, world_size, split, val_fraction)
        unweighted = sorted(set(sources) - set(weights))
        if unweighted:
            raise DataLoaderError(f"sources {unweighted} have no weight; give each one a weight")
        names = sorted(name for name in weights if name in sources)
        if not names:
            raise DataLoaderError(
                f"none of the weighted sources {sorted(weights)} is among the token sources given"
            )
        bad = {name: weights[name] for name in names if not weights[name] > 0}
        if bad:
            raise DataLoaderError(f"weights must be positive, got {bad}")
        total = sum(weights[name] for name in names)
        self._weights = {name: weights[name] / total for name in names}
        self._names = names
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        self.rank, self.world_size, self.split = rank, world_size, split
        self._bos, self._eos = bos_id, eos_id
        self._val_ppm = round(val_fraction * VAL_BUCKETS)
        self._sources = dict(sources)
        self._splits = {name: SourceSplit(sources[name], val_fraction) for name in names}
        self._streams = {name: self._stream(name, split) for name in names}
        empty = [name for name, stream in self._streams.items() if stream.documents == 0]
        if empty:
            raise DataLoaderError(
                f"the {split} split of {empty} holds no documents (a source needs one document to "
                "train on, two to hold one out for validation); leave those sources out"
            )
        self._val_streams: dict[str, SourceStream] = {}
        self._tokens = dict.fromkeys(names, 0)
        self._batches = 0

    def _stream(self, name: str, split: str) -> SourceStream:
        return SourceStream(
            self._splits[name], split, name=name, seed=self.seed, bos=self._bos, eos=self._eos
        )

    @property
    def weights(self) -> dict[str, float]:
        """Effective weights: the given ones renormalised over the sources present."""
        return dict(self._weights)

    @property
    def tokens_by_source(self) -> dict[str, int]:
        """Stream tokens drawn per source by all ranks: (seq_len + 1) per window, `<s>`/`</s>`
        included, which is what an epoch of the source is measured in."""
        return dict(self._tokens)

    @property
    def epoch_tokens(self) -> dict[str, int]:
        """Stream tokens in one epoch of each source's split (its documents' tokens + 2 each)."""
        return {name: stream.epoch_tokens for name, stream in self._streams.items()}

    @property
    def epochs(self) -> dict[str, float]:
        return {name: self._tokens[name] / s.epoch_tokens for name, s in self._streams.items()}

    @property
    def batches(self) -> int:
        return self._batches

    @property
    def tokenizer(self) -> dict:
        """The tokenizer entry of the shards' manifests (sha256, vocab_size, path)."""
        return dict(next(iter(self._sources.values())).manifest["tokenizer"])

    def report(self) -> dict:
        """Per source: weight, tokens drawn, realised share and epochs, for logs and the auditor."""
        drawn = sum(self._tokens.values())
        return {
            name: {
                "weight": self._weights[name],
                "tokens": self._tokens[name],
                "share": self._tokens[name] / drawn if drawn else 0.0,
                "epochs": self.epochs[name],
                "epoch_tokens": self._streams[name].epoch_tokens,
            }
            for name in self._weights
        }

    def _plan(self) -> tuple[list[str], np.ndarray, dict[str, int]]:
        """The next global batch: each row's source and stream start, in the seeded row order,
        and the tokens drawn after it.

        Windows go to sources in the order of their keys (drawn + (k + ½)·window) / weight, ties
        to the first name: Webster's divisor apportionment. The keys do not depend on how rows are
        cut into batches, so the schedule is one fixed sequence; after N windows source i has
        round(wᵢ·τ) of them for a common τ, which is within ½ + wᵢ·S/2 windows of wᵢ·N for S
        sources (1.64 at most for llama1's weights over its first 20,000 windows)."""
        window, rows = self.seq_len + 1, self.world_size * self.batch_size
        drawn = np.array([self._tokens[name] for name in self._names], dtype=np.int64)
        weights = np.array([self._weights[name] for name in self._names])
        keys = (drawn[:, None] + (np.arange(rows) + 0.5) * window) / weights[:, None]
        owner = np.repeat(np.arange(len(drawn)), rows)
        counts = np.bincount(owner[np.lexsort((owner, keys.ravel()))[:rows]], minlength=len(drawn))
        owner = np.repeat(np.arange(len(drawn)), counts)
        firsts = np.repeat(np.cumsum(counts) - counts, counts)  # each source's first row
        starts = drawn[owner] + (np.arange(rows) - firsts) * window
        order = np.random.default_rng([_ROW_ORDER, self.seed, self._batches]).permutation(rows)
        after = drawn + counts * window
        return (
            [self._names[i] for i in owner[order]],
            starts[order],
            dict(zip(self._names, after.tolist(), strict=True)),
        )

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's micro-batch: inputs, targets (int64, [batch_size, seq_len]), targets =
        inputs shifted by one (a seq_len + 1 window split). Advances the state."""
        sources, starts, drawn = self._plan()
        first = self.rank * self.batch_size
        windows = np.empty((self.batch_size, self.seq_len + 1), dtype=np.int64)
        for row in range(self.batch_size):
            self._streams[sources[first + row]].read(int(starts[first + row]), windows[row])
        self._tokens, self._batches = drawn, self._batches + 1
        return _split_windows(windows)

    def stream(self, source: str, start: int, stop: int) -> np.ndarray:
        """Positions [start, stop) of a source's token stream in this split (for inspection)."""
        out = np.empty(stop - start, dtype=np.int64)
        self._streams[source].read(start, out)
        return out

    def val_batches(
        self, source: str, max_batches: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One pass over the source's held-out documents (in shard and row order) as this rank's
        [batch_size, seq_len] batches. The last window is padded: targets IGNORE_INDEX (the
        default of cross_entropy's ignore_index), inputs `</s>`. Every rank yields the same number
        of batches (rows past the end are all padding), so sum the loss and the count of targets
        != IGNORE_INDEX and all-reduce both. Yields nothing for a source with no held-out
        document (a one-document source)."""
        if source not in self._splits:
            raise DataLoaderError(f"no source {source!r} here; the loader has {list(self._splits)}")
        if source not in self._val_streams:
            self._val_streams[source] = (
                self._streams[source] if self.split == "val" else self._stream(source, "val")
            )
        stream, window = self._val_streams[source], self.seq_len + 1
        length = stream.epoch_tokens
        count = (length - 2) // window + 1 if length >= 2 else 0  # windows with a target
        rows = self.world_size * self.batch_size
        for b in range(min(max_batches, math.ceil(count / rows))):
            windows = np.full((self.batch_size, window), self._eos, dtype=np.int64)
            valid = np.zeros(self.batch_size, dtype=np.int64)
            for row in range(self.batch_size):
                k = b * rows + self.rank * self.batch_size + row
                if k < count:
                    size = min(window, length - k * window)
                    stream.read(k * window, windows[row, :size])
                    valid[row] = size - 1
            inputs, targets = _split_windows(windows)
            targets[torch.arange(self.seq_len) >= torch.from_numpy(valid)[:, None]] = IGNORE_INDEX
            yield inputs, targets

    def state_dict(self) -> dict:
        """JSON-serialisable ints: with the same sources and seed, resumes batch for batch."""
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "val_fraction_ppm": self._val_ppm,
            "batches": self._batches,
            "tokens": dict(self._tokens),
        }

    def load_state_dict(self, state: Mapping) -> None:
        expected = {"version", "seed", "val_fraction_ppm", "batches", "tokens"}
        if not isinstance(state, Mapping) or set(state) != expected:
            raise DataLoaderError(f"loader state must have exactly the keys {sorted(expected)}")
        tokens = state["tokens"]
        values = [state[k] for k in sorted(expected - {"tokens"})]
        if not isinstance(tokens, Mapping) or not all(
            _is_count(v) for v in [*values, *tokens.values()]
        ):
            raise DataLoaderError("loader state: every value must be a non-negative integer")
        mismatch = [
            f"{key} {state[key]} (this loader: {mine})"
            for key, mine in (
                ("version", STATE_VERSION),
                ("seed", self.seed),
                ("val_fraction_ppm", self._val_ppm),
            )
            if state[key] != mine
        ]
        if set(tokens) != set(self._tokens):
            mismatch.append(f"sources {sorted(tokens)} (this loader: {sorted(self._tokens)})")
        if mismatch:
            raise DataLoaderError(
                "the loader state comes from a different loader: "
                + "; ".join(mismatch)
                + "; resume with the same seed, val_fraction and token sources"
            )
        self._batches = state["batches"]
        self._tokens = {name: tokens[name] for name in self._tokens}


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_arguments(seq_len, batch_size, seed, rank, world_size, split, val_fraction) -> None:
    if split not in SPLITS:
        raise DataLoaderError(f"split must be one of {SPLITS}, got {split!r}")
    if seq_len < 1 or batch_size < 1 or world_size < 1:
        raise DataLoaderError("seq_len, batch_size and world_size must be at least 1")
    if not 0 <= rank < world_size:
        raise DataLoaderError(f"rank {rank} is not in [0, world_size={world_size})")
    if seed < 0:
        raise DataLoaderError(f"seed must be non-negative, got {seed}")
    if not 0 <= val_fraction < 1:
        raise DataLoaderError(f"val_fraction must be in [0, 1), got {val_fraction}")


def _split_windows(windows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    batch = torch.from_numpy(windows)
    return batch[:, :-1].contiguous(), batch[:, 1:].contiguous()


def build_loader(
    token_root: str | Path,
    mixture: Mixture,
    *,
    seq_len: int,
    batch_size: int,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    split: str = "train",
    log: Callable[[str], object] = print,
    val_fraction: float = 0.005,
) -> MixtureLoader:
    """Opens <token_root>/<source>/ for the mixture's sources (tokenizer.shards.open_sources:
    refuses mixed tokenizers), renormalises the weights over the sources present and logs the
    missing ones; raises a clear error if none is present."""
    root = Path(token_root)
    wanted = list(mixture.sources)
    sources = open_sources(root, wanted)
    needed = 2 if split == "val" else 1  # documents a source needs to have this split
    unusable = {name: s.num_documents for name, s in sources.items() if s.num_documents < needed}
    present = {name: s for name, s in sources.items() if name not in unusable}
    if not present:
        raise DataLoaderError(
            f"no usable token shards for mixture {mixture.name!r} under {root}: looked for "
            f"{root}/<source>/{MANIFEST} for {', '.join(wanted)}"
            + (f" (too few documents for the {split} split: {unusable})" if unusable else "")
            + "; run `make tokenize` or point the trainer at the right token directory"
        )
    absent = [name for name in wanted if name not in present]
    if absent:
        log(
            f"mixture {mixture.name}: no {split} tokens for "
            + ", ".join(
                f"{name} (weight {mixture.weights[name]:.3f}"
                + (f", {unusable[name]} documents)" if name in unusable else ", no shards)")
                for name in absent
            )
            + f" under {root}; the weights are renormalised over the {len(present)} present"
        )
    loader = MixtureLoader(
        present,
        mixture.weights,
        seq_len=seq_len,
        batch_size=batch_size,
        seed=seed,
        rank=rank,
        world_size=world_size,
        split=split,
        val_fraction=val_fraction,
    )
    log(
        f"loader ({split}, seed {seed}, rank {rank}/{world_size}): "
        + ", ".join(
            f"{name} {weight:.4f} of {loader.epoch_tokens[name]:,} tokens/epoch"
            for name, weight in loader.weights.items()
        )
    )
    return loader
