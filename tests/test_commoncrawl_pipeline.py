"""The CommonCrawl pipeline on the sample's real web pages, and on broken WET files."""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT

from pipelines import commoncrawl
from pipelines.warc import WarcWriter

DATE = "2024-01-02T03:04:05Z"


@pytest.fixture(scope="module")
def models(tmp_path_factory, sample) -> Path:
    """The en language model and cut-offs (`make lm`) and lid.176, in a directory of their own."""
    out = tmp_path_factory.mktemp("cc-models")
    proc = subprocess.run(
        ["make", "--no-print-directory", "lm", "LANG=en", f"OUTPUT={out}", f"MODELS={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out


def _run(models: Path, wet: list[str], out: Path, *extra: str) -> dict:
    return _mine(models, ["--wet", *wet], out, "--num_shards", "2", *extra)


def _mine(models: Path, inputs: list[str], out: Path | str, *extra: str) -> dict:
    lm, lid = str(models / "lm"), str(models / "lid.176.ftz")
    return commoncrawl.main(
        [*inputs, "--output", str(out), "--lm_dir", lm, "--lid_model", lid, *extra]
    )


def _documents(out: Path) -> list[dict]:
    files = sorted((out / "documents").glob("*/part-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


def _tree(directory: Path) -> dict[str, bytes]:
    skip = {"report.json", "en.perplexity.png"}
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def test_sample_end_to_end_and_deterministic(models, sample, tmp_path):
    wet = [str(sample / "commoncrawl/wet/*.warc.wet.gz")]
    report = _run(models, wet, tmp_path / "a", "--write_rejects")
    totals = report["totals"]
    assert report["invariant"]["holds"] and totals["read"] == 2243
    assert totals["dropped_too_short"] == 94  # 2,149 pages have >= 300 characters
    # English kept; the other languages (German, French, Dutch, Italian, Czech…) dropped.
    assert totals["dropped_language"] > 1300
    assert report["languages_seen"]["en"] > 600 and report["languages_seen"]["de"] > 250
    assert report["buckets"]["en_head"] > 100 and report["buckets"]["en_middle"] > 100
    assert totals["dropped_bucket_tail"] > 100
    docs = _documents(tmp_path / "a")
    assert len(docs) == totals["kept"] and {d["language"] for d in docs} == {"en"}
    assert {d["bucket"] for d in docs} == {"head", "middle"}
    for doc in docs:
        assert doc["language_score"] >= 0.5 and doc["perplexity"] > 0
        assert doc["nlines"] == len(doc["text"].split("\n")) <= doc["original_nlines"]
        assert doc["url"] and doc["digest"].startswith("sha1:") and doc["cc_segment"]
    # Boilerplate shared across pages is gone from every page, the first copy included.
    lines = {line for d in docs for line in d["text"].split("\n")}
    for boilerplate in ("Report a Bug", "Show Source", "Navigation", "Previous topic"):
        assert boilerplate not in lines
    rejected = [json.loads(x) for x in (tmp_path / "a/rejected").glob("*.jsonl").__next__().open()]
    assert len(rejected) == totals["read"] - totals["kept"]
    assert sum(r["reason"] == "dedup_empty" for r in rejected) == totals["dropped_dedup_empty"]
    assert (tmp_path / "a/en.perplexity.png").read_bytes().startswith(b"\x89PNG")

    _run(
        models,
        wet,
        tmp_path / "b",
        "--write_rejects",
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    )
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")


def _broken_files(root: Path, sample: Path) -> list[str]:
    root.mkdir()
    real = sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz"))[0]
    shutil.copy(real, root / "good.warc.wet.gz")
    text = "A line about nothing in particular, long enough to count. " * 10
    members = []
    for i in range(3):
        buffer = io.BytesIO()
        with WarcWriter(buffer) as writer:
            writer.conversion(f"https://example.org/{i}", f"Title {i}\n{text}{i}", date=DATE)
        members.append(buffer.getvalue())
    # A truncated gzip member between two good ones.
    cut = members[0] + members[1][: len(members[1]) // 2] + members[2]
    (root / "cut.warc.wet.gz").write_bytes(cut)
    (root / "empty.warc.wet.gz").write_bytes(b"")
    (root / "not-wet.warc.wet.gz").write_bytes(gzip.compress(b'{"json": true}\n'))
    with WarcWriter(str(root / "huge.warc.wet.gz")) as writer:
        writer.conversion("https://example.org/huge", "Huge\n" + "x" * (50 << 20), date=DATE)
        writer.conversion("https://example.org/after", f"After\n{text}", date=DATE)
    with WarcWriter(str(root / "utf8.warc.wet.gz")) as writer:
        writer.write(
            "conversion",
            b"Bad\ncaf\xe9 " + text.encode(),
            date=DATE,
            content_type="text/plain",
            uri="https://example.org/bad",
        )
        writer.conversion("https://example.org/fine", f"Fine\n{text}", date=DATE)
    return [str(root / "*.warc.wet.gz")]


def test_broken_wet_files_never_stop_the_run(models, sample, tmp_path):
    wet = _broken_files(tmp_path / "in", sample)
    report = _run(models, wet, tmp_path / "out")
    totals = report["totals"]
    assert report["invariant"]["holds"]
    dead = [json.loads(x) for f in (tmp_path / "out/dead_letter").glob("*.jsonl") for x in f.open()]
    reasons = sorted({(Path(d["file"]).name, d["reason"]) for d in dead})
    assert ("huge.warc.wet.gz", "too_large") in reasons
    assert ("utf8.warc.wet.gz", "invalid_utf8") in reasons
    assert ("not-wet.warc.wet.gz", "not_warc") in reasons
    assert any(name == "cut.warc.wet.gz" for name, _ in reasons)
    assert totals["dropped_corrupt_gzip"] == 1  # the two records around it are read
    assert not any(name == "empty.warc.wet.gz" for name, _ in reasons)
    assert totals["dropped_too_large"] == 1 and totals["dropped_invalid_utf8"] == 1


def test_dataflow_job_builds_offline_with_dry_run(models, sample):
    wet = ["--wet", str(sample / "commoncrawl/wet/*.warc.wet.gz")]
    report = _mine(models, wet, "gs://demo-bucket/out", *DATAFLOW_DRY_RUN)
    assert report == {"dry_run": True, "wet_files": 4}


def test_missing_models_are_named_with_the_command(sample, tmp_path):
    with pytest.raises(SystemExit, match=r"make lm LANG=en"):
        commoncrawl.main(
            [
                "--wet",
                str(sample / "commoncrawl/wet/*.warc.wet.gz"),
                "--output",
                str(tmp_path),
                "--lm_dir",
                str(tmp_path),
            ]
        )


@pytest.fixture
def crawl_server(tmp_path, sample):
    """A loopback HTTP server laid out like data.commoncrawl.org, with one WET file missing."""
    root = tmp_path / "www"
    wet_dir = root / "crawl-data/CC-MAIN-TEST/segments/1/wet"
    wet_dir.mkdir(parents=True)
    names = [f"CC-MAIN-TEST-0000{i}.warc.wet.gz" for i in range(3)]
    for name, real in zip(
        names[:2], sorted((sample / "commoncrawl/wet").glob("*.gz")), strict=False
    ):
        shutil.copy(real, wet_dir / name)
    listing = "".join(f"crawl-data/CC-MAIN-TEST/segments/1/wet/{n}\n" for n in names)
    (root / "crawl-data/CC-MAIN-TEST/wet.paths.gz").write_bytes(gzip.compress(listing.encode()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(timeout=10)


def test_a_snapshot_streamed_over_http(models, crawl_server, tmp_path):
    out = tmp_path / "out"
    snapshot = ["--snapshot", "CC-MAIN-TEST", "--segments", "0:3", "--cc_base_url", crawl_server]
    report = _mine(models, snapshot, out, "--num_shards", "1")
    assert report["invariant"]["holds"] and report["totals"]["input_errors"] == 1
    assert [p.rsplit("/", 1)[1] for p in report["wet_files"]] == [
        f"CC-MAIN-TEST-0000{i}.warc.wet.gz" for i in range(3)
    ]
    assert report["totals"]["read"] == 563 + 569  # the first two sample files, whole
    (dead,) = [json.loads(x) for f in (out / "dead_letter").glob("*.jsonl") for x in f.open()]
    assert dead["reason"] == "unreadable_file" and "404" in dead["error"]
    segments = {d["cc_segment"] for d in _documents(out)}
    assert segments <= {
        f"crawl-data/CC-MAIN-TEST/segments/1/wet/{n}"
        for n in ("CC-MAIN-TEST-00000.warc.wet.gz", "CC-MAIN-TEST-00001.warc.wet.gz")
    }
    assert len(segments) == 2
