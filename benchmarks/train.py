"""Trainer benchmark: our training step against transformers' LlamaForCausalLM, in one run.

Both train the same network (training/hf.py's hf_config of the preset, the same initial weights)
on the same batches (our mixture loader over synthetic token shards: throughput does not depend on
which tokens), at the same micro-batch, accumulation and precision, with AdamW (β 0.9/0.95, decay
on matrices, fused on CUDA) and clipping 1.0. Ours is `Trainer.train_step` (per-block
torch.compile on CUDA); the peer is a plain PyTorch loop around `LlamaForCausalLM` (SDPA attention,
bf16 autocast), optionally compiled whole with --peer_compile. One model is on the device at a
time (ours, then the peer), so each has the whole GPU's memory; tokens/s is the median of timed
rounds after warm-up steps (compilation).

On CUDA (default llama-1b, seq 2048, bf16): tokens/s, MFU against the GPU's dense bf16 peak, peak
memory; targets ≥ 50% MFU on an H100 and ≥ 1.3× transformers. On the CPU (default llama-20m,
seq 256, fp32): the ratio against transformers. Also the loader alone: tokens/s of sampling and
packing the same batches, against what our step consumes (target ≥ 50×).

Several presets run one after another (`--model llama-1b llama-7b`, or comma-separated), each
with: tokens/s, MFU, peak memory (CUDA: max allocated of that preset; CPU: the process's peak
resident set so far) and what limited it. When ours runs out of GPU memory its micro-batch is
halved and the accumulation doubled (the same tokens per step) until it fits, and `limited_by`
names the micro-batches that did not fit. After the timed rounds one more step runs under
torch.profiler: `limited_by` names what took the most self device time (CPU time on the CPU), or
the host when the GPU was idle for more than a fifth of that step (launch-bound). `--profile DIR`
also writes that step's chrome trace (DIR/<preset>.json) and prints its top ten ops.

    python -m benchmarks.train --out benchmarks/results/train.json [--quick]
    python -m benchmarks.train --model llama-1b,llama-7b --no_peer --profile out/profiles
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from core.manifest import MANIFEST
from mixtures.mixture import load_mixture
from tokenizer.shards import manifest, shard_bytes, shard_entry
from training.config import TrainConfig
from training.data import build_loader
from training.hf import hf_config, to_hf_state_dict
from training.metrics import memory_gib, mfu
from training.model import PRESETS, flops_per_token, num_params
from training.train import Trainer, param_groups

VOCAB = 32000
TARGET_MFU_H100 = 0.50
TARGET_RATIO = 1.3
TARGET_LOADER = 50.0


def synthetic_shards(root: Path, tokens: int, seed: int = 0) -> tuple[Path, Path]:
    """One source of random documents (100-4000 tokens) and a one-source mixture over it."""
    rng = np.random.default_rng(seed)
    docs, total = [], 0
    while total < tokens:
        doc = rng.integers(3, VOCAB, int(rng.integers(100, 4000))).astype(np.uint16)
        docs.append(doc)
        total += len(doc)
    ids = [f"bench/{i:07d}" for i in range(len(docs))]
    directory = root / "tokens" / "commoncrawl"
    directory.mkdir(parents=True)
    path = directory / "part-00000-of-00001.arrow"
    path.write_bytes(shard_bytes(ids, docs))
    entry = shard_entry(path, len(docs), total, 0)
    tokenizer = {"sha256": "0" * 64, "vocab_size": VOCAB, "path": None}
    (directory / MANIFEST).write_text(json.dumps(manifest("commoncrawl", tokenizer, [entry])))
    mix = root / "bench.yaml"
    mix.write_text("name: bench\nbudget_tokens: 1.0e9\nsources:\n  commoncrawl: {weight: 1.0}\n")
    return root / "tokens", mix


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Peer:
    """transformers.LlamaForCausalLM in a plain loop: the same step as ours, nothing fused."""

    def __init__(self, setup: dict, weights: dict[str, torch.Tensor], compile_model: bool) -> None:
        from transformers import LlamaForCausalLM

        cfg: TrainConfig = setup["cfg"]
        self.device, self.accum, self.bf16 = setup["device"], setup["accum"], cfg.dtype == "bf16"
        self.clip = cfg.grad_clip
        self.loader = build_loader(
            cfg.tokens,
            load_mixture(cfg.mix),
            seq_len=cfg.seq_len,
            batch_size=cfg.micro_batch,
            seed=cfg.seed,
            log=lambda *_: None,
        )
        config = hf_config(setup["args"])
        config.use_cache = False
        model = LlamaForCausalLM._from_config(config, attn_implementation="sdpa")
        model.load_state_dict(to_hf_state_dict(weights, setup["args"]))
        self.model = model.to(self.device).train()
        self.optimizer = torch.optim.AdamW(
            param_groups(self.model, cfg.weight_decay),
            lr=cfg.lr,
            betas=(cfg.beta1, cfg.beta2),
            eps=cfg.adam_eps,
            fused=self.device.type == "cuda" or None,
        )
        self.forward = torch.compile(self.model) if compile_model else self.model

    def train_step(self) -> float:
        total = torch.zeros((), device=self.device)
        for _ in range(self.accum):
            inputs, targets = self.loader.next_batch()
            inputs, targets = inputs.to(self.device), targets.to(self.device)
            with torch.autocast(self.device.type, torch.bfloat16, enabled=self.bf16):
                logits = self.forward(input_ids=inputs).logits
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
            (loss / self.accum).backward()
            total += loss.detach()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return (total / self.accum).item()


def measure(step, a: argparse.Namespace, device: torch.device, setup: dict) -> dict:
    """First-step loss, untimed warm-up steps, then `rounds` timed rounds of `steps` steps."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        first = step()
        for _ in range(a.warmup - 1):  # compilation, allocator and cache warm-up
            step()
        rounds = []
        for _ in range(a.rounds):
            _sync(device)
            started = time.perf_counter()
            for _ in range(a.steps):
                step()
            _sync(device)
            rounds.append(time.perf_counter() - started)
    except torch.cuda.OutOfMemoryError as exc:
        return {"error": f"CUDA out of memory ({exc}); try a smaller --micro_batch"}
    tps = a.steps * setup["step_tokens"] / statistics.median(rounds)
    return {
        "tokens_per_s": round(tps, 1),
        "mfu": _round(mfu(setup["flops_per_token"], tps, setup["peak"], 1)),
        "step_s": round(statistics.median(rounds) / a.steps, 4),
        "rounds_tokens_per_s": [round(a.steps * setup["step_tokens"] / r, 1) for r in rounds],
        "peak_memory_gib": _round(memory_gib(device)),
        "first_step_loss": round(first, 5),
    }


