"""The training loop on the CPU: schedule, decay groups, overfitting, bit-exact resume, skipped
non-finite steps, atomic checkpoints, the metrics contract, DDP and FSDP2 on gloo, HF export."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from core.manifest import MANIFEST
from tokenizer.shards import manifest, shard_bytes, shard_entry
from training import checkpoint
from training.config import TrainConfig, accumulation, parser
from training.metrics import mfu, peak_flops, read_metrics
from training.model import Transformer, get_preset
from training.train import NonFiniteLossError, Trainer, lr_at, param_groups

ROOT = Path(__file__).resolve().parent.parent
VOCAB = 320
SEQ = 32
SHA = "ab" * 32


def write_source(root: Path, source: str, docs: list[np.ndarray]) -> None:
    directory = root / source
    directory.mkdir(parents=True)
    ids = [f"{source}/{i:04d}" for i in range(len(docs))]
    path = directory / "part-00000-of-00001.arrow"
    path.write_bytes(shard_bytes(ids, docs))
    entry = shard_entry(path, len(docs), sum(len(d) for d in docs), 0)
    tokenizer = {"sha256": SHA, "vocab_size": VOCAB, "path": None}
    (directory / MANIFEST).write_text(json.dumps(manifest(source, tokenizer, [entry])))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    """Two sources of 40 random documents each (10-60 tokens) and a 60/40 mixture of them."""
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for source in ("wikipedia", "github"):
        docs = [rng.integers(3, VOCAB, rng.integers(10, 60)).astype(np.uint16) for _ in range(40)]
        write_source(root / "tokens", source, docs)
    mix = root / "mix.yaml"
    mix.write_text(
        "name: test\nbudget_tokens: 1.0e6\n"
        "sources:\n  wikipedia: {weight: 0.6}\n  github: {weight: 0.4}\n"
    )
    return root / "tokens", mix


def config(corpus: tuple[Path, Path], out: Path, **changes) -> TrainConfig:
    """Global batch 256 tokens = 2 micro-batches of 4 sequences of 32."""
    tokens, mix = corpus
    base = TrainConfig(
        tokens=str(tokens),
        mix=str(mix),
        model="llama-tiny",
        out=str(out),
        steps=6,
        batch_tokens=256,
        seq_len=SEQ,
        micro_batch=4,
        lr=3e-3,
        warmup_steps=2,
        log_every=1,
        eval_every=0,
        checkpoint_every=0,
        progress=False,
        tensorboard=False,
    )
    return replace(base, **changes)


def params(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in trainer.core.state_dict().items()}


def quiet(*_: object) -> None:
    pass


# ---- pure functions ---------------------------------------------------------------------------


def test_lr_schedule_at_chosen_steps_equals_the_formula():
    peak, warmup, steps = 1e-3, 10, 111  # cosine over steps 10..110: its middle is step 60
    lr = lambda s: lr_at(s, peak=peak, warmup=warmup, steps=steps, min_ratio=0.1)  # noqa: E731
    assert lr(0) == pytest.approx(peak * 1 / 10, rel=1e-12)
    assert lr(4) == pytest.approx(peak * 5 / 10, rel=1e-12)  # mid warm-up
    assert lr(9) == pytest.approx(peak, rel=1e-12)  # end of warm-up
    assert lr(10) == pytest.approx(peak, rel=1e-12)  # the cosine starts at the peak
    assert lr(60) == pytest.approx(peak * (0.1 + 0.9 * 0.5), rel=1e-12)
    assert lr(35) == pytest.approx(peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4))))
    assert lr(110) == pytest.approx(0.1 * peak, rel=1e-12)  # the last step: 10% of the peak
    assert lr(500) == pytest.approx(0.1 * peak, rel=1e-12)


def test_weight_decay_applies_to_matrices_and_not_to_norms():
    model = Transformer(get_preset("llama-tiny", vocab_size=VOCAB, max_seq_len=SEQ))
    names = {id(p): n for n, p in model.named_parameters()}
    decay, no_decay = param_groups(model, 0.1)
    assert (decay["weight_decay"], no_decay["weight_decay"]) == (0.1, 0.0)
    matrices = {"tok_embeddings.weight", "output.weight"} | {
        f"layers.{i}.{m}.weight"
        for i in range(2)
        for m in (
            *("attention.wq", "attention.wk", "attention.wv", "attention.wo"),
            *("feed_forward.w1", "feed_forward.w2", "feed_forward.w3"),
        )
    }
    norms = {"norm.weight"} | {
        f"layers.{i}.{n}.weight" for i in range(2) for n in ("attention_norm", "ffn_norm")
    }
    assert {names[id(p)] for p in decay["params"]} == matrices
    assert {names[id(p)] for p in no_decay["params"]} == norms


def test_batch_must_split_into_micro_batches_and_the_error_says_how():
    assert accumulation(4096, 256, 8, 1) == 2
    assert accumulation(4096, 256, 4, 2) == 2
    with pytest.raises(ValueError, match=r"--batch_tokens 4096"):
        accumulation(4000, 256, 8, 2)


def test_peak_flops_by_gpu_name_and_mfu(monkeypatch):
    expected = {
        "NVIDIA H100 80GB HBM3": 989.4e12,
        "NVIDIA H100 PCIe": 756e12,
        "NVIDIA H100 NVL": 835e12,
        "NVIDIA H200": 989.4e12,
        "NVIDIA A100-SXM4-80GB": 312e12,
        "NVIDIA A100 80GB PCIe": 312e12,
    }
    cuda = torch.device("cuda", 0)
    for name, peak in expected.items():
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda _=None, n=name: n)
        assert peak_flops(cuda)[0] == peak, name
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda _=None: "Mystery GPU 9000")
    assert math.isnan(peak_flops(cuda)[0]) and "--peak_tflops" in peak_flops(cuda)[1]
    assert math.isnan(peak_flops(torch.device("cpu"))[0])
    assert peak_flops(torch.device("cpu"), 100.0)[0] == 100e12
    assert mfu(6e9, 50_000, 989.4e12, 1) == pytest.approx(6e9 * 50_000 / 989.4e12)
    assert mfu(6e9, 50_000, 989.4e12, 8) == pytest.approx(6e9 * 50_000 / 989.4e12 / 8)
    assert mfu(6e9, 50_000, math.nan, 1) is None


def test_help_documents_every_option():
    text = parser().format_help()
    for name in TrainConfig.__dataclass_fields__:
        assert f"--{name}" in text, name


# ---- the loop ---------------------------------------------------------------------------------


def test_a_tiny_model_overfits_a_tiny_corpus(tmp_path):
    rng = np.random.default_rng(1)
    docs = [rng.integers(3, VOCAB, 30).astype(np.uint16) for _ in range(3)]
    write_source(tmp_path / "tokens", "wikipedia", docs)  # one held out, two trained on
    mix = tmp_path / "mix.yaml"
    mix.write_text("budget_tokens: 1.0e6\nsources:\n  wikipedia: {weight: 1.0}\n")
    cfg = config(
        (tmp_path / "tokens", mix),
        tmp_path / "run",
        steps=40,
        lr=1e-2,
        warmup_steps=4,
        batch_tokens=128,
        micro_batch=4,
        log_every=10,
    )
    trainer = Trainer(cfg, log=quiet)
    trainer.run()
    losses = trainer.losses
    assert losses[0] > 5.0  # ln(320) = 5.77 at the start
    # Random documents can only be memorised; the one unpredictable token per document (which
    # document comes next) keeps the floor above zero.
    assert max(losses[-5:]) < 0.5, losses[-5:]


@pytest.mark.parametrize("fmt", ["full", "sharded"])
def test_resume_is_bit_for_bit_and_checkpoints_are_atomic(corpus, tmp_path, fmt):
    # Deterministic algorithms; restored afterwards, the flag is process-wide.
    try:
        one = Trainer(config(corpus, tmp_path / "one", deterministic=True), log=quiet)
        one.run()
        cfg = config(
            corpus,
            tmp_path / "two",
            deterministic=True,
            checkpoint_every=1,
            keep=2,
            checkpoint_format=fmt,
            stop_at=3,
        )
        first = Trainer(cfg, log=quiet)
        first.run()
        # A crash during the next save leaves a temp directory: resume must not take it.
        leftover = tmp_path / "two" / "checkpoints" / ".step-0000004.tmp"
        leftover.mkdir()
        (leftover / "model.pt").write_bytes(b"half a file")
        second = Trainer(replace(cfg, stop_at=None), log=quiet)
        assert second.step == 3
        second.run()
    finally:
        torch.use_deterministic_algorithms(False)
    assert len(one.losses) == 6 and None not in one.losses
    assert first.losses + second.losses == one.losses  # exactly equal floats
    a, b = params(one), params(second)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    for p, q in zip(
        one.optimizer.param_groups[0]["params"],
        second.optimizer.param_groups[0]["params"],
        strict=True,
    ):
        assert torch.equal(
            one.optimizer.state[p]["exp_avg_sq"], second.optimizer.state[q]["exp_avg_sq"]
        )
    # Keep-last-2, and the leftover temp directory was cleaned by the next save.
    names = sorted(p.name for p in (tmp_path / "two" / "checkpoints").iterdir())
    assert names == ["step-0000005", "step-0000006"]
    # metrics.jsonl of the resumed run: steps 1..6 once each, the same losses as one run.
    lines = read_metrics(tmp_path / "two" / "metrics.jsonl")
    assert [r["step"] for r in lines] == [1, 2, 3, 4, 5, 6]
    assert [r["loss"] for r in lines] == one.losses


def test_resume_after_a_crash_discards_metrics_past_the_checkpoint(corpus, tmp_path):
    cfg = config(corpus, tmp_path / "run", steps=4, checkpoint_every=2, stop_at=3)
    Trainer(cfg, log=quiet).run()  # checkpoints at 2 and 3 (the stop)
    # As if the process died after logging step 3 but before saving it, in the next line's write.
    shutil.rmtree(checkpoint.complete(tmp_path / "run")[-1])
    with (tmp_path / "run" / "metrics.jsonl").open("a") as fh:
        fh.write('{"step": 4, "loss": 5.')
    resumed = Trainer(replace(cfg, stop_at=None), log=quiet)
    assert resumed.step == 2
    resumed.run()
    assert [r["step"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl")] == [1, 2, 3, 4]


def test_a_fresh_start_refuses_a_run_directory_with_newer_checkpoints(corpus, tmp_path):
    Trainer(config(corpus, tmp_path / "run", steps=2), log=quiet).run()
    with pytest.raises(SystemExit, match=r"step-0000002 is newer than where this run starts"):
        Trainer(config(corpus, tmp_path / "run", steps=2, resume="none"), log=quiet)


def test_metrics_config_and_plot_follow_the_contract(corpus, tmp_path):
    trainer = Trainer(
        config(corpus, tmp_path / "run", steps=4, log_every=2, eval_every=2), log=quiet
    )
    trainer.run()
    lines = read_metrics(tmp_path / "run" / "metrics.jsonl")
    train = [r for r in lines if "loss" in r]
    val = [r for r in lines if "val_loss" in r]
    assert [r["step"] for r in train] == [2, 4] and [r["step"] for r in val] == [2, 4]
    for r in train:
        assert {"step", "loss", "lr", "tokens", "tokens_by_source", "tokens_per_s", "mfu"} <= set(r)
        assert r["tokens"] == r["step"] * 256
        assert r["mfu"] is None  # the CPU has no stated peak
        assert r["tokens_per_s"] > 0 and math.isfinite(r["loss"])
        # The loader counts stream tokens: seq_len + 1 per window.
        assert sum(r["tokens_by_source"].values()) == r["step"] * 8 * (SEQ + 1)
        assert set(r["tokens_by_source"]) == {"wikipedia", "github"}
    for r in val:
        assert set(r["val_loss"]) == {"wikipedia", "github"}
        assert all(3.0 < v < 7.0 for v in r["val_loss"].values())
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert cfg["tokenizer"]["sha256"] == SHA and cfg["model_args"]["vocab_size"] == VOCAB
    assert cfg["config"]["steps"] == 4 and cfg["accumulation"] == 2
    assert cfg["mixture"]["weights"] == {"wikipedia": 0.6, "github": 0.4}
    assert cfg["torch"] == torch.__version__ and cfg["device"] == "cpu"
    assert (tmp_path / "run" / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_nonfinite_steps_are_skipped_counted_and_stop_the_run(corpus, tmp_path):
    trainer = Trainer(config(corpus, tmp_path / "run", steps=8, max_nonfinite=3), log=quiet)
    calls = {"n": 0}
    poisoned = {3, 4}  # forward calls 2k-1, 2k are step k's micro-batches: step 2

    def poison(module, inputs, output):
        calls["n"] += 1
        return output * float("nan") if calls["n"] in poisoned else output

    trainer.core.register_forward_hook(poison)
    # Steps 5, 6, 7 are non-finite: the third in a row stops the run.
    poisoned.update(range(9, 15))
    with pytest.raises(NonFiniteLossError, match=r"not finite for 3 steps in a row \(steps 5-7"):
        trainer.run()
    assert trainer.skipped == 4
    assert (
        trainer.losses[1] is None
        and trainer.losses[0] is not None
        and trainer.losses[2] is not None
    )
    lines = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert lines[1]["loss"] is None and lines[1]["skipped_steps"] == 1


def test_a_skipped_step_leaves_the_weights_unchanged(corpus, tmp_path):
    trainer = Trainer(config(corpus, tmp_path / "run", steps=2), log=quiet)
    trainer.train_step()
    before = params(trainer)
    handle = trainer.core.register_forward_hook(lambda m, i, o: o * float("nan"))
    loss, norm, _ = trainer.train_step()
    handle.remove()
    assert loss is None and math.isnan(norm) and trainer.skipped == 1 and trainer.step == 2
    after = params(trainer)
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("mode", ["selective", "full"])
def test_activation_checkpointing_gives_the_same_step(corpus, tmp_path, mode):
    plain = Trainer(config(corpus, tmp_path / "plain", steps=2), log=quiet)
    ac = Trainer(config(corpus, tmp_path / mode, steps=2, ac=mode), log=quiet)
    losses = [[t.train_step()[0] for _ in range(2)] for t in (plain, ac)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=0, atol=1e-6)
    a, b = params(plain), params(ac)
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=1e-6)


def test_export_writes_hugging_face_weights_equal_to_the_checkpoint(corpus, tmp_path):
    from training.hf import import_hf

    trainer = Trainer(config(corpus, tmp_path / "run", steps=2), log=quiet)
    trainer.run()
    out = checkpoint.export(tmp_path / "run", tmp_path / "hf", None, log=quiet)
    args, weights = import_hf(out)
    assert args.vocab_size == VOCAB and args.dim == 64 and args.max_seq_len == SEQ
    ours = params(trainer)
    assert weights.keys() == ours.keys()
    assert all(torch.equal(weights[k], ours[k]) for k in ours)


# ---- several processes (torchrun, gloo) -------------------------------------------------------


def torchrun(cfg: TrainConfig, nproc: int, *extra: str) -> list[dict]:
    args = [
        f"--{k}={v}" for k, v in cfg.to_dict().items() if v is not None and not isinstance(v, bool)
    ]
    args += ["--no-progress", "--no-tensorboard", *extra]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        "-m",
        "training.train",
        *args,
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    return read_metrics(Path(cfg.out) / "metrics.jsonl")


@pytest.mark.parametrize("parallel", ["ddp", "fsdp"])
def test_two_processes_on_gloo_match_one_process(corpus, tmp_path, parallel):
    """Same global batch (2 ranks × 4 sequences vs 1 rank × 2 micro-batches of 4): the same
    windows each step, so the same losses and gradient norms up to float summation order (5e-6
    absolute, about ten float32 ulps at 5.7). Clipping at 0.1 is active, so a wrong global norm
    would change the updates. A checkpoint written by the two ranks resumes in one process."""
    init = tmp_path / "init.pt"
    single = Trainer(config(corpus, tmp_path / "one", steps=4, grad_clip=0.1), log=quiet)
    torch.save(single.core.state_dict(), init)
    single.run()
    one = read_metrics(tmp_path / "one" / "metrics.jsonl")
    cfg = config(
        corpus,
        tmp_path / "two",
        steps=4,
        grad_clip=0.1,
        parallel=parallel,
        init_from=str(init),
        checkpoint_every=2,
    )
    two = torchrun(cfg, 2)
    assert [r["step"] for r in two] == [1, 2, 3, 4]
    np.testing.assert_allclose([r["loss"] for r in two], single.losses, rtol=0, atol=5e-6)
    norms = [[r["grad_norm"] for r in lines] for lines in (one, two)]
    assert min(norms[0]) > 0.1  # every step was clipped
    np.testing.assert_allclose(norms[1], norms[0], rtol=1e-5)
    assert two[-1]["loss"] < two[0]["loss"]
    assert two[-1]["tokens"] == 4 * 256
    assert two[-1]["tokens_by_source"] == single.loader.tokens_by_source
    resumed = Trainer(
        config(
            corpus,
            tmp_path / "resumed",
            steps=4,
            grad_clip=0.1,
            resume=str(tmp_path / "two" / "checkpoints" / "step-0000002"),
        ),
        log=quiet,
    )
    assert resumed.step == 2
    resumed.run()
    np.testing.assert_allclose(resumed.losses, single.losses[2:], rtol=0, atol=5e-6)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_in_bf16_with_compile_like_the_cpu(corpus, tmp_path):
    """The same weights and batches on the GPU (bf16 autocast, compiled blocks) and on the CPU
    (fp32): first-step losses agree to bf16 precision; MFU is reported against a stated peak."""
    cpu = Trainer(config(corpus, tmp_path / "cpu", steps=3, device="cpu"), log=quiet)
    cpu.run()
    gpu = Trainer(config(corpus, tmp_path / "gpu", steps=3, device="cuda"), log=quiet)
    assert (gpu.cfg.dtype, gpu.cfg.compile, gpu.rt.device.type) == ("bf16", True, "cuda")
    gpu.run()
    assert all(math.isfinite(x) for x in gpu.losses)
    assert gpu.losses[0] == pytest.approx(cpu.losses[0], abs=2e-2)
    lines = read_metrics(tmp_path / "gpu" / "metrics.jsonl")
    assert lines[-1]["memory_gib"] > 0
    if not math.isnan(gpu.peak):
        assert lines[-1]["mfu"] is not None and 0 < lines[-1]["mfu"] < 1
    resumed = Trainer(config(corpus, tmp_path / "gpu", steps=3, device="cuda"), log=quiet)
    assert resumed.step == 3
