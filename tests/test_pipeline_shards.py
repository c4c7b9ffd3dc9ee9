"""What a killed run leaves is never taken for finished output (pipelines.shards)."""

from __future__ import annotations

from localbucket import serve_gs

from pipelines.shards import clear_unfinished

LEFT = {
    "report.json": "deleted: a report says the run finished",
    ".tmp-0a-report.json": "deleted: a temporary file",
    "documents/en_head/_manifest.json": "deleted: a manifest says the shards are complete",
    "documents/en_head/.tmp-1b-part-00000-of-00002.parquet": "deleted",
    "documents/en_head/part-00000-of-00002.parquet": "kept: rewritten by the run",
    "rejected/report.json": "kept: only the top-level report marks a run",
}


def _plant(root):
    for name in LEFT:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(LEFT[name])


def _left(root) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_clear_unfinished_deletes_only_the_marks_of_finished_output(tmp_path):
    _plant(tmp_path / "out")
    deleted = clear_unfinished(str(tmp_path / "out"), top_level=["report.json"])
    assert len(deleted) == 4
    assert _left(tmp_path / "out") == sorted(n for n, why in LEFT.items() if why.startswith("kept"))
    assert clear_unfinished(str(tmp_path / "nothing-here"), ["report.json"]) == []


def test_clear_unfinished_on_a_bucket(tmp_path, monkeypatch):
    serve_gs(tmp_path / "gcs", monkeypatch)
    _plant(tmp_path / "gcs/demo-bucket/out")
    deleted = clear_unfinished("gs://demo-bucket/out/", top_level=["report.json"])
    assert "gs://demo-bucket/out/report.json" in deleted and len(deleted) == 4
    assert len(_left(tmp_path / "gcs/demo-bucket/out")) == 2
