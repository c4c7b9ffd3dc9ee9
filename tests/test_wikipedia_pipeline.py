"""The Wikipedia Beam pipeline: wiring, accounting, bad input, determinism."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.util import assert_that, equal_to
from conftest import DATAFLOW_DRY_RUN, dump_xml, page_xml, write_bz2
from localbucket import serve_gs

from converters.multistream import write_multistream
from filters.wikitext import WikitextCleaner
from pipelines import wikipedia


def _rows(directory: Path) -> list[dict]:
    return [
        r for f in sorted(directory.glob("part-*.parquet")) for r in pq.read_table(f).to_pylist()
    ]


def _jsonl(directory: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(directory.glob("part-*.jsonl")) for line in f.open()]


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


ARTICLE = (
    "{{Infobox thing|name=Foo}}'''Foo''' is a [[bar|thing]] that people cite."
    "<ref>{{cite web|url=https://www.example.com/foo?utm_source=x|title=Foo}}</ref>\n\n"
    "== History ==\nFoo was made in 1900.<ref>[http://news.example.org/a Story]</ref>\n\n"
    "[[Category:Things]]"
)


def test_read_articles_with_assert_that(tmp_path):
    pages = [
        page_xml(1, "Foo", ARTICLE),
        page_xml(2, "Old foo", "#REDIRECT [[Foo]]", redirect="Foo"),
        page_xml(3, "Talk:Foo", "chatter", ns=1),
        page_xml(4, "Blank", "{{Only a template}}"),
    ]
    path = write_bz2(tmp_path / "enwiki-x-pages-articles.xml.bz2", dump_xml(pages))
    items, dead = wikipedia.plan([str(path)], ["en"], 1)
    assert dead == [] and len(items) == 1
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(items) | wikipedia.ReadArticles(1 << 20, True)
        assert_that(
            out["articles"]
            | "art" >> beam.Map(lambda a: (a["id"], a["text"], a["url"], a["opening"])),
            equal_to(
                [
                    (
                        "wikipedia/en/1",
                        "Foo is a thing that people cite.\n\n"
                        "History\nFoo was made in 1900.\n\nThings",
                        "https://en.wikipedia.org/wiki/Foo",
                        "Foo is a thing that people cite.",
                    )
                ]
            ),
            label="articles",
        )
        assert_that(
            out["articles"] | "refs" >> beam.FlatMap(lambda a: a["references"]),
            equal_to(["https://www.example.com/foo?utm_source=x", "http://news.example.org/a"]),
            label="references",
        )
        assert_that(
            out["rejects"] | "rej" >> beam.Map(lambda d: (d["id"], d["reason"])),
            equal_to(
                [
                    ("wikipedia/en/2", "redirect"),
                    ("wikipedia/en/3", "namespace"),
                    ("wikipedia/en/4", "empty"),
                ]
            ),
            label="rejects",
        )
        assert_that(out["dead"], equal_to([]), label="dead")


def test_written_outputs_of_one_article(tmp_path):
    path = write_bz2(
        tmp_path / "enwiki-x-pages-articles.xml.bz2", dump_xml([page_xml(1, "Foo", ARTICLE)])
    )
    out = tmp_path / "out"
    report = wikipedia.main(["--dumps", str(path), "--output", str(out), "--num_shards", "2"])
    assert report["totals"] == {"read": 1, "kept": 1}
    assert [
        (r["id"], r["title"], r["page_id"], r["revision_id"]) for r in _rows(out / "documents")
    ] == [("wikipedia/en/1", "Foo", 1, 10)]
    assert [r["text"] for r in _rows(out / "openings")] == ["Foo is a thing that people cite."]
    assert [(r["url"], r["raw_url"]) for r in _rows(out / "references")] == [
        ("example.com/foo", "https://www.example.com/foo?utm_source=x"),
        ("news.example.org/a", "http://news.example.org/a"),
    ]


def test_a_page_in_two_dumps_keeps_its_newest_revision(tmp_path):
    old = page_xml(7, "Foo", "Old text.<ref>http://old.example/</ref>")
    new = page_xml(7, "Foo", "New text.<ref>http://new.example/</ref>")
    new = new.replace("2022-07-01T12:00:00Z", "2022-08-01T12:00:00Z")
    write_bz2(tmp_path / "enwiki-a-pages-articles.xml.bz2", dump_xml([new]))
    write_bz2(tmp_path / "enwiki-b-pages-articles.xml.bz2", dump_xml([old]))
    out = tmp_path / "out"
    report = wikipedia.main(
        ["--dumps", str(tmp_path / "*.bz2"), "--output", str(out), "--write_rejects"]
    )
    assert report["totals"] == {"read": 2, "kept": 1, "dropped_duplicate": 1}
    assert [r["text"] for r in _rows(out / "documents")] == ["New text."]
    assert [r["text"] for r in _rows(out / "openings")] == ["New text."]
    assert [r["url"] for r in _rows(out / "references")] == ["new.example"]
    assert _jsonl(out / "rejected") == [
        {"id": "wikipedia/en/7", "reason": "duplicate", "title": "Foo"}
    ]


def _bad_inputs(root: Path) -> list[str]:
    """Five dumps, four of them broken in a different way, one empty."""
    root.mkdir()
    good = [page_xml(i, f"Good {i}", f"Article number {i}.") for i in range(1, 4)]
    paths = [write_bz2(root / "enwiki-good-pages-articles.xml.bz2", dump_xml(good))]

    lol = "".join(f'<!ENTITY l{i} "{("&l" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    prolog = (
        f'<!DOCTYPE mediawiki [<!ENTITY l0 "lol">{lol}<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    )
    bomb = [page_xml(10, "Bomb", "B"), page_xml(11, "Xxe", "X"), page_xml(12, "Fine", "Fine text.")]
    xml = dump_xml(bomb, prolog=prolog).replace(b">B<", b">&l9;<").replace(b">X<", b">&x;<")
    paths.append(write_bz2(root / "enwiki-bomb-pages-articles.xml.bz2", xml))

    utf8 = [
        page_xml(20, "Bad", "BAD"),
        page_xml(21, "Huge", "h" * (10 << 20)),
        page_xml(22, "Ok", "Ok."),
    ]
    xml = dump_xml(utf8).replace(b">BAD<", b">caf\xe9<")
    paths.append(
        write_bz2(root / "bgwiki-mixed-pages-articles.xml.bz2", xml.replace(b"enwiki", b"bgwiki"))
    )

    many = [page_xml(i, f"P{i}", f"Paragraph {i} " * 20) for i in range(100, 1100)]
    data = dump_xml(many)
    dump = root / "enwiki-cut-pages-articles-multistream.xml.bz2"
    write_multistream(
        data, str(dump), str(root / "enwiki-cut-pages-articles-multistream-index.txt.bz2")
    )
    blob = dump.read_bytes()
    dump.write_bytes(blob[: len(blob) - len(blob) // 8])  # the last streams are cut off

    (root / "enwiki-empty-pages-articles.xml.bz2").write_bytes(b"")
    return [str(root / "*.xml.bz2")]


def test_bad_input_never_crashes_and_every_page_is_accounted_for(tmp_path):
    dumps = _bad_inputs(tmp_path / "in")
    out = tmp_path / "out"
    report = wikipedia.main(["--dumps", *dumps, "--output", str(out), "--num_shards", "2"])

    assert report["invariant"]["holds"]
    en, bg = report["by_language"]["en"], report["by_language"]["bg"]
    assert bg == {"read": 3, "kept": 1, "dropped_invalid_utf8": 1, "dropped_too_large": 1}
    assert en["dropped_xml_error"] == 2  # the entity bomb and the external entity
    assert en["input_errors"] == 1  # the cut multistream dump's broken stream
    assert report["by_language"]["unknown"] == {"input_errors": 1}  # the empty file
    assert en["read"] == en["kept"] + en["dropped_xml_error"] + en.get(
        "dropped_truncated", 0
    ) + en.get("dropped_corrupt_input", 0)
    kept_ids = {r["id"] for r in _rows(out / "documents")}
    assert {"wikipedia/en/1", "wikipedia/en/12", "wikipedia/bg/22"} <= kept_ids
    assert len(kept_ids) == report["totals"]["kept"] == report["outputs"]["documents"]["rows"]
    cut_ids = sorted(int(i.rsplit("/", 1)[1]) for i in kept_ids if int(i.rsplit("/", 1)[1]) >= 100)
    assert cut_ids == list(range(100, 100 + len(cut_ids))) and 300 <= len(cut_ids) < 1000

    dead = _jsonl(out / "dead_letter")
    reasons = sorted((Path(d["file"]).name, d["reason"], d["page_id"]) for d in dead)
    assert ("bgwiki-mixed-pages-articles.xml.bz2", "invalid_utf8", 20) in reasons
    assert ("bgwiki-mixed-pages-articles.xml.bz2", "too_large", 21) in reasons
    assert ("enwiki-bomb-pages-articles.xml.bz2", "xml_error", 10) in reasons
    assert ("enwiki-bomb-pages-articles.xml.bz2", "xml_error", 11) in reasons
    assert ("enwiki-empty-pages-articles.xml.bz2", "unreadable_header", None) in reasons
    assert any(r[0].startswith("enwiki-cut") and r[1] == "corrupt_input" for r in reasons)
    assert all(d["error"] for d in dead)
    texts = " ".join(r["text"] for r in _rows(out / "documents"))
    assert "lol" not in texts and "root:" not in texts


def _run(dumps, out: Path, *DATAFLOW_DRY_RUN: str) -> dict:
    return wikipedia.main(
        ["--dumps", *dumps, "--output", str(out), "--num_shards", "3", *DATAFLOW_DRY_RUN]
    )


def test_in_memory_and_multiprocessing_runs_are_byte_identical_and_reruns_are_stable(
    tmp_path, sample
):
    dumps = [str(sample / "wikipedia/*-multistream.xml.bz2")]
    a, b = tmp_path / "a", tmp_path / "b"
    _run(dumps, a)
    report = _run(dumps, b, "--direct_num_workers=2", "--direct_running_mode=multi_processing")
    assert report["invariant"]["holds"]
    # 106 + 5 English articles and 1 Bulgarian one; page 316 is in both English excerpts.
    assert report["totals"]["kept"] == 111 and report["totals"]["dropped_duplicate"] == 1
    tree = _tree(a)
    assert tree == _tree(b)
    assert sorted(tree) == sorted(
        [
            f"{d}/part-0000{i}-of-00003.parquet"
            for d in ("documents", "openings", "references")
            for i in range(3)
        ]
        + [f"{d}/_manifest.json" for d in ("documents", "openings", "references", "dead_letter")]
        + ["dead_letter/part-00000-of-00001.jsonl"]
    )
    # A re-run over finished output rewrites identical files and leaves nothing else behind,
    # even when an earlier run used another shard count.
    _run(dumps, a, "--num_shards=2")
    _run(dumps, a)
    assert _tree(a) == tree


def test_dataflow_job_builds_offline_with_dry_run(tmp_path, sample, monkeypatch):
    name = "enwiki-sample-pages-articles-multistream"
    local = str(sample / f"wikipedia/{name}.xml.bz2")
    with pytest.raises(SystemExit, match=f"cannot read local paths: {local}"):
        wikipedia.main(["--dumps", local, "--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN])
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(sample / "wikipedia", tmp_path / "gcs/demo-bucket/dumps")
    dump = f"gs://demo-bucket/dumps/{name}.xml.bz2"
    report = wikipedia.main(
        ["--dumps", dump, "--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN]
    )
    assert (report["dry_run"], report["work_items"]) == (True, 3)  # its index splits the dump
    assert report["job"].proto_pipeline.components.transforms
    assert not (tmp_path / "gcs/demo-bucket/out").exists()


def test_a_cleaner_failure_costs_one_page(tmp_path, monkeypatch):
    real_clean = WikitextCleaner.clean

    def clean(self, text):
        if "BOOM" in text:
            raise RecursionError("maximum recursion depth exceeded")
        return real_clean(self, text)

    monkeypatch.setattr(WikitextCleaner, "clean", clean)
    pages = [page_xml(1, "Fine", "Fine text."), page_xml(2, "Boom", "BOOM {{x}}")]
    path = write_bz2(tmp_path / "enwiki-x-pages-articles.xml.bz2", dump_xml(pages))
    out = tmp_path / "out"
    report = wikipedia.main(["--dumps", str(path), "--output", str(out)])
    assert report["totals"] == {"read": 2, "kept": 1, "dropped_clean_error": 1}
    (dead,) = _jsonl(out / "dead_letter")
    assert (dead["reason"], dead["page_id"], dead["title"]) == ("clean_error", 2, "Boom")
    assert dead["error"] == "RecursionError: maximum recursion depth exceeded"