def loader_rate(cfg: TrainConfig, calls: int) -> float:
    """Tokens/s of sampling and packing alone (one process, the step's micro-batches)."""
    loader = build_loader(
        cfg.tokens,
        load_mixture(cfg.mix),
        seq_len=cfg.seq_len,
        batch_size=cfg.micro_batch,
        seed=cfg.seed + 1,
        log=lambda *_: None,
    )
    loader.next_batch()
    started = time.perf_counter()
    for _ in range(calls):
        loader.next_batch()
    return calls * cfg.micro_batch * cfg.seq_len / (time.perf_counter() - started)


# Substrings of op and kernel names, first match wins: what a step's time went to.
CATEGORIES = (
    ("communication", ("nccl", "all_reduce", "reduce_scatter", "all_gather")),
    ("attention", ("attention", "flash", "fmha", "sdpa")),
    ("optimizer", ("adam", "foreach", "multi_tensor")),
    ("matmul", ("mm", "gemm", "matmul", "linear", "nvjet", "cutlass", "xmma")),
)


def category(name: str) -> str:
    lowered = name.lower()
    found = (c for c, keys in CATEGORIES if any(k in lowered for k in keys))
    return next(found, "elementwise/other")


def profile_step(step, device: torch.device, trace: Path | None, step_s: float) -> dict:
    """One step under torch.profiler: the top ten ops by self device time (kernels on CUDA, CPU
    ops on the CPU), the time per category, and what limited the step. The GPU's busy share is
    its kernel time over `step_s`, the unprofiled step (the profiler slows the host down)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    _sync(device)
    with profile(activities=activities) as prof:
        started = time.perf_counter()
        step()
        _sync(device)
        wall_us = (time.perf_counter() - started) * 1e6
    if trace:
        trace.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(trace))
    if cuda:  # kernels only: an op's self device time repeats its kernels'
        rows = [
            (e.key, e.self_device_time_total)
            for e in prof.key_averages()
            if e.device_type == DeviceType.CUDA
        ]
    else:
        rows = [(e.key, e.self_cpu_time_total) for e in prof.key_averages()]
    rows.sort(key=lambda row: -row[1])
    total = sum(us for _, us in rows) or 1.0
    by_category: dict[str, float] = {}
    for name, us in rows:
        by_category[category(name)] = by_category.get(category(name), 0.0) + us
    top_category, top_us = max(by_category.items(), key=lambda item: item[1])
    busy = total / (step_s * 1e6)
    clock = "device" if cuda else "CPU"
    if cuda and busy < 0.8:
        limited = f"the host: the GPU was busy {busy:.0%} of the step (launch-bound)"
    else:
        limited = f"{top_category}: {top_us / total:.0%} of the step's self {clock} time"
    return {
        "limited_by": limited,
        "profiled_step_s": round(wall_us / 1e6, 4),
        "self_time": f"self {clock} time",
        "device_busy": round(busy, 3) if cuda else None,
        "categories_ms": {c: round(us / 1e3, 2) for c, us in by_category.items()},
        "top_ops": [
            {"name": name, "self_ms": round(us / 1e3, 3), "share": round(us / total, 4)}
            for name, us in rows[:10]
        ],
        "trace": str(trace) if trace else None,
    }


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _oom(exc: BaseException) -> dict:
    return {"error": f"CUDA out of memory ({str(exc).splitlines()[0]})"}


def run(a: argparse.Namespace, model: str) -> dict:
    """Ours (halving the micro-batch while it runs out of memory), one profiled step, then the
    peer from the same initial weights and batches: one model on the device at a time."""
    cuda = torch.cuda.is_available() and a.device != "cpu"
    seq_len = a.seq_len or (2048 if cuda else 256)
    micro = a.micro_batch or (4 if cuda else 8)
    accum = a.accum or (4 if cuda else 2)
    did_not_fit: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        tokens, mix = synthetic_shards(Path(tmp), a.corpus_tokens)
        while True:
            cfg = TrainConfig(
                tokens=str(tokens),
                mix=str(mix),
                model=model,
                out=str(Path(tmp) / "run"),
                steps=10**6,  # the schedule only sets the lr; it never ends inside the benchmark
                batch_tokens=seq_len * micro * accum,
                seq_len=seq_len,
                micro_batch=micro,
                warmup_steps=0,
                device="cuda" if cuda else "cpu",
                compile=(not a.no_compile) if cuda else a.cpu_compile,
                resume="none",
                progress=False,
                tensorboard=False,
            )
            trainer = None
            try:
                trainer = Trainer(cfg, log=lambda *_: None)
            except torch.cuda.OutOfMemoryError as exc:
                ours = _oom(exc)
            if trainer is not None:
                device = trainer.rt.device
                setup = {
                    "cfg": trainer.cfg,
                    "args": trainer.args,
                    "device": device,
                    "accum": trainer.accum,
                    "step_tokens": trainer.cfg.batch_tokens,
                    "flops_per_token": flops_per_token(trainer.args, seq_len),
                    "peak": trainer.peak,
                }
                ours = measure(lambda t=trainer: t.train_step()[0], a, device, setup)
            if "error" not in ours or micro == 1:
                break
            did_not_fit.append(micro)
            del trainer
            _free(torch.device("cuda"))
            micro, accum = micro // 2, accum * 2
        if "error" in ours:
            limited = f"GPU memory: out of memory at micro-batches {[*did_not_fit, micro]}"
            return {"setup": {"model": model}, "ours": ours, "limited_by": limited}
        trace = a.profile / f"{model}.json" if a.profile else None
        profiled = profile_step(lambda t=trainer: t.train_step(), device, trace, ours["step_s"])
        limited = profiled.pop("limited_by")
        if did_not_fit:
            limited = (
                f"GPU memory: micro-batches {did_not_fit} did not fit, ran at {micro}; {limited}"
            )
        weights = {k: v.detach().to("cpu", copy=True) for k, v in trainer.core.state_dict().items()}
        loader_tps = loader_rate(trainer.cfg, a.loader_calls)
        peak_label, params = trainer.peak_label, num_params(trainer.args)
        del trainer
        _free(device)
        theirs = None
        if not a.no_peer:
            try:
                theirs = measure(Peer(setup, weights, a.peer_compile).train_step, a, device, setup)
            except torch.cuda.OutOfMemoryError as exc:
                theirs = _oom(exc)
            _free(device)
    ratio = (
        ours["tokens_per_s"] / theirs["tokens_per_s"]
        if theirs and "error" not in ours and "error" not in theirs
        else None
    )
    ours_tps = ours.get("tokens_per_s")
    h100 = cuda and "H100" in torch.cuda.get_device_name(device)
    return {
        "benchmark": "training step: ours vs transformers LlamaForCausalLM (plain loop)",
        "command": "python -m benchmarks.train " + shlex.join(sys.argv[1:]),
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "mfu_peak": peak_label,
        "versions": {"torch": torch.__version__, "transformers": _version("transformers")},
        "setup": {
            "model": model,
            "parameters": params,
            "flops_per_token": setup["flops_per_token"],
            "seq_len": seq_len,
            "micro_batch": micro,
            "accumulation": setup["accum"],
            "tokens_per_step": setup["step_tokens"],
            "dtype": setup["cfg"].dtype,
            "ours_compile": setup["cfg"].compile,
            "peer_compile": a.peer_compile,
            "warmup_steps": a.warmup,
            "measured_steps": a.steps,
            "rounds": a.rounds,
            "cpu_threads": torch.get_num_threads(),
            "peak_memory": "max allocated" if cuda else "process peak resident set so far",
        },
        "ours": ours,
        "limited_by": limited,
        "micro_batches_out_of_memory": did_not_fit,
        "profile": profiled,
        "transformers": theirs,
        "ratio_ours_to_transformers": _round(ratio, 3),
        "loader": {
            "tokens_per_s": round(loader_tps, 1),
            "times_our_step": round(loader_tps / ours_tps, 1) if ours_tps else None,
        },
        "targets": {
            "ratio_to_transformers": TARGET_RATIO,
            "ratio_met": ratio >= TARGET_RATIO if ratio else None,
            "mfu_h100": TARGET_MFU_H100 if h100 else None,
            "mfu_met": (ours.get("mfu") or 0) >= TARGET_MFU_H100 if h100 else None,
            "loader_times_step": TARGET_LOADER,
            "loader_met": loader_tps >= TARGET_LOADER * ours_tps if ours_tps else None,
        },
    }


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, digits)


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def presets(values: list[str] | None, cuda: bool) -> list[str]:
    """The --model values, space- or comma-separated, checked against the presets."""
    names = [n for v in values or [] for n in v.split(",") if n] or [
        "llama-1b" if cuda else "llama-20m"
    ]
    unknown = [n for n in names if n not in PRESETS]
    if unknown:
        raise SystemExit(f"error: unknown preset(s) {unknown}; choose from {', '.join(PRESETS)}")
    return names


def summary(model: str, result: dict) -> str:
    ours = result["ours"]
    if "error" in ours:
        return f"{model}: {ours['error']}; limited by {result['limited_by']}"
    mfu_text = f"{ours['mfu']:.1%}" if ours["mfu"] is not None else "n/a"
    memory = ours["peak_memory_gib"]
    return (
        f"{model}: {ours['tokens_per_s']:,.0f} tokens/s, MFU {mfu_text}, peak memory "
        f"{memory:.2f} GiB, micro-batch {result['setup']['micro_batch']}; "
        f"limited by {result['limited_by']}"
    )


def top_ops_table(model: str, profiled: dict) -> str:
    lines = [f"{model}: top ops by {profiled['self_time']} of one step ({profiled['trace']})"]
    lines += [
        f"  {op['self_ms']:>10.3f} ms {op['share']:>6.1%}  {op['name'][:90]}"
        for op in profiled["top_ops"]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--out", type=Path, help="JSON file; results are kept per device type (cpu/cuda)"
    )
    p.add_argument("--quick", action="store_true", help="fewer steps and one round (a smoke run)")
    p.add_argument("--device", choices=("auto", "cpu"), default="auto")
    p.add_argument(
        "--model",
        nargs="+",
        help="presets, space- or comma-separated, run in turn (default: llama-1b on CUDA, "
        "llama-20m on the CPU)",
    )
    p.add_argument("--seq_len", type=int, help="default: 2048 on CUDA, 256 on the CPU")
    p.add_argument("--micro_batch", type=int, help="sequences per forward (default: 4 CUDA, 8 CPU)")
    p.add_argument("--accum", type=int, help="micro-batches per step (default: 4 CUDA, 2 CPU)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps each (compilation)")
    p.add_argument("--steps", type=int, default=10, help="timed steps per round")
    p.add_argument("--rounds", type=int, default=3, help="alternating measured rounds")
    p.add_argument("--loader_calls", type=int, default=200, help="micro-batches timed")
    p.add_argument("--corpus_tokens", type=int, default=2_000_000)
    p.add_argument("--no_compile", action="store_true", help="ours without torch.compile (CUDA)")
    p.add_argument("--cpu_compile", action="store_true", help="ours with torch.compile on the CPU")
    p.add_argument("--peer_compile", action="store_true", help="torch.compile the HF model too")
    p.add_argument("--no_peer", action="store_true", help="ours only (no transformers run)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write the profiled step's chrome trace to DIR/<preset>.json and print its top ops",
    )
    a = p.parse_args(argv)
    if a.quick:
        a.warmup, a.steps, a.rounds, a.loader_calls = 2, 3, 1, 50
    cuda = torch.cuda.is_available() and a.device != "cpu"
    results = {model: run(a, model) for model in presets(a.model, cuda)}
    print(json.dumps(results, indent=1))
    for model, result in results.items():
        if a.profile and result.get("profile"):
            print(top_ops_table(model, result["profile"]))
        print(summary(model, result))
    if a.out:
        key = "cuda" if cuda else "cpu"
        existing = json.loads(a.out.read_text()) if a.out.exists() else {}
        # One preset: the result itself, as before; several: one result per preset.
        existing[key] = next(iter(results.values())) if len(results) == 1 else results
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(existing, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
