"""Perplexity buckets (docs/recipe/commoncrawl.md §5): head, middle or tail by the language's own
cut-offs.

CCNet shipped one fixed table (e.g. English 340/520), valid only for its own language models;
here the 30th and 60th percentiles are computed on a sample of the same crawl scored with the
same model, and saved beside the model (`<lang>.cutoffs.json`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

HEAD, MIDDLE, TAIL, UNSCORED = "head", "middle", "tail", "all"
BUCKETS = (HEAD, MIDDLE, TAIL)
PERCENTILES = (30, 60)


@dataclass(frozen=True, slots=True)
class Cutoffs:
    language: str
    head: float  # perplexity below this: head
    middle: float  # below this (and not head): middle; the rest: tail
    documents: int  # how many scored documents the percentiles come from

    def bucket(self, perplexity: float) -> str:
        if perplexity < 0:  # no line could be scored (filters.perplexity.NO_SCORE)
            return UNSCORED
        if perplexity < self.head:
            return HEAD
        return MIDDLE if perplexity < self.middle else TAIL

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Cutoffs:
        return cls(**json.loads(Path(path).read_text()))


def compute_cutoffs(language: str, perplexities: Iterable[float]) -> Cutoffs:
    """The 30th and 60th percentiles (linear interpolation) of the scored documents."""
    values = np.fromiter((p for p in perplexities if p >= 0), dtype=np.float64)
    if values.size == 0:
        raise ValueError(f"no scored document to compute {language} perplexity cut-offs from")
    head, middle = np.percentile(values, PERCENTILES)
    return Cutoffs(language, round(float(head), 1), round(float(middle), 1), int(values.size))
