"""Loss benchmark: the plain output projection + cross-entropy against the chunked one
(training/loss.py), peak memory and time per forward + backward, at llama-125m's output layer.

Each variant runs in a fresh process, so one's peak cannot hide the other's: on the CPU the
figure is the peak resident set (getrusage ru_maxrss) above the resident set before the first
step; on CUDA it is torch.cuda.max_memory_allocated above what was allocated before the step
(bf16 autocast over fp32 tensors, as the trainer runs). The inputs stand for the final norm's output
(hidden [rows, dim]) and the output matrix ([vocab, dim]), both requiring grad, with a tenth of
the targets ignored (-100). The time is the median of the timed steps after one warm-up step, in
wall seconds and in this process's CPU seconds (all threads; on a shared machine the wall time
also counts other processes' load, the CPU time much less).

    python -m benchmarks.loss --out benchmarks/results/loss.json [--rows 8192 --dim 768 ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from benchmarks.common import machine
from training.loss import default_chunk, linear_cross_entropy

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("plain", "chunked")


def _rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def measure_variant(a: argparse.Namespace) -> dict:
    """One variant in this process: peak memory added by a step, and seconds per step."""
    cuda = torch.cuda.is_available() and a.device != "cpu"
    device = torch.device("cuda" if cuda else "cpu")
    g = torch.Generator(device).manual_seed(0)
    hidden = torch.randn(a.rows, a.dim, device=device, generator=g).requires_grad_()
    weight = (0.02 * torch.randn(a.vocab, a.dim, device=device, generator=g)).requires_grad_()
    targets = torch.randint(0, a.vocab, (a.rows,), device=device, generator=g)
    targets[::10] = -100
    chunk = a.chunk or default_chunk(a.vocab)

    def step() -> float:
        hidden.grad = weight.grad = None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            if a.variant == "plain":
                logits = F.linear(hidden, weight).float()
                loss = F.cross_entropy(logits, targets, ignore_index=-100)
                del logits
            else:
                loss = linear_cross_entropy(hidden, weight, targets, chunk)
        loss.backward()
        if cuda:
            torch.cuda.synchronize(device)
        return loss.item()

    if cuda:
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        before = _rss_bytes()
    loss = step()  # warm-up; its peak counts (the allocator caches on the CPU too)
    seconds, cpu_seconds = [], []
    for _ in range(a.steps):
        started, cpu_started = time.perf_counter(), time.process_time()
        step()
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    peak = torch.cuda.max_memory_allocated(device) if cuda else _rss_bytes()
    return {
        "variant": a.variant,
        "chunk_rows": chunk if a.variant == "chunked" else None,
        "loss": round(loss, 6),
        "step_s": round(statistics.median(seconds), 4),
        "steps_s": [round(s, 4) for s in seconds],
        "step_cpu_s": round(statistics.median(cpu_seconds), 4),
        "peak_memory_mib": round((peak - before) / 2**20, 1),
        "memory": "cuda max_memory_allocated" if cuda else "ru_maxrss (resident set)",
        "baseline_mib": round(before / 2**20, 1),
    }


def run(a: argparse.Namespace) -> dict:
    """Each variant in its own process; the ratios of their memory and time."""
    cuda = torch.cuda.is_available() and a.device != "cpu"
    shape = ["--rows", str(a.rows), "--dim", str(a.dim), "--vocab", str(a.vocab)]
    shape += ["--steps", str(a.steps), "--device", a.device]
    shape += ["--chunk", str(a.chunk)] if a.chunk else []
    results = {}
    for variant in VARIANTS:
        command = [sys.executable, "-m", "benchmarks.loss", "--variant", variant, *shape]
        done = subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True)
        results[variant] = json.loads(done.stdout.strip().splitlines()[-1])
    plain, chunked = results["plain"], results["chunked"]
    logits_mib = a.rows * a.vocab * 4 / 2**20
    return {
        "benchmark": "output projection + cross-entropy, forward + backward: plain vs chunked",
        "command": "python -m benchmarks.loss " + " ".join(sys.argv[1:]),
        "device": torch.cuda.get_device_name(0) if cuda else platform.processor() or "cpu",
        "machine": machine(torch=torch.__version__, cpu_threads=torch.get_num_threads()),
        "setup": {
            "rows": a.rows,
            "dim": a.dim,
            "vocab": a.vocab,
            "dtype": "bf16 autocast, fp32 tensors" if cuda else "fp32",
            "timed_steps": a.steps,
            "fp32_logits_mib": round(logits_mib, 1),
        },
        "plain": plain,
        "chunked": chunked,
        "memory_ratio_plain_to_chunked": round(
            plain["peak_memory_mib"] / max(chunked["peak_memory_mib"], 1e-9), 2
        ),
        "time_ratio_plain_to_chunked": round(plain["step_s"] / chunked["step_s"], 3),
        "cpu_time_ratio_plain_to_chunked": round(plain["step_cpu_s"] / chunked["step_cpu_s"], 3),
        "same_loss": abs(plain["loss"] - chunked["loss"]) < 1e-3,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="JSON file; results are kept per device type")
    p.add_argument("--rows", type=int, default=8192, help="B·T rows (default: 4 × 2048)")
    p.add_argument("--dim", type=int, default=768, help="hidden size (default: llama-125m's)")
    p.add_argument("--vocab", type=int, default=32000)
    p.add_argument("--chunk", type=int, default=0, help="rows per chunk (0: default_chunk)")
    p.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up")
    p.add_argument("--device", choices=("auto", "cpu"), default="auto")
    p.add_argument("--variant", choices=VARIANTS, help="measure one variant in this process")
    a = p.parse_args(argv)
    if a.variant:
        print(json.dumps(measure_variant(a)))
        return 0
    result = run(a)
    print(json.dumps(result, indent=1))
    if a.out:
        key = "cuda" if torch.cuda.is_available() and a.device != "cpu" else "cpu"
        existing = json.loads(a.out.read_text()) if a.out.exists() else {}
        existing[key] = result
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(existing, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
