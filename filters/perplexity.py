"""Document perplexity under a SentencePiece + KenLM model pair, as CCNet scored CommonCrawl.

A document is scored line by line (CCNet's normaliser deleted the newlines, so it scored a whole
page as one sentence glued across lines): each line gets `<s>`/`</s>`, and the document's
perplexity is 10 ** (-Σ log10 p / Σ (tokens + 1)) over its lines, rounded to 0.1 like CCNet's.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import kenlm
import sentencepiece

from core.spm_proto import read_model
from filters.base import KEEP, Decision, Filter
from filters.buckets import Cutoffs
from filters.text_normalizer import translated_lines

try:  # native/kenlm_lines.cc, built in place; the kenlm module gives the same floats, slower
    from filters import _kenlm_lines
except ImportError:
    _kenlm_lines = None

log = logging.getLogger(__name__)

# The perplexity of a text with nothing to score (empty, or only characters that normalisation or
# SentencePiece remove). CCNet's bucketing reads a negative perplexity as "no score" (bucket
# "all"); a number keeps the column a plain float, where NaN or inf would poison percentiles.
NO_SCORE: Final = -1.0
HISTOGRAM_BIN: Final = 10.0  # width of the perplexity histogram's bins (report plots)


@dataclass(frozen=True, slots=True)
class Perplexity:
    perplexity: float  # 10 ** (-log10_prob / length) rounded to 0.1, or NO_SCORE
    log10_prob: float  # summed over the scored lines, </s> included
    length: int  # summed over the scored lines: SentencePiece tokens + 1 (for </s>)
    lines: int  # lines scored


class PerplexityScorer:
    """Loads the pair once; KenLM memory-maps its binary, so workers on one host share the pages."""

    def __init__(self, sp_model: str | Path, kenlm_model: str | Path) -> None:
        self.sp_model = Path(sp_model)
        self.kenlm_model = Path(kenlm_model)
        for path in (self.sp_model, self.kenlm_model):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such model (make lm LM_LANG=<lang>)")
        self._sp = sentencepiece.SentencePieceProcessor(model_file=str(self.sp_model))
        self._ascii = None
        if _kenlm_lines is not None:
            self._lines = _kenlm_lines.Model(self.kenlm_model)
            self._ascii = _ascii_scorer(self._lines, self.sp_model)
        else:
            _log_slow_path()
            self._lines = _KenlmLines(kenlm.Model(str(self.kenlm_model)))

    @classmethod
    def from_dir(cls, model_dir: str | Path, language: str) -> PerplexityScorer:
        """The layout `python -m filtermodels.lm` writes: <dir>/<lang>.sp.model, <lang>.arpa.bin."""
        model_dir = Path(model_dir)
        return cls(model_dir / f"{language}.sp.model", model_dir / f"{language}.arpa.bin")

    def line_scores(self, text: str) -> list[tuple[float, int]]:
        """(log10 p(line </s> | <s>), tokens + 1) per line that has at least one token."""
        scores, tokens = self._score_lines(translated_lines(text))
        return [(s, n + 1) for s, n in zip(scores, tokens, strict=True) if n]

    def _encode(self, lines: list[str]) -> list[list[bytes]]:
        """The SentencePiece pieces of the lines, all in one call: a call costs ~60 µs, ~10% of a
        web page's work. One thread: its thread pool costs more than it saves, and parallelism
        comes from the pipeline's workers. Pieces as UTF-8 bytes: KenLM reads bytes, and ids
        would lose the text of unknown pieces (id 0), which KenLM's vocabulary has."""
        return self._sp.encode(lines, out_type=bytes, num_threads=1) if lines else []

    def _score_lines(self, lines: list[str]) -> tuple[list[float], list[int]]:
        """Per line of translated_lines(), log10 p(line </s> | <s>) of its normalised form and
        its number of SentencePiece pieces (0.0 and 0 for a line with none). Printable-ASCII
        lines go through the native tokenizer when the model allows it (same pieces, same
        floats); the others through SentencePiece, their whitespace collapsed first."""
        if self._ascii is not None:
            scores, tokens = self._ascii.score(lines)
            rest = [i for i, n in enumerate(tokens) if n < 0]
        else:
            scores, tokens, rest = [0.0] * len(lines), [0] * len(lines), range(len(lines))
        if rest:
            pieces = self._encode([" ".join(lines[i].split()) for i in rest])
            found, _ = self._lines.score(pieces, [1] * len(pieces))
            for i, line, score in zip(rest, pieces, found, strict=True):
                tokens[i] = len(line)
                scores[i] = score[0] if score else 0.0
        return scores, tokens

    def score(self, text: str) -> Perplexity:
        return self.score_batch([text])[0]

    def score_batch(self, texts: Sequence[str]) -> list[Perplexity]:
        """score() of each text; the batch's lines are scored together (_score_lines)."""
        with _no_cycle_collection():
            lines = [translated_lines(t) for t in texts]
            scores, tokens = self._score_lines([line for text in lines for line in text])
            found, start = [], 0
            for text in lines:
                end = start + len(text)
                kept = [
                    (s, n) for s, n in zip(scores[start:end], tokens[start:end], strict=True) if n
                ]
                found.append(_perplexity([s for s, _ in kept], sum(n + 1 for _, n in kept)))
                start = end
            return found


