"""Fault injection (issue 15): a worker process killed in the middle of a bundle, a disk that
fills while shards are written, and broken inputs, outputs and models found before a run starts.

Runs with faults are subprocesses of a small pipeline built from the real stages, the real shard
writer and the real launcher (`main` below). The faults come in through a `sitecustomize` module
on their PYTHONPATH, which every Python process of the run imports at start, Beam's worker
processes included: it wraps the files core.files writes whose names hold FAULT_MATCH.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
from functools import partial
from pathlib import Path

import apache_beam as beam
import numpy as np
import pytest
from conftest import ROOT

from core import files, preflight
from core.preflight import PreflightError
from filtermodels.lid import LID
from filters.base import MinLength
from filters.wikiref import train
from pipelines import accounting, launcher, tokenize
from pipelines.shards import WriteDeadLetters, WriteShards
from pipelines.stages import ApplyFilters

NAME = "faults"
MODELS = ROOT / "models"
MULTI_PROCESS = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
RUN_TIMEOUT = 240  # seconds: a run that hangs fails the test here
SITE = '''"""Faults for tests/test_faults.py, in every Python process of a run."""
import errno
import os
import signal

import core.files

FAULT, MATCH, ONCE = os.environ["FAULT"], os.environ["FAULT_MATCH"], os.environ.get("FAULT_ONCE")
_open = open


def _first() -> bool:
    """True in the one process that creates ONCE first: the run is killed once, not retried."""
    try:
        os.close(os.open(ONCE, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


class _Faulty:
    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return self.fh.__exit__(*exc)

    def write(self, data):
        self.fh.write(data[: len(data) // 2])
        self.fh.flush()
        if FAULT == "kill" and _first():
            os.kill(os.getpid(), signal.SIGKILL)
        if FAULT == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return len(data) // 2 + self.fh.write(data[len(data) // 2 :])


def _faulty_open(path, mode="r", *args, **kwargs):
    fh = _open(path, mode, *args, **kwargs)
    return _Faulty(fh) if "w" in mode and MATCH in os.path.basename(str(path)) else fh


core.files.open = _faulty_open
'''

SENTENCES = (
    "The river rises in the northern hills and reaches the sea after four hundred kilometres.",
    "Short line.",
    "A committee of seven members reviews every proposal before the annual meeting in spring.",
    "Tiny.",
    "The library holds manuscripts from the twelfth century, most of them written on vellum.",
)


# ---- the pipeline the faulty runs run (imported by Beam's workers as `test_faults`) ----------


def documents() -> list[dict]:
    return [
        {"id": f"doc-{i:03d}", "text": f"{SENTENCES[i % len(SENTENCES)]} ({i})"} for i in range(60)
    ]


def _read(doc: dict) -> dict:
    accounting.count(NAME, "read", "read")
    return doc


def _kept(doc: dict) -> dict:
    accounting.count(NAME, "write", "kept")
    return doc


def _filters() -> list[MinLength]:
    return [MinLength(40)]


def build(pipeline: beam.Pipeline, output: str) -> None:
    read = (
        pipeline
        | "Documents" >> beam.Create(documents())
        | "Spread" >> beam.Reshuffle()
        | "Read" >> beam.Map(_read)
    )
    kept = read | "Length" >> ApplyFilters(NAME, _filters)
    written = kept.documents | "Kept" >> beam.Map(_kept)
    _ = written | "Write" >> WriteShards(f"{output}/documents", 3, fmt="jsonl")
    _ = (kept.dead,) | "DeadLetters" >> WriteDeadLetters(f"{output}/dead_letter")


def main() -> None:
    output, *beam_args = sys.argv[1:]
    job = launcher.Job(
        name=NAME,
        output=output,
        build=partial(build, output=output),
        outputs=("documents", "dead_letter"),
    )
    launcher.launch(job, {}, beam_args)


# ---- helpers -------------------------------------------------------------------------------


def _run(out: Path, runner: str, *beam_args: str, fault: dict[str, str] | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAULT")}
    path = [str(ROOT / "tests"), str(ROOT)]
    if fault:
        site = out.parent / f"{out.name}-site"
        site.mkdir(exist_ok=True)
        (site / "sitecustomize.py").write_text(SITE)
        path.insert(0, str(site))
        env.update(fault)
    env["PYTHONPATH"] = os.pathsep.join(path)
    command = [sys.executable, "-c", "import test_faults; test_faults.main()", str(out)]
    return subprocess.run(
        [*command, f"--runner={runner}", *beam_args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def _tree(out: Path) -> dict[str, bytes]:
    """Every file a run leaves but its report (which holds timings)."""
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != launcher.REPORT
    }


def _marked_complete(out: Path) -> list[str]:
    """What `make` (report.json) and the readers of shards (_manifest.json) take for finished."""
    return sorted(
        str(p.relative_to(out))
        for p in out.rglob("*")
        if p.name in (launcher.REPORT, "_manifest.json", "manifest.json")
    )


def _last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[dict[str, bytes], dict]:
    """A clean run (one process): its files and its report."""
    out = tmp_path_factory.mktemp("clean") / "out"
    proc = _run(out, "FnApiRunner")
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((out / launcher.REPORT).read_text())
    assert report["totals"] == {"dropped_too_short": 24, "kept": 36, "read": 60}
    return _tree(out), report


# ---- 1. a worker process killed in the middle of a bundle --------------------------------------


@pytest.mark.parametrize(
    ("runner", "match"),
    [
        ("FnApiRunner", "part-"),  # killed half-way through writing a shard (of either output)
        ("DirectRunner", "_manifest"),  # killed writing the manifest: Beam alone waits for ever
    ],
)
def test_a_killed_worker_fails_the_run_clearly_and_its_rerun_equals_a_clean_run(
    clean, tmp_path, runner, match
):
    out = tmp_path / "out"
    fault = {"FAULT": "kill", "FAULT_MATCH": match, "FAULT_ONCE": str(tmp_path / "killed")}
    proc = _run(out, runner, *MULTI_PROCESS, fault=fault)
    assert (tmp_path / "killed").exists()  # the fault did happen
    assert proc.returncode == 1
    assert re.fullmatch(  # 137 from the shell Beam starts a worker with, -9 where it exec'd
        rf"{NAME}: a worker process died \(Worker subprocess exited with return code "
        rf"(137|-9)\); nothing under {re.escape(str(out))} is marked complete \(no report\.json"
        r"\): run it again",
        _last_line(proc.stderr),
    ), proc.stderr[-3000:]
    assert _marked_complete(out) == []
    assert any(p.name.startswith(files.TMP_PREFIX) for p in out.rglob("*"))  # half-written

    proc = _run(out, runner, *MULTI_PROCESS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean_files, clean_report = clean
    assert _tree(out) == clean_files
    assert json.loads((out / launcher.REPORT).read_text())["totals"] == clean_report["totals"]


# ---- 2. the disk fills while shards are written ------------------------------------------------


def test_a_full_disk_fails_clearly_and_the_run_after_space_is_freed_equals_a_clean_run(
    clean, tmp_path
):
    out = tmp_path / "out"
    fault = {"FAULT": "enospc", "FAULT_MATCH": "-of-00003.jsonl"}  # the documents' shards
    proc = _run(out, "FnApiRunner", *MULTI_PROCESS, fault=fault)
    assert proc.returncode == 1
    line = _last_line(proc.stderr)
    assert line.startswith(
        f"{NAME}: no space left on device while writing {out}/documents/part-0000"
    ), line
    assert line.endswith(
        f"-of-00003.jsonl (in Write/Write); nothing under {out} is marked complete "
        "(no report.json): run it again once that is fixed"
    ), line
    assert "Traceback" not in line and _marked_complete(out) == []
    assert not list(out.rglob(f"{files.TMP_PREFIX}*"))  # each half-written file was removed

    proc = _run(out, "FnApiRunner", *MULTI_PROCESS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert _tree(out) == clean[0]


def test_write_atomically_names_the_file_the_disk_had_no_room_for(tmp_path, monkeypatch):
    target = tmp_path / "part-00000-of-00001.jsonl"
    target.write_bytes(b"an earlier run's shard\n")

    class Full:
        def __init__(self, path, mode):
            self.fh = open(path, mode)  # noqa: SIM115 (closed by __exit__)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[:3])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(files, "open", Full, raising=False)
    with pytest.raises(OSError, match=f"no space left on device while writing {target}$") as exc:
        files.write_atomically(target, b"new rows\n")
    assert exc.value.errno == errno.ENOSPC
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temporary file
    assert target.read_bytes() == b"an earlier run's shard\n"


def test_a_full_disk_at_the_report_leaves_no_report(tmp_path, monkeypatch):
    real_open = open

    def full_at_the_report(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(launcher.REPORT):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(files, "open", full_at_the_report, raising=False)
    out = tmp_path / "out"
    job = launcher.Job(name=NAME, output=str(out), build=partial(build, output=str(out)))
    with pytest.raises(SystemExit) as exc:
        launcher.launch(job, {}, ["--runner=FnApiRunner", "--direct_running_mode=in_memory"])
    assert str(exc.value) == (
        f"{NAME}: no space left on device while writing {out}/report.json; nothing under {out} "
        "is marked complete (no report.json): run it again once that is fixed"
    )
    assert not (out / launcher.REPORT).exists()
    assert not list(out.rglob(f"{files.TMP_PREFIX}*"))


def test_failure_lines_for_a_dead_worker_and_an_os_error():
    job = launcher.Job(name="t", output="out", build=lambda p, models: None)
    undone = "nothing under out is marked complete (no report.json): run it again"
    died = launcher.WorkerDied("Worker subprocess exited with return code 137")
    assert launcher.failure(job, died) == (
        f"t: a worker process died (Worker subprocess exited with return code 137); {undone}"
    )
    closed = RuntimeError("Channel closed prematurely.")
    assert launcher.failure(job, closed) == (
        f"t: a worker process died (its data channel closed); {undone}"
    )
    assert launcher.failure(job, closed, [str(died)]) == launcher.failure(job, died)
    # What Beam raises in the launcher for a worker's error: the worker's traceback as text.
    text = (
        "Traceback (most recent call last):\n  File ...\n"
        "OSError: [Errno 28] no space left on device while writing "
        "out/a/part-00001-of-00002.parquet [while running 'Write_en_head/Write/Write']\n"
    )
    assert launcher.failure(job, RuntimeError(text)) == (
        "t: no space left on device while writing out/a/part-00001-of-00002.parquet "
        f"(in Write_en_head/Write/Write); {undone} once that is fixed"
    )
    assert launcher.failure(job, ValueError("a bug")) is None  # its traceback is shown


# ---- 3. inputs, output and models checked before a run starts ----------------------------------


def _truncated(relative: str, size: int):
    """A maker of the first `size` bytes of a real model (`relative` to the models folder)."""
    return lambda path, models: path.write_bytes((models / relative).read_bytes()[:size])


def _truncated_wikiref(path: Path, models: Path) -> None:
    """A classifier's arrays, the file cut in half."""
    _npz(path, weights=np.zeros(4), bias=np.zeros(1), features=np.ones(4), ngrams=np.ones(2))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _npz(path: Path, **arrays) -> None:
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)


