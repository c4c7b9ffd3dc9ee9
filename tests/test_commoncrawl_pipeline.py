"""The CommonCrawl pipeline on the sample's real web pages, and on broken WET files."""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from apache_beam.internal import pickler
from apache_beam.portability import common_urns
from apache_beam.portability.api import beam_runner_api_pb2
from conftest import DATAFLOW_DRY_RUN, ROOT
from localbucket import LocalBucket, serve_gs

from converters.warcwriter import WarcWriter
from filtermodels.lid import LID
from pipelines import commoncrawl, staging
from pipelines.staging import Model

DATE = "2024-01-02T03:04:05Z"
SAMPLE_WET = ROOT / "data/sample/commoncrawl/wet"
ANARCHISM = (
    "Anarchism is a political philosophy that advocates self-governed societies based on "
    "voluntary institutions. These are often described as stateless societies, although several "
    "authors have defined them more specifically as institutions based on non-hierarchical free "
    "associations. Anarchism holds the state to be undesirable, unnecessary, and harmful."
)


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


def test_a_scorer_that_raises_costs_one_page(models, sample, tmp_path, monkeypatch):
    from filters.perplexity import PerplexityScorer

    real_score_batch = PerplexityScorer.score_batch

    def score_batch(self, texts):
        if any("asyncio" in text for text in texts):
            raise MemoryError("KenLM gave up")
        return real_score_batch(self, texts)

    monkeypatch.setattr(PerplexityScorer, "score_batch", score_batch)
    wet = [str(p) for p in sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz"))]
    report = _run(models, wet, tmp_path / "out", "--write_rejects")
    assert report["invariant"]["holds"]
    failed = report["by_stage"]["perplexity"]["dropped_filter_error"]
    dead = [json.loads(x) for f in (tmp_path / "out/dead_letter").glob("*.jsonl") for x in f.open()]
    assert len(dead) == failed >= 1
    assert {(d["stage"], d["reason"], d["error"]) for d in dead} == {
        ("perplexity", "filter_error", "MemoryError: KenLM gave up")
    }
    rejected = [
        json.loads(x) for f in (tmp_path / "out/rejected").glob("*.jsonl") for x in f.open()
    ]
    assert sorted(d["id"] for d in dead) == sorted(
        r["id"] for r in rejected if r["reason"] == "filter_error"
    )


def _bucket(tmp_path: Path, sample: Path, monkeypatch) -> LocalBucket:
    """gs://demo-bucket/wet/ holding the sample's WET files; workers' model copies in tmp."""
    gcs = serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(sample / "commoncrawl/wet", tmp_path / "gcs/demo-bucket/wet")
    monkeypatch.setenv(staging.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(staging, "_copies", {})  # a fresh worker process
    return gcs


def _score_fn(job):
    """The Score stage's DoFn as the job hands it to Dataflow's workers: unpickled from the job's
    graph. Its `load` stages and loads the models (role → URL and sha256: `load.args[0]`)."""
    (fn,) = [
        pickler.loads(beam_runner_api_pb2.ParDoPayload.FromString(t.spec.payload).do_fn.payload)[0]
        for t in job.proto_pipeline.components.transforms.values()
        if t.spec.urn == common_urns.primitives.PAR_DO.urn
        and t.unique_name == "Score/ParDo(_ApplyFilters)/ParDo(_ApplyFilters)"
    ]
    return fn


def _make_dry_run(*variables: str) -> list[str]:
    """`make -n commoncrawl …`: the commands it would run, continuation lines joined."""
    proc = subprocess.run(
        ["make", "-n", "--no-print-directory", "commoncrawl", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout.replace("\\\n", " ").splitlines()


def test_make_commoncrawl_on_dataflow_builds_the_job_offline(models, sample, tmp_path, monkeypatch):
    gcs = _bucket(tmp_path, sample, monkeypatch)
    commands = _make_dry_run(
        "RUNNER=DataflowRunner",
        "PROJECT=demo-project",
        "REGION=us-central1",
        "BUCKET=gs://demo-bucket",
        "INPUT=gs://demo-bucket/wet/*.warc.wet.gz",
        f"MODELS={models}",
    )
    (line,) = [c for c in commands if "-m pipelines.commoncrawl" in c]
    argv = shlex.split(line)[shlex.split(line).index("pipelines.commoncrawl") + 1 :]
    for option in (
        "--wet=gs://demo-bucket/wet/*.warc.wet.gz",
        "--output=gs://demo-bucket/out/commoncrawl",
        "--runner=DataflowRunner",
        "--project=demo-project",
        "--region=us-central1",
        "--temp_location=gs://demo-bucket/tmp",
        "--staging_location=gs://demo-bucket/staging",
        "--upload_models_to=gs://demo-bucket/models",
    ):
        name, value = option.split("=", 1)
        assert option in argv or argv[argv.index(name) + 1] == value, (option, argv)
    (wheel,) = [a.split("=", 1)[1] for a in argv if a.startswith("--extra_package=")]
    (build,) = [c for c in commands if " wheel " in c]
    # The launcher prints a shell line for users to paste; run it as they would.
    subprocess.run(build, shell=True, cwd=ROOT, check=True, timeout=300)  # noqa: S602
    assert (ROOT / wheel).is_file()

    monkeypatch.chdir(ROOT)  # where make runs it: the wheel's path is relative
    report = commoncrawl.main([*argv, "--dry_run=True"])
    assert report["dry_run"] and report["wet_files"] == 4
    assert not (tmp_path / "gcs/demo-bucket/models").exists()  # a dry run uploads nothing
    assert not (tmp_path / "gcs/demo-bucket/out").exists()
    # The workers would read the models from the bucket, each checked against its model card.
    card = json.loads((models / "lm/en.json").read_text())["files"]
    score = _score_fn(report["job"])
    assert score.load.args[0] == {
        "lid": Model("gs://demo-bucket/models/lid.176.ftz", LID["sha256"]),
        "en.sp.model": Model(
            "gs://demo-bucket/models/lm/en.sp.model", card["en.sp.model"]["sha256"]
        ),
        "en.arpa.bin": Model(
            "gs://demo-bucket/models/lm/en.arpa.bin", card["en.arpa.bin"]["sha256"]
        ),
        "en.cutoffs.json": Model("gs://demo-bucket/models/lm/en.cutoffs.json", None),
    }

    # Once uploaded, the unpickled DoFn loads them from the bucket through local copies.
    args = argparse.Namespace(
        lid_model=str(models / "lid.176.ftz"),
        lm_dir=str(models / "lm"),
        languages=["en"],
        wikiref_model=None,
    )
    local = commoncrawl.check_models(args)
    layout = commoncrawl.model_layout(local)
    staging.upload_models(local, "gs://demo-bucket/models", layout, dry_run=False)
    score.setup()
    assert sorted(gcs.opened) == sorted(m.url for m in score.load.args[0].values())
    assert len(list((tmp_path / "cache").iterdir())) == 4
    doc = {"id": "cc/x/1", "raw_content": ANARCHISM, "cc_segment": "x", "digest": "sha1:X"}
    list(score.process([doc]))
    assert doc["language"] == "en" and doc["perplexity"] > 0 and doc["bucket"]  # scored


def test_dataflow_refuses_local_paths(models, sample):
    wet = ["--wet", str(sample / "commoncrawl/wet/*.warc.wet.gz")]
    with pytest.raises(SystemExit, match=r"DataflowRunner workers cannot read local paths: .*wet"):
        _mine(models, wet, "gs://demo-bucket/out", *DATAFLOW_DRY_RUN)


def test_models_input_and_output_on_a_bucket(models, sample, tmp_path, monkeypatch):
    """The whole run with every path a gs:// URL (served from local disk, in-process workers)."""
    gcs = _bucket(tmp_path, sample, monkeypatch)
    wet = ["--wet", "gs://demo-bucket/wet/CC-SAMPLE-00000.warc.wet.gz"]
    upload = ("--upload_models_to", "gs://demo-bucket/models", "--num_shards", "1")
    report = _mine(models, wet, "gs://demo-bucket/out", *upload)
    assert report["invariant"]["holds"] and report["totals"]["read"] == 563
    bucket = tmp_path / "gcs/demo-bucket"
    uploaded = sorted(
        str(p.relative_to(bucket / "models")) for p in (bucket / "models").rglob("*") if p.is_file()
    )
    assert uploaded == [
        "_sha256.json",
        "lid.176.ftz",
        "lm/en.arpa.bin",
        "lm/en.cutoffs.json",
        "lm/en.json",
        "lm/en.sp.model",
    ]
    assert report["models"]["en.arpa.bin"]["url"] == "gs://demo-bucket/models/lm/en.arpa.bin"
    assert {u for u in gcs.opened if "/models/" in u} >= {
        f"gs://demo-bucket/models/{name}"
        for name in ("lid.176.ftz", "lm/en.sp.model", "lm/en.arpa.bin", "lm/en.cutoffs.json")
    }
    assert json.loads((bucket / "out/report.json").read_text())["totals"] == report["totals"]
    docs = pq.read_table(bucket / "out/documents/en_head").to_pylist()
    assert len(docs) == report["buckets"]["en_head"] > 0
    assert (bucket / "out/en.perplexity.png").read_bytes().startswith(b"\x89PNG")
    assert not list(bucket.rglob(".tmp-*"))


def test_missing_models_are_named_with_the_command(sample, tmp_path):
    with pytest.raises(SystemExit, match=r"make lm LM_LANG=en"):
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


def _cli(models: Path, cwd: Path, log: Path) -> subprocess.Popen:
    """`python -m pipelines.commoncrawl` on two WET files with 2 worker processes, in its own
    process group (so that the workers die with it), writing to `cwd/out`."""
    wet = sorted(SAMPLE_WET.glob("*.warc.wet.gz"))[:2]
    command = [
        *(sys.executable, "-m", "pipelines.commoncrawl", "--wet", *map(str, wet)),
        *("--output", "out", "--lm_dir", str(models / "lm")),
        *("--lid_model", str(models / "lid.176.ftz"), "--num_shards", "2", "--write_rejects"),
        *("--direct_num_workers=2", "--direct_running_mode=multi_processing"),
    ]
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with log.open("wb") as out:
        return subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _finish(proc: subprocess.Popen, log: Path) -> None:
    assert proc.wait(timeout=300) == 0, log.read_text()[-3000:]


def _manifests_match_their_shards(out: Path) -> None:
    for manifest in out.rglob("_manifest.json"):
        listed = json.loads(manifest.read_text())
        for shard in listed["shards"]:
            name = f"part-{shard['shard']:05d}-of-{listed['num_shards']:05d}.*"
            (path,) = manifest.parent.glob(name)
            assert path.stat().st_size == shard["bytes"], (manifest, shard)


def _final_tree(out: Path) -> dict[str, bytes]:
    tree = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    report = json.loads(tree.pop("report.json"))
    for timing in ("wall_seconds", "documents_per_second"):
        assert report.pop(timing) is not None
    return {**tree, "report.json": json.dumps(report, sort_keys=True).encode()}


def test_a_killed_run_started_again_gives_the_clean_runs_output(models, tmp_path):
    clean = _cli(models, tmp_path / "clean", tmp_path / "clean.log")
    _finish(clean, tmp_path / "clean.log")

    # What an earlier finished run and a run killed while writing leave behind.
    out = tmp_path / "restart/out"
    planted = {
        "report.json": b'{"invariant": {"holds": true}}\n',
        ".tmp-0a1b-report.json": b'{"inva',
        "documents/en_head/_manifest.json": b'{"num_shards": 3, "shards": []}\n',
        "documents/en_head/part-00002-of-00003.parquet": b"PAR1 an earlier shard count",
        "documents/en_head/.tmp-2c3d-part-00000-of-00002.parquet": b"PAR1 half a sha",
        "hashes/.tmp-4e5f-_manifest.json": b"{",
    }
    for name, data in planted.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(data)
    log = tmp_path / "killed.log"
    killed = _cli(models, out.parent, log)
    deadline = time.monotonic() + 300
    while not (out / "hashes/_manifest.json").exists():  # the first output is written
        assert killed.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    os.killpg(killed.pid, signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    # Killed before it finished, and nothing left claims to be finished output.
    assert not (out / "report.json").exists()
    assert not [name for name in planted if ".tmp-" in name and (out / name).exists()]
    _manifests_match_their_shards(out)

    again = _cli(models, out.parent, tmp_path / "again.log")
    _finish(again, tmp_path / "again.log")
    assert _final_tree(out) == _final_tree(tmp_path / "clean/out")
