"""Checkpoints: written atomically, kept last-K, resumed automatically, exported to Hugging Face.

Layout: `<run>/checkpoints/step-XXXXXXX/` holding
  model.pt, optimizer.pt    whole (unsharded) state dicts in Meta names (--checkpoint_format full)
  shards/rank-RRRRR.safetensors
                            each rank's own part of the model and AdamW state (sharded)
  rank-RRRRR.pt             each rank's RNG states
  trainer.json              step, tokens, skipped steps, loader position, model shape, tokenizer,
                            world size and format; written last

Every file goes into `.step-XXXXXXX.tmp/`, is fsynced, and the directory is renamed into place, so
a `step-*` directory is always complete and a crash leaves only a temp directory that resume
ignores. Nothing is ever unpickled: `.pt` files load with `torch.load(weights_only=True)`, shards
are safetensors (a JSON header and raw bytes), and trainer.json is JSON.

`full` (the default for one process) gathers whole state dicts one tensor at a time to rank 0's
CPU, which needs host memory for the weights and AdamW moments (12 bytes per parameter: 81 GB for
7B) and writes alone. `sharded` (the default with several processes) has every rank write the
tensors it holds, FSDP2's DTensor shards or, for replicated tensors, rank 0 alone, each with its
offsets in the global tensor (`_SHARD_KEY` in the safetensors header); a load at any world size
and in any mode reads just the slices each rank needs. torch.distributed.checkpoint (DCP) would
reshard too, but its `.metadata` file is a pickle.

    python -m training.checkpoint RUN_OR_CHECKPOINT [--out DIR] [--dtype bf16]   # HF export
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
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
SHARDS = "shards"
FORMATS = ("full", "sharded")
_SHARD_KEY = "llama_corpus"  # the safetensors header entry describing the shard (JSON)
_SHARD_VERSION = 1
# Test hook (tests/test_preemption.py): seconds to sleep inside a save once the model state is
# written, so that a test can SIGKILL a process in the middle of one. Unset in real runs.
PAUSE_ENV = "LLAMA_CORPUS_CHECKPOINT_PAUSE"
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


def _fsync(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_tree(directory: Path) -> None:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            _fsync(path)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def shard_file(rank: int) -> str:
    return f"rank-{rank:05d}.safetensors"


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
    if fmt not in FORMATS:
        raise ValueError(f"checkpoint format {fmt!r} is not one of {', '.join(FORMATS)}")
    root = Path(run_dir) / CHECKPOINTS
    final = root / step_name(step)
    tmp = root / f".{step_name(step)}.tmp"
    rank = _rank()
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)  # a crashed earlier attempt at this step
        (tmp / SHARDS if fmt == "sharded" else tmp).mkdir(parents=True)
    _barrier()
    if fmt == "full":
        model_sd = get_model_state_dict(model, options=_FULL)
        if rank == 0:
            torch.save(model_sd, tmp / MODEL)
        del model_sd
        _test_pause(tmp)
        optim_sd = get_optimizer_state_dict(model, optimizer, options=_FULL)
        if rank == 0:
            torch.save(optim_sd, tmp / OPTIMIZER)
        del optim_sd
    else:
        _save_shard(tmp / SHARDS / shard_file(rank), model, optimizer)
        _fsync(tmp / SHARDS / shard_file(rank))  # on its own node: rank 0's fsync may not reach
        _test_pause(tmp)
    torch.save(rank_state, tmp / rank_file(rank))
    _fsync(tmp / rank_file(rank))
    _barrier()
    if rank == 0:
        state = {**trainer_state, "step": step, "world_size": _world(), "format": fmt}
        (tmp / TRAINER).write_text(json.dumps(state, indent=1) + "\n")
        _fsync_tree(tmp)
        tmp.rename(final)
        prune(run_dir, keep)
    _barrier()
    return final


def _test_pause(tmp: Path) -> None:
    seconds = float(os.environ.get(PAUSE_ENV) or 0)
    if seconds > 0:
        print(f"{PAUSE_ENV}: pausing {seconds:g} s inside {tmp}", file=sys.stderr, flush=True)
        time.sleep(seconds)


# ---- the sharded format -----------------------------------------------------------------------


def _flat_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Model and optimizer state as the state-dict API gives them, FSDP2 shards left in place."""
    return {
        "model": get_model_state_dict(model),
        "optim": get_optimizer_state_dict(model, optimizer),
    }


def _tensors(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """Every tensor of `_flat_state` under one flat name: model/<fqn>, optim/<fqn>/<key>."""
    out = {f"model/{name}": t for name, t in state["model"].items()}
    for fqn, entries in state["optim"]["state"].items():
        for key, value in entries.items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"optimizer state {fqn}/{key} is not a tensor ({value!r})")
            out[f"optim/{fqn}/{key}"] = value
    return out


