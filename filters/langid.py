"""Language identification with fastText's lid.176 (docs/recipe/commoncrawl.md §3), as CCNet did,
with its fix.

CCNet removed the newlines before asking fastText (`raw_content.replace("\n", "")`), gluing the
last word of a line to the first of the next; here the kept lines are joined with a space. The
score is rounded to two decimals before the threshold, as CCNet's `language_score` was.
fastText's answers come from filters.fasttext_lid, bit for bit the same and faster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from filters.base import KEEP, Decision, Filter
from filters.fasttext_lid import TopOnePredictor

_LABEL = "__label__"


@dataclass(frozen=True, slots=True)
class Language:
    language: str
    score: float


class LanguageIdentifier:
    """Loads the model once; `identify_batch` makes one fastText call for many documents."""

    def __init__(
        self, model: str | Path, threshold: float = 0.5, languages: Iterable[str] | None = ("en",)
    ) -> None:
        import fasttext  # imported here: the C extension is only needed where models run

        path = Path(model)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no language-ID model (run `make models`)")
        fasttext.FastText.eprint = lambda *_: None  # its load-time deprecation notice
        self._model = fasttext.load_model(str(path))
        self._predictor = TopOnePredictor(self._model, path)
        self.threshold = threshold
        self.languages = frozenset(languages) if languages is not None else None

    @staticmethod
    def model_input(lines: Sequence[str]) -> str:
        """fastText reads one line: the document's lines joined by a space."""
        return " ".join([stripped for line in lines if (stripped := line.strip())])

    def identify_batch(self, texts: Sequence[str]) -> list[Language]:
        if not texts:
            return []
        found = self._predictor.predict([t.replace("\n", " ") for t in texts])
        return [
            Language(answer[0].removeprefix(_LABEL), round(answer[1], 2))
            if answer is not None
            else Language("unknown", 0.0)
            for answer in found
        ]

    def identify(self, text: str) -> Language:
        return self.identify_batch([text])[0]

    def decide(self, found: Language) -> Decision:
        if found.score < self.threshold:
            return Decision.drop("language_score")
        if self.languages is not None and found.language not in self.languages:
            return Decision.drop("language")
        return KEEP


class LanguageFilter(Filter):
    """Keeps documents in the identifier's languages with a score at its threshold or above;
    adds `language` and `language_score` to them and counts every language seen."""

    name = "lid"

    def __init__(self, identifier: LanguageIdentifier, field: str = "text"):
        self.identifier, self.field = identifier, field

    def decide_batch(self, docs: Sequence[dict]) -> list[Decision]:
        texts = [self.identifier.model_input(doc[self.field].split("\n")) for doc in docs]
        decisions = []
        for doc, found in zip(docs, self.identifier.identify_batch(texts), strict=True):
            self.count("languages", f"seen_{found.language}")
            decision = self.identifier.decide(found)
            if decision.keep:
                doc["language"], doc["language_score"] = found.language, found.score
            decisions.append(decision)
        return decisions
