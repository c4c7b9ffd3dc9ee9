"""Output projection and cross-entropy in chunks of rows, so the [B·T, vocab] logits never exist.

With vocab 32000 the fp32 logits of one 4 × 2048 micro-batch take 1 GiB, and the plain path holds
several such tensors at once (bf16 logits, their fp32 copy, log-softmax saved for backward, its
gradient). Here the rows are taken `chunk` at a time: each chunk's logits come from the matmul in
the compute dtype (bf16 under autocast), are upcast to fp32 for log-sum-exp and the loss, and are
turned at once into that chunk's gradients w.r.t. the hidden states and the output matrix (the
softmax minus the one-hot target is the gradient of the logits). Forward therefore does all
three matmuls of the output layer; backward only scales the stored gradients by its incoming
gradient. What stays alive between forward and backward is grad_hidden [N, dim] and an fp32
grad_weight [vocab, dim], not N × vocab; at most one chunk of logits exists at a time. The FLOPs
are those of the plain path.

Without gradients (evaluation, torch.no_grad) only the loss is computed, chunk by chunk.
The loop has no data-dependent Python control flow, so torch.compile can trace it.
"""

from __future__ import annotations

import torch
from torch import Tensor

IGNORE_INDEX = -100
LOGITS_PER_CHUNK = 2**25  # fp32 logits of one chunk: 128 MiB (1048 rows of a 32000 vocabulary)


def default_chunk(vocab_size: int) -> int:
    """Rows per chunk that keep one chunk's fp32 logits near LOGITS_PER_CHUNK elements."""
    return max(1, LOGITS_PER_CHUNK // vocab_size)


def linear_cross_entropy(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    chunk: int,
    ignore_index: int = IGNORE_INDEX,
) -> Tensor:
    """Mean cross-entropy of `hidden @ weight.T` against `targets` over the targets that are not
    ignore_index: equals F.cross_entropy(F.linear(hidden, weight).float(), targets) with
    hidden [..., dim], weight [vocab, dim], targets [...]. NaN when every target is ignored.

    Under autocast the matmuls run in the autocast dtype, as F.linear's would.
    """
    if chunk < 1:
        raise ValueError(f"chunk must be at least one row, not {chunk}")
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        compute = torch.get_autocast_dtype(device)
    else:
        compute = torch.promote_types(hidden.dtype, weight.dtype)
    hidden, targets = hidden.reshape(-1, hidden.shape[-1]), targets.reshape(-1)
    if torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        return _LinearCrossEntropy.apply(hidden, weight, targets, chunk, ignore_index, compute)
    return _loss_and_grads(hidden, weight, targets, chunk, ignore_index, compute, (False, False))[0]


def _loss_and_grads(
    hidden: Tensor,
    weight: Tensor,
    targets: Tensor,
    chunk: int,
    ignore_index: int,
    compute: torch.dtype,
    wanted: tuple[bool, bool],
) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """(mean loss, its gradient w.r.t. hidden, w.r.t. weight); a gradient not wanted is None."""
    accumulate = torch.promote_types(compute, torch.float32)  # fp32, or fp64 when computing in it
    w = weight.to(compute)
    valid = targets != ignore_index
    # Mean over the counted targets (0/0 gives NaN, like F.cross_entropy's); folded into each
    # chunk's fp32 gradient before it is rounded to the compute dtype, as the plain backward does.
    scale = 1.0 / valid.sum().to(accumulate)
    loss_sum = torch.zeros((), device=hidden.device, dtype=accumulate)
    grad_hidden = torch.empty_like(hidden) if wanted[0] else None
    grad_weight = torch.zeros_like(weight, dtype=accumulate) if wanted[1] else None
    with torch.autocast(hidden.device.type, enabled=False):
        for start in range(0, hidden.shape[0], chunk):
            h = hidden[start : start + chunk].to(compute)
            keep = valid[start : start + chunk]
            target = torch.where(keep, targets[start : start + chunk], 0)[:, None]
            logits = (h @ w.T).to(accumulate)  # [chunk, vocab]: the only one alive
            lse = torch.logsumexp(logits, dim=-1)
            picked = logits.gather(1, target).squeeze(1)
            loss_sum += torch.where(keep, lse - picked, 0).sum()
            if grad_hidden is None and grad_weight is None:
                continue
            # d(mean loss)/d(logits) = (softmax - one_hot(target)) · scale, 0 on ignored rows.
            grad = logits.sub_(lse[:, None]).exp_()
            grad.scatter_add_(1, target, torch.full_like(target, -1, dtype=grad.dtype))
            grad.mul_(torch.where(keep, scale, 0)[:, None])
            grad = grad.to(compute)
            if grad_hidden is not None:
                grad_hidden[start : start + chunk] = grad @ w
            if grad_weight is not None:
                grad_weight += grad.T @ h
    return loss_sum * scale, grad_hidden, grad_weight


class _LinearCrossEntropy(torch.autograd.Function):
    """The loss with its gradients computed during forward (see the module docstring)."""

    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk, ignore_index, compute):
        loss, grad_hidden, grad_weight = _loss_and_grads(
            hidden, weight, targets, chunk, ignore_index, compute, tuple(ctx.needs_input_grad[:2])
        )
        ctx.has = (grad_hidden is not None, grad_weight is not None)
        ctx.save_for_backward(*(g for g in (grad_hidden, grad_weight) if g is not None))
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        saved = iter(ctx.saved_tensors)
        grad_hidden, grad_weight = (next(saved) * grad_loss if has else None for has in ctx.has)
        return grad_hidden, grad_weight, None, None, None, None