BROKEN = {
    "truncated lid.176": (
        "lid.176.ftz",
        _truncated("lid.176.ftz", 300_000),
        LID["sha256"],
        r"sha256 \w{12}… is not its model card's 8f3472cfe873… \(truncated or replaced\); "
        "rebuild it: make models$",
    ),
    "text as fastText": (
        "lid.176.ftz",
        lambda p, models: p.write_text("__label__en hello\n"),
        None,
        r"does not load \(.*wrong file format!\); rebuild it: make models$",
    ),
    "text as KenLM binary": (
        "en.arpa.bin",
        lambda p, models: p.write_text("ngram counts follow\n"),
        None,
        r"not a KenLM binary \(it starts with 'ngram counts'; build_binary makes one "
        r"from an ARPA file\); rebuild it: make lm LM_LANG=en$",
    ),
    "truncated KenLM binary": (
        "en.arpa.bin",
        _truncated("lm/en.arpa.bin", 100_000),
        None,
        r"does not load \(.*Binary file has size 100000 but the headers say it should be at "
        r"least \d+\)\); rebuild it: make lm LM_LANG=en$",
    ),
    "garbage SentencePiece (language model)": (
        "en.sp.model",
        lambda p, models: p.write_bytes(bytes(range(256)) * 8),
        None,
        r"does not load \(.*could not parse ModelProto.*\); rebuild it: make lm LM_LANG=en$",
    ),
    "garbage SentencePiece (tokenizer)": (
        "llama1.model",
        lambda p, models: p.write_text("not a model"),
        None,
        r"does not load \(.*could not parse ModelProto.*\); rebuild it: make tokenizer$",
    ),
    "truncated wikiref": (
        "wikiref.npz",
        _truncated_wikiref,
        None,
        r"does not load \(File is not a zip file\); rebuild it: make wikiref$",
    ),
    "wikiref with pickled objects": (
        "wikiref.npz",
        lambda p, models: _npz(
            p,
            weights=np.array([{"a": 1}]),
            bias=np.zeros(1),
            features=np.ones(1),
            ngrams=np.ones(2),
        ),
        None,
        r"does not load \(.*allow_pickle.*\); rebuild it: make wikiref$",
    ),
    "wikiref of another kind": (
        "wikiref.npz",
        lambda p, models: _npz(p, weights=np.zeros(4, dtype=np.float32)),
        None,
        r"not a wikiref classifier \(no bias, features, ngrams\); rebuild it: make wikiref$",
    ),
    "cut-offs that are not JSON": (
        "en.cutoffs.json",
        lambda p, models: p.write_text("{head: 1"),
        None,
        r"does not load \(Expecting property name.*\); rebuild it: make lm LM_LANG=en$",
    ),
    "empty tokenizer.json": (
        "gpt-neox-20b.tokenizer.json",
        lambda p, models: p.write_bytes(b""),
        None,
        r"model missing or empty; rebuild it: make models$",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_model_is_named_with_the_target_that_rebuilds_it(tmp_path, models, case):
    name, make, sha256, message = BROKEN[case]
    path = tmp_path / name
    make(path, models)
    with pytest.raises(PreflightError, match=f"^{path}: {message}"):
        preflight.check_model(str(path), sha256)


def test_the_real_models_pass(tmp_path, models):
    wikiref = tmp_path / "wikiref.npz"
    river = "Article {} tells the history of the river, its mills and the families who ran them."
    offer = "Buy now {}! Cheap offers on shoes, free shipping for every order, click here today."
    positives = ["\n".join([river.format(i)] * 20) for i in range(8)]
    negatives = ["\n".join([offer.format(i)] * 20) for i in range(8)]
    train(positives, negatives, wikiref, test_fraction=0.25)
    preflight.check_models(
        {
            "lid": (str(MODELS / "lid.176.ftz"), LID["sha256"]),
            "tokenizer": (str(MODELS / "gpt-neox-20b.tokenizer.json"), None),
            "wikiref": (str(wikiref), None),
            **{n: (str(models / "lm" / n), None) for n in ("en.sp.model", "en.arpa.bin")},
            "cutoffs": (str(models / "lm/en.cutoffs.json"), None),
            "remote": ("gs://bucket/models/lid.176.ftz", "0" * 64),  # the workers read it
        }
    )


def test_inputs_must_exist_and_the_output_be_writable(tmp_path):
    (tmp_path / "a.xml.bz2").write_bytes(b"x")
    preflight.check_inputs([str(tmp_path / "*.xml.bz2"), str(tmp_path), "gs://bucket/none/*"])
    with pytest.raises(PreflightError, match=f"^{tmp_path}/b.xml.bz2: no such input$"):
        preflight.check_inputs([str(tmp_path / "a.xml.bz2"), str(tmp_path / "b.xml.bz2")])
    with pytest.raises(PreflightError, match=r"/\*\.gz: no such input$"):
        preflight.check_inputs([str(tmp_path / "*.gz")])

    preflight.check_output(str(tmp_path / "new/out"))
    assert list((tmp_path / "new/out").iterdir()) == []  # created, the probe file removed
    blocked = tmp_path / "a.xml.bz2" / "out"  # under a file: cannot be created (even as root)
    with pytest.raises(
        PreflightError, match=f"^{blocked}: the output directory is not writable \\(Not a dir"
    ):
        preflight.check_output(str(blocked))
    preflight.check_output("gs://bucket/out")


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", f"pipelines.{module}", *args, "--runner=FnApiRunner"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )


def test_the_command_line_says_what_is_wrong_in_one_line_with_status_2(tmp_path, sample, models):
    dump = str(sample / "wikipedia/enwiki-sample-pages-articles.xml.bz2")
    missing = str(tmp_path / "enwiki-missing.xml.bz2")
    proc = _cli("wikipedia", "--dumps", dump, missing, "--output", str(tmp_path / "w"))
    assert (proc.returncode, proc.stderr) == (2, f"wikipedia: {missing}: no such input\n")
    proc = _cli("books", "--input", f"{tmp_path}/**/*.txt", "--output", str(tmp_path / "b"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _last_line(proc.stderr) == f"books: no input matches '{tmp_path}/**/*.txt'"

    (tmp_path / "file").write_text("a file, not a directory")
    proc = _cli("wikipedia", "--dumps", dump, "--output", str(tmp_path / "file/out"))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _last_line(proc.stderr) == (
        f"wikipedia: {tmp_path}/file/out: the output directory is not writable (Not a directory)"
    )

    # A truncated lid.176, found before anything runs: an earlier run's output stays as it was.
    broken = tmp_path / "models"
    (broken / "lm").mkdir(parents=True)
    for name in ("en.sp.model", "en.arpa.bin", "en.cutoffs.json", "en.json"):
        (broken / "lm" / name).write_bytes((models / "lm" / name).read_bytes())
    (broken / "lid.176.ftz").write_bytes((MODELS / "lid.176.ftz").read_bytes()[:300_000])
    out = tmp_path / "cc"
    out.mkdir()
    (out / "report.json").write_text("{}\n")
    proc = _cli(
        "commoncrawl",
        *("--wet", str(sample / "commoncrawl/wet/*.warc.wet.gz"), "--output", str(out)),
        *("--lid_model", str(broken / "lid.176.ftz"), "--lm_dir", str(broken / "lm")),
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _last_line(proc.stderr).startswith(f"commoncrawl: {broken}/lid.176.ftz: sha256 ")
    assert _last_line(proc.stderr).endswith("(truncated or replaced); rebuild it: make models")
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_tokenize_refuses_the_documents_of_a_run_that_did_not_finish(tmp_path, models):
    """What a killed run leaves (whole shards, but not all of them) is not tokenized."""
    docs = tmp_path / "corpus/wikipedia/documents"
    docs.mkdir(parents=True)
    (docs / "part-00000-of-00002.parquet").write_bytes(b"PAR1")  # shard 1 was never written
    with pytest.raises(
        PreflightError,
        match=f"^{tmp_path}/corpus/wikipedia: no report.json, so its pipeline did not finish "
        r"and its documents may be partial: run `make wikipedia`$",
    ):
        tokenize.main(
            [*("--input", str(tmp_path / "corpus"), "--output", str(tmp_path / "tokens")),
             *("--tokenizer", str(models / "lm/en.sp.model"), "--sources", "wikipedia"),
             "--runner=FnApiRunner"]
        )  # fmt: skip
    assert not (tmp_path / "tokens").exists()
