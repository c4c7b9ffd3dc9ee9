"""The mixture loader on small synthetic token sources.

Every content token encodes (source, document, position), so a window tells exactly which tokens of
which documents it carries: coverage, order and hold-outs are checked token by token.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from core.ids import shard_of
from core.manifest import MANIFEST
from mixtures.mixture import load_mixture
from tokenizer.shards import (
    TokenizerMismatchError,
    TokenSource,
    manifest,
    shard_bytes,
    shard_entry,
)
from training.data import (
    IGNORE_INDEX,
    VAL_BUCKETS,
    DataLoaderError,
    MixtureLoader,
    SourceSplit,
    build_loader,
    id_bucket,
)

BOS, EOS = 1, 2
FIRST = 3  # content tokens start after <unk>, <s>, </s>
MAX_LEN = 128  # tokens per document at most
SPAN = 20_000  # token values per source
SEQ_LEN = 31
WINDOW = SEQ_LEN + 1
WEIGHTS = {"commoncrawl": 0.67, "c4": 0.23, "wikipedia": 0.10}
SIZES = {"commoncrawl": (60, 3), "c4": (40, 2), "wikipedia": (25, 1)}  # documents, shards
VAL_FRACTION = 0.1


def encode(source: int, doc: int, position: int) -> int:
    return FIRST + source * SPAN + doc * MAX_LEN + position


def decode(token: int) -> tuple[int, int, int]:
    source, rest = divmod(token - FIRST, SPAN)
    return source, *divmod(rest, MAX_LEN)


def doc_id(source: str, doc: int) -> str:
    return f"{source}/doc-{doc:04d}"


def write_source(
    root: Path,
    name: str,
    index: int,
    documents: int,
    shards: int,
    sha: str = "tok-a",
    max_len: int = MAX_LEN,
) -> Path:
    """`documents` documents of 0..max_len-1 tokens (document 0 is empty), sharded by id hash."""
    rng = np.random.default_rng(index)
    lengths = [0, *rng.integers(1, max_len, size=documents - 1)]
    directory = root / name
    directory.mkdir(parents=True)
    entries = []
    for s in range(shards):
        members = sorted(
            (doc_id(name, d), d) for d in range(documents) if shard_of(doc_id(name, d), shards) == s
        )
        tokens = [
            np.array([encode(index, d, p) for p in range(lengths[d])], dtype=np.uint16)
            for _, d in members
        ]
        path = directory / f"part-{s:05d}-of-{shards:05d}.arrow"
        path.write_bytes(shard_bytes([i for i, _ in members], tokens))
        entries.append(shard_entry(path, len(members), sum(map(len, tokens)), 0))
    tokenizer = {"sha256": sha, "vocab_size": 65536, "path": "tokenizer.model"}
    (directory / MANIFEST).write_text(json.dumps(manifest(name, tokenizer, entries)))
    return directory


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tokens")
    for index, (name, (documents, shards)) in enumerate(SIZES.items()):
        write_source(root, name, index, documents, shards)
    return root


@pytest.fixture(scope="module")
def sources(root) -> dict[str, TokenSource]:
    return {name: TokenSource(root / name) for name in SIZES}


def loader(sources, **kwargs) -> MixtureLoader:
    options = {"seq_len": SEQ_LEN, "batch_size": 4, "seed": 7, "val_fraction": VAL_FRACTION}
    return MixtureLoader(sources, WEIGHTS, **{**options, **kwargs})


def documents(source: TokenSource) -> dict[str, tuple[int, ...]]:
    """id → tokens, read back from the shards."""
    return {
        shard.document_id(i): tuple(int(t) for t in shard.document(i))
        for shard in source.shards
        for i in range(len(shard))
    }


def expected_val_ids(name: str, count: int, fraction: float) -> set[str]:
    """The hold-out rule, restated with the pipelines' own hash."""
    ids = [doc_id(name, d) for d in range(count)]
    bucket = {i: shard_of(i, VAL_BUCKETS) for i in ids}
    held = {i for i in ids if bucket[i] < round(fraction * VAL_BUCKETS)}
    if not held and fraction > 0 and count >= 2:
        held = {min(ids, key=lambda i: (bucket[i], i))}
    if len(held) == count:
        held -= {max(ids, key=lambda i: (bucket[i], i))}
    return held


