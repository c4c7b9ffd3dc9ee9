"""The Wikipedia-reference classifier, trained on real text: Wikipedia articles against the
documentation of Python's standard library (both real prose, of two different kinds)."""

from __future__ import annotations

import ast
import bz2
import sysconfig
from pathlib import Path

import pytest
from lxml import etree

from filters.base import KEEP, Decision
from filters.wikiref import WikirefClassifier, classifier_text, train
from filters.wikitext import WikitextCleaner


@pytest.fixture(scope="module")
def articles(sample) -> list[str]:
    xml = bz2.decompress((sample / "wikipedia/enwiki-sample-pages-articles.xml.bz2").read_bytes())
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    cleaner, texts = WikitextCleaner("en"), []
    for page in etree.fromstring(xml).iter(ns + "page"):
        if page.findtext(ns + "ns") == "0" and page.find(ns + "redirect") is None:
            texts.append(cleaner.clean(page.findtext(f"{ns}revision/{ns}text")).text)
    return texts


@pytest.fixture(scope="module")
def docs() -> list[str]:
    """Module docstrings of the standard library, read from source (nothing is imported)."""
    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        text = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8", errors="replace")))
        if text and len(text) >= 300:
            texts.append(text)
    return texts


def test_trains_a_model_that_tells_the_two_apart(tmp_path, articles, docs):
    assert len(articles) == 106 and len(docs) >= 60
    report = train(articles, docs, tmp_path / "m.bin", test_fraction=0.3)
    assert report.positives == 106 - report.skipped_short_positives
    assert report.negatives == min(len(docs), report.positives)
    assert report.train + report.test == report.positives + report.negatives
    assert report.test > 20 and report.roc_auc >= 0.95
    assert report.params["model"] == "logistic regression"
    # The same data gives the same model, byte for byte.
    train(articles, docs, tmp_path / "again.bin", test_fraction=0.3)
    assert (tmp_path / "m.bin").read_bytes() == (tmp_path / "again.bin").read_bytes()

    classifier = WikirefClassifier(tmp_path / "m.bin", threshold=0.25)
    probs = classifier.wiki_probs([articles[0], docs[0]])
    assert probs[0] > 0.5 > probs[1] and all(0.0 <= p <= 1.0 for p in probs)
    assert classifier.decide(0.25) == KEEP
    assert classifier.decide(0.2499) == Decision.drop("wikiref")
    assert classifier.wiki_probs([]) == []


def test_short_positives_are_skipped_and_counted(tmp_path, articles, docs):
    short = [a[:500] for a in articles[:10]]
    report = train(short + articles[10:40], docs, tmp_path / "m.bin")
    assert report.skipped_short_positives == 10 and report.positives == 30


def test_lines_become_one_line():
    assert classifier_text("  Title\n\nFirst  line.\n  Second line.  \n") == (
        "Title First line. Second line."
    )


def test_needs_both_classes(tmp_path, articles):
    with pytest.raises(ValueError, match="need positives and negatives"):
        train(articles, [], tmp_path / "m.bin")


def test_a_pickle_is_never_loaded(tmp_path):
    import pickle

    (tmp_path / "evil.bin").write_bytes(pickle.dumps({"weights": object()}))
    with pytest.raises(ValueError):
        WikirefClassifier(tmp_path / "evil.bin")


def test_missing_model_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="make wikiref"):
        WikirefClassifier(tmp_path / "nope.bin")