def _local_part(tensor: torch.Tensor) -> tuple[torch.Tensor, list[int], bool]:
    """(this rank's data, its offsets in the global tensor, whether this rank writes it): a
    replicated tensor is written once, by the ranks at coordinate 0 of its replicated mesh dims."""
    from torch.distributed.tensor import DTensor

    if isinstance(tensor, DTensor):
        (chunk,) = tensor.__create_chunk_list__()
        local = tensor.to_local()
        if list(local.shape) != list(chunk.sizes):
            raise CheckpointError(f"a DTensor's local shape {local.shape} is not {chunk.sizes}")
        coordinate = tensor.device_mesh.get_coordinate() or []
        writes = all(
            c == 0 for c, p in zip(coordinate, tensor.placements, strict=True) if p.is_replicate()
        )
        return local, list(chunk.offsets), writes
    return tensor, [0] * tensor.ndim, _rank() == 0


def _save_shard(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    state = _flat_state(model, optimizer)
    data: dict[str, torch.Tensor] = {}
    layout: dict[str, dict[str, list[int]]] = {}
    for name, tensor in _tensors(state).items():
        local, offsets, writes = _local_part(tensor)
        if writes and local.numel():
            data[name] = local.detach().to("cpu").contiguous()
            layout[name] = {"shape": list(tensor.shape), "offsets": offsets}
    header = {"version": _SHARD_VERSION, "tensors": layout}
    if _rank() == 0:
        header["param_groups"] = state["optim"]["param_groups"]
    save_file(data, str(path), metadata={_SHARD_KEY: json.dumps(header)})


class _Shards:
    """A sharded checkpoint's files opened for reading slices (safetensors: no code runs)."""

    def __init__(self, directory: Path, world_size: int, stack: ExitStack) -> None:
        self.chunks: dict[str, list[tuple[Any, list[int], list[int]]]] = {}
        self.shapes: dict[str, list[int]] = {}
        self.param_groups: list[dict[str, Any]] | None = None
        for rank in range(world_size):
            path = directory / shard_file(rank)
            try:
                handle = stack.enter_context(safe_open(str(path), framework="pt", device="cpu"))
                header = json.loads((handle.metadata() or {})[_SHARD_KEY])
                names = handle.keys()
                layout = _layout(header, {n: handle.get_slice(n).get_shape() for n in names})
            except FileNotFoundError:
                raise CheckpointError(f"{path}: missing; resume from another checkpoint") from None
            except (SafetensorError, OSError, KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(
                    f"{path}: not a shard of this trainer (a safetensors file with a "
                    f"{_SHARD_KEY!r} header): {type(exc).__name__}: {exc}; it was not loaded"
                ) from exc
            if rank == 0:
                self.param_groups = header.get("param_groups")
            for name, (shape, offsets, sizes) in layout.items():
                if self.shapes.setdefault(name, shape) != shape:
                    raise CheckpointError(
                        f"{path}: {name}: shape {shape}, in other shards {self.shapes[name]}"
                    )
                self.chunks.setdefault(name, []).append((handle, offsets, sizes))

    def fill(self, name: str, shape: list[int], target: torch.Tensor, offsets: list[int]) -> None:
        """Copy the region at `offsets` (of target's shape) of the tensor `name` of global `shape`
        into `target`, from every saved chunk that overlaps it."""
        if name not in self.chunks:
            raise CheckpointError(f"the checkpoint has no {name}")
        if self.shapes[name] != list(shape):
            raise CheckpointError(f"{name}: saved with shape {self.shapes[name]}, now {shape}")
        covered = 0
        for handle, start, sizes in self.chunks[name]:
            ends = [b + m for b, m in zip(start, sizes, strict=True)]
            region = [
                (max(a, b), min(a + n, e))
                for a, n, b, e in zip(offsets, target.shape, start, ends, strict=True)
            ]
            if any(lo >= hi for lo, hi in region):
                continue
            src = handle.get_slice(name)[
                tuple(slice(lo - b, hi - b) for (lo, hi), b in zip(region, start, strict=True))
            ]
            if src.dtype != target.dtype:
                raise CheckpointError(f"{name}: saved as {src.dtype}, this run has {target.dtype}")
            into = tuple(slice(lo - a, hi - a) for (lo, hi), a in zip(region, offsets, strict=True))
            target[into].copy_(src)
            covered += math.prod(hi - lo for lo, hi in region)
        if covered != target.numel():
            raise CheckpointError(f"{name}: the shards cover {covered} of {target.numel()} values")

    def read(self, name: str) -> torch.Tensor:
        """The whole tensor `name`, assembled in this process."""
        if name not in self.chunks:
            raise CheckpointError(f"the checkpoint has no {name}")
        handle = self.chunks[name][0][0]
        dtype = handle.get_slice(name)[tuple(slice(0, 0) for _ in self.shapes[name])].dtype
        out = torch.empty(self.shapes[name], dtype=dtype)
        self.fill(name, self.shapes[name], out, [0] * out.ndim)
        return out


def _layout(header: Any, sizes: dict[str, list[int]]) -> dict[str, tuple[list[int], ...]]:
    """{name: (global shape, offsets, local sizes)} of a shard's tensors, once its header is
    checked against them (ValueError otherwise)."""
    if not isinstance(header, dict) or header.get("version") != _SHARD_VERSION:
        raise ValueError(f"the header is not version {_SHARD_VERSION} of this format")
    layout = header.get("tensors")
    if not isinstance(layout, dict) or set(layout) != set(sizes):
        raise ValueError("the header does not list the file's tensors")
    out = {}
    for name, entry in layout.items():
        if not isinstance(entry, dict):
            raise ValueError(f"{name}: {entry!r} is not a chunk")
        shape, offsets, size = entry.get("shape"), entry.get("offsets"), sizes[name]
        if not (
            isinstance(shape, list)
            and isinstance(offsets, list)
            and all(type(x) is int for x in [*shape, *offsets])
            and len(shape) == len(offsets) == len(size)
            and all(o >= 0 and o + n <= d for o, n, d in zip(offsets, size, shape, strict=True))
        ):
            raise ValueError(f"{name}: chunk {offsets}+{size} not in {shape}")
        out[name] = (shape, offsets, size)
    return out


def _load_shards(
    path: Path, world_size: int, model: nn.Module, optimizer: torch.optim.Optimizer
) -> None:
    """Fill this rank's part of model and optimizer state from a sharded checkpoint written at
    any world size: each tensor's local region, read as slices of the shards that overlap it."""
    state = _flat_state(model, optimizer)
    with ExitStack() as stack:
        shards = _Shards(path / SHARDS, world_size, stack)
        for name, tensor in _tensors(state).items():
            local, offsets, _ = _local_part(tensor)
            with torch.no_grad():
                shards.fill(name, list(tensor.shape), local, offsets)
    groups = shards.param_groups
    live = state["optim"]["param_groups"]
    if not isinstance(groups, list) or len(groups) != len(live):
        raise CheckpointError(f"{path}: its optimizer has other parameter groups than this run's")
    for saved, mine in zip(groups, live, strict=True):  # JSON turned tuples (betas) into lists
        for key, value in mine.items():
            if isinstance(value, tuple) and isinstance(saved.get(key), list):
                saved[key] = tuple(saved[key])
    state["optim"]["param_groups"] = groups
    set_model_state_dict(model, state["model"])
    set_optimizer_state_dict(model, optimizer, state["optim"])


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
    fmt = _format(path, state)
    if fmt == "full":
        model_sd = _torch_load(path / MODEL)
        optim_sd = _torch_load(path / OPTIMIZER)
        options = StateDictOptions(full_state_dict=True)
        set_model_state_dict(model, model_sd, options=options)
        set_optimizer_state_dict(model, optimizer, optim_sd, options=options)
    else:
        _load_shards(path, int(state["world_size"]), model, optimizer)
    own = path / rank_file(_rank())
    rank_state = _torch_load(own if own.exists() else path / rank_file(0))
    return state, rank_state


def _format(path: Path, state: dict[str, Any]) -> str:
    fmt = state.get("format")
    if fmt not in FORMATS:
        raise CheckpointError(
            f"{path}: format {fmt!r} is not one this version reads ({', '.join(FORMATS)}); "
            "`dcp` checkpoints are no longer read because their metadata is a pickle"
        )
    return fmt


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
        if _format(path, state) == "sharded":
            return _sharded_model_weights(path, int(state["world_size"]))
        path = path / MODEL
    weights = _torch_load(path)
    if not isinstance(weights, dict) or not all(
        isinstance(v, torch.Tensor) for v in weights.values()
    ):
        raise CheckpointError(f"{path}: not a state dict of tensors")
    return weights


def _sharded_model_weights(path: Path, world_size: int) -> dict[str, torch.Tensor]:
    """A sharded checkpoint's model, assembled whole in this process (no process group needed)."""
    with ExitStack() as stack:
        shards = _Shards(path / SHARDS, world_size, stack)
        names = [n for n in shards.shapes if n.startswith("model/")]
        return {n.removeprefix("model/"): shards.read(n) for n in names}


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
