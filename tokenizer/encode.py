"""Batch encoding of documents with a SentencePiece model into uint16 token arrays.

The ids are exactly SentencePiece's `encode` ids (no BOS/EOS: the loader adds them). What makes it
fast is a word cache. With identity normalisation, a dummy prefix and spaces kept (LLaMA's
settings), SentencePiece sees a text as "▁" + text with every space turned into "▁", and every
piece has "▁" only at its start (or is all "▁"). No piece can then span the point before a "▁"
that follows another character, so BPE on the whole text gives the concatenation of BPE on each
span between such points: a word with the spaces before it. Words repeat (Zipf), so each distinct
word is encoded once by SentencePiece's batch API and later ones are a dictionary lookup; a
document is `b"".join` of its words' cached uint16 bytes. A model that does not meet these
conditions (another normaliser, extra whitespace removed, pieces with inner "▁") is encoded by the
batch API directly, which is correct for any model, only slower.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import chain, pairwise
from pathlib import Path

import numpy as np
import sentencepiece

from core.spm_proto import BPE, read_model

MAX_VOCAB_SIZE = 1 << 16  # ids are stored as uint16
SPACE = "\u2581"  # SentencePiece's "▁"
DEFAULT_MAX_CACHED_WORDS = 1 << 20
FILL_CHUNK = 256  # new words per SentencePiece call
_WORD_WITH_SPACES = re.compile(r" +[^ ]*")
# Texts the fast path must encode exactly as SentencePiece does before it is used.
_PROBES = (
    "Hello world",
    "  two  spaces  and a tab\there ",
    " x",
    "a ",
    "end  ",
    "digits 2024 and ▁ a literal ▁▁ marker",
    "line one\n\nline two\n  indented   three     four",
    "日本語のテキスト 🎉 émoji",
)


class Encoder:
    """A SentencePiece model loaded once (per worker) that encodes lists of documents."""

    def __init__(
        self,
        model: bytes,
        *,
        name: str = "<bytes>",
        num_threads: int = 1,
        max_cached_words: int = DEFAULT_MAX_CACHED_WORDS,
    ):
        self.name = name
        self.sha256 = hashlib.sha256(model).hexdigest()
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model)
        self.vocab_size = self.processor.get_piece_size()
        if self.vocab_size > MAX_VOCAB_SIZE:
            raise ValueError(
                f"{name}: {self.vocab_size:,} pieces; token shards store uint16 ids, so the "
                f"vocabulary must have at most {MAX_VOCAB_SIZE:,}: train a smaller model"
            )
        self.num_threads = num_threads
        self.max_cached_words = max_cached_words
        self._cache: dict[str, bytes] = {}
        self.space_runs = False  # words keep their leading spaces (whitespace-only pieces)
        self._blank = ""  # the cache key of a lone "▁"
        self._blank_bytes = b""
        self._opens_word = np.zeros(self.vocab_size, dtype=bool)  # pieces starting with "▁"
        self._all_space = np.zeros(self.vocab_size, dtype=bool)  # pieces of "▁" only
        self.word_cache = self._word_cache_applies(model) and self._set_up_cache()

    @classmethod
    def from_file(cls, path: str | Path, **kwargs) -> Encoder:
        return cls(Path(path).read_bytes(), name=str(path), **kwargs)

    def encode(self, texts: Sequence[str]) -> list[np.ndarray]:
        """One uint16 array per text, in order; an empty text gives an empty array."""
        if not self.word_cache:
            ids = self.processor.encode(list(texts), out_type="numpy", num_threads=self.num_threads)
            return [i.astype(np.uint16) for i in ids]
        words = [self._words(t) if t else [] for t in texts]
        missing = set(chain.from_iterable(words)).difference(self._cache)
        if missing:
            self._fill(list(missing))
        get = self._cache.__getitem__
        out = [np.frombuffer(b"".join(map(get, w)), dtype=np.uint16) for w in words]
        if len(self._cache) > self.max_cached_words:
            self._cache.clear()
            self._cache[self._blank] = self._blank_bytes
        return out

    def _words(self, text: str) -> list[str]:
        if SPACE in text:  # SentencePiece reads a literal "▁" as a space
            text = text.replace(SPACE, " ")
        if self.space_runs:
            return _WORD_WITH_SPACES.findall(" " + text)
        return text.split(" ")

    def _fill(self, words: list[str]) -> None:
        """Encode new words joined, FILL_CHUNK to a SentencePiece call rather than one each.

        A word's first token is the one that starts with "▁" after a token that is not all "▁"
        (a word's own run of spaces), which cuts a chunk's ids back into words. A word of spaces
        alone would merge with the next word's spaces, so it is encoded on its own.
        """
        # The dummy prefix supplies the "▁" before a chunk's first word. Without space runs a
        # word has no spaces and is never empty (the empty word, a lone "▁", is always cached).
        if self.space_runs:
            alone = [w for w in words if w[-1] == " "]
            joined = [w for w in words if w[-1] != " "]
        else:
            alone, joined = [], words
        chunks = [joined[i : i + FILL_CHUNK] for i in range(0, len(joined), FILL_CHUNK)]
        if self.space_runs:
            texts = ["".join(chunk)[1:] for chunk in chunks] + [w[1:] for w in alone]
        else:
            texts = [" ".join(chunk) for chunk in chunks]
        ids = self.processor.encode(texts, out_type="numpy", num_threads=self.num_threads)
        cache = self._cache
        for chunk, chunk_ids in zip(chunks, ids, strict=False):
            tokens = chunk_ids.astype(np.uint16)
            opens = self._opens_word[tokens]
            opens[1:] &= ~self._all_space[tokens[:-1]]
            starts = np.flatnonzero(opens)
            if len(starts) != len(chunk):
                raise RuntimeError(f"{self.name}: {len(starts)} words found in {len(chunk)}")
            data = tokens.tobytes()
            bounds = [*(2 * starts).tolist(), len(data)]
            cache.update(zip(chunk, [data[a:b] for a, b in pairwise(bounds)], strict=True))
        for word, word_ids in zip(alone, ids[len(chunks) :], strict=True):
            cache[word] = word_ids.astype(np.uint16).tobytes()

    def _word_cache_applies(self, model: bytes) -> bool:
        spec = read_model(model)
        if spec.precompiled_charsmap or not (
            spec.model_type == BPE
            and spec.add_dummy_prefix
            and spec.escape_whitespaces
            and not spec.remove_extra_whitespaces
            and not spec.treat_whitespace_as_suffix
        ):
            return False
        sp = self.processor
        space_id = sp.piece_to_id(SPACE)
        if sp.is_unknown(space_id) or sp.is_control(space_id):
            return False  # unknown pieces next to each other are merged: a "▁" must be known
        for i in range(self.vocab_size):
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i) or sp.is_unused(i):
                continue
            piece = sp.id_to_piece(i)
            self._opens_word[i] = piece.startswith(SPACE)
            self._all_space[i] = not piece.strip(SPACE)
            if SPACE in piece[1:]:
                if piece.strip(SPACE):
                    return False  # "▁" inside a piece: words are not independent
                self.space_runs = True
        return True

    def _set_up_cache(self) -> bool:
        """The lone-"▁" entry, then a check of the whole scheme against SentencePiece itself."""
        sp = self.processor
        head, full = sp.encode("x"), sp.encode("x ")
        if full[: len(head)] != head or len(full) == len(head):
            return False
        self._blank = " " if self.space_runs else ""
        self._blank_bytes = np.array(full[len(head) :], dtype=np.uint16).tobytes()
        self._cache[self._blank] = self._blank_bytes
        self.word_cache = True
        ok = all(
            np.array_equal(ours, theirs)
            for ours, theirs in zip(self.encode(_PROBES), sp.encode(list(_PROBES)), strict=True)
        )
        self._cache.clear()
        self._cache[self._blank] = self._blank_bytes
        return ok
