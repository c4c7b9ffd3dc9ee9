"""fastText's `predict(texts, k=1)` for lid.176-like models through filters._fastlid
(native/fastlid.c): the same labels and float32 probabilities, several times faster.

The extension mirrors fastText's C++ for the models lid.176.ftz is one of: supervised,
hierarchical softmax, word n-grams of 1, a pruned n-gram index. It is built from the model file's
dictionary and pruned index (read here, every size checked against the file) and from the
matrices as the loaded fastText model decodes them: an input row is the sum fastText adds to the
hidden vector for it (QuantMatrix::addRowToVector adds `norm * centroid` rounded to float32; the
fastText wheel has no fused multiply-add), so adding the decoded rows gives the same sums.
Any other model, or a missing extension, leaves the answers to fastText's own `predict`; so do
the texts the extension cannot answer (a NaN on the way, where fastText raises).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    from filters import _fastlid
except ImportError:  # not built: fastText answers everything (same results, slower)
    _fastlid = None

_MAGIC, _VERSION = 793712314, 12
_SUPERVISED, _HIERARCHICAL_SOFTMAX = 3, 1
_MAX_MODEL_BYTES = 1 << 30
_log = logging.getLogger(__name__)

Prediction = tuple[str, float] | None  # (label, probability), or None: fastText found no label


class Unsupported(ValueError):
    """A model file the extension does not answer for."""


def _fasttext_predict(model: Any, texts: list[str]) -> list[Prediction]:
    labels, probabilities = model.predict(texts, k=1)
    return [
        (label[0], float(probability[0])) if len(label) else None
        for label, probability in zip(labels, probabilities, strict=True)
    ]


class _Reader:
    """Little-endian fields of a model file, each checked to lie inside it."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.at + size > len(self.data):
            raise Unsupported("truncated model file")
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += size
        return values

    def word(self) -> bytes:
        end = self.data.find(b"\0", self.at)
        if end < 0:
            raise Unsupported("truncated model file")
        word, self.at = self.data[self.at : end], end + 1
        return word


def read_model(path: Path) -> dict[str, Any]:
    """The fields of a model file the extension needs (FastText::loadModel, Args::load,
    Dictionary::load, then the input matrix's shape)."""
    with path.open("rb") as file:
        data = file.read(_MAX_MODEL_BYTES + 1)
    if len(data) > _MAX_MODEL_BYTES:
        raise Unsupported("model file too large")
    read = _Reader(data)
    magic, version = read.take("<ii")
    if (magic, version) != (_MAGIC, _VERSION):
        raise Unsupported("not a fastText model of format version 12")
    dim, _, _, _, _, word_ngrams, loss, kind, bucket, minn, maxn, _ = read.take("<12i")
    read.take("<d")
    size, nwords, nlabels, _, pruned = read.take("<iiiqq")
    if kind != _SUPERVISED or loss != _HIERARCHICAL_SOFTMAX or word_ngrams != 1:
        raise Unsupported("only supervised hierarchical-softmax models with wordNgrams 1")
    if pruned <= 0:
        raise Unsupported("only pruned models (quantized with -cutoff)")
    if bucket <= 0 or minn < 0 or maxn < 0 or not 0 < dim <= 1 << 16:
        raise Unsupported("unsupported dim, bucket or n-gram lengths")
    if not 0 <= nwords < size or nwords + nlabels != size or size > len(data) // 10:
        raise Unsupported("inconsistent dictionary sizes")
    words, counts = [], []
    for i in range(size):
        words.append(read.word())
        count, kind_of_entry = read.take("<qb")
        if kind_of_entry != (i >= nwords):  # fastText sorts words (0) before labels (1)
            raise Unsupported("dictionary entries out of order")
        counts.append(count)
    if pruned > (len(data) - read.at) // 8:
        raise Unsupported("truncated model file")
    pairs = data[read.at : read.at + 8 * pruned]
    read.at += 8 * pruned
    (quantized,) = read.take("<?")
    if quantized:
        read.take("<?")  # qnorm: the rows come decoded from fastText, norm and all
    rows, columns = read.take("<qq")
    # the rows' codes (a byte or more each) or values (float32) follow: the file bounds them
    stored = read.take("<i")[0] if quantized else rows * columns * 4
    if columns != dim or not nwords <= rows <= stored <= len(data) - read.at:
        raise Unsupported("inconsistent input matrix shape")
    labels = [w.decode() for w in words[nwords:]]
    return {
        "entries": b"\0".join(words),
        "nwords": nwords,
        "label_counts": np.array(counts[nwords:], "<i8").tobytes(),
        "dim": dim,
        "pruned": pairs,
        "bucket": bucket,
        "minn": minn,
        "maxn": maxn,
        "labels": labels,
        "rows": rows,
    }


class TopOnePredictor:
    """`predict(texts)`: per text the (label, probability) `model.predict(texts, k=1)` gives,
    or None where it gives no label. `model` is the fastText model loaded from `path`."""

    def __init__(self, model: Any, path: str | Path) -> None:
        self.model = model
        self._native = self._load(model, Path(path))

    @staticmethod
    def _load(model: Any, path: Path) -> tuple[Any, list[str]] | None:
        """The extension's predictor and the label names; None where fastText must answer."""
        if _fastlid is None:
            return None
        try:
            fields = read_model(path)
            labels, rows, dim = fields.pop("labels"), fields.pop("rows"), fields["dim"]
            output = np.array(model.f.getOutputMatrix(), np.float32)
            if output.shape != (len(labels), dim):
                raise Unsupported(f"output matrix of shape {output.shape}")
            inputs = np.empty((rows, dim), np.float32)
            for row in range(rows):  # decoded by fastText (QuantMatrix::addRowToVector)
                inputs[row] = model.get_input_vector(row)
            native = _fastlid.Predictor(input=inputs, output=output[: len(labels) - 1], **fields)
        except (ValueError, RuntimeError, OSError) as error:  # Unsupported, UnicodeDecodeError
            _log.info("%s: fastText predicts (%s)", path, error)
            return None
        return native, labels

    @property
    def native(self) -> bool:
        """Whether the extension answers (else fastText's `predict` does)."""
        return self._native is not None

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        texts = list(texts)
        if self._native is None:
            return _fasttext_predict(self.model, texts)
        native, names = self._native
        labels, probabilities = native.predict(texts)
        found: list[Prediction] = [
            (names[label], probability) if label >= 0 else None
            for label, probability in zip(labels, probabilities, strict=True)
        ]
        others = [i for i, label in enumerate(labels) if label == _fastlid.FALLBACK]
        if others:
            answers = _fasttext_predict(self.model, [texts[i] for i in others])
            for i, answer in zip(others, answers, strict=True):
                found[i] = answer
        return found
