"""Language identification with fastText's lid.176 (SPEC §1.3), as CCNet did, with its fix.

CCNet removed the newlines before asking fastText (`raw_content.replace("\n", "")`), gluing the
last word of a line to the first of the next; here the kept lines are joined with a space. The
score is rounded to two decimals before the threshold, as CCNet's `language_score` was.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from filters.base import KEEP, Decision

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
        self.threshold = threshold
        self.languages = frozenset(languages) if languages is not None else None

    @staticmethod
    def model_input(lines: Sequence[str]) -> str:
        """fastText reads one line: the document's lines joined by a space."""
        return " ".join([stripped for line in lines if (stripped := line.strip())])

    def identify_batch(self, texts: Sequence[str]) -> list[Language]:
        if not texts:
            return []
        labels, scores = self._model.predict([t.replace("\n", " ") for t in texts], k=1)
        return [
            Language(label[0].removeprefix(_LABEL), round(float(score[0]), 2))
            if len(label)
            else Language("unknown", 0.0)
            for label, score in zip(labels, scores, strict=True)
        ]

    def identify(self, text: str) -> Language:
        return self.identify_batch([text])[0]

    def decide(self, found: Language) -> Decision:
        if found.score < self.threshold:
            return Decision.drop("language_score")
        if self.languages is not None and found.language not in self.languages:
            return Decision.drop("language")
        return KEEP