def parse(stream: np.ndarray) -> list[tuple[int, ...]]:
    """`<s> doc </s>` … → the documents' tokens; fails unless the stream is exactly that shape."""
    docs, at = [], 0
    while at < len(stream):
        assert stream[at] == BOS, f"no <s> at {at}"
        end = at + 1 + int(np.argmax(stream[at + 1 :] == EOS))
        assert stream[end] == EOS, f"no </s> after {at}"
        docs.append(tuple(int(t) for t in stream[at + 1 : end]))
        at = end + 1
    return docs


def assert_same(got, expected, what: str) -> None:
    """Equal as multisets, failing with a short message (pytest's diff of long lists is slow)."""
    extra, missing = Counter(got) - Counter(expected), Counter(expected) - Counter(got)
    assert not extra and not missing, f"{what}: {sum(extra.values())} unexpected, " + (
        f"{sum(missing.values())} missing"
    )


def source_of(row: torch.Tensor) -> str:
    content = row[row >= FIRST]
    return list(SIZES)[decode(int(content[0]))[0]]


def rows(batch: tuple[torch.Tensor, torch.Tensor], seq_len: int = SEQ_LEN) -> list[torch.Tensor]:
    """The batch's windows, after checking that targets are the inputs shifted by one."""
    inputs, targets = batch
    assert inputs.shape == targets.shape == (len(inputs), seq_len)
    assert inputs.dtype == targets.dtype == torch.int64
    assert torch.equal(inputs[:, 1:], targets[:, :-1])
    return list(torch.cat([inputs, targets[:, -1:]], dim=1))


def test_id_bucket_is_the_pipelines_hash():
    ids = [doc_id("commoncrawl", d) for d in range(200)] + ["", "ü/文/🙂"]
    assert [id_bucket(i) for i in ids] == [shard_of(i, VAL_BUCKETS) for i in ids]


def test_realised_token_shares_match_the_weights(sources):
    drawn = Counter()
    data = loader(sources)
    for _ in range(400):
        for row in rows(data.next_batch()):
            drawn[source_of(row)] += WINDOW
    total = sum(drawn.values())
    assert total == 400 * 4 * WINDOW
    assert dict(drawn) == data.tokens_by_source
    for name, weight in WEIGHTS.items():
        assert abs(drawn[name] / total - weight) < 0.01 * weight, (name, drawn[name] / total)
    assert data.report()["wikipedia"]["tokens"] == drawn["wikipedia"]


def test_resume_gives_the_batches_of_an_uninterrupted_run(root, sources):
    whole = loader(sources)
    expected = [whole.next_batch() for _ in range(60)]
    first = loader(sources)
    for _ in range(23):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))
    assert all(isinstance(v, int) for v in [state["batches"], *state["tokens"].values()])
    resumed = loader({name: TokenSource(root / name) for name in SIZES})
    resumed.load_state_dict(state)
    for inputs, targets in expected[23:]:
        got_inputs, got_targets = resumed.next_batch()
        assert torch.equal(got_inputs, inputs) and torch.equal(got_targets, targets)
    assert resumed.state_dict() == whole.state_dict()


