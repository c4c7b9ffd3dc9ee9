"""One launcher for every pipeline: what happens around `build()`.

A pipeline module parses its own options, describes its run as a `Job` (its name, output, inputs,
models, and how its report and closing table look) and calls `launch`. The launcher then:
refuses local paths on a remote runner, checks that the inputs exist, the output is writable and
the models load (core.preflight), clears what could pass a killed run's files off as finished,
builds and runs the pipeline, shows progress on local runners, reads the counters, checks
read = kept + Σ dropped, writes report.json and prints the summary. A dry run
(`--dry_run=True`) stops after building the job and returns what it would have run.

A run that fails (a worker process killed, a full disk) ends with one line that says why and
writes no report.json: what it wrote is never taken for finished output, and its re-run, which
clears what it left, equals a clean run.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from core import files, preflight
from pipelines import accounting, options
from pipelines.progress import Display
from pipelines.shards import clear_unfinished
from pipelines.staging import Model

REPORT = "report.json"
LOCAL_RUNNERS = frozenset({"fnapirunner", "directrunner", "bundlebasedrunner", "interactiverunner"})
# How Beam's local runners end the thread that ran a worker process that exited non-zero.
WORKER_THREAD, WORKER_EXIT = "run_worker", "Worker subprocess exited with return code"
OS_ERROR = re.compile(r"\[Errno \d+\] (.+?)(?: \[while running '([^']+)'\])?$")


class WorkerDied(RuntimeError):
    """A worker process of a local multi-process run exited (killed, out of memory)."""


@dataclass
class Job:
    """A pipeline's run as the launcher sees it.

    `groups_key` names the report's per-group counts (by_stage, by_language, by_source); with
    `stages`, those groups come in that order and the closing table lists stage by stage.
    `report` returns the pipeline's own report fields and may take groups out of `counted`
    (counters that are not documents, such as the languages seen) and write the run's last
    files (plots).
    """

    name: str
    output: str
    build: Callable[[beam.Pipeline], None]
    inputs: Sequence[str] = ()
    unit: str = "input files"
    models: Mapping[str, Model] = field(default_factory=dict)
    outputs: Sequence[str] | Callable[[dict[str, dict[str, int]]], Sequence[str]] = ()
    groups_key: str = "by_stage"
    stages: Sequence[str] | None = None
    rate: str = "documents_per_second"
    rate_of: Callable[[dict[str, int], dict[str, Any]], int] = lambda total, report: total.get(
        "read", 0
    )
    report: Callable[[dict[str, dict[str, int]], dict[str, Any]], dict[str, Any]] = (
        lambda counted, outputs: {}
    )
    notes: Callable[[dict[str, Any]], list[str]] = lambda report: []
    dry_run: Mapping[str, Any] = field(default_factory=dict)
    clear: Sequence[str] | None = None  # folders whose manifests go first (None: all of output)
    named_source: bool = True  # the report carries "source": name
    total_items: int | None = None  # progress total, when it is not len(inputs)


def is_local(runner: str) -> bool:
    return runner.lower() in LOCAL_RUNNERS or runner.lower() + "runner" in LOCAL_RUNNERS


def check_remote_paths(runner: str, job: Job) -> None:
    """Workers of a remote runner see nothing of this machine's disk: fail now, not on them."""
    if is_local(runner):
        return
    everything = [*job.inputs, job.output, *(m.url for m in job.models.values())]
    local = [p for p in everything if not files.is_remote(p)]
    if local:
        raise SystemExit(
            f"{runner} workers cannot read local paths: {', '.join(local)}. Use gs:// URLs "
            "(--upload_models_to gs://…/models uploads the models; make BUCKET=… does)"
        )


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    logging.getLogger("apache_beam").setLevel(logging.WARNING)


def check_before_run(job: Job) -> None:
    """Before anything is read or cleared: inputs exist, models load, the output is writable
    (checked last: it creates the directory)."""
    preflight.check_inputs(job.inputs)
    preflight.check_models(job.models)
    preflight.check_output(job.output)


@contextlib.contextmanager
def fail_when_a_worker_dies():
    """Beam's local multi-process runners wait for ever on a bundle whose worker process died
    while no data was flowing (a killed `Finalize`): the thread that started the worker only
    raises its exit status, to nobody. That exit fails the run here: the main thread is
    interrupted (SIGUSR1) with `WorkerDied`, and Beam's cleanup stops the other workers.
    Yields the list that receives the exit status, whichever error the run then ends with."""
    died: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield died
        return
    previous_hook = threading.excepthook

    def on_thread_error(args) -> None:
        worker = args.thread is not None and args.thread.name == WORKER_THREAD
        if worker and WORKER_EXIT in str(args.exc_value) and not died:
            died.append(str(args.exc_value))
            os.kill(os.getpid(), signal.SIGUSR1)
            return
        previous_hook(args)

    def interrupt(signum, frame) -> None:
        raise WorkerDied(died[0] if died else "a worker process died")

    previous_handler = signal.signal(signal.SIGUSR1, interrupt)
    threading.excepthook = on_thread_error
    try:
        yield died
    finally:
        threading.excepthook = previous_hook
        signal.signal(signal.SIGUSR1, previous_handler)


