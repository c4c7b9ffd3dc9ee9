"""Global line dedup in Beam: exact results, batches and shards, earlier runs, hash-set files,
reruns."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.io.filesystem import BeamIOError
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to

from filters.dedup import line_hashes
from pipelines import accounting
from pipelines.linededup import (
    DEFAULT_BATCH_PAIRS,
    HASH_DTYPE,
    PAIR_DTYPE,
    WORK,
    LineDedup,
    ReadHashSet,
    WriteHashSet,
    _hash_set_chunks,
    _HashLines,
    dedup_document,
    read_hash_set,
    shard_bounds,
    split_by_shard,
    tag_documents,
)
from pipelines.shards import WriteShards

SOURCE = "test_linededup"


# A work item of these tests is (name, its documents), read as a file would be. A lambda, since
# cloudpickle sends lambdas by value: multi-processing workers cannot import this test module.
read_work = lambda item: [dict(d) if isinstance(d, dict) else d for d in item[1]]  # noqa: E731


def first_read(p, docs: list, items: int = 2, label: str = "FirstRead"):
    """The documents of `items` work items (round robin), as the first read yields them."""
    works = [(i, (f"w{i}", tuple(docs[i::items]))) for i in range(items)]
    return (
        p
        | f"{label}Works" >> beam.Create(works)
        | label >> beam.FlatMap(partial(tag_documents, read_work))
    )


def h64(normalised: str) -> int:
    """CCNet's uint64 hash of an already normalised line."""
    digest = hashlib.sha1(normalised.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little")


def table(pairs: list[tuple[int, bool]]) -> bytes:
    """(hash, duplicated) pairs as a hash set's bytes, the elements of "hashes"."""
    rows = np.empty(len(pairs), HASH_DTYPE)
    rows["hash"] = [h for h, _ in pairs]
    rows["duplicated"] = [d for _, d in pairs]
    return rows.tobytes()


def rows(data: bytes) -> list[tuple[int, bool]]:
    found = np.frombuffer(data, HASH_DTYPE)
    return list(zip(found["hash"].tolist(), found["duplicated"].tolist(), strict=True))


DOCS = [
    {
        "id": "d1",
        "url": "http://a/1",
        "raw_content": "Welcome to our site\nAlpha story begins\nAccept cookies 2021\n"
        "Alpha story begins\n\nThe end",
    },
    {
        "id": "d2",
        "url": "http://b/2",
        "raw_content": "welcome to our SITE\nBeta news today\naccept COOKIES 1999",
    },
    {"id": "d3", "url": "http://c/3", "raw_content": "Gamma recipe\n  \nSubscribe now"},
    {"id": "d4", "url": "http://a/4", "raw_content": "Welcome to our site\nAccept cookies 3000"},
    {
        "id": "d5",
        "url": "http://d/5",
        "raw_content": "Delta poem\nsubscribe NOW",
        "nlines": 7,
        "length": 99,
    },
]


def _summary(doc: dict) -> tuple:
    return (
        doc["id"],
        doc["url"],
        doc["raw_content"],
        doc["line_ids"],
        doc["nlines"],
        doc["length"],
        doc["original_nlines"],
        doc["original_length"],
    )


EXPECTED_DOCS = [
    ("d1", "http://a/1", "Alpha story begins\nThe end", [1, 5], 2, 26, 6, 86),
    ("d2", "http://b/2", "Beta news today", [1], 1, 15, 3, 55),
    ("d3", "http://c/3", "Gamma recipe", [0], 1, 12, 3, 29),
    ("d5", "http://d/5", "Delta poem", [0], 1, 10, 7, 99),
]
EXPECTED_HASHES = [
    (h64("welcome to our site"), True),
    (h64("accept cookies 0000"), True),
    (h64("subscribe now"), True),
    (h64("alpha story begins"), False),
    (h64("the end"), False),
    (h64("beta news today"), False),
    (h64("gamma recipe"), False),
    (h64("delta poem"), False),
]


@pytest.mark.parametrize(
    ("dedup_shards", "batch_pairs"), [(64, DEFAULT_BATCH_PAIRS), (3, 4), (1, 1), (64, 1)]
)
def test_exact_kept_lines_line_ids_hashes_and_counts(dedup_shards, batch_pairs):
    # One batch: every duplicate is found in the worker's batch; batches of 1 pair (every
    # document alone): every duplicate is found in its hash shard; 4: some of each.
    p = BeamTestPipeline(runner="FnApiRunner")
    out = first_read(p, DOCS) | LineDedup(
        SOURCE, read_work, "en", dedup_shards=dedup_shards, batch_pairs=batch_pairs
    )
    assert_that(out["documents"] | beam.Map(_summary), equal_to(EXPECTED_DOCS), label="documents")
    assert_that(out["hashes"] | beam.FlatMap(rows), equal_to(EXPECTED_HASHES), label="hashes")
    result = p.run()
    assert accounting.counters(result, SOURCE) == {"en": {"dropped_dedup_empty": 1}}


def test_a_boilerplate_line_leaves_every_document():
    footer = "Home | About us | Contact | © 2024 Example Inc."
    stories = [f"Story {chr(65 + i % 26)}{chr(65 + i // 26)}" for i in range(60)]
    docs = [
        {"id": f"p{i:03d}", "raw_content": f"{footer}\n{story}"} for i, story in enumerate(stories)
    ]
    docs.append({"id": "only-footer", "raw_content": f"  {footer.upper()}  "})
    expected = [(f"p{i:03d}", story, [1]) for i, story in enumerate(stories)]
    p = BeamTestPipeline(runner="FnApiRunner")
    out = first_read(p, docs) | LineDedup(SOURCE, read_work, dedup_shards=4, batch_pairs=7)
    assert_that(
        out["documents"] | beam.Map(lambda d: (d["id"], d["raw_content"], d["line_ids"])),
        equal_to(expected),
    )
    assert_that(
        out["hashes"] | beam.FlatMap(rows) | beam.Filter(lambda hd: hd[1]) | beam.Keys(),
        equal_to([h64("home | about us | contact | © 0000 example inc.")]),
        label="duplicated",
    )
    result = p.run()
    assert accounting.counters(result, SOURCE) == {"dedup": {"dropped_dedup_empty": 1}}


def test_hashes_of_an_earlier_run_remove_lines_from_a_file_pattern_or_a_pcollection(tmp_path):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        earlier = first_read(p, DOCS) | LineDedup(SOURCE, read_work)
        earlier["hashes"] | WriteHashSet(str(tmp_path / "hashes"), 2)
    later = [
        {"id": "n1", "raw_content": "The END\nFresh line"},  # "the end": once in the earlier run
        {"id": "n2", "raw_content": "Beta news today\nDelta poem"},  # nothing left
        {"id": "n3", "raw_content": "Brand new\nbrand NEW"},
    ]
    expected = [("n1", "Fresh line", [1]), ("n3", "Brand new", [0])]
    pattern = str(tmp_path / "hashes" / "part-*.npy")
    for from_files in (True, False):
        p = BeamTestPipeline(runner="FnApiRunner")
        previous = pattern if from_files else p | "Earlier" >> beam.Create([table(EXPECTED_HASHES)])
        out = first_read(p, later) | LineDedup(
            SOURCE, read_work, previous_hashes=previous, dedup_shards=3
        )
        assert_that(
            out["documents"] | beam.Map(lambda d: (d["id"], d["raw_content"], d["line_ids"])),
            equal_to(expected),
        )
        # The run's own hash set records what it saw, not what it inherited.
        assert_that(
            out["hashes"] | beam.FlatMap(rows),
            equal_to(
                [
                    (h64(s), False)
                    for s in ("the end", "fresh line", "beta news today", "delta poem", "brand new")
                ]
            ),
            label="hashes",
        )
        result = p.run()
        assert accounting.counters(result, SOURCE) == {"dedup": {"dropped_dedup_empty": 1}}


def test_previous_hashes_that_match_no_file_fail_the_run(tmp_path):
    p = BeamTestPipeline(runner="FnApiRunner")
    _ = first_read(p, DOCS) | LineDedup(
        SOURCE, read_work, previous_hashes=str(tmp_path / "no/*.npy")
    )
    with pytest.raises(BeamIOError, match=r"Empty match for pattern .*/no/"):
        p.run()


def test_hash_set_files_round_trip_sorted_by_range_and_rewritten_cleanly(tmp_path):
    rng = np.random.default_rng(7)
    values = [int(v) for v in rng.integers(0, 2**64 - 1, size=500, dtype=np.uint64)]
    values += [0, 2**63 - 1, 2**63, 2**64 - 1]
    pairs = [(v, i % 3 == 0) for i, v in enumerate(values)]
    # Unsorted arrays that each span several files, as a LineDedup with other shards gives.
    tables = [table(pairs[:100]), table(pairs[100:350]), table(pairs[350:]), table([])]
    directory = tmp_path / "hashes"
    with BeamTestPipeline(runner="FnApiRunner") as p:
        _ = (
            p
            | "Stale" >> beam.Create([table(pairs[:10])])
            | "Old" >> WriteHashSet(str(directory), 5)
        )
    with BeamTestPipeline(runner="FnApiRunner") as p:
        summary = p | beam.Create(tables) | WriteHashSet(str(directory), 4)
        assert_that(summary | beam.Map(lambda m: m["rows"]), equal_to([len(pairs)]))
    files = sorted(directory.glob("part-*.npy"))
    assert [f.name for f in files] == [f"part-0000{s}-of-00004.npy" for s in range(4)]
    written = [read_hash_set(str(f)) for f in files]
    for shard, rows_ in enumerate(written):
        assert rows_.dtype == HASH_DTYPE
        assert np.all(np.diff(rows_["hash"].astype(object)) > 0)
        assert np.all(rows_["hash"] >> np.uint64(62) == shard)  # shard s: [s, s+1) * 2**62
    merged = np.concatenate(written)
    assert np.all(np.diff(merged["hash"].astype(object)) > 0)
    assert rows(merged.tobytes()) == sorted(pairs)
    assert merged["hash"][0] == 0 and merged["hash"][-1] == 2**64 - 1
    manifest = json.loads((directory / "_manifest.json").read_text())
    assert manifest["rows"] == len(pairs) and manifest["num_shards"] == 4
    assert [s["rows"] for s in manifest["shards"]] == [len(t) for t in written]
    assert sorted(f.name for f in directory.iterdir()) == ["_manifest.json"] + [
        f.name for f in files
    ]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        read = p | ReadHashSet(str(directory / "part-*.npy")) | beam.FlatMap(rows)
        assert_that(read, equal_to(pairs))

    # Files are read a chunk at a time; a file cut short fails.
    chunks = list(_hash_set_chunks(str(files[0]), rows=7))
    assert {len(c) for c in chunks[:-1]} == {7 * HASH_DTYPE.itemsize}
    assert b"".join(chunks) == written[0].tobytes()
    cut = tmp_path / "cut.npy"
    cut.write_bytes(files[0].read_bytes()[: -HASH_DTYPE.itemsize])
    with pytest.raises(ValueError, match=r"cut\.npy: \d+ rows and 0 bytes, not the \d+ rows"):
        read_hash_set(str(cut))
    np.save(tmp_path / "plain.npy", np.arange(3, dtype=np.uint64))
    with pytest.raises(ValueError, match=r"plain\.npy: dtype uint64 is not a hash set"):
        read_hash_set(str(tmp_path / "plain.npy"))


@pytest.mark.parametrize("num_shards", [1, 3, 4, 7, 64, 1000])
def test_shards_are_the_ranges_of_the_uint64(num_shards):
    rng = np.random.default_rng(num_shards)
    bounds = [int(b) for b in shard_bounds(num_shards)]
    edges = [v for b in bounds for v in (b - 1, b, b + 1) if 0 <= v < 2**64]
    values = np.array(
        [*edges, 2**64 - 1, *rng.integers(0, 2**64 - 1, 200, dtype=np.uint64).tolist()], np.uint64
    )
    found = {}
    for shard, part in split_by_shard(np.arange(len(values)), values, num_shards):
        assert len(part) and np.all(np.diff(part) > 0)  # rows keep their order
        found.update(dict.fromkeys(part.tolist(), shard))
    assert [found[i] for i in range(len(values))] == [
        (v * num_shards) >> 64 for v in values.tolist()
    ]


def test_an_empty_hash_set_still_writes_every_shard(tmp_path):
    with BeamTestPipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create([]) | WriteHashSet(str(tmp_path), 2)
    tables = [read_hash_set(str(f)) for f in sorted(tmp_path.glob("part-*.npy"))]
    assert [len(t) for t in tables] == [0, 0]


def test_dedup_document_sets_ccnet_fields_with_or_without_the_line_hashes():
    doc = {"id": "x", "raw_content": "Keep me\nDrop me\n\nkeep ME"}
    out, decision = dedup_document(doc, {h64("drop me")})
    assert decision.keep
    assert (out, decision) == dedup_document(
        doc, [h64("drop me")], line_hashes(doc["raw_content"])[0]
    )
    assert out == {
        "id": "x",
        "raw_content": "Keep me",
        "nlines": 1,
        "length": 7,
        "original_nlines": 4,
        "original_length": 24,
        "line_ids": [0],
    }


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(f.relative_to(directory)): f.read_bytes()
        for f in sorted(directory.rglob("*"))
        if f.is_file()
    }


