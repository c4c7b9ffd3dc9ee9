"""The books pipeline: Gutenberg boilerplate, ids across collections, near-duplicate clusters."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT
from localbucket import serve_gs

from core.schema import document_schema
from filters.gutenberg import strip_gutenberg
from filters.minhash import jaccard, shingles, signature
from pipelines import books
from samples.variants import abridged, edited, paragraphs, relicensed, rewrapped

SAMPLE = ROOT / "data/sample/books"


def _jsonl(out: Path, folder: str) -> list[dict]:
    return [json.loads(x) for f in sorted((out / folder).glob("*.jsonl")) for x in f.open()]


def _documents(out: Path) -> list[dict]:
    files = sorted((out / "documents").glob("*.parquet"))
    return sorted((r for f in files for r in pq.read_table(f).to_pylist()), key=lambda r: r["id"])


def _run(inputs: list[str], out: Path, *extra: str) -> dict:
    return books.main(["--input", *inputs, "--output", str(out), "--num_shards", "2", *extra])


def _play(name: str) -> str:
    return strip_gutenberg((SAMPLE / f"gutenberg/{name}.txt").read_text("utf-8")).text


def test_the_sample_three_collections_one_cluster(tmp_path):
    inputs = [str(SAMPLE / "gutenberg"), str(SAMPLE / "pg19/*.jsonl.gz")]
    out = tmp_path / "books"
    report = _run([*inputs, str(SAMPLE / "books3/*.jsonl.gz")], out)
    assert report["invariant"]["holds"]
    assert report["totals"] == {"read": 23, "kept": 22, "dropped_near_duplicate": 1}
    assert report["near_dedup"]["bands"] * report["near_dedup"]["rows"] <= 256
    (cluster,) = _jsonl(out, "clusters")
    # As You Like It, Gutenberg's modern edition and Books3's copy of Canterbury's text; the
    # First Folio editions (old spelling) are not "more than 90%" the same text: kept apart.
    assert cluster["members"] == ["books/gutenberg/2ws2510", "books/books3/books3-00000/2"]
    assert cluster["kept"] == "books/gutenberg/2ws2510"  # the longer
    docs = _documents(out)
    assert pq.read_schema(next((out / "documents").glob("*.parquet"))).names == (
        document_schema("books").names
    )
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == 22 and "books/gutenberg/0ws2510" in ids
    botchan = next(d for d in docs if d["id"] == "books/gutenberg/8868")
    assert "PROJECT GUTENBERG" not in botchan["text"].upper()
    assert botchan["url"] == "https://www.gutenberg.org/ebooks/8868"
    collections = {d["collection"] for d in docs}
    assert collections == {"gutenberg", "pg19", "books3"}


def test_derived_copies_cluster_and_the_longest_is_kept(tmp_path):
    hamlet, macbeth = _play("2ws2610"), _play("2ws3410")
    parts = paragraphs(hamlet)
    third = len(parts) * 2 // 5
    copies = {
        "hamlet": hamlet,
        "abridged": abridged(hamlet, 0.6, seed=2),
        "rewrapped": rewrapped(hamlet),
        "relicensed": relicensed(hamlet, "Hamlet"),  # stripped by the reader
        "edited": edited(hamlet, 0.05, seed=2),
        "first-part": "\n\n".join(parts[: len(parts) - third]),  # 60% each, 20% in common:
        "last-part": "\n\n".join(parts[third:]),  # joined only through the whole play
        "macbeth": macbeth,  # the same author, another play
    }
    folder = tmp_path / "in"
    folder.mkdir()
    for name, text in copies.items():
        (folder / f"{name}.txt").write_text(text)
    out = tmp_path / "out"
    report = _run([str(folder)], out, "--write_rejects")
    assert report["invariant"]["holds"] and report["totals"]["kept"] == 2
    (cluster,) = _jsonl(out, "clusters")
    members = {m.rsplit("/", 1)[1] for m in cluster["members"]}
    assert members == set(copies) - {"macbeth"}
    texts = {name: strip_gutenberg(text).text for name, text in copies.items()}
    longest = max(members, key=lambda m: (len(texts[m]), [-ord(c) for c in m]))
    assert cluster["kept"] == f"books/gutenberg/{longest}"
    pairs = {frozenset(p[:2]) for p in cluster["pairs"]}
    first, last = "books/gutenberg/first-part", "books/gutenberg/last-part"
    assert frozenset((first, last)) not in pairs  # transitive through the whole play
    sigs = {k: signature(shingles(texts[k], 5)) for k in ("hamlet", "abridged")}
    assert jaccard(sigs["hamlet"], sigs["abridged"]) < 0.7  # found though its Jaccard is low
    assert {d["id"] for d in _documents(out)} == {cluster["kept"], "books/gutenberg/macbeth"}
    rejects = _jsonl(out, "rejected")
    assert sorted(r["id"] for r in rejects) == sorted(
        m for m in cluster["members"] if m != cluster["kept"]
    )


def test_bad_books_are_counted_never_read_whole(tmp_path):
    folder = tmp_path / "in"
    (folder / "8").mkdir(parents=True)
    (folder / "84-0.txt").write_text(_play("2ws3410")[:5000])
    (folder / "8" / "84.txt").write_text("Another file of book 84.")  # same id, first by path
    (folder / "1000-8.txt").write_bytes("Caf\xe9 au lait.".encode("latin-1"))
    with open(folder / "2000.txt", "wb") as fh:  # 200 MB, sparse: never read
        fh.seek(200 << 20)
        fh.write(b"end")
    (folder / "empty.txt").write_text("\n\n")
    lines = tmp_path / "books3.jsonl.gz"
    lines.write_bytes(gzip.compress(b'{"text": "A short book."}\n{broken\n'))
    out = tmp_path / "out"
    report = _run([str(folder), str(lines)], out, "--max_book_bytes", str(10 << 20))
    assert report["invariant"]["holds"]
    assert report["by_stage"]["read"] == {
        "read": 6,
        "dropped_duplicate_id": 1,
        "dropped_invalid_utf8": 1,
        "dropped_too_large": 1,
        "input_errors": 1,
    }
    assert report["by_stage"]["empty"] == {"dropped_empty": 1}
    assert report["totals"]["kept"] == 2
    dead = {(Path(d["file"]).name, d["reason"]) for d in _jsonl(out, "dead_letter")}
    assert dead == {
        ("84-0.txt", "duplicate_id"),
        ("1000-8.txt", "invalid_utf8"),
        ("2000.txt", "too_large"),
        ("books3.jsonl.gz", "bad_json"),
    }


def test_dataflow_job_builds_offline_with_dry_run(tmp_path, monkeypatch):
    args = ["--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN]
    local = str(SAMPLE / "pg19/pg19-00000.jsonl.gz")
    with pytest.raises(SystemExit, match="cannot read local paths"):
        books.main(["--input", local, *args])
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(SAMPLE / "pg19", tmp_path / "gcs/demo-bucket/pg19")
    report = books.main(["--input", "gs://demo-bucket/pg19/*.jsonl.gz", *args])
    assert report["dry_run"] and report["work_items"] == 1
    assert report["job"].proto_pipeline.components.transforms
