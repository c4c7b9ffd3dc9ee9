"""The sharded checkpoint format: written by two FSDP2 ranks (gloo), it loads exactly at one and at
three ranks (uneven shards: 64 and 320 rows do not split in three), and loading never unpickles.

Run as a script under torchrun, this file is the multi-process half of the first test."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

from training import checkpoint
from training.config import parse
from training.train import Trainer

from test_train import config, corpus, quiet  # noqa: F401 (corpus is a fixture)  # isort: skip

ROOT = Path(__file__).resolve().parent.parent
FULL = StateDictOptions(full_state_dict=True, cpu_offload=True)


def torchrun(nproc: int, mode: str, *args: str) -> None:
    """This file as a script on `nproc` gloo ranks (see main)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        *(sys.executable, "-m", "torch.distributed.run", "--standalone"),
        f"--nproc_per_node={nproc}",
        __file__,
        mode,
        *args,
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]


def main(argv: list[str]) -> None:
    """train OUT ARGS...: train, writing sharded checkpoints, then the final state again as a
    `full` checkpoint under OUT; reload OUT ARGS...: resume (--resume) and write what was loaded
    as a `full` checkpoint under OUT."""
    mode, out, *args = argv
    trainer = Trainer(parse([*args, "--no-progress", "--no-tensorboard"]), log=quiet)
    if mode == "train":
        trainer.run()
    trainer.run_dir = Path(out)
    trainer.cfg = replace(trainer.cfg, checkpoint_format="full")
    trainer.save()


def cli(cfg) -> list[str]:
    items = cfg.to_dict().items()
    return [f"--{k}={v}" for k, v in items if v is not None and not isinstance(v, bool)]


def assert_equal(a: object, b: object, at: str = "") -> None:
    """Nested state dicts equal, tensors bit for bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), at
        for key in a:
            assert_equal(a[key], b[key], f"{at}/{key}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), at
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_equal(x, y, f"{at}/{i}")
    elif isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), at
    else:
        assert a == b, at


def load(path: Path) -> object:
    return torch.load(path, weights_only=True)


def test_a_two_rank_sharded_checkpoint_loads_exactly_at_one_and_three_ranks(corpus, tmp_path):  # noqa: F811
    cfg = config(corpus, tmp_path / "two", steps=2, parallel="fsdp")
    torchrun(2, "train", str(tmp_path / "saved"), *cli(cfg))
    sharded = checkpoint.complete(tmp_path / "two")[-1]
    state = checkpoint.read_trainer_state(sharded)
    assert (state["format"], state["world_size"], state["step"]) == ("sharded", 2, 2)
    shards = sorted(p.name for p in (sharded / checkpoint.SHARDS).iterdir())
    assert shards == ["rank-00000.safetensors", "rank-00001.safetensors"]
    saved = checkpoint.complete(tmp_path / "saved")[-1]  # the same state, gathered whole
    model, optim = load(saved / checkpoint.MODEL), load(saved / checkpoint.OPTIMIZER)

    one = Trainer(config(corpus, tmp_path / "one", steps=2, resume=str(sharded)), log=quiet)
    assert one.step == 2
    assert_equal(one.core.state_dict(), model)
    assert_equal(get_optimizer_state_dict(one.core, one.optimizer, options=FULL), optim)
    assert_equal(checkpoint.load_weights(sharded), model)  # what export and --init_from read

    three = config(corpus, tmp_path / "three", batch_tokens=288, micro_batch=1, resume=str(sharded))
    torchrun(3, "reload", str(tmp_path / "reloaded"), *cli(three))
    reloaded = checkpoint.complete(tmp_path / "reloaded")[-1]
    assert_equal(load(reloaded / checkpoint.MODEL), model)
    assert_equal(load(reloaded / checkpoint.OPTIMIZER), optim)


# A pickle that would create a file if it were ever unpickled (protocol 0, written by hand).
PAYLOAD = b"cos\nsystem\n(S'touch {marker}'\ntR."


@pytest.fixture
def sharded_run(corpus, tmp_path) -> tuple[object, Path]:  # noqa: F811
    cfg = config(corpus, tmp_path / "run", steps=1, checkpoint_format="sharded")
    Trainer(cfg, log=quiet).run()
    return cfg, checkpoint.complete(tmp_path / "run")[-1]


@pytest.mark.parametrize("replacement", ["pickle", "torch.save"])
def test_a_shard_replaced_by_a_pickle_is_refused_and_never_unpickled(
    sharded_run, tmp_path, replacement
):
    cfg, path = sharded_run
    marker = tmp_path / "unpickled"
    shard = path / checkpoint.SHARDS / checkpoint.shard_file(0)
    if replacement == "pickle":
        shard.write_bytes(PAYLOAD.replace(b"{marker}", str(marker).encode()))
    else:  # a zip of pickles, as torch.save writes (weights_only loads would take it)
        torch.save({"model/norm.weight": torch.ones(64)}, shard)
    message = rf"{shard}: not a shard of this trainer .* it was not loaded"
    with pytest.raises(checkpoint.CheckpointError, match=message):
        Trainer(cfg, log=quiet)
    with pytest.raises(checkpoint.CheckpointError, match=message):
        checkpoint.load_weights(path)
    assert not marker.exists()


def test_a_shard_whose_header_lies_about_its_chunk_is_refused(sharded_run):
    from safetensors.torch import load_file, save_file

    cfg, path = sharded_run
    shard = path / checkpoint.SHARDS / checkpoint.shard_file(0)
    tensors = load_file(shard)
    header = (
        '{"version": 1, "tensors": {'
        + ", ".join(
            f'"{name}": {{"shape": {list(t.shape)}, "offsets": {[1] * t.ndim}}}'
            for name, t in tensors.items()
        )
        + "}}"
    )
    save_file(tensors, shard, metadata={"llama_corpus": header})
    with pytest.raises(checkpoint.CheckpointError, match=r"model/.*: chunk \[1.*\] not in \[\d"):
        Trainer(cfg, log=quiet)


if __name__ == "__main__":
    main(sys.argv[1:])
