"""Held-out loss of a model over a set of documents: every token scored once, in a fixed order.

The trainer's validation (`MixtureLoader.val_batches`) cuts the stream into disjoint windows, so
the first token of each window is never predicted; a number meant to compare corpora (perplexity,
bits per byte) should score every token. Here the documents, as `<s> doc </s>` in the order given,
form one stream and window k holds positions [k·L, k·L + L], its targets [k·L + 1, k·L + L]:
consecutive windows share one position and every position after the first is a target exactly
once. Targets that are `<s>` are not scored (after `</s>` it is certain, and it is no text), so
the count is each document's tokens plus its `</s>`.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

IGNORE_INDEX = -100


@dataclass(frozen=True)
class HeldOutLoss:
    nll: float  # summed negative log-likelihood, nats
    tokens: int  # targets scored

    @property
    def mean(self) -> float:
        return self.nll / self.tokens if self.tokens else math.nan

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean) if self.tokens else math.nan

    def bits_per_byte(self, utf8_bytes: int) -> float:
        """The same loss per byte of the documents' text: comparable across tokenizers."""
        return self.nll / math.log(2) / utf8_bytes if utf8_bytes else math.nan


def packed_stream(
    documents: Iterable[np.ndarray], bos: int, eos: int
) -> tuple[np.ndarray, np.ndarray]:
    """(`<s> doc </s>`… as int64, a mask of the positions that are scored as targets)."""
    pieces, scored = [], []
    for doc in documents:
        n = len(doc)
        piece = np.empty(n + 2, dtype=np.int64)
        piece[0], piece[1:-1], piece[-1] = bos, doc, eos
        mask = np.ones(n + 2, dtype=bool)
        mask[0] = False
        pieces.append(piece)
        scored.append(mask)
    if not pieces:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=bool)
    return np.concatenate(pieces), np.concatenate(scored)


@torch.no_grad()
def held_out_loss(
    model: nn.Module,
    documents: Iterable[np.ndarray],
    *,
    seq_len: int,
    batch_size: int,
    device: torch.device,
    bos: int = 1,
    eos: int = 2,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    max_tokens: int = 0,
) -> HeldOutLoss:
    """Summed NLL and scored targets of `model` (tokens → logits) over the documents, in order;
    with max_tokens > 0, only the first max_tokens targets (a document cut short scores no `</s>`).

    Sums in float64 on the host, batch by batch in a fixed order, so the same weights give the same
    number on the same device. The model is put in eval mode and left in it.
    """
    stream, scored = packed_stream(documents, bos, eos)
    if max_tokens and int(scored.sum()) > max_tokens:
        last = int(np.flatnonzero(scored)[max_tokens - 1])
        stream, scored = stream[: last + 1], scored[: last + 1]
    if len(stream) < 2:
        return HeldOutLoss(0.0, 0)
    model.eval()
    windows = math.ceil((len(stream) - 1) / seq_len)
    nll, count = 0.0, 0
    for first in range(0, windows, batch_size):
        rows = min(batch_size, windows - first)
        inputs = np.full((rows, seq_len), eos, dtype=np.int64)
        targets = np.full((rows, seq_len), IGNORE_INDEX, dtype=np.int64)
        for r in range(rows):
            start = (first + r) * seq_len
            stop = min(start + seq_len + 1, len(stream))
            size = stop - start - 1
            inputs[r, :size] = stream[start : stop - 1]
            targets[r, :size] = np.where(
                scored[start + 1 : stop], stream[start + 1 : stop], IGNORE_INDEX
            )
        x = torch.from_numpy(inputs).to(device)
        y = torch.from_numpy(targets).to(device)
        with autocast():
            logits = model(x)
        loss = F.cross_entropy(
            logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
        )
        nll += float(loss.double().item())
        count += int((y != IGNORE_INDEX).sum().item())
    return HeldOutLoss(nll, count)
