"""SentencePiece training shared by the LLaMA tokenizer and the CommonCrawl language models:
deterministic model bytes, the size a too-small sample supports, the `.vocab` listing.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import sentencepiece

# SentencePiece's message when the vocabulary does not fit the sample.
_TOO_HIGH = re.compile(r"too high \(\d+\)\. Please set it to a value <= (\d+)")


def sentencepiece_bytes(sentences: Path, **options: Any) -> bytes:
    """A SentencePiece model trained on `sentences` (one per line), as bytes.

    Sentences go in through an iterator and the model comes out through a writer: with `input=`
    and `model_prefix=` SentencePiece stores those paths in the model, so the same text would give
    different bytes from one temporary directory to the next.
    """
    model = io.BytesIO()
    with sentences.open(encoding="utf-8") as lines:
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=(line.rstrip("\n") for line in lines),
            model_writer=model,
            minloglevel=1,
            **options,
        )
    return model.getvalue()


def largest_vocab(err: RuntimeError) -> int | None:
    """The vocabulary size SentencePiece's "too high" error says the text supports, if it is one."""
    too_high = _TOO_HIGH.search(str(err))
    return int(too_high.group(1)) if too_high else None


def vocab_text(model: bytes) -> str:
    """The `.vocab` file spm_train writes: piece, a tab, its score."""
    sp = sentencepiece.SentencePieceProcessor(model_proto=model)
    return "".join(f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}\n" for i in range(len(sp)))
