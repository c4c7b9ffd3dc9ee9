"""The C4 pipeline: TFDS's rules wired in TFDS's order, the published C4 reformatted, bad input."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT
from localbucket import serve_gs

from converters.warcwriter import WarcWriter
from core.schema import document_schema
from pipelines import c4

DATE = "2019-04-20T10:11:12Z"
LID = ROOT / "models/lid.176.ftz"
BADWORDS = ROOT / "models/badwords/en.txt"
SAMPLE_WET = ROOT / "data/sample/commoncrawl/wet"

# Real English prose, one sentence per line: each line passes every line rule.
ENGLISH = [
    "The river flows slowly through the old town before it reaches the sea.",
    "Many visitors come in the summer to walk along its quiet banks.",
    "A small museum near the bridge tells the history of the local mills.",
    "Local families have fished in these waters for several generations.",
    "In the autumn the trees along the water turn red and gold.",
    "The town council is planning a new footpath beside the eastern bank.",
    "Children from the village school often visit the museum on Fridays.",
]
SHARED = "Opening hours are listed on the notice board at the main entrance."
GERMAN = [
    "Der Fluss fließt langsam durch die alte Stadt, bevor er das Meer erreicht.",
    "Viele Besucher kommen im Sommer, um an seinen ruhigen Ufern zu spazieren.",
    "Ein kleines Museum an der Brücke erzählt die Geschichte der Mühlen.",
    "Einheimische Familien fischen seit Generationen in diesen Gewässern.",
]


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _body(title: str, lines: list[str]) -> str:
    return title + "\n" + "\n".join(lines)


def _documents(out: Path, folder: str = "documents") -> list[dict]:
    files = sorted((out / folder).glob("*.parquet"))
    rows = [row for f in files for row in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def _dead(out: Path) -> list[dict]:
    return [json.loads(x) for f in (out / "dead_letter").glob("*.jsonl") for x in f.open()]


def _run(out: Path, *args: str) -> dict:
    return c4.main([*args, "--output", str(out), "--num_shards", "2"])


def _wet_run(wet: list[str], out: Path, *extra: str) -> dict:
    return _run(out, "--wet", *wet, "--badwords", str(BADWORDS), *extra)


def test_tfds_rules_in_order_on_crafted_pages(tmp_path):
    pages = {
        # Two pages with one normalised URL (example.com/river): the larger md5 of text stays.
        "https://www.example.com/river?utm_source=feed": _body(
            "River", [ENGLISH[0], ENGLISH[1], ENGLISH[2], SHARED]
        ),
        "http://example.com/river/": _body("River (copy)", [ENGLISH[3], ENGLISH[4], SHARED]),
        # Shares SHARED and repeats a line of its own.
        "https://example.org/walks": _body(
            "Walks", [ENGLISH[5], ENGLISH[6], SHARED, ENGLISH[5], "Menu", ENGLISH[4] + " {x}"]
        ),
        # Its `{` line passes the line rules before it: the page goes.
        "https://example.net/code": _body(
            "Code", [ENGLISH[0], "Call the function with f(x) { return x; } first.", ENGLISH[1]]
        ),
        "https://example.de/fluss": _body("Fluss", GERMAN),
    }
    wet = tmp_path / "in/CC-TEST-00000.warc.wet.gz"
    wet.parent.mkdir()
    with WarcWriter(str(wet)) as writer:
        for url, body in pages.items():
            writer.conversion(url, body, date=DATE)
    out = tmp_path / "out"
    report = _wet_run([str(wet)], out, "--write_rejects")

    river = {url: body for url, body in pages.items() if "river" in url}
    kept_river = max(river, key=lambda url: _md5(river[url]))  # the WET text: title included
    assert report["invariant"]["holds"] and report["totals"]["read"] == 5
    by_stage = report["by_stage"]
    assert by_stage["url_dedup"] == {"dropped_duplicate_url": 1}
    assert by_stage["clean"] == {"dropped_curly_bracket": 1}
    assert by_stage["language"] == {"dropped_not_english": 1}

    # SHARED belongs to the page whose normalised URL has the smaller md5.
    owner = min(["example.com/river", "example.org/walks"], key=_md5)
    river_lines = [ln for ln in river[kept_river].split("\n")[1:]]
    walks = [ENGLISH[5], ENGLISH[6], SHARED]  # no repeat; "Menu" and "…{x}" lack an end mark
    expected = {
        "https://example.org/walks": walks if owner == "example.org/walks" else walks[:2],
        kept_river: river_lines if owner == "example.com/river" else river_lines[:-1],
    }
    docs = _documents(out) + _documents(out, "validation")
    assert {d["url"]: d["text"].split("\n") for d in docs} == expected
    assert all(d["timestamp"].isoformat() == "2019-04-20T10:11:12+00:00" for d in docs)
    assert {d["split"] for d in docs} == {"train"}  # md5 mod 1000 of neither URL is 0
    rejects = [json.loads(x) for f in (out / "rejected").glob("*.jsonl") for x in f.open()]
    assert sorted(r["reason"] for r in rejects) == ["curly_bracket", "duplicate_url", "not_english"]


def test_sample_end_to_end_with_both_detectors(tmp_path):
    out = tmp_path / "c4"
    report = _wet_run(
        [str(SAMPLE_WET / "*.warc.wet.gz")], out, "--compare_english", "--lid_model", str(LID)
    )
    assert report["invariant"]["holds"]
    assert report["totals"]["read"] == 2243
    assert report["splits"] == {"train": 586, "validation": 1}
    assert report["by_stage"]["language"]["dropped_not_english"] == 1216
    assert report["english_detectors"] == {"agree": 1815, "disagree_langdetect_keeps": 1}
    lines = report["lines"]
    assert lines["removed_no_end_mark"] > lines["kept"] > lines["removed_duplicate"] > 0
    docs = _documents(out)
    assert len(docs) == 586 and len({d["id"] for d in docs}) == 586
    assert pq.read_schema(next((out / "documents").glob("*.parquet"))).names == (
        document_schema("c4").names
    )
    assert all(d["id"].startswith("c4/CC-SAMPLE-") and d["source"] == "c4" for d in docs)
    # What make tokenize and the tokenizer read: the train split only.
    from pipelines.tokenize import document_files

    assert all("/c4/documents/" in f for f in document_files(str(tmp_path), "c4"))


def test_published_c4_is_reformatted_unfiltered(tmp_path):
    root = tmp_path / "en"
    root.mkdir()
    rows = [
        {"text": "Short {but kept}", "timestamp": "2019-04-25T12:57:54Z", "url": "https://a.com/"},
        {"text": "Another one.", "timestamp": "2019-04-21T10:07:13Z", "url": "https://b.com/x"},
    ]
    for split, lines in (("train", rows), ("validation", rows[:1])):
        data = b"".join(json.dumps(r).encode() + b"\n" for r in lines)
        (root / f"c4-{split}.00000-of-00002.json.gz").write_bytes(gzip.compress(data))
    (root / "c4-train.00001-of-00002.json.gz").write_bytes(
        gzip.compress(b'{"text": "ok.", "url": "https://c.com/"}\n{broken\n')[:-12]
    )
    out = tmp_path / "out"
    report = _run(out, "--published", str(root / "*.json.gz"))
    assert report["invariant"]["holds"] and report["mode"] == "published"
    assert report["splits"] == {"train": 3, "validation": 1}
    train = _documents(out)
    assert [(d["id"], d["text"]) for d in train] == [
        ("c4/c4-train.00000-of-00002/1", "Short {but kept}"),
        ("c4/c4-train.00000-of-00002/2", "Another one."),
        ("c4/c4-train.00001-of-00002/1", "ok."),
    ]
    assert train[0]["timestamp"].isoformat() == "2019-04-25T12:57:54+00:00"
    assert train[2]["timestamp"] is None and train[0]["cc_segment"] is None
    (valid,) = _documents(out, "validation")
    assert valid["split"] == "validation" and valid["id"] == "c4/c4-validation.00000-of-00002/1"
    (dead,) = _dead(out)
    assert dead["reason"] == "truncated" and dead["file"].endswith("00001-of-00002.json.gz")
    assert report["totals"]["input_errors"] == 1


def test_broken_wet_input_is_accounted_for(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    shutil.copy(sorted(SAMPLE_WET.glob("*.warc.wet.gz"))[0], root / "good.warc.wet.gz")
    (root / "empty.warc.wet.gz").write_bytes(b"")
    with WarcWriter(str(root / "utf8.warc.wet.gz")) as writer:
        writer.write(
            "conversion",
            b"Bad\ncaf\xe9 and more words here.",
            date=DATE,
            content_type="text/plain",
            uri="https://example.org/bad",
        )
        writer.conversion("https://example.org/blank", "   \n\n", date=DATE)
    report = _wet_run([str(root / "*.warc.wet.gz")], tmp_path / "out")
    assert report["invariant"]["holds"]
    assert report["by_stage"]["read"]["dropped_invalid_utf8"] == 1
    assert report["by_stage"]["read"]["dropped_empty"] == 1
    reasons = {(Path(d["file"]).name, d["reason"]) for d in _dead(tmp_path / "out")}
    assert ("utf8.warc.wet.gz", "invalid_utf8") in reasons


def test_missing_bad_words_list_is_named_with_the_command(tmp_path):
    with pytest.raises(SystemExit, match="make badwords"):
        c4.main(
            [
                *("--wet", str(SAMPLE_WET / "*.warc.wet.gz"), "--output", str(tmp_path)),
                *("--badwords", str(tmp_path / "none.txt")),
            ]
        )


def test_dataflow_job_builds_offline_with_dry_run(tmp_path, monkeypatch):
    wet = str(SAMPLE_WET / "*.warc.wet.gz")
    args = ["--badwords", str(BADWORDS), "--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN]
    with pytest.raises(SystemExit, match="cannot read local paths"):
        c4.main(["--wet", wet, *args])
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(SAMPLE_WET, tmp_path / "gcs/demo-bucket/wet")
    report = c4.main(["--wet", "gs://demo-bucket/wet/*.warc.wet.gz", *args])
    assert report["dry_run"] and report["input_files"] == 4
    assert report["job"].proto_pipeline.components.transforms
    assert not (tmp_path / "gcs/demo-bucket/out").exists()


def test_a_snapshot_streamed_over_http(crawl_server, tmp_path):
    out = tmp_path / "out"
    snapshot = ["--snapshot", "CC-MAIN-TEST", "--segments", "0:3", "--cc_base_url", crawl_server]
    report = _run(out, *snapshot, "--badwords", str(BADWORDS))
    assert report["invariant"]["holds"] and report["totals"]["input_errors"] == 1
    assert [p.rsplit("/", 1)[1] for p in report["input_files"]] == [
        f"CC-MAIN-TEST-0000{i}.warc.wet.gz" for i in range(3)
    ]
    (dead,) = _dead(out)
    assert dead["reason"] == "unreadable_file" and dead["file"].endswith("00002.warc.wet.gz")
    docs = _documents(out)
    assert docs and all(d["cc_segment"].startswith("crawl-data/CC-MAIN-TEST/") for d in docs)
