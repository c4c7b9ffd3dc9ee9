"""filters.fasttext_lid (native/fastlid.c) answers exactly as fastText's own `predict(k=1)`:
the same label and the same float32 probability, on the bundled crawl sample and on the texts
where fastText's tokenising has its corners; model files it does not answer for fall back."""

from __future__ import annotations

import struct

import fasttext
import numpy as np
import pytest
from conftest import ROOT, results_in_threads

from filters import _fastlid
from filters.fasttext_lid import TopOnePredictor, Unsupported, read_model
from filters.langid import LanguageIdentifier

MODEL = ROOT / "models" / "lid.176.ftz"
EMPTY = ("__label__en", 0.12450417876243591)  # only "</s>": fastText's answer to ""


@pytest.fixture(scope="module")
def model():
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make models`")
    fasttext.FastText.eprint = lambda *_: None
    return fasttext.load_model(str(MODEL))


@pytest.fixture(scope="module")
def fast(model) -> TopOnePredictor:
    predictor = TopOnePredictor(model, MODEL)
    assert predictor.native
    return predictor


def fasttext_answers(model, texts: list[str]) -> list[tuple[str, float] | None]:
    labels, probabilities = model.predict(texts, k=1)
    return [
        (lb[0], float(p[0])) if len(lb) else None
        for lb, p in zip(labels, probabilities, strict=True)
    ]


def assert_same(model, fast, texts: list[str]) -> None:
    expected, found = fasttext_answers(model, texts), fast.predict(texts)
    assert len(found) == len(texts)
    for text, want, got in zip(texts, expected, found, strict=True):
        assert got == want, text[:200]  # tuples: the label, then the probability with ==


@pytest.fixture(scope="module")
def sample_texts(sample_pages) -> list[str]:
    return [LanguageIdentifier.model_input(page.split("\n")) for page in sample_pages]


def test_the_whole_sample_bit_for_bit(model, fast, sample_texts):
    assert len(sample_texts) == 2243
    for start in range(0, len(sample_texts), 512):
        assert_same(model, fast, sample_texts[start : start + 512])


def test_empty_and_blank_texts_are_only_the_end_of_line(model, fast):
    blank = ["", " ", "   ", "\t", "\v\f\r", "\0", " \t\v\f\r\0 ", "</s>", "  </s>  "]
    assert fast.predict(blank) == [EMPTY] * len(blank)
    assert_same(model, fast, blank)


@pytest.mark.parametrize("space", [" ", "\t", "\v", "\f", "\r", "\0", " \0\r\t "])
def test_fasttext_spaces_separate_words(model, fast, space):
    text = "Das ist ein Haus und dort steht ein Baum"
    assert fast.predict([text.replace(" ", space)]) == fast.predict([text])
    assert_same(model, fast, [text.replace(" ", space)])


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2009", "\x1c", "\x85"])
def test_other_unicode_spaces_are_inside_words(model, fast, space):
    text = "Das ist ein Haus und dort steht ein Baum".replace(" ", space)
    assert fast.predict([text]) != fast.predict(["Das ist ein Haus und dort steht ein Baum"])
    assert_same(model, fast, [text])


def test_a_literal_end_of_sentence_ends_the_text(model, fast):
    texts = ["Das ist ein Haus </s> and this is an English sentence", "Das ist ein Haus"]
    assert fast.predict(texts[:1]) == fast.predict(texts[1:])
    assert fast.predict(["a</s> b"]) != fast.predict(["a"])  # not a token of its own there
    assert_same(model, fast, [*texts, "a</s> b", "</s>x Haus", "Haus </s>"])


def test_labels_are_not_words(model, fast):
    assert fast.predict(["__label__en", "__label__zz", "__label__"]) == [EMPTY] * 3
    assert fast.predict(["__label__de Das ist ein Haus"]) == fast.predict(["Das ist ein Haus"])
    assert fast.predict(["x__label__de Haus"]) != fast.predict(["Haus"])
    assert_same(model, fast, ["__label__fr Das ist ein Haus __label__en", "x__label__de Haus"])


def test_non_ascii_scripts_and_emoji(model, fast):
    texts = [
        "人人生而自由，在尊严和权利上一律平等。",
        "すべての人間は、生まれながらにして自由であり",
        "모든 인간은 태어날 때부터 자유로우며",
        "Все люди рождаются свободными 🙂 и равными",
        "كل الناس يولدون أحراراً 👍🏽👨‍👩‍👧",
        "e\u0301te\u0301 cafe\u0301 ﬁn",  # combining accents, a ligature
        "\x80\x81 \U0010ffff",
    ]
    assert [answer[0] for answer in fast.predict(texts[:4])] == [
        "__label__zh",
        "__label__ja",
        "__label__ko",
        "__label__ru",
    ]
    assert_same(model, fast, texts)


def test_long_words_and_a_megabyte_text(model, fast, sample_texts):
    words = ["a" * 65, "b" * 64, "x" * 100_000, "é" * 40_000, "🙂" * 1000]
    megabyte = " ".join(sample_texts)[:1_000_000]
    assert_same(model, fast, [*words, " ".join(words), megabyte])


def test_one_batch_equals_text_by_text(fast, sample_texts):
    # the per-call cache of unknown tokens changes nothing
    texts = sample_texts[:100] + sample_texts[:100]
    found = fast.predict(texts)
    assert found[:100] == found[100:] == [fast.predict([t])[0] for t in texts[:100]]


def test_threads_share_one_predictor(fast, sample_texts):
    texts = sample_texts[:300]
    expected = fast.predict(texts)
    assert results_in_threads(lambda: fast.predict(texts)) == [expected] * 4


def test_what_fasttext_refuses_is_refused(model, fast):
    with pytest.raises(ValueError, match="one line at a time"):
        fast.predict(["two\nlines"])
    with pytest.raises(TypeError):
        model.predict(["a\ud800b"], k=1)
    with pytest.raises(TypeError):  # a lone surrogate: fastText's own error, through it
        fast.predict(["fine", "a\ud800b"])
    with pytest.raises(TypeError, match="must be str"):
        fast.predict([b"bytes"])
    assert fast.predict([]) == []


def test_the_identifier_answers_as_before(model, sample_texts):
    lid = LanguageIdentifier(MODEL, languages=None)
    texts = [*sample_texts[:200], "line one\nline two", ""]
    expected = fasttext_answers(model, [t.replace("\n", " ") for t in texts])
    found = lid.identify_batch(texts)
    assert [(f.language, f.score) for f in found] == [
        (label.removeprefix("__label__"), round(probability, 2)) for label, probability in expected
    ]


# Model files: each size read is checked against the file; what is not answered falls back.


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return MODEL.read_bytes()


def matrix_at(data: bytes) -> int:
    """Where the input matrix's fields start (after the dictionary and the pruned index)."""
    fields = read_model(MODEL)
    size = fields["nwords"] + len(fields["labels"])
    return 92 + len(fields["entries"]) + 1 + 9 * size + len(fields["pruned"])


def patched(data: bytes, at: int, fmt: str, value: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(fmt, changed, at, value)
    return bytes(changed)


def test_the_real_model_reads(model_bytes):
    fields = read_model(MODEL)
    assert (fields["nwords"], len(fields["labels"]), fields["dim"]) == (7235, 176, 16)
    assert (fields["bucket"], fields["minn"], fields["maxn"], fields["rows"]) == (
        2_000_000,
        2,
        4,
        50_000,
    )
    assert len(fields["pruned"]) == 8 * 42_765 and fields["labels"][0] == "__label__en"
    assert model_bytes[matrix_at(model_bytes)] == 1  # quantized


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[:0], "truncated"),
        (lambda d: d[:91], "truncated"),
        (lambda d: d[:5000], "dictionary sizes"),
        (lambda d: d[:100_000], "truncated"),
        (lambda d: d[: matrix_at(d) - 3], "truncated"),
        (lambda d: d[: matrix_at(d) + 10], "truncated"),
        (lambda d: d[: matrix_at(d) + 30], "inconsistent input matrix"),
        (lambda d: patched(d, 0, "<i", 793712315), "not a fastText model"),
        (lambda d: patched(d, 4, "<i", 11), "not a fastText model"),
        (lambda d: patched(d, 28, "<i", 2), "wordNgrams 1"),
        (lambda d: patched(d, 32, "<i", 3), "hierarchical-softmax"),
        (lambda d: patched(d, 36, "<i", 1), "supervised"),
        (lambda d: patched(d, 40, "<i", 0), "unsupported dim, bucket"),
        (lambda d: patched(d, 44, "<i", -1), "unsupported dim, bucket"),
        (lambda d: patched(d, 8, "<i", 0), "unsupported dim, bucket"),
        (lambda d: patched(d, 64, "<i", 2**31 - 1), "dictionary sizes"),
        (lambda d: patched(d, 68, "<i", -1), "dictionary sizes"),
        (lambda d: patched(d, 72, "<i", 175), "dictionary sizes"),
        (lambda d: patched(d, 84, "<q", 0), "only pruned"),
        (lambda d: patched(d, 84, "<q", -1), "only pruned"),
        (lambda d: patched(d, 84, "<q", 2**62), "truncated"),
        (lambda d: patched(d, 92 + 5 + 8, "<b", 1), "out of order"),  # "</s>"'s type
        (lambda d: patched(d, matrix_at(d) + 2, "<q", 2**40), "inconsistent input matrix"),
        (lambda d: patched(d, matrix_at(d) + 10, "<q", 17), "inconsistent input matrix"),
        (lambda d: patched(d, matrix_at(d) + 18, "<i", 2**31 - 1), "inconsistent input matrix"),
    ],
)
def test_bad_model_files_fall_back_to_fasttext(tmp_path, model, model_bytes, change, message):
    path = tmp_path / "bad.ftz"
    path.write_bytes(change(model_bytes))
    with pytest.raises(Unsupported, match=message):
        read_model(path)
    predictor = TopOnePredictor(model, path)
    assert not predictor.native
    texts = ["Das ist ein Haus", "", "hello world"]
    assert predictor.predict(texts) == fasttext_answers(model, texts)


def test_an_unreadable_path_falls_back(tmp_path, model):
    assert not TopOnePredictor(model, tmp_path / "missing.ftz").native


@pytest.fixture(scope="module")
def arrays(model) -> dict:
    fields = read_model(MODEL)
    fields.pop("labels")
    rows = fields.pop("rows")
    inputs = np.stack([model.get_input_vector(i) for i in range(rows)]).astype(np.float32)
    output = np.array(model.f.getOutputMatrix(), np.float32)[:175]
    return {**fields, "input": inputs, "output": output}


def test_the_extension_checks_its_arrays(arrays):
    good = arrays
    assert _fastlid.Predictor(**good).predict(["Das ist ein Haus"])[0] == [
        read_model(MODEL)["labels"].index("__label__de")
    ]
    bad_rows = np.frombuffer(good["pruned"], "<i4").copy()
    bad_rows[1] = 50_000 - 7235  # one past the last input row
    for change in [
        {"pruned": bad_rows.tobytes()},
        {"output": good["output"][:174]},
        {"input": good["input"][:7000]},
        {"nwords": 7235 + 176},
        {"label_counts": good["label_counts"][:-8]},
        {"dim": 0},
        {"bucket": 0},
        {"minn": -1},
        {"pruned": good["pruned"][:-1]},
    ]:
        with pytest.raises(ValueError):
            _fastlid.Predictor(**{**good, **change})
    empty = _fastlid.Predictor.__new__(_fastlid.Predictor)
    with pytest.raises(RuntimeError, match="not initialised"):
        empty.predict(["x"])
    predictor = _fastlid.Predictor(**good)
    with pytest.raises(RuntimeError, match="already"):
        predictor.__init__(**good)


def test_pruned_buckets_outside_the_range_are_never_looked_up(arrays):
    good = arrays
    pairs = np.frombuffer(good["pruned"], "<i4").reshape(-1, 2).copy()
    extra = np.array([[-5, 0], [2_000_000, 1], [2**31 - 1, 2]], np.int32)
    changed = {**good, "pruned": np.concatenate([pairs, extra]).tobytes()}
    texts = ["Das ist ein Haus", "hello world", ""]
    assert _fastlid.Predictor(**changed).predict(texts) == _fastlid.Predictor(**good).predict(texts)


def test_paths_are_accepted_as_str(model):
    assert TopOnePredictor(model, str(MODEL)).native
