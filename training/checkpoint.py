"""Checkpoints: written atomically, kept last-K, resumed automatically, exported to Hugging Face.

Layout: `<run>/checkpoints/step-XXXXXXX/` holding
  model.pt, optimizer.pt    whole (unsharded) state dicts in Meta names (--checkpoint_format full)
  dcp/model, dcp/optimizer  torch.distributed.checkpoint, a shard per rank (--checkpoint_format dcp)
  rank-RRRRR.pt             each rank's RNG states
  trainer.json              step, tokens, skipped steps, loader position, model shape, tokenizer,
                            world size and format; written last

Every file goes into `.step-XXXXXXX.tmp/`, is fsynced, and the directory is renamed into place, so
a `step-*` directory is always complete and a crash leaves only a temp directory that resume
ignores. The `full` format is the default because it loads with `torch.load(weights_only=True)`
(no pickle runs) and resumes at any world size and in any mode (one process, DDP, FSDP2): state
dicts come from torch.distributed.checkpoint.state_dict, gathered one tensor at a time to rank 0's
CPU. Rank 0 then needs host memory for the weights and AdamW moments (12 bytes per parameter)
and writes alone; for ≥ 30B models on many GPUs use `dcp`, which every rank writes in parallel
and which reshards on load, but whose metadata file is read with pickle: load only checkpoints
you trust.

    python -m training.checkpoint RUN_OR_CHECKPOINT [--out DIR] [--dtype bf16]   # HF export
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.checkpoint.state_dict import (
    StateDictOptions,
    get_model_state_dict,
    get_optimizer_state_dict,
    set_model_state_dict,
    set_optimizer_state_dict,
)

CHECKPOINTS = "checkpoints"
TRAINER = "trainer.json"
MODEL = "model.pt"
OPTIMIZER = "optimizer.pt"
DCP = "dcp"
_STEP = re.compile(r"^step-(\d{7})$")
_FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used as asked: names the path and the fix."""


def _rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def _world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def _barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


@contextmanager
def _dcp_alone() -> Iterator[bool]:
    """Whether DCP runs without a process group; if so, without its warning that it does."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield not dist.is_initialized()


def step_name(step: int) -> str:
    return f"step-{step:07d}"


def step_of(path: Path) -> int:
    match = _STEP.match(Path(path).name)
    if not match:
        raise CheckpointError(f"{path}: not a checkpoint directory (step-XXXXXXX)")
    return int(match[1])


def complete(run_dir: Path) -> list[Path]:
    """The run's complete checkpoints, oldest first (temp directories are never listed)."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP.match(p.name) and (p / TRAINER).is_file()]
    return sorted(found, key=step_of)


def resolve(resume: str, run_dir: Path) -> Path | None:
    """What --resume names: auto (the run's newest, if any), none, a checkpoint or run directory."""
    if resume == "none":
        return None
    if resume == "auto":
        found = complete(run_dir)
        return found[-1] if found else None
    path = Path(resume)
    if (path / TRAINER).is_file():
        return path
    found = complete(path)
    if not found:
        raise CheckpointError(
            f"--resume {resume}: neither a checkpoint (step-XXXXXXX/{TRAINER}) nor a run "
            f"directory with complete checkpoints under {CHECKPOINTS}/"
        )
    return found[-1]


def rank_file(rank: int) -> str:
    return f"rank-{rank:05d}.pt"


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save(
    run_dir: Path,
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict[str, Any],
    rank_state: dict[str, Any],
    *,
    fmt: str,
    keep: int,
) -> Path:
    """Write `step` atomically, then keep the newest `keep`. Collective: every rank calls it."""
    root = Path(run_dir) / CHECKPOINTS
    final = root / step_name(step)
    tmp = root / f".{step_name(step)}.tmp"
    rank = _rank()
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # a crashed earlier attempt at this step
        tmp.mkdir()
    _barrier()
    if fmt == "full":
        model_sd = get_model_state_dict(model, options=_FULL)
        optim_sd = get_optimizer_state_dict(model, optimizer, options=_FULL)
        if rank == 0:
            torch.save(model_sd, tmp / MODEL)
            torch.save(optim_sd, tmp / OPTIMIZER)
        del model_sd, optim_sd
    elif fmt == "dcp":
        import torch.distributed.checkpoint as dcp

        model_sd = get_model_state_dict(model)
        optim_sd = get_optimizer_state_dict(model, optimizer)
        with _dcp_alone() as alone:
            dcp.save(model_sd, checkpoint_id=str(tmp / DCP / "model"), no_dist=alone)
            dcp.save(optim_sd, checkpoint_id=str(tmp / DCP / "optimizer"), no_dist=alone)
    else:
        raise ValueError(f"checkpoint format {fmt!r} is not full or dcp")
    torch.save(rank_state, tmp / rank_file(rank))
    _barrier()
    if rank == 0:
        state = {**trainer_state, "step": step, "world_size": _world(), "format": fmt}
        (tmp / TRAINER).write_text(json.dumps(state, indent=1) + "\n")
        _fsync_tree(tmp)
        tmp.rename(final)
        prune(run_dir, keep)
    _barrier()
    return final


