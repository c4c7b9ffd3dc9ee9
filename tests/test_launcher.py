"""The launcher around every pipeline: remote runners refuse local paths; local runs show
progress; the closing report holds read = kept + dropped."""

from __future__ import annotations

import io
import json
import os
import threading

import apache_beam as beam
import pytest

from pipelines import accounting, launcher, progress
from pipelines.staging import Model


def test_a_remote_runner_refuses_local_inputs_outputs_and_models(tmp_path):
    job = launcher.Job(
        name="t",
        output="gs://b/out",
        build=lambda p: None,
        inputs=["gs://b/in.gz", "data/local.gz"],
        models={"lid": Model("models/lid.176.ftz")},
    )
    with pytest.raises(SystemExit, match=r"data/local\.gz, models/lid\.176\.ftz"):
        launcher.check_remote_paths("DataflowRunner", job)
    launcher.check_remote_paths("FnApiRunner", job)  # local runners read local files
    launcher.check_remote_paths("DirectRunner", job)
    assert launcher.is_local("FnApiRunner") and not launcher.is_local("FlinkRunner")


def test_progress_is_summed_over_worker_files(tmp_path):
    stream = io.StringIO()
    with progress.Display("t", "files", 4, stream=stream) as display:
        progress.add(read=10)
        progress.add(done=1)  # an item done is written at once
        other = os.path.join(display.folder, "999999.json")
        with open(other, "w") as fh:  # another worker process
            json.dump({"read": 5, "done": 1, "total": 2}, fh)
        assert display.totals() == {"read": 15, "done": 2, "total": 2}
        line = display.line()
    assert line.startswith("t: 2/6 files, 15 documents read, ")
    assert os.environ.get(progress.ENV) is None and not os.path.exists(display.folder)
    progress.add(read=1)  # no display: nothing happens
    assert stream.getvalue().rstrip().splitlines()[-1].startswith("t: 2/6 files, 15 documents")


class _Count(beam.DoFn):
    def process(self, x):
        accounting.count("t", "stage", "read")
        if x % 3:
            accounting.count("t", "stage", "kept")
        else:
            accounting.count("t", "stage", "dropped_multiple_of_three")
        progress.add(done=1)
        yield x


def _build(pipeline):
    _ = pipeline | beam.Create(range(10)) | beam.ParDo(_Count())


def test_launch_writes_the_report_and_shows_progress(tmp_path, capsys):
    job = launcher.Job(
        name="t",
        output=str(tmp_path / "out"),
        build=_build,
        total_items=10,
        unit="numbers",
        report=lambda counted, outputs: {"extra": 1},
    )
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "report.json").write_text("{}")  # an earlier run's
    report = launcher.launch(job, {"p": 1}, ["--runner=FnApiRunner"])
    assert report["totals"] == {"dropped_multiple_of_three": 4, "kept": 6, "read": 10}
    assert report["invariant"] == {"read": 10, "kept_plus_dropped": 10, "holds": True}
    assert report["by_stage"] == {"stage": report["totals"]}
    assert (report["source"], report["extra"], report["parameters"]) == ("t", 1, {"p": 1})
    written = json.loads((tmp_path / "out" / "report.json").read_text())
    assert written == report
    assert "t: 10/10 numbers, 10 documents read" in capsys.readouterr().err


def test_a_run_that_loses_documents_fails_after_writing_its_report(tmp_path):
    def lossy(pipeline):
        _ = pipeline | beam.Create([1]) | beam.Map(lambda x: accounting.count("t", "s", "read"))

    job = launcher.Job(name="t", output=str(tmp_path / "out"), build=lossy)
    with pytest.raises(SystemExit, match="read != kept \\+ dropped"):
        launcher.launch(job, {}, ["--runner=FnApiRunner"])
    assert json.loads((tmp_path / "out" / "report.json").read_text())["invariant"]["holds"] is False


def test_display_thread_stops(tmp_path):
    before = threading.active_count()
    with progress.Display("t", "files", 0, stream=io.StringIO()):
        pass
    assert threading.active_count() == before
