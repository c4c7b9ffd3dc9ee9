"""The Wikipedia-reference classifier, trained on real text: Wikipedia articles against the
documentation of Python's standard library (both real prose, of two different kinds). Its scoring
gives scikit-learn's probabilities bit for bit, on the bundled crawl and on awkward texts."""

from __future__ import annotations

import ast
import bz2
import subprocess
import sys
import sysconfig
from pathlib import Path

import mmh3
import numpy as np
import pytest
from lxml import etree

from core.deadletter import DeadLetter
from filters.base import KEEP, Decision
from filters.wikiref import (
    FEATURES,
    NGRAMS,
    WikirefClassifier,
    classifier_text,
    feature_index,
    train,
)
from filters.wikitext import WikitextCleaner
from readers.warc import iter_records
from readers.wet import segment_name, wet_document

ROOT = Path(__file__).resolve().parent.parent
BATCH = 512  # the pipeline's largest batch
INT_MIN_WORD = "oipolxmc4j5y"  # its MurmurHash3 is -2**31 (found by inverting the hash)


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


@pytest.fixture(scope="module")
def crawl(sample) -> list[str]:
    """Every page of the bundled crawl (raw content), read as the pipeline reads them."""
    texts = []
    for path in sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz")):
        for record in iter_records(str(path)):
            if not isinstance(record, DeadLetter):
                doc = wet_document(record, segment_name(str(path)))
                if doc is not None:
                    texts.append(doc["raw_content"])
    return texts


@pytest.fixture(scope="module")
def trained(tmp_path_factory, articles, docs) -> Path:
    path = tmp_path_factory.mktemp("wikiref") / "m.npz"
    train(articles, docs, path, test_fraction=0.3)
    return path


def _sklearn_probs(weights: np.ndarray, bias: np.float32, texts: list[str]) -> list[float]:
    """The scoring this module did with scikit-learn and SciPy, kept here as the reference."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vectorizer = HashingVectorizer(
        n_features=FEATURES, ngram_range=NGRAMS, alternate_sign=False, norm="l2", dtype=np.float32
    )
    scores = vectorizer.transform([classifier_text(t) for t in texts]) @ weights
    return [float(p) for p in 1.0 / (1.0 + np.exp(-(scores + bias)))]


def _models(trained: Path) -> list[tuple[np.ndarray, np.float32]]:
    """The trained model, and a dense random one: every feature's weight counts there."""
    with np.load(trained) as arrays:
        weights, bias = arrays["weights"], np.float32(arrays["bias"])
    dense = np.random.default_rng(0).standard_normal(FEATURES).astype(np.float32)
    return [(weights, bias), (dense, np.float32(-0.3))]


def _assert_same_as_sklearn(trained: Path, texts: list[str]) -> None:
    for weights, bias in _models(trained):
        classifier = WikirefClassifier.from_arrays(weights, bias)
        for i in range(0, len(texts), BATCH):
            batch = texts[i : i + BATCH]
            assert classifier.wiki_probs(batch) == _sklearn_probs(weights, bias, batch)


def test_scores_the_crawl_exactly_as_sklearn(trained, crawl):
    assert len(crawl) == 2243
    _assert_same_as_sklearn(trained, crawl)
    # The model file scores as the arrays it holds.
    weights, bias = _models(trained)[0]
    assert WikirefClassifier(trained).wiki_probs(crawl[:50]) == _sklearn_probs(
        weights, bias, crawl[:50]
    )


AWKWARD = [
    "",
    "!!! ... ??? -- ,,, a b c 1 2 _",  # no token of two word characters
    "Café crème brûlée à Noël, ÉCOLE École école, Straße STRASSE, İstanbul",
    "日本語のテキストです。中文文本，还有更多。 한국어 문장",
    "Привет, мир! Москва — столица России. ΑΘΗΝΑ Αθήνα",
    "I ❤️ pizza 🍕🍕 ok 👍🏽 fine, x😀y and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛",
    "snake_case __init__ x_1 2024 10 3.14 e-mail o'clock",
    "ab \ud800cd ef \udfff gh",  # lone surrogates: never inside a token
    "the the the " * 5000 + "end",
    "spam " * 4099 + "eggs",  # 4099**2 is no float32: sklearn squares counts in float32
    f"{INT_MIN_WORD} and {INT_MIN_WORD.upper()} twice",
    "  line one\n\n\tline two  \r\n line three ",
]


def test_scores_awkward_texts_exactly_as_sklearn(trained, articles):
    very_long = " ".join(articles)
    assert len(very_long) > 1_000_000
    _assert_same_as_sklearn(trained, [*AWKWARD, very_long])
    for text in AWKWARD:  # alone, as in a batch of one
        _assert_same_as_sklearn(trained, [text])


def test_mmh3_is_sklearns_murmurhash():
    from sklearn.utils import murmurhash3_32

    tokens = {w for text in AWKWARD[2:7] for w in text.lower().split()} | {INT_MIN_WORD}
    for token in [*sorted(tokens), "ab cd", "a" * 1001]:
        assert mmh3.hash(token) == murmurhash3_32(token, seed=0, positive=False)
    assert mmh3.hash(INT_MIN_WORD) == -(2**31)


def test_feature_index_of_int_min():
    hashes = np.array([-(2**31), 2**31 - 1, -1, 0, 1, -(2**20), 2**20 + 5], dtype=np.int32)
    assert feature_index(hashes).tolist() == [0, 2**20 - 1, 1, 0, 1, 0, 5]
    # scikit-learn's own expression for -2**31 (its abs() is undefined there)
    assert feature_index(hashes[:1]).tolist() == [(2147483647 - (FEATURES - 1)) % FEATURES]


def test_scoring_imports_neither_sklearn_nor_scipy(trained):
    code = (
        "import sys\n"
        "from filters.wikiref import WikirefClassifier\n"
        f"probs = WikirefClassifier({str(trained)!r}).wiki_probs(['Some page text.'] * 100)\n"
        "assert len(probs) == 100\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout == "[]\n"