def test_every_training_token_once_per_epoch(sources):
    data = loader(sources, batch_size=8)
    epoch = data.epoch_tokens
    delivered: dict[str, list[tuple[int, ...]]] = {name: [] for name in SIZES}
    while min(data.epochs.values()) < 2.2:  # the smallest source wraps into a third epoch
        for row in rows(data.next_batch()):
            delivered[source_of(row)].append(tuple(row.tolist()))
    for index, name in enumerate(SIZES):
        count = data.tokens_by_source[name] // WINDOW
        windows = [data.stream(name, k * WINDOW, (k + 1) * WINDOW) for k in range(count)]
        # the rows drawn are exactly the source's first `count` windows, each once
        assert_same(delivered[name], [tuple(w.tolist()) for w in windows], f"{name} rows")
        stream = np.concatenate(windows)
        train = {
            i: doc
            for i, doc in documents(sources[name]).items()
            if i not in expected_val_ids(name, SIZES[name][0], VAL_FRACTION)
        }
        assert epoch[name] == sum(len(d) + 2 for d in train.values())
        orders = []
        for e in range(2):
            docs = parse(stream[e * epoch[name] : (e + 1) * epoch[name]])
            assert_same(docs, train.values(), f"{name} epoch {e}")  # each once, in one piece
            assert all(decode(t)[0] == index for doc in docs for t in doc)
            orders.append(docs)
        assert orders[0] != orders[1]  # each epoch is shuffled anew


