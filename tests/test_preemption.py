"""Real signals to a real `python -m training.train`: SIGTERM or SIGUSR1 (preemption) stop it with
a checkpoint at the step it was in, a SIGKILL inside a save leaves the last complete checkpoint;
either way the resumed run ends bit for bit where an uninterrupted run does."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from training import checkpoint
from training.config import TrainConfig
from training.metrics import read_metrics
from training.train import PREEMPTED_EXIT

from test_train import config, corpus  # noqa: F401 (corpus is a fixture)  # isort: skip

ROOT = Path(__file__).resolve().parent.parent
STEPS = 80  # long enough (≈ 2 s) that a signal sent at step 3 lands mid-run
ENV = {
    **os.environ,
    "PYTHONPATH": str(ROOT),
    "OMP_NUM_THREADS": "1",  # the same thread count, so the same float results, in every run
    "PYTHONUNBUFFERED": "1",
}


def cli(cfg: TrainConfig) -> list[str]:
    args = [
        f"--{k}={v}" for k, v in cfg.to_dict().items() if v is not None and not isinstance(v, bool)
    ]
    return [*args, "--no-progress", "--no-tensorboard", "--deterministic"]


def launch(cfg: TrainConfig, nproc: int = 1, **env: str) -> subprocess.Popen:
    """The trainer (under torchrun when nproc > 1), its stdout and stderr as one text pipe."""
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
    command = [sys.executable, *(launcher if nproc > 1 else []), "-m", "training.train", *cli(cfg)]
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**ENV, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    watchdog = threading.Timer(240, proc.kill)  # a hung run fails the test instead of hanging it
    watchdog.daemon = True
    watchdog.start()
    return proc


def wait_for(proc: subprocess.Popen, text: str) -> str:
    """Everything the process printed up to and including the first line containing `text`."""
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if text in line:
            return "".join(seen)
    proc.wait()
    raise AssertionError(f"exited ({proc.returncode}) before printing {text!r}:\n{''.join(seen)}")


def finish(proc: subprocess.Popen, before: str = "") -> str:
    out = before + proc.communicate(timeout=240)[0]
    return out


def run(cfg: TrainConfig, nproc: int = 1) -> str:
    proc = launch(cfg, nproc)
    out = finish(proc)
    assert proc.returncode == 0, out[-4000:]
    return out


def assert_same_state(a: Path, b: Path) -> None:
    """Two checkpoints of the same step and world size hold equal tensors, bit for bit."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.suffix in (".pt", ".safetensors"))
    assert files == sorted(
        p.relative_to(b) for p in b.rglob("*") if p.suffix in (".pt", ".safetensors")
    )
    for name in files:
        if name.suffix == ".safetensors":
            x, y = load_file(a / name), load_file(b / name)
        else:
            x, y = (torch.load(p / name, weights_only=True) for p in (a, b))
        flat_x, flat_y = flatten(x), flatten(y)
        assert flat_x.keys() == flat_y.keys(), name
        for key, value in flat_x.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(value, flat_y[key]), (name, key)
            else:
                assert value == flat_y[key], (name, key)


def flatten(value: object, at: str = "") -> dict[str, object]:
    """Nested dicts and lists as one dict by path."""
    if isinstance(value, list | tuple):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        return {at: value}
    return {k: v for key, item in value.items() for k, v in flatten(item, f"{at}/{key}").items()}


def losses(run_dir: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in read_metrics(run_dir / "metrics.jsonl")]


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:  # noqa: F811
    """An uninterrupted single-process run of STEPS steps."""
    out = tmp_path_factory.mktemp("reference") / "run"
    run(config(corpus, out, steps=STEPS))
    return out


