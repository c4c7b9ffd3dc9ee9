"""The Wikipedia-reference classifier (docs/recipe/commoncrawl.md §6): pages like those Wikipedia
cites, or not.

Positives are crawl pages whose normalised URL is cited in a Wikipedia `<ref>` (at least 1,000
characters, as RedPajama), negatives an equal number of random crawl pages, each page's lines
joined by a space. `wiki_prob` is the probability of "cited"; RedPajama kept pages with
`wiki_prob >= 0.25` (LLaMA's wording suggests 0.5), so the threshold is a parameter.

The model is linear, as the recipe asks: hashed word uni- and bigrams (l2-normalised term counts)
into a logistic regression. RedPajama used fastText's supervised defaults; fastText's trainer stops
with "Encountered NaN" on some small training sets (seen here on a few hundred pages), while this
one converges deterministically on any input, and its model is two arrays in an `.npz` file that
loads without unpickling anything. Training reports the held-out ROC AUC for the model card.

Training uses scikit-learn; scoring does not import it (nor SciPy: ~87 MB per worker process).
`_features` and `WikirefClassifier.wiki_probs` redo `HashingVectorizer.transform` and the sparse
product step by step in NumPy, so that every probability equals scikit-learn's bit for bit
(tests/test_wikiref.py compares them on the bundled crawl).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mmh3
import numpy as np

from filters.base import KEEP, Decision, Filter

MIN_POSITIVE_CHARS = 1000
FEATURES = 2**20
NGRAMS = (1, 2)
C = 10.0  # inverse regularisation strength of the logistic regression
TOKEN = re.compile(r"(?u)\b\w\w+\b")  # HashingVectorizer's default token_pattern
# scikit-learn sums a feature's occurrences in float32, where adding 1.0 stops changing it here.
MAX_COUNT = 2**24


def classifier_text(raw_content: str) -> str:
    """The page's lines joined by a space, as RedPajama fed its classifier."""
    return " ".join(raw_content.split())


def _vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        n_features=FEATURES, ngram_range=NGRAMS, alternate_sign=False, norm="l2", dtype=np.float32
    )


def _hashes(text: str) -> list[int]:
    """Signed MurmurHash3 (seed 0) of the text's lowercased word unigrams, then its bigrams.

    mmh3 hashes a str's UTF-8 bytes, as scikit-learn does; a token is only word characters, so
    it never holds a lone surrogate (which segfaults mmh3 5.3.1 instead of raising)."""
    tokens = TOKEN.findall(text.lower())
    bigrams = map(" ".join, itertools.pairwise(tokens))
    return [*map(mmh3.hash, tokens), *map(mmh3.hash, bigrams)]


def feature_index(hashes: np.ndarray) -> np.ndarray:
    """Column of each signed 32-bit hash: |h| mod FEATURES, |-2**31| taken as 2**31."""
    return np.abs(hashes.astype(np.int64)) % FEATURES