def test_a_source_shorter_than_a_window_wraps_epochs_inside_a_window(tmp_path):
    write_source(tmp_path, "books", 0, 3, 2, max_len=8)
    source = TokenSource(tmp_path / "books")
    data = MixtureLoader(
        {"books": source}, {"books": 1.0}, seq_len=63, batch_size=2, val_fraction=0.0
    )
    epoch = data.epoch_tokens["books"]
    assert epoch < 64 and 64 % epoch  # every window spans several epochs
    drawn = [tuple(row.tolist()) for _ in range(3) for row in rows(data.next_batch(), 63)]
    windows = [data.stream("books", 64 * k, 64 * (k + 1)) for k in range(6)]
    assert_same(drawn, [tuple(w.tolist()) for w in windows], "rows")
    stream = np.concatenate(windows)
    for e in range(len(stream) // epoch):
        docs = parse(stream[e * epoch : (e + 1) * epoch])
        assert_same(docs, documents(source).values(), f"epoch {e}")


def test_two_ranks_together_give_the_rows_of_one(sources):
    single = loader(sources, batch_size=6)
    ranks = [loader(sources, batch_size=3, rank=r, world_size=2) for r in range(2)]
    for _ in range(20):
        inputs, targets = single.next_batch()
        parts = [rank.next_batch() for rank in ranks]
        assert torch.equal(inputs, torch.cat([p[0] for p in parts]))
        assert torch.equal(targets, torch.cat([p[1] for p in parts]))
    assert ranks[0].tokens_by_source == ranks[1].tokens_by_source == single.tokens_by_source


def test_the_schedule_does_not_depend_on_how_rows_are_cut_into_batches(sources):
    small, large = loader(sources, batch_size=3), loader(sources, batch_size=12)
    for step in range(40):
        small.next_batch()
        if step % 4 == 3:
            large.next_batch()
            assert small.tokens_by_source == large.tokens_by_source


def test_held_out_documents_are_never_trained_on(sources):
    data = loader(sources)
    val_tokens = {
        t
        for name in SIZES
        for i, doc in documents(sources[name]).items()
        if i in expected_val_ids(name, SIZES[name][0], VAL_FRACTION)
        for t in doc
    }
    assert len(val_tokens) > 50
    seen = set()
    for _ in range(150):
        for row in rows(data.next_batch()):
            seen.update(row.tolist())
    assert seen.isdisjoint(val_tokens)
    held_out = loader(sources, split="val")
    for _ in range(20):
        for row in rows(held_out.next_batch()):
            assert set(row.tolist()) - {BOS, EOS} <= val_tokens


def test_val_batches_cover_the_held_out_documents_once(sources):
    name = "commoncrawl"
    val = expected_val_ids(name, SIZES[name][0], VAL_FRACTION)
    by_id = documents(sources[name])
    # shard order, then row (= id) order inside a shard
    order = sorted(val, key=lambda i: (shard_of(i, SIZES[name][1]), i))
    expected = np.array([t for i in order for t in (BOS, *by_id[i], EOS)])
    for world_size in (1, 2):
        ranks = [
            list(loader(sources, batch_size=2, rank=r, world_size=world_size).val_batches(name, 99))
            for r in range(world_size)
        ]
        assert len({len(batches) for batches in ranks}) == 1  # the same count on every rank
        pieces = []
        for b in range(len(ranks[0])):
            for inputs, targets in (rank[b] for rank in ranks):
                for i, t in zip(inputs, targets, strict=True):
                    real = t != IGNORE_INDEX
                    assert torch.equal(i[1:][real[:-1]], t[:-1][real[:-1]])
                    if real.any():
                        pieces.append(torch.cat([i[:1], t[real]]).numpy())
        assert np.array_equal(np.concatenate(pieces), expected)
    capped = list(loader(sources, batch_size=1).val_batches(name, 2))
    assert len(capped) == 2


def test_hold_out_keeps_a_document_on_each_side(tmp_path):
    for name, count in (("arxiv", 1), ("books", 2), ("github", 9)):
        write_source(tmp_path, name, 0, count, 2)
        source = TokenSource(tmp_path / name)
        for fraction in (0.0, 0.001, 0.999):
            split = SourceSplit(source, fraction)
            held = sum(len(rows) for rows in split.val_rows)
            ids = {
                shard.document_id(int(r))
                for shard, rows in zip(source.shards, split.val_rows, strict=True)
                for r in rows
            }
            assert ids == expected_val_ids(name, count, fraction)
            if fraction and count >= 2:
                assert 1 <= held < count


def test_same_seed_same_batches_other_seed_other_batches(sources):
    a, b, c = loader(sources, seed=3), loader(sources, seed=3), loader(sources, seed=4)
    batches = [(a.next_batch(), b.next_batch(), c.next_batch()) for _ in range(5)]
    assert all(torch.equal(x[0], y[0]) for x, y, _ in batches)
    assert not all(torch.equal(x[0], z[0]) for x, _, z in batches)


def test_build_loader_renormalises_over_present_sources_and_logs(root):
    lines: list[str] = []
    mixture = load_mixture("llama1")
    data = build_loader(root, mixture, seq_len=SEQ_LEN, batch_size=2, log=lines.append)
    present = {name: mixture.weights[name] for name in SIZES}
    assert data.weights == pytest.approx({n: w / sum(present.values()) for n, w in present.items()})
    missing = "github", "books", "arxiv", "stackexchange"
    assert all(name in lines[0] for name in missing) and "renormalised" in lines[0]
    assert data.tokenizer["sha256"] == "tok-a"
    inputs, _ = data.next_batch()
    assert inputs.shape == (2, SEQ_LEN)


def test_build_loader_without_any_source_says_what_to_run(tmp_path):
    with pytest.raises(DataLoaderError, match=r"no usable token shards.*make tokenize"):
        build_loader(tmp_path, load_mixture("llama1"), seq_len=8, batch_size=1, log=print)


def test_mixed_tokenizers_are_refused(tmp_path):
    write_source(tmp_path, "c4", 0, 4, 1, sha="tok-a")
    write_source(tmp_path, "wikipedia", 1, 4, 1, sha="tok-b")
    with pytest.raises(TokenizerMismatchError, match="2 different tokenizers"):
        build_loader(tmp_path, load_mixture("llama1"), seq_len=8, batch_size=1, log=print)


def test_a_state_from_another_loader_is_refused(sources):
    state = loader(sources, seed=7).state_dict()
    with pytest.raises(DataLoaderError, match="seed 7"):
        loader(sources, seed=8).load_state_dict(state)
    fewer = {name: s for name, s in sources.items() if name != "c4"}
    with pytest.raises(DataLoaderError, match="sources"):
        loader(fewer).load_state_dict(state)
    with pytest.raises(DataLoaderError, match="non-negative integer"):
        loader(sources).load_state_dict({**state, "batches": -1})