# Digits all normalise to "0", so the lines that must differ differ by letters.
UNIQUE = [f"unique {a}{b}" for a in "abcdefgh" for b in "xyz"]


def _run(out: Path, *beam_args: str) -> None:
    # Each "topic" line is in two documents, the footer in all 24; batches of 20 pairs put some
    # duplicates in one batch and some in two; 5 hash shards feed 3 hash-set files.
    docs = [
        {
            "id": f"doc{k:02d}",
            "raw_content": f"topic {'abcdefghijkl'[k % 12]}\nshared footer\n{unique}",
        }
        for k, unique in enumerate(UNIQUE)
    ]
    options = PipelineOptions(["--runner=FnApiRunner", *beam_args])
    with BeamTestPipeline(runner="FnApiRunner", options=options) as p:
        out_ = first_read(p, docs) | LineDedup(SOURCE, read_work, dedup_shards=5, batch_pairs=20)
        out_["documents"] | WriteShards(str(out / "documents"), 2, fmt="jsonl")
        out_["hashes"] | WriteHashSet(str(out / "hashes"), 3)


def test_in_memory_and_multiprocessing_runs_write_identical_files(tmp_path):
    _run(tmp_path / "a")
    _run(tmp_path / "b", "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    tree = _tree(tmp_path / "a")
    assert tree == _tree(tmp_path / "b")
    docs = [
        json.loads(line)
        for name, data in tree.items()
        if name.startswith("documents/part")
        for line in data.splitlines()
    ]
    assert sorted(d["raw_content"] for d in docs) == UNIQUE


def test_a_batch_sends_a_boilerplate_hash_to_its_shard_once_not_once_per_document():
    docs = [
        {"id": f"d{i}", "raw_content": f"Shared footer\n{line}"} for i, line in enumerate(UNIQUE)
    ]
    footer = h64("shared footer")
    hash_lines = _HashLines(4, DEFAULT_BATCH_PAIRS)
    hash_lines.start_bundle()
    tagged = list(tag_documents(read_work, (3, ("w3", tuple(docs)))))
    assert [d[WORK] for d in tagged] == [(3, ("w3", tuple(docs)), i) for i in range(len(docs))]
    assert [out for doc in tagged for out in hash_lines.process(doc)] == []  # no text goes on
    sent: dict[str, list] = {"by_hash": [], "by_work": []}
    for out in hash_lines.finish_bundle():  # tagged and windowed (shard, value)
        sent[out.tag].append(out.value.value)
    by_hash = [value for _, value in sent["by_hash"]]
    pairs = np.concatenate([np.frombuffer(d, PAIR_DTYPE) for t, d in by_hash if t == 0])
    repeated = [np.frombuffer(d, np.uint64).tolist() for t, d in by_hash if t == 1]
    assert sum(r.count(footer) for r in repeated) == 1 and footer not in pairs["hash"].tolist()
    assert len(pairs) == len(UNIQUE)  # each story line once, on to its hash shard
    assert {work for work, _ in sent["by_work"]} == {3}
    (lines,) = [value for _, (tag, value) in sent["by_work"] if tag == 0]
    (removed,) = [value for _, (tag, value) in sent["by_work"] if tag == 1]
    item, positions, sizes, hashes = lines
    assert item == ("w3", tuple(docs))
    assert np.frombuffer(positions, np.uint32).tolist() == list(range(len(docs)))
    assert np.frombuffer(sizes, np.uint32).tolist() == [2] * len(docs)
    assert np.frombuffer(hashes, np.uint64).tolist() == [
        h for doc in docs for h in line_hashes(doc["raw_content"])[0].tolist()
    ]
    removed = np.frombuffer(removed, PAIR_DTYPE)
    assert removed["position"].tolist() == list(range(len(docs)))
    assert set(removed["work"].tolist()) == {3} and set(removed["hash"].tolist()) == {footer}


def test_the_second_read_skips_what_the_first_dropped_and_dead_letters_keep_no_position():
    # The first read's filters drop "short" (counted there); a dead letter (here a string) and
    # None are no documents in either read, so positions still match.
    docs = [
        {"id": "a", "raw_content": "Same footer\nStory one"},
        "a dead letter",
        {"id": "short", "raw_content": "Same footer"},
        None,
        {"id": "b", "raw_content": "Same footer\nStory two"},
    ]
    p = BeamTestPipeline(runner="FnApiRunner")
    first = (
        p
        | beam.Create([(0, ("w0", tuple(docs)))])
        | beam.FlatMap(partial(tag_documents, read_work))
        | beam.Filter(lambda d: isinstance(d, dict) and d["id"] != "short")
    )
    out = first | LineDedup(SOURCE, read_work, batch_pairs=1)
    assert_that(
        out["documents"] | beam.Map(lambda d: (d["id"], d["raw_content"], d["line_ids"])),
        equal_to([("a", "Story one", [1]), ("b", "Story two", [1])]),
    )
    p.run()


def test_a_document_missing_from_the_second_read_stops_the_run():
    docs = [{"id": "a", "raw_content": "one\ntwo"}, {"id": "b", "raw_content": "three"}]
    p = BeamTestPipeline(runner="FnApiRunner")
    first = (
        p
        | beam.Create([(0, ("w0", tuple(docs)))])
        | beam.FlatMap(partial(tag_documents, read_work))
    )
    _ = first | LineDedup(SOURCE, lambda item: read_work(item)[:1])  # "b" vanished
    with pytest.raises(Exception, match=r"1 documents of the first read are missing"):
        p.run()


def test_a_document_whose_lines_changed_between_the_reads_stops_the_run():
    docs = [{"id": "a", "raw_content": "one\ntwo"}]
    changed = [{"id": "a", "raw_content": "one\ntwo\nthree"}]
    p = BeamTestPipeline(runner="FnApiRunner")
    first = (
        p
        | beam.Create([(0, ("w0", tuple(docs)))])
        | beam.FlatMap(partial(tag_documents, read_work))
    )
    _ = first | LineDedup(SOURCE, lambda item: [dict(d) for d in changed])
    with pytest.raises(Exception, match=r"a: 3 lines but 2 line hashes"):
        p.run()