def _features(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The l2-normalised hashed term counts of a batch, as HashingVectorizer computes them.

    Returns (column, value, row starts): entries sorted by row, then column; values are float32
    (counts as float32; squares as float32 summed in float64; each count divided in float64 by
    the square root and rounded to float32, as sklearn.utils.sparsefuncs_fast does)."""
    per_text = [_hashes(t) for t in texts]
    lengths = np.fromiter(map(len, per_text), dtype=np.int64, count=len(per_text))
    hashes = np.fromiter(itertools.chain.from_iterable(per_text), np.int64, count=lengths.sum())
    keys = np.repeat(np.arange(len(texts), dtype=np.int64), lengths) * FEATURES
    keys, counts = np.unique(keys + feature_index(hashes), return_counts=True)
    rows, cols = np.divmod(keys, FEATURES)
    counts = np.minimum(counts, MAX_COUNT).astype(np.float32)
    squares = np.bincount(rows, weights=counts * counts, minlength=len(texts))
    norms = np.sqrt(squares)
    values = (counts.astype(np.float64) / norms[rows]).astype(np.float32)
    starts = np.searchsorted(rows, np.arange(len(texts) + 1))
    return cols, values, starts


def _held_out(text: str, test_fraction: float) -> bool:
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64 < test_fraction


@dataclass(frozen=True, slots=True)
class TrainingReport:
    positives: int
    negatives: int
    train: int
    test: int
    roc_auc: float
    skipped_short_positives: int
    params: dict


def train(
    positives: Sequence[str],
    negatives: Sequence[str],
    model_path: str | Path,
    *,
    test_fraction: float = 0.2,
    min_positive_chars: int = MIN_POSITIVE_CHARS,
) -> TrainingReport:
    """Train on page texts (raw_content), save the model, and score the held-out pages."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    long_enough = [t for t in positives if len(t) >= min_positive_chars]
    pos = [t for t in map(classifier_text, long_enough) if t]
    neg = [t for t in map(classifier_text, negatives) if t][: len(pos)]
    if not pos or not neg:
        raise ValueError(f"need positives and negatives, got {len(pos)} and {len(neg)}")
    rows = [(1, t) for t in pos] + [(0, t) for t in neg]
    train_rows = [r for r in rows if not _held_out(r[1], test_fraction)]
    test_rows = [r for r in rows if _held_out(r[1], test_fraction)]
    vectorizer = _vectorizer()
    model = LogisticRegression(C=C, solver="liblinear", max_iter=1000)
    model.fit(vectorizer.transform([t for _, t in train_rows]), [y for y, _ in train_rows])
    weights = model.coef_[0].astype(np.float32)
    bias = np.float32(model.intercept_[0])
    with open(model_path, "wb") as fh:  # np.savez would append ".npz" to the name
        np.savez_compressed(fh, weights=weights, bias=bias, features=FEATURES, ngrams=NGRAMS)
    auc = float("nan")
    if {y for y, _ in test_rows} == {0, 1}:
        probs = WikirefClassifier.from_arrays(weights, bias).wiki_probs([t for _, t in test_rows])
        auc = float(roc_auc_score([y for y, _ in test_rows], probs))
    return TrainingReport(
        positives=len(pos),
        negatives=len(neg),
        train=len(train_rows),
        test=len(test_rows),
        roc_auc=round(auc, 4),
        skipped_short_positives=len(positives) - len(long_enough),
        params={
            "model": "logistic regression",
            "features": FEATURES,
            "ngrams": list(NGRAMS),
            "C": C,
            "test_fraction": test_fraction,
        },
    )


class WikirefClassifier:
    def __init__(self, model_path: str | Path, threshold: float = 0.25) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no classifier (run `make wikiref`)")
        with np.load(path, allow_pickle=False) as arrays:
            if int(arrays["features"]) != FEATURES or tuple(arrays["ngrams"]) != NGRAMS:
                raise ValueError(f"{path}: trained with other features than this version reads")
            weights, bias = arrays["weights"], arrays["bias"]
        self._weights = np.asarray(weights, dtype=np.float32)
        self._bias = np.float32(bias)
        self.threshold = threshold

    @classmethod
    def from_arrays(cls, weights, bias, threshold: float = 0.25) -> WikirefClassifier:
        self = cls.__new__(cls)
        self._weights, self._bias = np.asarray(weights, dtype=np.float32), np.float32(bias)
        self.threshold = threshold
        return self

    def wiki_probs(self, texts: Sequence[str]) -> list[float]:
        """P(cited by Wikipedia) per page text (raw content; lines are joined here)."""
        if not texts:
            return []
        cols, values, starts = _features([classifier_text(t) for t in texts])
        products = values * self._weights[cols]
        scores = np.zeros(len(texts), dtype=np.float32)
        for i, (start, end) in enumerate(itertools.pairwise(starts.tolist())):
            if end > start:  # SciPy's CSR product adds a row's terms one by one, in float32
                scores[i] = np.cumsum(products[start:end])[-1]
        return [float(p) for p in 1.0 / (1.0 + np.exp(-(scores + self._bias)))]

    def decide(self, wiki_prob: float) -> Decision:
        return KEEP if wiki_prob >= self.threshold else Decision.drop("wikiref")


class WikirefFilter(Filter):
    """Keeps pages the classifier finds Wikipedia-like enough; adds `wiki_prob` (4 decimals, the
    value the threshold is applied to)."""

    name = "wikiref"

    def __init__(self, classifier: WikirefClassifier, field: str = "text"):
        self.classifier, self.field = classifier, field

    def decide_batch(self, docs: Sequence[dict]) -> list[Decision]:
        probs = self.classifier.wiki_probs([doc[self.field] for doc in docs])
        for doc, prob in zip(docs, probs, strict=True):
            doc["wiki_prob"] = round(prob, 4)
        return [self.classifier.decide(doc["wiki_prob"]) for doc in docs]
