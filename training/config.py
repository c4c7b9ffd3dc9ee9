"""The trainer's options: one dataclass, one argparse parser, and the derived batch arithmetic.

Everything a run depends on is a field here, so `config.json` in the run directory says exactly how
a run was made and a resumed run can check it continues the same one.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields

from training.model import PRESETS

DEFAULT_MODEL = "llama-tiny"
DEFAULT_MICRO_BATCH = 8  # largest sequences-per-forward the default picks (divisor of the batch)


@dataclass(frozen=True)
class TrainConfig:
    tokens: str = "out/tokens"
    mix: str = "llama1"
    model: str = DEFAULT_MODEL
    out: str | None = None  # run directory; None: out/train/<mix>-<model>
    steps: int | None = None  # None: the preset's token budget / batch_tokens
    batch_tokens: int | None = None  # None: the preset's
    seq_len: int | None = None  # None: the preset's max_seq_len
    micro_batch: int | None = None  # sequences per rank per forward; None: up to 8
    lr: float | None = None  # None: the preset's peak
    min_lr_ratio: float = 0.1
    warmup_steps: int | None = None  # None: 2000, or 10% of steps when fewer
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    adam_eps: float | None = None  # None: the preset's
    grad_clip: float = 1.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (bf16 on CUDA, fp32 on CPU) | bf16 | fp32
    compile: bool | None = None  # None: on for CUDA
    ac: str = "none"  # activation checkpointing: none | selective | full
    loss_chunk: int | None = None  # rows per chunk of the loss; None: the model's; 0: plain
    parallel: str = "fsdp"  # with several processes: fsdp (FSDP2) | ddp
    deterministic: bool = False
    log_every: int = 10
    eval_every: int = 100  # 0: never
    eval_batches: int = 4  # held-out batches per source per evaluation
    checkpoint_every: int = 100  # 0: only at the end
    keep: int = 3  # complete checkpoints kept
    checkpoint_format: str = "auto"  # auto (full for one process, else sharded) | full | sharded
    resume: str = "auto"  # auto | none | a checkpoint or run directory
    init_from: str | None = None  # a model state dict (Meta names) to start from
    stop_at: int | None = None  # stop after this step (the schedule still spans --steps)
    max_nonfinite: int = 5  # consecutive non-finite steps that stop the run
    peak_tflops: float | None = None  # overrides the GPU table for MFU
    progress: bool | None = None  # None: a live bar when stderr is a terminal
    tensorboard: bool = True  # also write TensorBoard events when it is installed

    def to_dict(self) -> dict:
        return asdict(self)


CHOICES = {
    "model": tuple(PRESETS),
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("auto", "bf16", "fp32"),
    "ac": ("none", "selective", "full"),
    "parallel": ("fsdp", "ddp"),
    "checkpoint_format": ("auto", "full", "sharded"),
}

HELP = {
    "tokens": "token shards root: <tokens>/<source>/_manifest.json (`make tokenize`)",
    "mix": "mixture name (mixtures/<name>.yaml) or a YAML path",
    "model": "model preset (training/model.py)",
    "out": "run directory (checkpoints, metrics.jsonl, config.json, loss.png); "
    "default out/train/<mix>-<model>",
    "steps": "optimizer steps; default: the preset's token budget / batch_tokens",
    "batch_tokens": "tokens per optimizer step, all ranks together (gradient accumulation makes "
    "up the difference); default: the preset's",
    "seq_len": "tokens per sequence; default: the preset's max_seq_len",
    "micro_batch": "sequences per rank per forward pass; default: the largest divisor of the "
    f"per-rank batch up to {DEFAULT_MICRO_BATCH}",
    "lr": "peak learning rate; default: the preset's",
    "min_lr_ratio": "the cosine ends at this fraction of the peak (paper: 0.1)",
    "warmup_steps": "linear warm-up steps; default: 2000 (paper), or 10%% of --steps if fewer",
    "weight_decay": "AdamW weight decay on matrices (norm weights never decay)",
    "beta1": "AdamW β1",
    "beta2": "AdamW β2",
    "adam_eps": "AdamW eps; default: the preset's (1e-8 LLaMA-1, 1e-5 Llama 2)",
    "grad_clip": "gradient-norm clipping (0: off)",
    "seed": "seed of the initial weights and of the data order",
    "device": "auto: CUDA when available, else the CPU",
    "dtype": "auto: bf16 on CUDA (autocast, or FSDP2 mixed precision), fp32 on the CPU",
    "compile": "torch.compile each block (default: on with CUDA, off on the CPU)",
    "ac": "activation checkpointing: selective keeps matmul and attention outputs and "
    "recomputes the rest (the paper's), full recomputes whole blocks",
    "loss_chunk": "rows of the output projection and cross-entropy computed at a time, so the "
    "whole fp32 logits never exist (training/loss.py); default: about 32M logits per chunk; 0: "
    "the plain loss over the whole logits",
    "parallel": "with several processes (torchrun): fsdp shards parameters, gradients and "
    "optimizer state (FSDP2); ddp replicates them",
    "deterministic": "deterministic algorithms (bit-for-bit reruns; slower on CUDA)",
    "log_every": "steps between metric lines",
    "eval_every": "steps between validation passes (0: never)",
    "eval_batches": "held-out batches per source per validation pass",
    "checkpoint_every": "steps between checkpoints (0: only at the end)",
    "keep": "checkpoints kept (the newest)",
    "checkpoint_format": "full: whole state dicts gathered to rank 0 (12 bytes per parameter of "
    "host memory); sharded: every rank writes its own part (safetensors), resumable at any world "
    "size; auto: full for one process, sharded for several",
    "resume": "auto: the newest complete checkpoint in the run directory; none: start afresh; "
    "or a checkpoint (step-XXXXXXX) or run directory",
    "init_from": "start from these weights: a model.pt/consolidated.00.pth state dict (Meta names)",
    "stop_at": "stop after this step as if preempted (the schedule still spans --steps)",
    "max_nonfinite": "consecutive steps with a non-finite loss or gradient that stop the run "
    "(each is skipped and counted)",
    "peak_tflops": "the accelerator's dense bf16 peak for MFU (default: from a table of GPUs)",
    "progress": "a live progress bar (default: when stderr is a terminal)",
    "tensorboard": "TensorBoard events in <out>/tensorboard when tensorboard is installed",
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description="Train a LLaMA on token shards sampled by a mixture (docs/recipe/model.md). "
        "One process, or `torchrun --nproc_per_node=N -m training.train ...` for FSDP2/DDP.",
    )
    for field in fields(TrainConfig):
        flag = f"--{field.name}"
        default = field.default
        help_text = HELP[field.name]
        if default is not None and field.type not in ("bool", "bool | None"):
            help_text += f" (default: {default})"  # BooleanOptionalAction adds its own
        if field.type in ("bool", "bool | None"):
            p.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=default, help=help_text
            )
        elif field.name in CHOICES:
            p.add_argument(flag, choices=CHOICES[field.name], default=default, help=help_text)
        else:
            kind = {"int": int, "int | None": int, "float": float, "float | None": float}.get(
                field.type, str
            )
            p.add_argument(flag, type=kind, default=default, help=help_text)
    return p


def parse(argv: list[str] | None = None) -> TrainConfig:
    return TrainConfig(**vars(parser().parse_args(argv)))


def default_micro_batch(sequences: int) -> int:
    """The largest divisor of a rank's sequences per step that is at most DEFAULT_MICRO_BATCH."""
    return max(d for d in range(1, min(sequences, DEFAULT_MICRO_BATCH) + 1) if sequences % d == 0)


def accumulation(batch_tokens: int, seq_len: int, micro_batch: int, world_size: int) -> int:
    """Micro-batches per optimizer step; the batch must split exactly, or the error says how."""
    per_forward = seq_len * micro_batch * world_size
    if batch_tokens % per_forward:
        raise ValueError(
            f"--batch_tokens {batch_tokens} is not a multiple of seq_len × micro_batch × ranks "
            f"= {seq_len} × {micro_batch} × {world_size} = {per_forward}; use e.g. "
            f"--batch_tokens {max(1, round(batch_tokens / per_forward)) * per_forward}"
        )
    return batch_tokens // per_forward
