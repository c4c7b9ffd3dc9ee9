"""The data ablation (`make ablation`, docs/recipe/ablation.md): the same LLaMA, seed and number of
training tokens on four training sets, evaluated on held-out documents none of them trained on.

    python -m ablation --data out --tokenizer models/tokenizer/llama1.model --seeds 0,1,2
    python -m ablation --device cuda --model llama-125m --steps 200   # on a GPU

For each seed and set: a fresh run of training.train's Trainer (initial weights and data order
from the seed, so two sets share their initial weights), then the final weights' perplexity and
bits per UTF-8 byte on every evaluation set (training/evaluate.py: every held-out token scored
once, in a fixed order). Over the seeds: mean, standard deviation and range. Two sets are called
different on an evaluation set only when their ranges over the seeds do not overlap (RULE).
Outputs under --output: sets/ and eval/ (token shards), runs/<set>-seed<k>/ (config.json,
metrics.jsonl, loss.png; checkpoints removed unless --keep_checkpoints), ablation.json,
ablation.md (the table) and ablation.png.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ablation.sets import (
    SETS,
    AblationError,
    Decoder,
    build_sets,
    check_disjoint,
    token_dir_ids,
    write_sets,
)
from core.files import bytes_sha256, json_bytes, read_json, write_atomically, write_json
from core.manifest import MANIFEST
from mixtures.mixture import load_mixture
from tokenizer.shards import TokenSource
from training.config import TrainConfig
from training.evaluate import HeldOutLoss, held_out_loss
from training.model import PRESETS
from training.train import Trainer

RULE = (
    "two sets differ on an evaluation set when the ranges [min, max] of their perplexity over "
    "the seeds do not overlap; otherwise the difference is within the seed noise and reported "
    "as no difference (with one seed nothing is called a difference)"
)
# llama-tiny's defaults fit its 12 runs (4 sets × 3 seeds) in 20 minutes on 2 CPU cores: its
# sequences, a step of 8 of them, 100 steps, and at most 32,768 scored tokens per evaluation set
# (the output layer over 32,000 pieces is most of the cost). Other presets keep their sequence
# length and batch, train DEFAULT_STEPS steps and score every held-out token.
SMALL = {"llama-tiny": {"seq_len": 256, "batch_tokens": 2048, "steps": 100, "eval_tokens": 32768}}
DEFAULT_STEPS = 200
CC_ONLY_MIX = "commoncrawl-only.yaml"
RESULT = "result.json"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ablation", description=__doc__.split("\n\n")[0].replace("`", "")
    )
    p.add_argument("--data", type=Path, default=Path("out"), help="make corpus's OUTPUT")
    p.add_argument("--tokens", type=Path, help="token shards root (default: <data>/tokens)")
    p.add_argument(
        "--tokenizer",
        type=Path,
        default=Path("models/tokenizer/llama1.model"),
        help="the tokenizer the shards were made with (text-only pages and C4's validation "
        "split are encoded with it)",
    )
    p.add_argument(
        "--wet",
        nargs="+",
        default=["data/sample/commoncrawl/wet/*.warc.wet.gz"],
        help="the WET files make commoncrawl read (globs): the text-only set's pages",
    )
    p.add_argument("--mix", default="llama1", help="the mixture of the mixture set")
    p.add_argument("--output", type=Path, help="default: <data>/ablation")
    p.add_argument("--model", default="llama-tiny", choices=tuple(PRESETS))
    p.add_argument(
        "--seeds", default="0,1,2", help="comma-separated seeds (at least 3 for a verdict)"
    )
    p.add_argument("--steps", type=int, help=f"optimizer steps (default: {DEFAULT_STEPS}; "
                   f"llama-tiny {SMALL['llama-tiny']['steps']})")  # fmt: skip
    p.add_argument("--batch_tokens", type=int, help="tokens per step (default: the preset's)")
    p.add_argument("--seq_len", type=int, help="tokens per sequence (default: the preset's)")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument(
        "--heldout_fraction",
        type=float,
        default=0.1,
        help="share of each source's documents held out for evaluation, by id hash (C4: its "
        "own validation split)",
    )
    p.add_argument("--eval_batch", type=int, default=16, help="sequences per evaluation forward")
    p.add_argument(
        "--eval_tokens",
        type=int,
        help="score at most this many tokens per evaluation set, the first in the fixed order "
        "(0: all; default: all, llama-tiny 32768)",
    )
    p.add_argument("--token_shards", type=int, default=2, help="shards per written token source")
    p.add_argument("--keep_checkpoints", action="store_true", help="keep each run's checkpoint")
    return p


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def differ(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """RULE: the seed ranges do not overlap (never with a single seed)."""
    return len(a["values"]) > 1 and (a["max"] < b["min"] or b["max"] < a["min"])


def write_cc_mixture(path: Path) -> Path:
    body = (
        "name: commoncrawl-only\n"
        "description: the ablation's CommonCrawl sets (curated, text only, head), alone\n"
        "budget_tokens: 1.0e12\n"
        "sources:\n"
        "  commoncrawl: {weight: 1.0}\n"
    )
    write_atomically(path, body.encode())
    return path


def fingerprint(args, set_name: str, seed: int, set_dir: Path) -> str:
    """What a run's result depends on: the shape, the seed and the bytes of every shard it trains
    on and is scored on (their sha256 in the manifests). An equal one means the result stands."""
    manifests = sorted(
        [*set_dir.glob(f"*/{MANIFEST}"), *(args.output / "eval").glob(f"*/{MANIFEST}")]
    )
    shards = {
        str(path.parent.relative_to(args.output)): [e["sha256"] for e in read_json(path)["shards"]]
        for path in manifests
    }
    keys = ("model", "steps", "seq_len", "batch_tokens", "eval_tokens", "eval_batch", "device")
    body = {k: getattr(args, k) for k in keys} | {"set": set_name, "seed": seed, "shards": shards}
    return bytes_sha256(json_bytes(body))


def eval_documents(directory: Path, max_tokens: int, decoder: Decoder) -> tuple[list, int]:
    """An evaluation set's token arrays in shard and row order, up to the document where
    `max_tokens` scored tokens are reached (0: all), and the UTF-8 bytes of the text scored
    (a document scores its tokens and its `</s>`; held_out_loss cuts the stream there too)."""
    source, docs, scored_docs, scored = TokenSource(directory), [], [], 0
    for shard in source.shards:
        for i in range(len(shard)):
            doc = shard.document(i)
            docs.append(doc)
            if max_tokens and scored + len(doc) + 1 > max_tokens:
                scored_docs.append(doc[: max_tokens - scored])
                return docs, sum(decoder.sizes(scored_docs))
            scored_docs.append(doc)
            scored += len(doc) + 1
    return docs, sum(decoder.sizes(scored_docs))


def train_and_evaluate(
    set_name: str, seed: int, args, tokens_dir: Path, mix: str, evals: dict[str, tuple[list, int]]
) -> dict[str, Any]:
    """One run: train from scratch, evaluate the final weights on every evaluation set. A run
    whose result.json has the same fingerprint is not run again (an interrupted ablation goes on
    where it stopped)."""
    run_dir = args.output / "runs" / f"{set_name}-seed{seed}"
    key = fingerprint(args, set_name, seed, tokens_dir)
    done = read_json(run_dir / RESULT)
    if done and done.get("fingerprint") == key:
        print(f"[{set_name} seed {seed}] done before: {run_dir / RESULT}", flush=True)
        return done | {"reused": True}
    if run_dir.exists():
        shutil.rmtree(run_dir)
    cfg = TrainConfig(
        tokens=str(tokens_dir),
        mix=mix,
        model=args.model,
        out=str(run_dir),
        steps=args.steps,
        batch_tokens=args.batch_tokens,
        seq_len=args.seq_len,
        seed=seed,
        device=args.device,
        log_every=max(1, args.steps // 5),
        eval_every=0,
        checkpoint_every=0,
        keep=1,
        resume="none",
        progress=False,
        tensorboard=False,
    )
    started, cpu = time.perf_counter(), time.process_time()
    trainer = Trainer(cfg, log=lambda line: print(f"[{set_name} seed {seed}] {line}", flush=True))
    trainer.run()
    if trainer.step != trainer.cfg.steps:
        raise SystemExit(
            f"error: {set_name} seed {seed} stopped at step {trainer.step} of "
            f"{trainer.cfg.steps}; run the ablation again to go on (finished runs are kept)"
        )
    trained_s = time.perf_counter() - started
    bf16 = trainer.cfg.dtype == "bf16"
    device = trainer.rt.device

    def autocast():
        if bf16:
            return torch.autocast(device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    results = {}
    for name, (docs, utf8_bytes) in evals.items():
        loss: HeldOutLoss = held_out_loss(
            trainer.core,
            docs,
            seq_len=trainer.cfg.seq_len,
            batch_size=args.eval_batch,
            device=device,
            autocast=autocast,
            max_tokens=args.eval_tokens,
        )
        results[name] = {
            "nll": loss.nll,
            "tokens": loss.tokens,
            "bytes": utf8_bytes,
            "ppl": loss.perplexity,
            "bits_per_byte": loss.bits_per_byte(utf8_bytes),
        }
    if not args.keep_checkpoints:
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
    report = trainer.loader.report()
    losses = trainer.losses
    tail = [x for x in losses[-10:] if x is not None]
    result = {
        "fingerprint": key,
        "set": set_name,
        "seed": seed,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "steps": trainer.step,
        "training_tokens": trainer.tokens(),
        "tokens_by_source": trainer.loader.tokens_by_source,
        "epochs": {name: r["epochs"] for name, r in report.items()},
        "final_loss": statistics.fmean(tail) if tail else None,
        "losses": losses,
        "skipped_steps": trainer.skipped,
        "train_s": trained_s,
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "eval": results,
    }
    write_json(run_dir / RESULT, result)
    return result | {"reused": False}


def check_equal_tokens(runs: list[dict[str, Any]]) -> int:
    totals = {(r["set"], r["seed"]): r["training_tokens"] for r in runs}
    drawn = {(r["set"], r["seed"]): sum(r["tokens_by_source"].values()) for r in runs}
    if len(set(totals.values())) != 1 or len(set(drawn.values())) != 1:
        raise AblationError(f"training tokens differ between runs: {totals}, drawn {drawn}")
    return next(iter(totals.values()))


def summarise(runs: list[dict[str, Any]], eval_names: list[str]) -> dict[str, Any]:
    results: dict[str, dict] = {}
    comparisons: dict[str, list] = {}
    for name in eval_names:
        per_set = {}
        for set_name in SETS:
            mine = [r for r in runs if r["set"] == set_name]
            per_set[set_name] = {
                metric: spread([r["eval"][name][metric] for r in mine])
                for metric in ("ppl", "bits_per_byte")
            }
        results[name] = per_set
        pairs = []
        for i, a in enumerate(SETS):
            for b in SETS[i + 1 :]:
                pa, pb = per_set[a]["ppl"], per_set[b]["ppl"]
                verdict = "no difference"
                if differ(pa, pb):
                    verdict = f"{a} lower" if pa["mean"] < pb["mean"] else f"{b} lower"
                pairs.append(
                    {"a": a, "b": b, "delta_mean_ppl": pa["mean"] - pb["mean"], "verdict": verdict}
                )
        comparisons[name] = pairs
    return {"results": results, "comparisons": comparisons}


def _cell(s: dict[str, Any], digits: int) -> str:
    mean, std, low, high = (f"{s[k]:.{digits}f}" for k in ("mean", "std", "min", "max"))
    return f"{mean} ± {std} ({low}–{high})"


def table(body: dict[str, Any]) -> str:
    """Markdown: perplexity and bits per byte per evaluation set and training set, the verdicts."""
    lines = []
    for metric, digits, title in (("ppl", 1, "perplexity"), ("bits_per_byte", 3, "bits per byte")):
        lines += [
            f"{title}: mean ± std (min–max) over seeds {body['parameters']['seeds']}",
            "",
            "| eval set | tokens | " + " | ".join(SETS) + " |",
            "|---|---:|" + "---:|" * len(SETS),
        ]
        for name, per_set in body["results"].items():
            cells = [_cell(per_set[s][metric], digits) for s in SETS]
            tokens = body["eval_sets"][name]["scored_tokens"]
            lines.append(f"| {name} | {tokens:,} | " + " | ".join(cells) + " |")
        lines.append("")
    lines.append("differences beyond the seed noise (" + body["rule"] + "):")
    for name, pairs in body["comparisons"].items():
        found = [
            f"{p['a']} vs {p['b']}: {p['verdict']}"
            for p in pairs
            if p["verdict"] != "no difference"
        ]
        lines.append(f"- {name}: " + ("; ".join(found) if found else "no difference"))
    return "\n".join(lines) + "\n"


def plot(body: dict[str, Any]) -> bytes:
    """Grouped bars per evaluation set (perplexity on a log scale, bits per byte), error bars
    from the seeds' min to max."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    names = list(body["results"])
    fig = Figure(figsize=(max(8, 1.6 * len(names) + 2), 7), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    width = 0.8 / len(SETS)
    for ax, metric, label in zip(
        axes, ("ppl", "bits_per_byte"), ("perplexity (log)", "bits per UTF-8 byte"), strict=True
    ):
        for k, set_name in enumerate(SETS):
            stats = [body["results"][n][set_name][metric] for n in names]
            means = [s["mean"] for s in stats]
            errors = [[s["mean"] - s["min"] for s in stats], [s["max"] - s["mean"] for s in stats]]
            xs = [i + (k - (len(SETS) - 1) / 2) * width for i in range(len(names))]
            ax.bar(xs, means, width, yerr=errors, capsize=2, label=set_name)
        ax.set_ylabel(label)
        if metric == "ppl":
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend(ncol=len(SETS), fontsize=8)
    axes[1].set_xticks(range(len(names)), names)
    params = body["parameters"]
    axes[0].set_title(
        f"{params['model']}, {params['training_tokens']:,} training tokens, seeds {params['seeds']}"
        " (bars: mean; error bars: min–max over seeds)"
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def resolve_shape(args) -> None:
    """The steps, batch and sequence length every run shares."""
    preset = PRESETS[args.model]
    small = SMALL.get(args.model, {})
    args.steps = args.steps or small.get("steps", DEFAULT_STEPS)
    args.seq_len = args.seq_len or small.get("seq_len", preset.max_seq_len)
    args.batch_tokens = args.batch_tokens or small.get("batch_tokens", preset.batch_tokens)
    if args.eval_tokens is None:
        args.eval_tokens = small.get("eval_tokens", 0)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    args.tokens = args.tokens or args.data / "tokens"
    args.output = args.output or args.data / "ablation"
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise SystemExit(f"--seeds {args.seeds!r}: give distinct seeds, e.g. 0,1,2")
    if not 0 < args.heldout_fraction < 1:
        raise SystemExit("--heldout_fraction must be in (0, 1)")
    resolve_shape(args)
    if args.device == "auto":  # resolved here: results are reused only on the same kind of device
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    started, cpu = time.perf_counter(), time.process_time()
    try:
        mixture = load_mixture(args.mix)
        sets = build_sets(
            tokens=args.tokens,
            data=args.data,
            tokenizer=args.tokenizer,
            wet=args.wet,
            mixture=mixture,
            fraction=args.heldout_fraction,
        )
        written = write_sets(sets, args.output, args.token_shards)
        # What the trainer reads is what is checked: the written shards, by page.
        train_dirs = {s: args.output / "sets" / s for s in SETS}
        check_disjoint(
            {
                s: {d.name: token_dir_ids(d) for d in sorted(root.iterdir())}
                for s, root in train_dirs.items()
            },
            {name: token_dir_ids(args.output / "eval" / name) for name in written["eval"]},
        )
    except AblationError as exc:
        raise SystemExit(f"error: {exc}") from exc
    decoder = Decoder(args.tokenizer.read_bytes())
    evals = {
        name: eval_documents(args.output / "eval" / name, args.eval_tokens, decoder)
        for name in written["eval"]
    }
    cc_mix = str(write_cc_mixture(args.output / CC_ONLY_MIX))
    mixes = {s: cc_mix for s in SETS} | {"mixture": str(mixture.path)}
    prepare_s = time.perf_counter() - started

    runs = []
    for seed in seeds:
        for set_name in SETS:
            runs.append(
                train_and_evaluate(
                    set_name, seed, args, train_dirs[set_name], mixes[set_name], evals
                )
            )
    try:
        training_tokens = check_equal_tokens(runs)
    except AblationError as exc:
        raise SystemExit(f"error: {exc}") from exc

    names = list(written["eval"])
    body: dict[str, Any] = {
        "parameters": {
            "model": args.model,
            "seeds": seeds,
            "steps": args.steps,
            "seq_len": args.seq_len,
            "batch_tokens": args.batch_tokens,
            "training_tokens": training_tokens,
            "device": runs[0]["device"],
            "heldout_fraction": args.heldout_fraction,
            "eval_tokens": args.eval_tokens,
            "mixture": mixture.name,
            "tokenizer": sets.tokenizer,
            "data": str(args.data),
            "wet": args.wet,
        },
        "rule": RULE,
        "sets": {
            s: {
                "by_source": written["train"][s],
                "documents": sum(c["documents"] for c in written["train"][s].values()),
                "tokens": sum(c["tokens"] for c in written["train"][s].values()),
                "bytes": sum(c["bytes"] for c in written["train"][s].values()),
                "epochs": {
                    seed_run["seed"]: seed_run["epochs"]
                    for seed_run in runs
                    if seed_run["set"] == s
                },
            }
            for s in SETS
        },
        "eval_sets": {
            name: written["eval"][name]
            | {"scored_tokens": runs[0]["eval"][name]["tokens"], "scored_bytes": evals[name][1]}
            for name in names
        },
        **summarise(runs, names),
        "runs": runs,
        "timing": {
            "prepare_s": prepare_s,
            "wall_s": time.perf_counter() - started,
            "cpu_s": time.process_time() - cpu,
            "runs_reused": sum(r["reused"] for r in runs),
            "runs_wall_s": sum(r["wall_s"] for r in runs),
            "runs_cpu_s": sum(r["cpu_s"] for r in runs),
        },
    }
    args.output.mkdir(parents=True, exist_ok=True)
    write_json(args.output / "ablation.json", body)
    text = table(body)
    write_atomically(args.output / "ablation.md", text.encode())
    write_atomically(args.output / "ablation.png", plot(body))
    print(text)
    timing = body["timing"]
    print(
        f"{len(runs)} runs of {training_tokens:,} training tokens ({timing['runs_reused']} done "
        f"before); this run: wall {timing['wall_s']:.0f} s, CPU {timing['cpu_s']:.0f} s (all "
        f"threads); the runs together: wall {timing['runs_wall_s']:.0f} s, CPU "
        f"{timing['runs_cpu_s']:.0f} s; {args.output}/ablation.json, ablation.md, ablation.png"
    )
    return 0