def failure(job: Job, exc: BaseException, died: Sequence[str] = ()) -> str | None:
    """One line for a run that failed on a worker's death (`died`: its exit status) or an OS
    error (a full disk, a read-only file system), or None for other errors, whose traceback is
    worth reading."""
    undone = f"nothing under {job.output} is marked complete (no {REPORT}): run it again"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    closed = bool(lines) and "Channel closed prematurely" in lines[-1]
    if died or isinstance(exc, WorkerDied) or closed:
        reason = died[0] if died else "its data channel closed" if closed else str(exc)
        return f"{job.name}: a worker process died ({reason}); {undone}"
    for line in reversed(lines):
        found = OS_ERROR.search(line)
        if found:
            where = f" (in {found.group(2)})" if found.group(2) else ""
            return f"{job.name}: {found.group(1)}{where}; {undone} once that is fixed"
    return None


def is_dry_run(pipeline_options: PipelineOptions) -> bool:
    return bool(pipeline_options.get_all_options().get("dry_run"))


def launch(
    job: Job, parameters: dict[str, Any], beam_args: list[str], pipeline_options=None
) -> dict:
    """Run `job`; returns its report (or, for a dry run, what would have run)."""
    pipeline_options = pipeline_options or options.beam_options(beam_args)
    runner = options.runner_name(pipeline_options)
    dry_run = is_dry_run(pipeline_options)
    check_remote_paths(runner, job)
    if not dry_run:
        check_before_run(job)
        everything = job.clear is None
        clear_unfinished(job.output, top_level=(REPORT,), manifests=None if everything else ())
        for folder in job.clear or ():
            clear_unfinished(folder)

    started = time.time()
    pipeline = beam.Pipeline(options=pipeline_options)
    job.build(pipeline)
    if dry_run:
        result = pipeline.run()
        logging.getLogger(job.name).info("dry run: the job graph was built and not submitted")
        submitted = getattr(result, "job", None)  # what a Dataflow dry run would have sent
        return {"dry_run": True, **job.dry_run, **({"job": submitted} if submitted else {})}
    total = len(job.inputs) if job.total_items is None else job.total_items
    died: list[str] = []
    try:
        with contextlib.ExitStack() as running:
            if is_local(runner):
                running.enter_context(Display(job.name, job.unit, total))
                died = running.enter_context(fail_when_a_worker_dies())
            result = pipeline.run()
            result.wait_until_finish()
        wall = time.time() - started
        return report(job, result, parameters, runner, beam_args, wall)  # report.json: last
    except Exception as exc:
        message = failure(job, exc, died)
        if message is None:
            raise
        raise SystemExit(message) from None


def report(job: Job, result, parameters: dict, runner: str, beam_args: list[str], wall: float):
    counted = accounting.counters(result, job.name)
    names = job.outputs(counted) if callable(job.outputs) else job.outputs
    outputs = {name: accounting.read_manifest(files.join(job.output, name)) for name in names}
    own = job.report(counted, outputs)  # may take non-document groups out of `counted`
    if job.stages is not None:
        order = [s for s in job.stages if s in counted]
        counted = {g: counted[g] for g in order + sorted(g for g in counted if g not in order)}
    total = accounting.totals(counted)
    body = {
        **({"source": job.name} if job.named_source else {}),
        "totals": total,
        job.groups_key: counted,
        "invariant": accounting.invariant(total),
        "outputs": {k: v for k, v in {**outputs, **own.pop("outputs", {})}.items() if v},
        "parameters": parameters,
        "runner": runner,
        "beam_args": beam_args,
        "wall_seconds": round(wall, 3),
        **own,
    }
    body[job.rate] = round(job.rate_of(total, body) / wall, 1) if wall else None
    title = f"{job.name}: {job.output}"
    if job.stages is not None:
        accounting.print_stages(title, counted, body["outputs"], job.notes(body))
    else:
        accounting.print_summary(title, counted, body["outputs"], job.notes(body))
    return accounting.finish(job.output, body)


def run_module(name: str) -> None:
    """`python -m <name>`: call the imported module's `main`, not `__main__`'s, so that Beam
    pickles the module's classes under a name worker processes can import. A failed preflight
    is one line on stderr and exit status 2."""
    try:
        importlib.import_module(name).main()
    except preflight.PreflightError as exc:
        print(f"{name.rsplit('.', 1)[-1]}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
