"""The chunked output projection + cross-entropy (training/loss.py) against the plain path: the same
loss and gradients, ignored targets, any chunk size, autocast, torch.compile, and that no tensor of
N × vocab logits is created or saved."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from training.config import parse
from training.loss import default_chunk, linear_cross_entropy
from training.model import Transformer, get_preset
from training.train import Runtime, build_model

N, DIM, VOCAB = 45, 16, 50
TINY = get_preset("llama-tiny", vocab_size=512, max_seq_len=64)  # dim 64, FFN 256, 2 layers


def problem(dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """hidden [N, DIM], weight [VOCAB, DIM] (both requiring grad) and targets, a fifth ignored."""
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(N, DIM, generator=g, dtype=dtype).requires_grad_()
    weight = (torch.randn(VOCAB, DIM, generator=g, dtype=dtype) / 2).requires_grad_()
    targets = torch.randint(0, VOCAB, (N,), generator=g)
    targets[::5] = -100
    return hidden, weight, targets


def plain(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.linear(hidden, weight).float(), targets, ignore_index=-100)


def loss_and_grads(fn, hidden, weight, targets, scale: float = 1.0):
    loss = fn(hidden, weight, targets)
    return (loss.detach(), *torch.autograd.grad(loss * scale, (hidden, weight)))


# 1 row, 7 rows (does not divide 45), exactly N, more than N.
@pytest.mark.parametrize("chunk", [1, 7, N, 1000])
def test_loss_and_gradients_equal_the_plain_path_in_float64(chunk: int) -> None:
    hidden, weight, targets = problem(torch.float64)
    expected = loss_and_grads(
        lambda h, w, t: F.cross_entropy(h @ w.T, t), hidden, weight, targets, 0.5
    )
    got = loss_and_grads(
        lambda h, w, t: linear_cross_entropy(h, w, t, chunk), hidden, weight, targets, 0.5
    )
    assert got[0].dtype == torch.float64
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 7, N, 1000])
def test_loss_and_gradients_equal_the_plain_path_in_float32(chunk: int) -> None:
    hidden, weight, targets = problem(torch.float32)
    expected = loss_and_grads(plain, hidden, weight, targets)
    got = loss_and_grads(
        lambda h, w, t: linear_cross_entropy(h, w, t, chunk), hidden, weight, targets
    )
    assert got[0].dtype == torch.float32
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_without_gradients_only_the_loss_is_computed() -> None:
    hidden, weight, targets = problem(torch.float32)
    with torch.no_grad():
        loss = linear_cross_entropy(hidden, weight, targets, 7)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, plain(hidden, weight, targets).detach(), rtol=0, atol=1e-6)


def test_a_weight_without_grad_gets_none_and_the_hidden_grad_is_unchanged() -> None:
    hidden, weight, targets = problem(torch.float32)
    weight = weight.detach()
    (ours,) = torch.autograd.grad(linear_cross_entropy(hidden, weight, targets, 7), hidden)
    (theirs,) = torch.autograd.grad(plain(hidden, weight, targets), hidden)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_all_targets_ignored_gives_nan_like_cross_entropy() -> None:
    hidden, weight, _ = problem(torch.float32)
    targets = torch.full((N,), -100)
    assert plain(hidden, weight, targets).isnan()
    assert linear_cross_entropy(hidden, weight, targets, 7).isnan()


def test_batched_shapes_and_a_bad_chunk() -> None:
    hidden, weight, targets = problem(torch.float32)
    hidden3, targets2 = hidden.reshape(5, 9, DIM), targets.reshape(5, 9)
    torch.testing.assert_close(
        linear_cross_entropy(hidden3, weight, targets2, 4),
        linear_cross_entropy(hidden, weight, targets, 4),
        rtol=0,
        atol=0,
    )
    with pytest.raises(ValueError, match="at least one row"):
        linear_cross_entropy(hidden, weight, targets, 0)
    assert default_chunk(32000) == 1048 and default_chunk(10**9) == 1


def test_bf16_autocast_matmuls_in_bf16_and_scores_in_fp32() -> None:
    """fp32 parameters under autocast, as the trainer runs on CUDA: the chunk's logits come from a
    bf16 matmul (so the loss differs from fp32 by bf16 rounding, like the plain path's), the loss
    is fp32 and the gradients reach the fp32 tensors in fp32."""
    hidden, weight, targets = problem(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = loss_and_grads(plain, hidden, weight, targets)
        got = loss_and_grads(
            lambda h, w, t: linear_cross_entropy(h, w, t, 7), hidden, weight, targets
        )
    fp32 = loss_and_grads(plain, hidden, weight, targets)
    assert [t.dtype for t in got] == [torch.float32] * 3
    assert (got[0] - fp32[0]).abs() > 1e-6  # the matmul did run in bf16
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=2e-2, atol=2e-3)


def test_torch_compile_traces_it_in_one_graph() -> None:
    hidden, weight, targets = problem(torch.float32)
    compiled = torch.compile(
        lambda h, w, t: linear_cross_entropy(h, w, t, 7), backend="aot_eager", fullgraph=True
    )
    got = loss_and_grads(compiled, hidden, weight, targets)
    for ours, theirs in zip(got, loss_and_grads(plain, hidden, weight, targets), strict=True):
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def tiny_models(chunk: int) -> tuple[Transformer, Transformer]:
    """The same llama-tiny twice: the plain loss and the chunked one."""
    torch.manual_seed(0)
    reference = Transformer(TINY, loss_chunk=0)
    chunked = Transformer(TINY, loss_chunk=chunk)
    chunked.load_state_dict(reference.state_dict())
    return reference, chunked


def batch(length: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    x = torch.randint(0, TINY.vocab_size, (2, length), generator=g)
    y = torch.randint(0, TINY.vocab_size, (2, length), generator=g)
    y[0, :10] = -100
    y[1, -3:] = -100
    return x, y


@pytest.mark.parametrize("chunk", [5, 48, 4096])  # 5 does not divide B·T = 48
def test_every_parameter_gradient_of_llama_tiny_equals_the_plain_path(chunk: int) -> None:
    reference, chunked = tiny_models(chunk)
    x, y = batch()
    expected, got = reference(x, y), chunked(x, y)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    expected.backward()
    got.backward()
    theirs = dict(reference.named_parameters())
    for name, p in chunked.named_parameters():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, theirs[name].grad, rtol=0, atol=1e-6, msg=name)
    assert chunked.loss_chunk == chunk and Transformer(TINY).loss_chunk == default_chunk(512)


@pytest.mark.parametrize(
    ("flags", "chunk"),
    [([], default_chunk(512)), (["--loss_chunk=0"], 0), (["--loss_chunk=64"], 64)],
)
def test_the_trainer_flag_sets_the_models_chunk(flags: list[str], chunk: int) -> None:
    cpu = Runtime(rank=0, world_size=1, local_rank=0, device=torch.device("cpu"))
    _, core = build_model(TINY, parse(flags), cpu, bf16=False, log=lambda *_: None)
    assert core.loss_chunk == chunk


class LargestLogits(TorchDispatchMode):
    """Largest tensor any op creates whose last dimension is the vocabulary (logits-shaped)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.vocab, self.largest = vocab, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and t.ndim and t.shape[-1] == self.vocab:
                self.largest = max(self.largest, t.numel())
        return out


def largest_step_tensors(model: Transformer, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    """(numel of the largest saved-for-backward tensor, of the largest logits-shaped tensor) in
    forward and backward: a deterministic proxy for peak memory."""
    saved: list[int] = []

    def pack(t: torch.Tensor) -> torch.Tensor:
        saved.append(t.numel())
        return t

    with (
        torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t),
        LargestLogits(TINY.vocab_size) as logits,
    ):
        model(x, y).backward()
    return max(saved), logits.largest


def test_no_tensor_of_all_the_logits_is_created_or_saved() -> None:
    """4 × 64 rows: the plain path creates and saves [256, 512] logits; chunks of 100 rows create
    [100, 512] at most and save nothing that large (the largest saved tensor is then an FFN
    activation, [4, 64, 256] = 65,536, or the weight gradient, 512 × 64)."""
    reference, chunked = tiny_models(100)
    x, y = batch(length=64)
    rows = x.numel()
    assert largest_step_tensors(reference, x, y) == (rows * 512, rows * 512)
    saved, logits = largest_step_tensors(chunked, x, y)
    assert logits == 100 * 512
    assert saved == max(rows * 256, 512 * 64) < rows * 512
