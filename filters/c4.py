"""C4's rules (docs/recipe/c4.md) as pure parts, reproducing TensorFlow Datasets' `c4_utils.py`
(the version that runs the bad-words filter as its own step after English detection).

Order, as TFDS applies it: `parse_lines` and `PageLength` per WET record; one page per `c4_url`
(`choose_page`); `CleanPage`; line dedup over the whole dataset (`line_keys`, owner = smallest
`text_md5` of the normalised URL, then `AfterDedup`); `English`; `BadWords`; `split_of`. The
pipeline does the shuffles; everything decided about one page or one line is here.

TFDS's quirks are kept on purpose, since the point is its output: metadata-looking lines inside a
page are dropped, a citation mark is removed before the end-mark check without re-stripping, the
sentence re-check after dedup counts sentences of the whole text rather than line by line.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

from filters.base import KEEP, Decision, Filter
from filters.langid import LanguageIdentifier
from filters.sentences import count_sentences

MAX_PAGE_CHARS = 190_000  # TFDS is_valid_length: len(text) > 1.9e5 drops the page
MAX_WORD_CHARS = 1000
MIN_WORDS_PER_LINE = 5
MIN_SENTENCES = 3
LANGDETECT_MIN_PROB = 0.99
# fastText lid.176 (`.ftz`) English score (rounded to 2 decimals, as filters/langid.py does) at
# or above which a page is English. Measured on the sample's 1,914 WET pages left after parse,
# length and clean, against langdetect's verdict: fastText's `en` never kept a page langdetect
# rejected, at any threshold from 0.3 up; langdetect-English pages score median 0.88, 1st
# percentile 0.64, minimum 0.46. At 0.5 the two agree on 1,909 pages (99.7%); of the 5 that
# only langdetect keeps, 3 are Czech/Dutch/Italian help pages fastText calls cs/nl/it and 2 are
# terse English UI help at 0.46-0.48. 0.8 would lose 51 English pages, 0.4 gain 2. 0.5 is also
# CCNet's threshold (filters/langid.py), so both English sources of the corpus use one value.
FASTTEXT_MIN_SCORE = 0.5
VALIDATION_EVERY = 1000  # md5(url) % 1000 == 0 -> validation: 0.1% of pages

_METADATA_PREFIXES = ("WARC", "CONTENT-", "Content-")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # what TFDS's text-mode line iteration splits on
_SCHEME_WWW = re.compile(r"https?:\/\/(www\.)?")
_TRACKING_QUERY = re.compile(r"\?(utm_|ref|feed).*")
_CITATION = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
_END_MARKS = (".", "?", "!", '"')
_ELLIPSIS = "..."
_WORDS = re.compile(r"\w+")
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


# ---- keys and small rules ----------------------------------------------------------------------


def parse_lines(body: str) -> str:
    """A WET record body as TFDS read it: lines stripped, empty ones and those starting with
    `WARC`, `CONTENT-` or `Content-` skipped (inside the text too: TFDS's parser could not tell
    them from headers), joined by "\\n"."""
    lines = (line.strip() for line in _NEWLINE.split(body))
    return "\n".join(line for line in lines if line and not line.startswith(_METADATA_PREFIXES))


def c4_url(url: str) -> str:
    """TFDS's normalised URL: no scheme or `www.`, no tracking query, no trailing `/`."""
    url = _SCHEME_WWW.sub("", url)
    url = _TRACKING_QUERY.sub("", url)
    return url.rstrip("/")


def text_md5(text: str) -> str:
    """md5 hex digest of the UTF-8 text: TFDS compares these strings to choose pages and owners."""
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