def final(run_dir: Path) -> Path:
    return checkpoint.complete(run_dir)[-1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_a_preempted_run_checkpoints_exits_75_and_resumes_bit_for_bit(
    corpus,  # noqa: F811
    reference,
    tmp_path,
    sig,
):
    cfg = config(corpus, tmp_path / "run", steps=STEPS)
    proc = launch(cfg)
    before = wait_for(proc, f"step 3/{STEPS}")
    proc.send_signal(sig)
    out = finish(proc, before)
    assert proc.returncode == PREEMPTED_EXIT, out[-4000:]
    found = re.search(
        rf"preempted by {sig.name} at step (\d+) of {STEPS}: checkpoint (\S+); resume with "
        rf"--resume auto \(the default\) and the same --out; exit status {PREEMPTED_EXIT}",
        out,
    )
    assert found, out[-4000:]
    step = int(found[1])
    assert 3 <= step < STEPS
    stopped = tmp_path / "run" / "checkpoints" / checkpoint.step_name(step)
    assert Path(found[2]) == stopped and checkpoint.complete(tmp_path / "run") == [stopped]
    assert checkpoint.read_trainer_state(stopped)["step"] == step
    assert [s for s, _ in losses(tmp_path / "run")] == list(range(1, step + 1))
    assert "done: step" not in out

    resumed = run(cfg)
    assert f"resumed from {stopped} (step {step})" in resumed
    assert_same_state(final(reference), final(tmp_path / "run"))
    assert losses(tmp_path / "run") == losses(reference)


@pytest.mark.parametrize("fmt", ["full", "sharded"])
def test_a_sigkill_inside_a_save_resumes_from_the_last_complete_checkpoint(
    corpus,  # noqa: F811
    reference,
    tmp_path,
    fmt,
):
    cfg = config(corpus, tmp_path / "run", steps=STEPS, checkpoint_every=4, checkpoint_format=fmt)
    run(replace(cfg, stop_at=4))
    proc = launch(cfg, **{checkpoint.PAUSE_ENV: "120"})  # pauses in the save at step 8
    temp = tmp_path / "run" / "checkpoints" / ".step-0000008.tmp"
    wait_for(proc, f"{checkpoint.PAUSE_ENV}: pausing 120 s inside {temp}")
    proc.kill()
    finish(proc)
    assert proc.returncode == -signal.SIGKILL
    written = {p.relative_to(temp).as_posix() for p in temp.rglob("*") if p.is_file()}
    assert written == ({"model.pt"} if fmt == "full" else {"shards/rank-00000.safetensors"})
    assert [p.name for p in checkpoint.complete(tmp_path / "run")] == ["step-0000004"]

    resumed = run(cfg)
    assert "(step 4)" in resumed
    assert not temp.exists()  # the next save cleaned it
    if fmt == "full":
        assert_same_state(final(reference), final(tmp_path / "run"))
    else:  # the same tensors in the other format
        ours = checkpoint.load_weights(final(tmp_path / "run"))
        theirs = checkpoint.load_weights(final(reference))
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert losses(tmp_path / "run") == losses(reference)


def worker(launcher: int, rank: int) -> int:
    """The pid of torchrun's worker of `rank`: the child whose environment says so."""
    for task in Path(f"/proc/{launcher}/task").iterdir():
        for pid in (task / "children").read_text().split():
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            if f"RANK={rank}".encode() in env:
                return int(pid)
    raise AssertionError(f"no worker of rank {rank} under {launcher}")


def test_a_signal_to_one_rank_stops_every_rank_at_the_same_step(corpus, tmp_path):  # noqa: F811
    """Two FSDP2 ranks on gloo: SIGTERM reaches rank 1 only; the ranks agree (an all-reduce of the
    flag each step), write one sharded checkpoint together and both exit 75; resumed, the run ends
    where an uninterrupted two-process run does."""
    steps = 40
    cfg = config(corpus, tmp_path / "run", steps=steps)
    run(config(corpus, tmp_path / "reference", steps=steps), nproc=2)
    proc = launch(cfg, nproc=2)
    before = wait_for(proc, f"step 3/{steps}")
    os.kill(worker(proc.pid, 1), signal.SIGTERM)
    out = finish(proc, before)
    found = re.search(rf"preempted by SIGTERM at step (\d+) of {steps}", out)
    assert found, out[-4000:]
    step = int(found[1])
    assert 3 <= step < steps
    # torchrun itself reports a failure (1), listing each worker's exit status.
    assert proc.returncode == 1 and out.count("exitcode  : 75") == 2, out[-4000:]
    stopped = checkpoint.complete(tmp_path / "run")[-1]
    assert stopped.name == checkpoint.step_name(step)
    assert checkpoint.read_trainer_state(stopped)["format"] == "sharded"
    assert sorted(p.name for p in (stopped / "shards").iterdir()) == [
        "rank-00000.safetensors",
        "rank-00001.safetensors",
    ]
    run(cfg, nproc=2)
    assert_same_state(final(tmp_path / "reference"), final(tmp_path / "run"))
    assert losses(tmp_path / "run") == losses(tmp_path / "reference")
