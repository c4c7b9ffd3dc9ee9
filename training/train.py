"""The training loop (docs/recipe/model.md): AdamW, warm-up + cosine, accumulation, FSDP2/DDP,
checkpoints.

    python -m training.train --tokens out/tokens --mix llama1 --model llama-tiny --steps 200
    torchrun --standalone --nproc_per_node=8 -m training.train --model llama-7b --ac selective

The same code runs on the CPU, one GPU and many: several processes (torchrun) shard the model with
FSDP2 (`fully_shard` per block; `--parallel ddp` replicates it instead). A step draws
`batch_tokens` tokens from the mixture loader as micro-batches of `micro_batch` sequences per rank,
averages their mean losses (every target of a packed window counts, so this is the mean over all
tokens of the step), clips the gradient norm and steps AdamW (β 0.9/0.95, weight decay on matrices
only). bf16 is autocast on CUDA, or FSDP2's mixed precision with fp32 gradient reduction. A step
whose loss or gradient norm is not finite is skipped and counted; `max_nonfinite` of them in a row
stop the run. SIGTERM or SIGUSR1 (preemption) ends the run after the step it lands in, with a
checkpoint and exit status 75 (docs/recipe/model.md, "Checkpoints and preemption"). See
training/checkpoint.py for checkpoints and training/metrics.py for what is logged.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mixtures.mixture import MixtureError, load_mixture, mixture_path
from training import checkpoint
from training.config import TrainConfig, accumulation, default_micro_batch, parse
from training.data import DataLoaderError, MixtureLoader, build_loader
from training.metrics import MetricsLog, Progress, memory_gib, mfu, peak_flops, plot_loss
from training.model import ModelArgs, Transformer, flops_per_token, get_preset, num_params

PAPER_WARMUP = 2000
# What Slurm (scancel, --signal, preemption) and Kubernetes (eviction) send before they kill.
PREEMPT_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)
# Exit status of a run stopped by one of them after its checkpoint: sysexits' EX_TEMPFAIL ("try
# again later"). Not 0, so a Kubernetes Job or a requeue script does not take it for finished.
PREEMPTED_EXIT = 75


class NonFiniteLossError(RuntimeError):
    """Too many consecutive steps with a non-finite loss or gradient norm."""


@dataclass(frozen=True)
class Runtime:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_runtime(cfg: TrainConfig) -> Runtime:
    """Device and process group: torchrun's environment decides whether this is distributed."""
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible (torch.cuda.is_available())")
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if use_cuda else torch.device("cpu")
    if use_cuda:
        # Less fragmentation with varying activation sizes (read when CUDA allocates first).
        os.environ.setdefault("PYTORCH_ALLOC_CONF", "expandable_segments:True")
        torch.cuda.set_device(device)
        torch.set_float32_matmul_precision("high")  # TF32 for any matmul left in fp32
    if cfg.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # before cuBLAS starts
        torch.use_deterministic_algorithms(True)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Runtime(rank=rank, world_size=world, local_rank=local, device=device)