def choose_page(pages: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The page TFDS keeps among those with one normalised URL: the largest `text_md5` of its
    text. Pages with equal text tie in TFDS (the first seen wins, in no fixed order); here the
    larger `id` wins, so reruns agree."""
    return max(pages, key=lambda page: (text_md5(page["text"]), page.get("id") or ""))


def line_key(line: str) -> bytes:
    """The 16-byte md5 of the stripped, lower-cased line (TFDS used its hex form)."""
    return hashlib.md5(line.strip().lower().encode("utf-8"), usedforsecurity=False).digest()


def line_keys(text: str) -> list[bytes]:
    """The keys of a cleaned page's lines, in order, repeats included: the pipeline sends each
    key with the page's `text_md5(c4_url(url))` and the smallest such string owns the key."""
    return [line_key(line) for line in text.split("\n")]


def dedup_page(text: str, owned: Collection[bytes]) -> str:
    """The page's lines whose key it owns, each key's first copy only."""
    return _dedup(text, owned)[0]


def _dedup(text: str, owned: Collection[bytes]) -> tuple[str, int, int]:
    kept: list[str] = []
    seen: set[bytes] = set()
    not_owned = repeated = 0
    for line in text.split("\n"):
        key = line_key(line)
        if key not in owned:
            not_owned += 1
        elif key in seen:
            repeated += 1
        else:
            seen.add(key)
            kept.append(line)
    return "\n".join(kept), not_owned, repeated


def split_of(normalised_url: str) -> str:
    return "validation" if int(text_md5(normalised_url), 16) % VALIDATION_EVERY == 0 else "train"


# ---- filters -----------------------------------------------------------------------------------


class PageLength(Filter):
    """Pages longer than 190,000 characters after `parse_lines` go."""

    name = "length"

    def decide(self, doc: dict[str, Any]) -> Decision:
        return Decision.drop("too_long") if len(doc["text"]) > MAX_PAGE_CHARS else KEEP


class CleanPage(Filter):
    """TFDS's clean_page: line rules in its order, two of which drop the whole page, then at
    least 3 sentences over the kept lines. Rewrites `text`; counts removed lines by rule as
    TFDS's `line-filtered:*` counters do (lines of pages dropped later included)."""

    name = "clean"

    def decide(self, doc: dict[str, Any]) -> Decision:
        kept: list[str] = []
        n_sentences = 0
        for line in doc["text"].splitlines():
            line = line.strip()
            # (the guards only skip work: no shorter line has such a word, or a citation mark)
            if len(line) > MAX_WORD_CHARS and any(len(w) > MAX_WORD_CHARS for w in line.split()):
                self.count("lines", "removed_too_long_word")
                continue
            if "[" in line:
                line = _CITATION.sub("", line)
            if not line.endswith(_END_MARKS) or line.endswith(_ELLIPSIS):
                self.count("lines", "removed_no_end_mark")
                continue
            if len(line.split()) < MIN_WORDS_PER_LINE:
                self.count("lines", "removed_too_short")
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                return Decision.drop("lorem_ipsum")
            if "javascript" in lower:
                self.count("lines", "removed_javascript")
                continue
            if "{" in line:
                return Decision.drop("curly_bracket")
            if any(phrase in lower for phrase in POLICY_SUBSTRINGS):
                self.count("lines", "removed_policy")
                continue
            n_sentences += count_sentences(line)
            kept.append(line)
        if n_sentences < MIN_SENTENCES:
            return Decision.drop("too_few_sentences")
        self.count("lines", "kept", len(kept))
        doc["text"] = "\n".join(kept).strip()
        return KEEP


class AfterDedup(Filter):
    """Line dedup's page step: the pipeline puts the keys this page owns (`line_keys` whose owner
    it is, possibly none) in `owned_keys`; this filter removes that field, rewrites `text` with
    `dedup_page` and drops a page left empty or with fewer than 3 sentences in the whole text."""

    name = "dedup"

    def decide(self, doc: dict[str, Any]) -> Decision:
        text, not_owned, repeated = _dedup(doc["text"], doc.pop("owned_keys"))
        self.count("lines", "removed_duplicate", not_owned)
        self.count("lines", "removed_duplicate_in_page", repeated)
        doc["text"] = text
        if not text:
            return Decision.drop("empty")
        if count_sentences(text) < MIN_SENTENCES:
            return Decision.drop("too_few_sentences")
        return KEEP


Backend = Literal["langdetect", "fasttext"]
_LANGDETECT_LOCK = threading.Lock()  # langdetect's factory and seed are module-global


def langdetect_verdict(text: str) -> str | None:
    """TFDS's is_language(text, "en"): None for English, else the drop reason."""
    import langdetect  # here: only the language stage needs it

    with _LANGDETECT_LOCK:
        langdetect.DetectorFactory.seed = 0
        try:
            predictions = langdetect.detect_langs(text)
        except langdetect.lang_detect_exception.LangDetectException:
            return "langdetect_error"
    if not predictions:
        return "no_prediction"
    best = predictions[0]
    if best.prob < LANGDETECT_MIN_PROB:
        return "low_confidence"
    return None if best.lang == "en" else "not_english"


def english_identifier(model: str | Path) -> LanguageIdentifier:
    """lid.176 as `English` uses it: English only, at FASTTEXT_MIN_SCORE."""
    return LanguageIdentifier(model, threshold=FASTTEXT_MIN_SCORE, languages=("en",))


class English(Filter):
    """Keeps English pages as decided by `backend`: langdetect as TFDS ran it, or fastText lid.176
    (`identifier`, from `english_identifier`; its threshold is used). With
    `compare`, both run and `english/agree`, `english/disagree_langdetect_keeps` or
    `english/disagree_fasttext_keeps` is counted per page; `backend` still decides."""

    name = "language"

    def __init__(
        self,
        backend: Backend = "langdetect",
        identifier: LanguageIdentifier | None = None,
        compare: bool = False,
    ) -> None:
        if backend not in ("langdetect", "fasttext"):
            raise ValueError(f"unknown language backend {backend!r}")
        if identifier is None and (backend == "fasttext" or compare):
            raise ValueError("the fasttext backend and compare need a LanguageIdentifier")
        self.backend, self.identifier, self.compare = backend, identifier, compare

    def _fasttext_verdicts(self, docs: Sequence[dict[str, Any]]) -> list[str | None]:
        if self.identifier is None:
            raise ValueError("the fasttext backend needs a LanguageIdentifier")
        texts = [self.identifier.model_input(doc["text"].split("\n")) for doc in docs]
        verdicts: list[str | None] = []
        for found in self.identifier.identify_batch(texts):
            if found.score < self.identifier.threshold:
                verdicts.append("low_confidence")
            else:
                verdicts.append(None if found.language == "en" else "not_english")
        return verdicts

    def decide_batch(self, docs: Sequence[dict[str, Any]]) -> list[Decision]:
        use_fasttext = self.backend == "fasttext" or self.compare
        use_langdetect = self.backend == "langdetect" or self.compare
        fast = self._fasttext_verdicts(docs) if use_fasttext else []
        slow = [langdetect_verdict(doc["text"]) for doc in docs] if use_langdetect else []
        if self.compare:
            for by_langdetect, by_fasttext in zip(slow, fast, strict=True):
                if (by_langdetect is None) == (by_fasttext is None):
                    self.count("english", "agree")
                elif by_langdetect is None:
                    self.count("english", "disagree_langdetect_keeps")
                else:
                    self.count("english", "disagree_fasttext_keeps")
        verdicts = slow if self.backend == "langdetect" else fast
        return [KEEP if reason is None else Decision.drop(reason) for reason in verdicts]


def badwords_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """TFDS's regex: the words joined by `|` *unescaped*, between a non-word character or an end.

    Each entry is thus a regex. No entry of LDNOOBW's `en` list holds a metacharacter (`&` in
    "s&m" and `-` in "g-spot" are literals outside a character class), so for that list this is
    the same as escaping; since `&` is itself a non-word character, "s&m" matches only as the
    whole token, not "s & m". A user's list with `.`, `*`, `(`… is read as regexes, as TFDS
    would have."""
    return re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(words)))


class BadWords(Filter):
    """Drops a page whose lower-cased text contains a listed word (TFDS's `en` config; the
    `en.noblocklist` config has no such stage), with TFDS's verdicts, faster: an entry made only
    of word characters matches exactly when it is one of the text's maximal `\\w+` runs, so
    those entries are looked up in a set of the page's words; the rest (phrases, `s&m`, a user's
    regexes) keep TFDS's regex."""

    name = "badwords"

    def __init__(self, words: Sequence[str]) -> None:
        if not words:
            raise ValueError("an empty word list would match every page")
        self.single = frozenset(w for w in words if _WORDS.fullmatch(w))
        rest = [w for w in words if w not in self.single]
        self.rest = badwords_pattern(rest) if rest else None

    def decide(self, doc: dict[str, Any]) -> Decision:
        lower = doc["text"].lower()
        if not self.single.isdisjoint(_WORDS.findall(lower)):
            return Decision.drop("bad_words")
        if self.rest is not None and self.rest.search(lower):
            return Decision.drop("bad_words")
        return KEEP
