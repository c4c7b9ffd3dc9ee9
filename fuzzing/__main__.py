"""`python -m fuzzing [--seconds 600] [--target NAME ...] [--seed N]`: each target fuzzed for its
share of the time, in Hypothesis runs of a few examples at a time until the share is spent.

Prints a table of examples tried and failures per target; exits 1 after a failure, whose
shrunk input (Hypothesis' "Failing test case") and traceback are printed as its reproducer.
Each target runs in a child process that writes every example to a file before running it, so
a crash in native code (pyarrow, lxml, zlib) is reported with the input that caused it.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from fuzzing.seeds import ROOT
from fuzzing.targets import TARGETS, Target

LINE_LIMIT = 4000  # characters of a report line: a strategy's repr can be the whole seed corpus
HANG_SLACK = 60  # seconds past its share before a target's process counts as hung
DEADLINE = timedelta(seconds=10)  # per example: a reader that takes longer on a small input hangs


def fuzz(target: Target, seconds: float, rng: random.Random, last: Path) -> tuple[int, str | None]:
    """(examples tried, the first failure's report or None) within `seconds`; each example is
    written to `last` before it runs."""
    tried = 0
    stop = time.monotonic() + seconds

    def check(case) -> None:
        nonlocal tried
        tried += 1
        last.write_text(f"{tried}\n{case!r}", encoding="utf-8", errors="backslashreplace")
        target.check(case)

    batch = 10
    while (left := stop - time.monotonic()) > 0:
        run_seed = rng.getrandbits(64)
        test = settings(
            max_examples=batch,
            deadline=DEADLINE,
            database=None,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            report_multiple_bugs=False,
        )(hypothesis_seed(run_seed)(given(target.strategy)(check)))
        started, before = time.monotonic(), tried
        try:
            test()
        except Exception as exc:
            lines = "".join(traceback.format_exception(exc)).splitlines()
            report = "\n".join(line[:LINE_LIMIT] for line in lines)
            return tried, f"--target {target.name} failed (hypothesis seed {run_seed}):\n{report}"
        per_example = (time.monotonic() - started) / max(tried - before, 1)
        batch = max(1, min(500, int(0.5 * left / per_example)))
    return tried, None


def child(name: str, seconds: float, seed: int, last: Path) -> int:
    """One target's run, its result as a JSON line on stdout."""
    faulthandler.enable()
    tried, failure = fuzz(TARGETS[name], seconds, random.Random(seed), last)  # noqa: S311
    print(json.dumps({"tried": tried, "failure": failure}))
    return 0


def run_child(name: str, seconds: float, seed: int, workdir: Path) -> tuple[int, str | None]:
    """A target fuzzed in a child process; a child killed by a signal or hung past its share
    is a failure, reported with the example it was running."""
    last = workdir / f"{name}.last"
    command = [sys.executable, "-m", "fuzzing", "--child", name, "--seconds", str(seconds)]
    command += ["--seed", str(seed), "--last", str(last)]
    try:
        done = subprocess.run(  # noqa: S603 (this interpreter, fixed arguments)
            command, capture_output=True, text=True, timeout=seconds + HANG_SLACK, cwd=ROOT
        )
        output, code = done.stdout, done.returncode
    except subprocess.TimeoutExpired as exc:
        output, code = exc.stdout or "", "timeout"
    lines = output.strip().splitlines()
    if code == 0 and lines:
        result = json.loads(lines[-1])
        return result["tried"], result["failure"]
    text = last.read_text(encoding="utf-8") if last.exists() else "0\n(no example)"
    count, _, case = text.partition("\n")
    stderr = done.stderr[-LINE_LIMIT:] if code != "timeout" else "(past its time share)"
    return int(count), (
        f"--target {name} crashed (exit {code}) on example {count}:\n{case}\n{stderr}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzzing", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="total time budget")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), help="repeatable")
    parser.add_argument("--seed", type=int, default=None, help="seeds the runs' seeds")
    parser.add_argument("--child", choices=sorted(TARGETS), help=argparse.SUPPRESS)
    parser.add_argument("--last", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.seconds, args.seed, args.last)
    names = args.target or list(TARGETS)
    rng = random.Random(args.seed)  # noqa: S311 (test inputs, not secrets)
    share = args.seconds / len(names)
    rows, failures = [], []
    workdir = Path(tempfile.mkdtemp(prefix="fuzzing-run-"))
    for name in names:
        started = time.monotonic()
        tried, failure = run_child(name, share, rng.getrandbits(64), workdir)
        rows.append((name, tried, int(failure is not None), time.monotonic() - started))
        print(f"{name}: {tried} examples, {'FAILED' if failure else 'ok'}", flush=True)
        if failure:
            failures.append(failure)
    print(f"\n{'target':<20} {'examples':>9} {'failures':>9} {'seconds':>8}")
    for name, tried, failed, spent in rows:
        print(f"{name:<20} {tried:>9} {failed:>9} {spent:>8.1f}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10
    print(f"peak resident memory of a target's process: {peak} MiB")
    for failure in failures:
        print("\n" + failure, file=sys.stderr)
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
