"""Training data loader throughput: tokens/s of `MixtureLoader.next_batch` alone, on one core.

Token shards of random ids for the seven llama1 sources (sizes by their weights, document lengths
log-normal around 600 tokens) are written to a temporary directory; the loader then packs
seq_len 2048 × batch 8 micro-batches from them, pinned to one CPU core with one torch thread.
Two schedules: one rank (an 8-row global batch) and rank 0 of 256 (a 2,048-row, 4.2M-token global
batch like LLaMA's 4M, where every rank plans all rows and reads its 8). The yardstick is what a GPU
consumes: an H100 training a 1B model at about 50% MFU takes about 60k tokens/s.

    python -m benchmarks.train_loader --out benchmarks/results/train_loader.json [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import machine, max_rss_mb, write_result
from core.manifest import MANIFEST
from mixtures.mixture import load_mixture
from tokenizer.shards import manifest, shard_bytes, shard_entry
from training.data import build_loader

GPU_TOKENS_PER_SECOND = 60_000  # H100, 1B model, ~50% MFU (6·N flops per token plus attention)
TARGET_RATIO = 50
VOCAB = 32_000


def write_sources(root: Path, total_tokens: int, shards: int, seed: int = 0) -> dict:
    """Random-token shards for every source of llama1, sized by weight; returns their counts."""
    rng = np.random.default_rng(seed)
    counts = {}
    for name, weight in load_mixture("llama1").weights.items():
        directory = root / name
        directory.mkdir(parents=True)
        budget = int(total_tokens * weight)
        lengths = np.maximum(1, rng.lognormal(np.log(600) - 0.5, 1.0, budget // 400)).astype(int)
        lengths = lengths[np.cumsum(lengths) <= budget]
        ids = [f"{name}/{i:09d}" for i in range(len(lengths))]
        entries = []
        for s, part in enumerate(np.array_split(np.arange(len(lengths)), shards)):
            values = rng.integers(3, VOCAB, size=int(lengths[part].sum()), dtype=np.uint16)
            docs = np.split(values, np.cumsum(lengths[part])[:-1])
            path = directory / f"part-{s:05d}-of-{shards:05d}.arrow"
            path.write_bytes(shard_bytes([ids[i] for i in part], docs))
            entries.append(shard_entry(path, len(part), len(values), 0))
        tokenizer = {"sha256": "random", "vocab_size": VOCAB, "path": ""}
        (directory / MANIFEST).write_text(json.dumps(manifest(name, tokenizer, entries)))
        counts[name] = {"documents": len(lengths), "tokens": int(lengths.sum())}
    return counts


def measure(root: Path, seq_len: int, batch_size: int, world_size: int, seconds: float) -> dict:
    started = time.perf_counter()
    loader = build_loader(
        root,
        load_mixture("llama1"),
        seq_len=seq_len,
        batch_size=batch_size,
        world_size=world_size,
        log=lambda line: None,
    )
    opened = time.perf_counter() - started
    for _ in range(3):  # first page faults and permutations
        loader.next_batch()
    batches, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for _ in range(10):
            loader.next_batch()
        batches += 10
    tokens_per_second = batches * batch_size * seq_len / elapsed
    return {
        "world_size": world_size,
        "global_batch_rows": world_size * batch_size,
        "open_seconds": round(opened, 3),
        "batches": batches,
        "seconds": round(elapsed, 3),
        "ms_per_batch": round(1000 * elapsed / batches, 3),
        "tokens_per_second": round(tokens_per_second),
        "vs_gpu": round(tokens_per_second / GPU_TOKENS_PER_SECOND, 1),
        "realised_shares": {name: round(row["share"], 4) for name, row in loader.report().items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/train_loader.json")
    parser.add_argument("--tokens", type=float, default=50e6, help="random tokens in all shards")
    parser.add_argument("--shards", type=int, default=4, help="shards per source")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed next_batch per case")
    parser.add_argument("--seq_len", type=int, default=2048)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="5M tokens, 2 s per case")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.seconds = 5e6, 2.0
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        counts = write_sources(Path(tmp), int(args.tokens), args.shards)
        cases = [
            measure(Path(tmp), args.seq_len, args.batch_size, world, args.seconds)
            for world in (1, 256)
        ]
    one = cases[0]["tokens_per_second"]
    result = {
        "benchmark": "MixtureLoader.next_batch tokens/s on one core",
        "shards": f"{sum(c['tokens'] for c in counts.values()):,} random tokens, "
        f"{sum(c['documents'] for c in counts.values()):,} documents, 7 sources × {args.shards}",
        "seq_len": args.seq_len,
        "batch_size": args.batch_size,
        "machine": machine(),
        "sources": counts,
        "one_rank": cases[0],
        "rank_0_of_256": cases[1],
        "tokens_per_second_one_core": one,
        "gpu_tokens_per_second": GPU_TOKENS_PER_SECOND,
        "gpu_assumption": "H100, 1B-parameter model, ~50% MFU",
        "ratio_vs_gpu": round(one / GPU_TOKENS_PER_SECOND, 1),
        "target_ratio": TARGET_RATIO,
        "max_rss_mb": max_rss_mb(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
