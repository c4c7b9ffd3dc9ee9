"""The StackExchange pipeline: questions with their answers by score, orphans and bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import DATAFLOW_DRY_RUN, ROOT
from localbucket import serve_gs

from core.schema import document_schema
from pipelines import stackexchange

SAMPLE = ROOT / "data/sample/stackexchange"
INPUTS = [str(SAMPLE / "*.7z"), str(SAMPLE / "*/Posts.xml")]


def _rows(out: Path) -> list[dict]:
    files = sorted((out / "documents").glob("*.parquet"))
    return sorted((r for f in files for r in pq.read_table(f).to_pylist()), key=lambda r: r["id"])


def _run(inputs: list[str], out: Path, *extra: str) -> dict:
    return stackexchange.main(
        ["--input", *inputs, "--output", str(out), "--num_shards", "2", *extra]
    )


def _row(post_id: int, kind: int, score: int, body: str, **more: str) -> str:
    fields = {"Id": post_id, "PostTypeId": kind, "Score": score, "Body": body, **more}
    attributes = " ".join(f'{k}="{v}"' for k, v in fields.items())
    return f"  <row {attributes} />\n"


def test_the_sample_three_sites(tmp_path):
    out = tmp_path / "se"
    report = _run(INPUTS, out, "--write_rejects")
    assert report["invariant"]["holds"]
    assert report["totals"] == {"read": 103, "kept": 103}
    assert report["answers"] == {"read": 173, "attached": 154, "orphan": 19}
    assert len(report["sites"]) == 3
    rows = _rows(out)
    assert pq.read_schema(next((out / "documents").glob("*.parquet"))).names == (
        document_schema("stackexchange").names
    )
    switch = next(r for r in rows if r["answer_scores"] == [42, 10, 9])  # numeric order
    assert switch["text"].startswith("Q: Why isn’t there a switch or case statement in Python?")
    assert switch["text"].count("\nA: ") == 3
    assert switch["url"] == f"https://{switch['site']}/questions/{switch['question_id']}"
    rejects = [json.loads(x) for f in (out / "rejected").glob("*.jsonl") for x in f.open()]
    assert len(rejects) == 19 and {r["reason"] for r in rejects} == {"orphan_answer"}


def test_answers_sorted_by_score_as_numbers_and_bad_input_counted(tmp_path):
    site = tmp_path / "demo.stackexchange.com"
    site.mkdir()
    body = "&lt;p&gt;Answer&lt;/p&gt;"
    rows = [
        _row(1, 1, 5, "&lt;p&gt;How do I sort?&lt;/p&gt;", Title="Sorting", AcceptedAnswerId="3"),
        _row(2, 2, 9, body.replace("Answer", "Nine"), ParentId="1"),
        _row(3, 2, 42, body.replace("Answer", "Forty-two"), ParentId="1"),
        _row(4, 2, -1, body.replace("Answer", "Minus one"), ParentId="1"),
        _row(5, 1, 0, "&lt;p&gt;Alone?&lt;/p&gt;", Title="Unanswered"),
        _row(6, 2, 1, body, ParentId="99"),
        _row(7, 4, 0, "&lt;p&gt;Tag wiki&lt;/p&gt;"),
        '  <row Id="8" PostTypeId="1" Score="high" Body="" Title="Bad" />\n',
    ]
    (site / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows) + "</posts>\n"
    )
    bomb = tmp_path / "bomb.stackexchange.com"
    bomb.mkdir()
    (bomb / "Posts.xml").write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE posts [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<posts>\n  <row Id="1" PostTypeId="1" Score="1" Body="&b;" Title="x" />\n</posts>\n'
    )
    out = tmp_path / "out"
    report = _run([str(site / "Posts.xml"), str(bomb / "Posts.xml")], out)
    assert report["invariant"]["holds"]
    assert report["by_site"]["demo.stackexchange.com"] == {
        "read": 3,
        "kept": 2,
        "dropped_bad_row": 1,
    }
    assert report["answers"] == {"read": 4, "attached": 3, "orphan": 1}
    assert report["other_posts"] == {"type_4": 1}
    sorting, alone = _rows(out)
    assert sorting["text"] == "Q: Sorting How do I sort?\nA: Forty-two\nA: Nine\nA: Minus one"
    assert (sorting["answer_scores"], sorting["accepted_answer_id"]) == ([42, 9, -1], 3)
    assert alone["text"] == "Q: Unanswered Alone?" and alone["answer_scores"] == []
    dead = [json.loads(x) for f in (out / "dead_letter").glob("*.jsonl") for x in f.open()]
    assert sorted(d["reason"] for d in dead) == ["bad_row", "dtd_refused"]


def test_dataflow_job_builds_offline_with_dry_run(tmp_path, monkeypatch):
    args = ["--output", "gs://demo-bucket/out", *DATAFLOW_DRY_RUN]
    with pytest.raises(SystemExit, match="cannot read local paths"):
        stackexchange.main(["--input", INPUTS[0], *args])
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(SAMPLE, tmp_path / "gcs/demo-bucket/se")
    report = stackexchange.main(["--input", "gs://demo-bucket/se/*.7z", *args])
    assert report["dry_run"] and report["inputs"] == 1


def test_only_the_largest_sites_are_kept(tmp_path):
    out = tmp_path / "top"
    report = _run(INPUTS, out, "--top_sites", "2")
    assert report["invariant"]["holds"]
    # posts (questions + answers) per site: programming 145, design 65 (its orphans included),
    # library 66: the two largest are programming and library
    assert sorted(report["selected_sites"]) == [
        "python-faq-library.stackexchange.com",
        "python-faq-programming.stackexchange.com",
    ]
    dropped = report["by_site"]["python-faq-design.stackexchange.com"]
    assert dropped == {"read": 24, "dropped_site_not_selected": 24}
    assert {r["site"] for r in _rows(out)} == set(report["selected_sites"])