def lr_at(step: int, *, peak: float, warmup: int, steps: int, min_ratio: float) -> float:
    """Learning rate of 0-based `step`: linear warm-up reaching `peak` at step warmup - 1, then a
    cosine from `peak` at step `warmup` to `min_ratio · peak` at the last step, steps - 1."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, steps - 1 - warmup))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Matrices (embeddings, projections, output) decay; vectors (RMSNorm weights) do not."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


# Selective activation checkpointing keeps what is expensive to recompute (matmul and attention
# outputs, as the LLaMA paper's hand-written backward did) and recomputes norms, RoPE, SiLU, adds.
_SAVED_OPS = {
    torch.ops.aten.mm.default,
    torch.ops.aten.addmm.default,
    torch.ops.aten.bmm.default,
    torch.ops.aten._scaled_dot_product_flash_attention.default,
    torch.ops.aten._scaled_dot_product_efficient_attention.default,
    torch.ops.aten._scaled_dot_product_cudnn_attention.default,
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu.default,
}


def _selective_policy(ctx, op, *args, **kwargs):
    from torch.utils.checkpoint import CheckpointPolicy

    return CheckpointPolicy.MUST_SAVE if op in _SAVED_OPS else CheckpointPolicy.PREFER_RECOMPUTE


def _selective_context():
    from torch.utils.checkpoint import create_selective_checkpoint_contexts

    return create_selective_checkpoint_contexts(_selective_policy)


def apply_activation_checkpointing(model: Transformer, mode: str) -> None:
    if mode == "none":
        return
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    extra = {"context_fn": _selective_context} if mode == "selective" else {}
    for i, block in enumerate(model.layers):
        model.layers[i] = checkpoint_wrapper(block, preserve_rng_state=False, **extra)


def build_model(
    args: ModelArgs, cfg: TrainConfig, rt: Runtime, bf16: bool, log=print
) -> tuple[nn.Module, Transformer]:
    """(the module to call, the Transformer inside it), parallelised, compiled, initialised.

    One process and DDP initialise on the CPU from the seed, so every world size and device starts
    from the same weights. FSDP2 builds on the meta device and initialises each shard where it
    lives (no rank ever holds the whole model): its initial weights depend on the world size; to
    compare world sizes start them from the same --init_from.
    """
    fsdp = rt.world_size > 1 and cfg.parallel == "fsdp"
    torch.manual_seed(cfg.seed)
    if fsdp:
        with torch.device("meta"):
            core = Transformer(args, loss_chunk=cfg.loss_chunk)
    else:
        core = Transformer(args, loss_chunk=cfg.loss_chunk)
    apply_activation_checkpointing(core, cfg.ac)
    if cfg.compile:
        for block in core.layers:
            block.compile(fullgraph=True)
    if fsdp:
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(
            param_dtype=torch.bfloat16 if bf16 else None,
            reduce_dtype=torch.float32 if bf16 else None,
        )
        last = len(core.layers) - 1
        for i, block in enumerate(core.layers):  # the last block is reused at once by backward
            fully_shard(block, mp_policy=mp, reshard_after_forward=i < last)
        fully_shard(core, mp_policy=mp)
        core.to_empty(device=rt.device)
        torch.manual_seed(cfg.seed)
        core.init_weights()
        model: nn.Module = core
    else:
        core.to(rt.device)
        model = core
        if rt.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [rt.device.index] if rt.device.type == "cuda" else None
            model = DistributedDataParallel(core, device_ids=ids)
    if cfg.init_from:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

        weights = checkpoint.load_weights(Path(cfg.init_from))
        weights.pop("rope.freqs", None)
        set_model_state_dict(core, weights, options=StateDictOptions(full_state_dict=True))
        log(f"initial weights from {cfg.init_from}")
    return model, core


def resolve_config(cfg: TrainConfig, preset: ModelArgs, world_size: int, cuda: bool) -> TrainConfig:
    """The config with every default made explicit (what config.json records)."""
    seq_len = cfg.seq_len or preset.max_seq_len
    batch_tokens = cfg.batch_tokens or preset.batch_tokens
    steps = cfg.steps or max(1, preset.tokens // batch_tokens)
    per_rank = batch_tokens // (seq_len * world_size)
    micro = cfg.micro_batch or default_micro_batch(max(1, per_rank))
    accumulation(batch_tokens, seq_len, micro, world_size)  # raises with a fix if it does not split
    mix = mixture_path(cfg.mix).stem
    return replace(
        cfg,
        out=cfg.out or str(Path("out") / "train" / f"{mix}-{cfg.model}"),
        steps=steps,
        batch_tokens=batch_tokens,
        seq_len=seq_len,
        micro_batch=micro,
        lr=cfg.lr or preset.lr,
        adam_eps=cfg.adam_eps or preset.adam_eps,
        warmup_steps=cfg.warmup_steps
        if cfg.warmup_steps is not None
        else min(PAPER_WARMUP, steps // 10),
        dtype=("bf16" if cuda else "fp32") if cfg.dtype == "auto" else cfg.dtype,
        compile=cuda if cfg.compile is None else cfg.compile,
        checkpoint_format=("sharded" if world_size > 1 else "full")
        if cfg.checkpoint_format == "auto"
        else cfg.checkpoint_format,
    )


class Trainer:
    """One training run: built from a config, then `run()`; attributes are open for tests."""

    def __init__(self, cfg: TrainConfig, log=None) -> None:
        self.rt = setup_runtime(cfg)
        self.log = log or (print if self.rt.main else (lambda *_: None))
        cuda = self.rt.device.type == "cuda"
        preset = get_preset(cfg.model)
        self.cfg = resolve_config(cfg, preset, self.rt.world_size, cuda)
        self.run_dir = Path(self.cfg.out)
        self.accum = accumulation(
            self.cfg.batch_tokens, self.cfg.seq_len, self.cfg.micro_batch, self.rt.world_size
        )
        try:
            self.mixture = load_mixture(self.cfg.mix)
            self.loader: MixtureLoader = build_loader(
                self.cfg.tokens,
                self.mixture,
                seq_len=self.cfg.seq_len,
                batch_size=self.cfg.micro_batch,
                seed=self.cfg.seed,
                rank=self.rt.rank,
                world_size=self.rt.world_size,
                log=self.log,
            )
        except (MixtureError, DataLoaderError) as exc:
            raise SystemExit(f"error: {exc}") from exc
        self.tokenizer = self.loader.tokenizer
        vocab = self.tokenizer.get("vocab_size")
        if not isinstance(vocab, int) or vocab <= 0:
            raise SystemExit(
                f"error: {self.cfg.tokens}/*/_manifest.json: the tokenizer entry has no vocab_size;"
                " "
                "re-run `make tokenize` so the model's vocabulary matches the tokenizer's"
            )
        # The vocabulary stays the tokenizer's (not padded), so exported models match it.
        self.args = replace(preset, vocab_size=vocab, max_seq_len=self.cfg.seq_len)
        self.bf16 = self.cfg.dtype == "bf16"
        self.model, self.core = build_model(self.args, self.cfg, self.rt, self.bf16, self.log)
        self.fsdp = self.rt.world_size > 1 and self.cfg.parallel == "fsdp"
        self.optimizer = torch.optim.AdamW(
            param_groups(self.core, self.cfg.weight_decay),
            lr=self.cfg.lr,
            betas=(self.cfg.beta1, self.cfg.beta2),
            eps=self.cfg.adam_eps,
            fused=cuda or None,
        )
        self.flops_per_token = flops_per_token(self.args, self.cfg.seq_len)
        self.peak, self.peak_label = peak_flops(self.rt.device, self.cfg.peak_tflops)
        self.step = 0
        self.skipped = 0
        self.nonfinite_in_a_row = 0
        self.losses: list[float | None] = []  # this process's per-step losses (tests, summary)
        self.signal_received = 0  # set by the handler of PREEMPT_SIGNALS, and nothing else
        self.preempted_by: str | None = None  # the signal that stopped the run, on every rank
        self._resume()

    # ---- state --------------------------------------------------------------------------------
    def _resume(self) -> None:
        path = checkpoint.resolve(self.cfg.resume, self.run_dir)
        existing = checkpoint.complete(self.run_dir)
        start = checkpoint.step_of(path) if path else 0
        if existing and checkpoint.step_of(existing[-1]) > start:
            raise SystemExit(
                f"error: {existing[-1]} is newer than where this run starts (step {start}): its "
                "checkpoints would mix with this run's; use another --out or remove them"
            )
        if path is None:
            return
        state = checkpoint.read_trainer_state(path)
        for key, mine in (("model_args", asdict(self.args)), ("tokenizer_sha256", self._sha())):
            if state.get(key) != mine:
                raise SystemExit(
                    f"error: {path}: its {key} differ from this run's ({state.get(key)} vs "
                    f"{mine}); resume with the same model and tokens, or --resume none / "
                    "another --out"
                )
        state, rank_state = checkpoint.load(path, self.core, self.optimizer)
        self.loader.load_state_dict(state["loader"])
        self.step, self.skipped = state["step"], state["skipped_steps"]
        torch.set_rng_state(rank_state["torch"])
        if self.rt.device.type == "cuda" and rank_state.get("cuda") is not None:
            torch.cuda.set_rng_state(rank_state["cuda"], self.rt.device)
        self.log(f"resumed from {path} (step {self.step})")

    def _sha(self) -> str:
        return str(self.tokenizer.get("sha256", ""))

    def tokens(self) -> int:
        return self.step * self.cfg.batch_tokens

    def save(self) -> Path:
        trainer_state = {
            "tokens": self.tokens(),
            "skipped_steps": self.skipped,
            "loader": self.loader.state_dict(),
            "model_args": asdict(self.args),
            "tokenizer_sha256": self._sha(),
        }
        rank_state = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state(self.rt.device)
            if self.rt.device.type == "cuda"
            else None,
        }
        path = checkpoint.save(
            self.run_dir,
            self.step,
            self.core,
            self.optimizer,
            trainer_state,
            rank_state,
            fmt=self.cfg.checkpoint_format,
            keep=self.cfg.keep,
        )
        self.log(f"checkpoint {path}")
        return path

    def write_config(self) -> None:
        record = {
            "config": self.cfg.to_dict(),
            "model_args": asdict(self.args),
            "parameters": num_params(self.args),
            "flops_per_token": self.flops_per_token,
            "accumulation": self.accum,
            "world_size": self.rt.world_size,
            "mixture": {
                "name": self.mixture.name,
                "path": str(self.mixture.path),
                "weights": self.mixture.weights,
                "effective_weights": self.loader.weights,
            },
            "tokenizer": self.tokenizer,
            "torch": torch.__version__,
            "device": torch.cuda.get_device_name(self.rt.device)
            if self.rt.device.type == "cuda"
            else "cpu",
            "mfu_peak": self.peak_label,
        }
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "config.json").write_text(json.dumps(record, indent=1) + "\n")

    # ---- steps ----------------------------------------------------------------------------
    def _autocast(self):
        if self.bf16 and not self.fsdp:  # FSDP2 casts the parameters itself
            return torch.autocast(self.rt.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _sync_gradients(self, sync: bool):
        """Reduce gradients across ranks only on the last micro-batch of a step."""
        if self.fsdp:
            self.core.set_requires_gradient_sync(sync)
            return contextlib.nullcontext()
        if self.rt.world_size > 1 and not sync:
            return self.model.no_sync()
        return contextlib.nullcontext()

    def _to_device(self, batch: torch.Tensor) -> torch.Tensor:
        if self.rt.device.type == "cuda":
            return batch.pin_memory().to(self.rt.device, non_blocking=True)
        return batch

    def _all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        if self.rt.world_size > 1:
            dist.all_reduce(tensor)
        return tensor

    def train_step(self) -> tuple[float | None, float, float]:
        """One optimizer step: (loss or None if skipped, grad norm, lr)."""
        lr = lr_at(
            self.step,
            peak=self.cfg.lr,
            warmup=self.cfg.warmup_steps,
            steps=self.cfg.steps,
            min_ratio=self.cfg.min_lr_ratio,
        )
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=self.rt.device)
        for micro in range(self.accum):
            inputs, targets = self.loader.next_batch()
            inputs, targets = self._to_device(inputs), self._to_device(targets)
            with self._sync_gradients(micro == self.accum - 1), self._autocast():
                loss = self.model(inputs, targets)
            (loss / self.accum).backward()
            loss_sum += loss.detach()
        loss_mean = self._all_reduce(loss_sum / self.accum) / self.rt.world_size
        if self.cfg.grad_clip > 0:
            norm = nn.utils.clip_grad_norm_(self.core.parameters(), self.cfg.grad_clip)
        else:
            grads = [p.grad for p in self.core.parameters() if p.grad is not None]
            norm = nn.utils.get_total_norm(grads)
        if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
            norm = norm.full_tensor()
        loss_value, norm_value = torch.stack([loss_mean, norm.float()]).tolist()
        finite = math.isfinite(loss_value) and math.isfinite(norm_value)
        if finite:
            self.optimizer.step()
            self.nonfinite_in_a_row = 0
        else:
            self.skipped += 1
            self.nonfinite_in_a_row += 1
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.nonfinite_in_a_row >= self.cfg.max_nonfinite:
            latest = checkpoint.resolve("auto", self.run_dir)
            raise NonFiniteLossError(
                f"the loss or gradient norm was not finite for {self.nonfinite_in_a_row} steps in "
                f"a row (steps {self.step - self.nonfinite_in_a_row + 1}-{self.step}; "
                f"{self.skipped} skipped in all); stopping. Lower --lr or raise --warmup_steps, "
                "check the token shards, and resume from the last checkpoint "
                f"({latest or 'none yet'}) with RESUME=... or --resume"
            )
        return (loss_value if finite else None), norm_value, lr

    @torch.no_grad()
    def evaluate(self) -> dict[str, float | None]:
        """Mean loss per held-out token of each source (the same batches every time)."""
        self.model.eval()
        out: dict[str, float | None] = {}
        for source in self.loader.weights:
            total = torch.zeros(2, device=self.rt.device, dtype=torch.float64)
            for inputs, targets in self.loader.val_batches(source, self.cfg.eval_batches):
                count = (targets != -100).sum().to(self.rt.device)
                inputs, targets = self._to_device(inputs), self._to_device(targets)
                with self._autocast():
                    loss = self.model(inputs, targets)
                summed = torch.where(count > 0, loss.double() * count, 0.0)  # empty: NaN mean
                total += torch.stack([summed, count.double()])
            loss_sum, count = self._all_reduce(total).tolist()
            out[source] = loss_sum / count if count else None
        self.model.train()
        return out

    # ---- the loop -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        stop = min(cfg.steps, cfg.stop_at) if cfg.stop_at else cfg.steps
        if self.rt.main:
            self.write_config()
            self.log(
                f"{cfg.model}: {num_params(self.args):,} parameters, vocab {self.args.vocab_size}; "
                f"{cfg.steps} steps of {cfg.batch_tokens:,} tokens ({cfg.micro_batch} × "
                f"{cfg.seq_len} per forward × {self.accum} accumulation × {self.rt.world_size} "
                f"ranks); {self.rt.device}, {cfg.dtype}, compile {'on' if cfg.compile else 'off'}, "
                f"AC {cfg.ac}; MFU peak: {self.peak_label}"
            )
        metrics = (
            MetricsLog(self.run_dir, self.step, cfg.tensorboard, self.log) if self.rt.main else None
        )
        progress = Progress(cfg.steps, self.step, cfg.progress) if self.rt.main else None
        if self.step >= stop:
            self.log(f"step {self.step} ≥ {stop}: nothing to train")
        interval: dict[str, Any] = {"losses": [], "seconds": 0.0, "steps": 0}
        self.model.train()
        handlers = self._catch_preemption()
        try:
            while self.step < stop:
                started = time.perf_counter()
                loss, norm, lr = self.train_step()
                interval["seconds"] += time.perf_counter() - started
                interval["steps"] += 1
                self.losses.append(loss)
                if loss is not None:
                    interval["losses"].append(loss)
                preempted = self._agreed_signal() if self.step < stop else 0
                stats = self._stats(interval, lr, norm)
                log_now = self.step % cfg.log_every == 0 or self.step == stop or preempted > 0
                if progress:
                    progress.update(self.step, stats, line=log_now)
                if log_now:
                    if metrics:
                        metrics.write(stats)
                    interval = {"losses": [], "seconds": 0.0, "steps": 0}
                if preempted:
                    self.preempted_by = signal.Signals(preempted).name
                    self.log(
                        f"preempted by {self.preempted_by} at step {self.step} of {cfg.steps}: "
                        f"checkpoint {self.save()}; resume with --resume auto (the default) and "
                        f"the same --out; exit status {PREEMPTED_EXIT}"
                    )
                    break
                if cfg.eval_every and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    self._validate(metrics, progress)
                every = cfg.checkpoint_every
                if self.step == stop or (every and self.step % every == 0):
                    self.save()
        finally:
            # After a preemption the process is about to exit: the handlers stay (see main).
            for number, handler in handlers.items() if not self.preempted_by else ():
                signal.signal(number, handler)
            if progress:
                progress.close()
            if metrics:
                metrics.close()
        return self._finish()

    def _catch_preemption(self) -> dict[int, Any]:
        """Handlers that only record a PREEMPT_SIGNAL (the loop checkpoints and stops after the
        step it lands in); returns the handlers they replace. Python allows signal handlers on the
        main thread only: elsewhere the signals keep their defaults."""
        if threading.current_thread() is not threading.main_thread():
            return {}

        def record(signum: int, _frame: object) -> None:
            self.signal_received = signum

        return {number: signal.signal(number, record) for number in PREEMPT_SIGNALS}

    def _agreed_signal(self) -> int:
        """The signal any rank received (0: none), the same on every rank so that all of them
        checkpoint at the same step: one all-reduce of one integer per step."""
        if self.rt.world_size == 1:
            return self.signal_received
        flag = torch.tensor(self.signal_received, device=self.rt.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag.item())

    def _stats(self, interval: dict[str, Any], lr: float, norm: float) -> dict[str, Any]:
        losses = interval["losses"]
        seconds = interval["seconds"]
        tps = interval["steps"] * self.cfg.batch_tokens / seconds if seconds else 0.0
        return {
            "step": self.step,
            "loss": sum(losses) / len(losses) if losses else None,
            "lr": lr,
            "tokens": self.tokens(),
            "tokens_by_source": self.loader.tokens_by_source,
            "tokens_per_s": tps,
            "mfu": mfu(self.flops_per_token, tps, self.peak, self.rt.world_size),
            "grad_norm": norm,
            "skipped_steps": self.skipped,
            "memory_gib": memory_gib(self.rt.device),
        }

    def _validate(self, metrics: MetricsLog | None, progress: Progress | None) -> None:
        val = self.evaluate()
        if metrics:
            metrics.write({"step": self.step, "tokens": self.tokens(), "val_loss": val})
        if progress:
            shown = ", ".join(f"{s} {v:.4f}" for s, v in val.items() if v is not None)
            progress.print(f"step {self.step} validation loss: {shown or 'no held-out tokens'}")

    def _finish(self) -> dict[str, Any]:
        summary = {
            "step": self.step,
            "tokens": self.tokens(),
            "skipped_steps": self.skipped,
            "tokens_by_source": self.loader.tokens_by_source,
            "run_dir": str(self.run_dir),
            "preempted_by": self.preempted_by,
        }
        if self.rt.main and not self.preempted_by:  # a preempted job's grace period is short
            png = plot_loss(
                self.run_dir / "metrics.jsonl",
                self.run_dir / "loss.png",
                f"{self.cfg.model} on {self.mixture.name} "
                f"({self.rt.world_size} × {self.rt.device.type})",
            )
            report = self.loader.report()
            self.log(
                "tokens by source: "
                + ", ".join(
                    f"{name} {r['tokens']:,} ({100 * r['share']:.1f}% vs {100 * r['weight']:.1f}%, "
                    f"{r['epochs']:.2f} epochs)"
                    for name, r in report.items()
                )
            )
            self.log(f"done: step {self.step}, {self.skipped} skipped; {png or 'no loss.png'}")
        return summary


def main(argv: list[str] | None = None) -> int:
    cfg = parse(argv)
    try:
        trainer = Trainer(cfg)
        summary = trainer.run()
        if summary["preempted_by"]:
            # A further signal must not turn status 75 into a kill: torchrun sends SIGTERM to the
            # ranks still running once one has exited, and Python's exit restores the default
            # action of Python handlers (not of SIG_IGN).
            for number in PREEMPT_SIGNALS:
                signal.signal(number, signal.SIG_IGN)
    except (NonFiniteLossError, checkpoint.CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return PREEMPTED_EXIT if summary["preempted_by"] else 0


if __name__ == "__main__":
    sys.exit(main())