def prune(run_dir: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` complete checkpoints and any stale temp directory."""
    root = Path(run_dir) / CHECKPOINTS
    doomed = complete(run_dir)[: -keep if keep > 0 else None]
    doomed += [p for p in root.glob(".step-*") if p.is_dir()]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return doomed


def read_trainer_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(path) / TRAINER).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path / TRAINER}: unreadable ({exc}); resume from another") from exc


def load(
    path: Path, model: nn.Module, optimizer: torch.optim.Optimizer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Restore model and optimizer in place (collective); returns (trainer state, this rank's)."""
    path = Path(path)
    state = read_trainer_state(path)
    if state["format"] == "full":
        model_sd = _torch_load(path / MODEL)
        optim_sd = _torch_load(path / OPTIMIZER)
        options = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, model_sd, options=options)
        set_optimizer_state_dict(model, optimizer, optim_sd, options=options)
    else:
        import torch.distributed.checkpoint as dcp

        model_sd = get_model_state_dict(model)
        optim_sd = get_optimizer_state_dict(model, optimizer)
        with _dcp_alone() as alone:
            dcp.load(model_sd, checkpoint_id=str(path / DCP / "model"), no_dist=alone)
            dcp.load(optim_sd, checkpoint_id=str(path / DCP / "optimizer"), no_dist=alone)
        set_model_state_dict(model, model_sd)
        set_optimizer_state_dict(model, optimizer, optim_sd)
    own = path / rank_file(_rank())
    rank_state = _torch_load(own if own.exists() else path / rank_file(0))
    return state, rank_state


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: missing from the checkpoint; resume from another") from None
    except (RuntimeError, OSError, EOFError) as exc:
        raise CheckpointError(f"{path}: unreadable ({exc}); resume from another") from exc


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """A model state dict in Meta names: a file (model.pt, consolidated.00.pth) or a checkpoint."""
    path = Path(path)
    if path.is_dir():
        state = read_trainer_state(path)
        if state["format"] == "dcp":
            return _dcp_model_weights(path)
        path = path / MODEL
    weights = _torch_load(path)
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return weights


def _dcp_model_weights(path: Path) -> dict[str, torch.Tensor]:
    """A DCP checkpoint's model, read whole into this process (no process group needed)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.metadata import TensorStorageMetadata

    reader = dcp.FileSystemReader(str(path / DCP / "model"))
    metadata = reader.read_metadata()
    weights = {
        name: torch.empty(meta.size, dtype=meta.properties.dtype)
        for name, meta in metadata.state_dict_metadata.items()
        if isinstance(meta, TensorStorageMetadata)
    }
    with _dcp_alone():
        dcp.load(weights, storage_reader=reader, no_dist=True)
    return weights


def export(
    source: Path, out: Path | None, dtype: str | None, log: Callable[[str], None] = print
) -> Path:
    """The newest checkpoint of a run (or the given checkpoint) as a Hugging Face directory."""
    from training.hf import export_hf
    from training.model import ModelArgs

    source = Path(source)
    checkpoint = resolve(str(source), source)
    if checkpoint is None:
        raise CheckpointError(f"{source}: no checkpoint to export")
    run_dir = checkpoint.parent.parent
    config_path = run_dir / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(
            f"{config_path}: unreadable ({exc}); the run directory holds the model's shape"
        ) from exc
    args = ModelArgs(**config["model_args"])
    tokenizer = (config.get("tokenizer") or {}).get("path")
    tokenizer_model = Path(tokenizer) if tokenizer and Path(tokenizer).is_file() else None
    if tokenizer_model is None:
        log(f"no tokenizer model found ({tokenizer}); exporting weights and config only")
    out = Path(out) if out else run_dir / "hf"
    torch_dtype = {"bf16": torch.bfloat16, "fp32": torch.float32, None: None}[dtype]
    export_hf(
        load_weights(checkpoint), args, out, tokenizer_model=tokenizer_model, dtype=torch_dtype
    )
    log(f"exported {checkpoint} ({args.n_layers} layers, dim {args.dim}) to {out}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m training.checkpoint",
        description="Export a training run's newest checkpoint (or a given one) to Hugging Face "
        "LlamaForCausalLM safetensors + config (+ tokenizer when the run's tokenizer is found).",
    )
    p.add_argument("run", help="run directory (its newest checkpoint) or checkpoints/step-XXXXXXX")
    p.add_argument("--out", help="output directory (default: <run>/hf)")
    p.add_argument("--dtype", choices=("bf16", "fp32"), help="cast weights (default: as trained)")
    a = p.parse_args(argv)
    try:
        export(Path(a.run), Path(a.out) if a.out else None, a.dtype)
    except CheckpointError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