def _ascii_scorer(lines: _kenlm_lines.Model, sp_model: Path) -> _kenlm_lines.AsciiScorer | None:
    """The native tokenizer for the model's printable-ASCII lines, where it reproduces
    SentencePiece exactly (core.spm_proto says when); None otherwise."""
    model = read_model(sp_model.read_bytes())
    if (why := model.ascii_ineligibility()) is not None:
        log.info("%s: every line through SentencePiece (%s)", sp_model, why)
        return None
    return _kenlm_lines.AsciiScorer(
        lines,
        [p.text for p in model.pieces],
        [p.score for p in model.pieces],
        bytes(p.type for p in model.pieces),
    )


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """A batch allocates ~60 lists and bytes per page (lines, pieces) and no reference cycle;
    each 700 allocations the cycle collector would walk the worker's young objects for nothing
    (~8% of the stage, measured on the replica). Collection resumes after; it is not turned on
    where something else turned it off."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _KenlmLines:
    """The `kenlm` module behind filters._kenlm_lines.Model's interface, for where the extension
    is not built: the same floats (the module's score is the extension's reference)."""

    def __init__(self, model: kenlm.Model) -> None:
        self._score = model.score

    def score(
        self, pieces: list[list[bytes]], counts: list[int]
    ) -> tuple[list[list[float]], list[int]]:
        """Per text: log10 p(line </s> | <s>) of its lines with pieces, and Σ (pieces + 1)."""
        score, per_text, lengths, start = self._score, [], [], 0
        for count in counts:
            lines = [line for line in pieces[start : start + count] if line]
            per_text.append([score(b" ".join(line), bos=True, eos=True) for line in lines])
            lengths.append(sum(len(line) + 1 for line in lines))
            start += count
        return per_text, lengths


@functools.cache
def _log_slow_path() -> None:
    log.warning("filters._kenlm_lines is not built: scoring lines through the kenlm module (slow)")


def _perplexity(scores: list[float], length: int) -> Perplexity:
    """From the scores of a text's lines (Python's float sum, in line order) and Σ (tokens + 1)."""
    if not scores:
        return Perplexity(NO_SCORE, 0.0, 0, 0)
    log10_prob = sum(scores)
    return Perplexity(round(10.0 ** (-log10_prob / length), 1), log10_prob, length, len(scores))


def histogram_bin(perplexity: float) -> float:
    """The low end of the perplexity's histogram bin; -1 for NO_SCORE."""
    return -1.0 if perplexity < 0 else HISTOGRAM_BIN * int(perplexity // HISTOGRAM_BIN)


class PerplexityFilter(Filter):
    """Scores documents of the languages it has models for (`language` set by LanguageFilter),
    buckets them by the language's cut-offs and keeps `keep_buckets`. Adds `perplexity` and
    `bucket`; counts a histogram of every document scored (`histogram/<lang>/<bin>`)."""

    name = "perplexity"

    def __init__(
        self,
        scorers: dict[str, PerplexityScorer],
        cutoffs: dict[str, Cutoffs],
        keep_buckets: frozenset[str] | set[str],
        field: str = "text",
    ):
        self.scorers, self.cutoffs = scorers, cutoffs
        self.keep_buckets, self.field = frozenset(keep_buckets), field

    def decide(self, doc: dict) -> Decision:
        return self.decide_batch([doc])[0]

    def decide_batch(self, docs: Sequence[dict]) -> list[Decision]:
        """Each language's documents scored with one SentencePiece call (score_batch)."""
        by_language: dict[str, list[int]] = {}
        for i, doc in enumerate(docs):
            by_language.setdefault(doc["language"], []).append(i)
        perplexities: list[float] = [NO_SCORE] * len(docs)
        for lang, indexes in by_language.items():
            scored = self.scorers[lang].score_batch([docs[i][self.field] for i in indexes])
            for i, found in zip(indexes, scored, strict=True):
                perplexities[i] = found.perplexity
        decisions = []
        for doc, perplexity in zip(docs, perplexities, strict=True):
            lang = doc["language"]
            bucket = self.cutoffs[lang].bucket(perplexity)
            self.count("histogram", f"{lang}/{histogram_bin(perplexity):g}")
            doc["perplexity"], doc["bucket"] = perplexity, bucket
            decisions.append(
                KEEP if bucket in self.keep_buckets else Decision.drop(f"bucket_{bucket}")
            )
        return decisions
