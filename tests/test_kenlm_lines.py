"""filters._kenlm_lines (native/kenlm_lines.cc) gives kenlm.Model.score's floats bit for bit."""

import logging
import math
import struct
import subprocess
import sys
from pathlib import Path

import kenlm
import pytest
import sentencepiece
from conftest import results_in_threads

import filters.perplexity
from filters import _kenlm_lines
from filters.perplexity import PerplexityScorer
from filters.text_normalizer import normalized_lines

BIN = Path(sys.executable).parent

# A bigram model whose log10 probabilities are exact binary fractions, so that every sum below is
# exact in float32: {word: (log10 p, backoff)} and {(w1, w2): log10 p}.
UNIGRAMS = {
    "<unk>": (-3.0, 0.0),
    "<s>": (-99.0, -0.25),
    "</s>": (-1.0, 0.0),
    "a": (-2.0, -0.5),
    "b": (-1.5, 0.0),
}
BIGRAMS = {("<s>", "a"): -0.75, ("a", "b"): -0.25, ("b", "</s>"): -0.125}
# log10 p(... </s> | <s>) of the words a b (-0.75 - 0.25 - 0.125), a (-0.75 - 0.5 - 1),
# b (-0.25 - 1.5 - 0.125), an unknown word (-0.25 - 3 - 1) and of no word (-0.25 - 1).
A_B, A, B, UNKNOWN, NOTHING = -1.125, -2.25, -1.875, -4.25, -1.25


@pytest.fixture(scope="module")
def arpa(tmp_path_factory) -> Path:
    rows = ["\\data\\", f"ngram 1={len(UNIGRAMS)}", f"ngram 2={len(BIGRAMS)}", "", "\\1-grams:"]
    rows += [f"{p}\t{w}\t{bo}" for w, (p, bo) in UNIGRAMS.items()]
    rows += ["", "\\2-grams:"] + [f"{p}\t{a} {b}" for (a, b), p in BIGRAMS.items()]
    path = tmp_path_factory.mktemp("arpa") / "lm.arpa"
    path.write_text("\n".join([*rows, "", "\\end\\", ""]), encoding="utf-8")
    return path


def build_binary(arpa: Path, kind: str) -> Path:
    out = arpa.with_suffix(f".{kind}")
    subprocess.run([BIN / "build_binary", kind, arpa, out], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def probing(arpa) -> Path:
    return build_binary(arpa, "probing")


def test_every_line_of_the_sample_scores_as_the_kenlm_module(models, sample_pages):
    """The real en model pair on ~150,000 crawl lines, a third of them with pieces unknown to
    SentencePiece (whose bytes are the text, looked up in KenLM's vocabulary as such)."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(models / "lm/en.sp.model"))
    lm = kenlm.Model(str(models / "lm/en.arpa.bin"))
    native = _kenlm_lines.Model(models / "lm/en.arpa.bin")
    assert native.order == lm.order == 5
    # No piece of this model holds ASCII whitespace (a piece is always one KenLM word): the
    # splitting of pieces into words is tested with hand-made pieces below.
    assert all(len(sp.id_to_piece(i).encode().split()) == 1 for i in range(len(sp)))
    lines = [normalized_lines(text) for text in sample_pages]
    pieces = sp.encode([line for text in lines for line in text], out_type=bytes)
    assert len(pieces) > 100_000
    assert sum(0 in ids for ids in sp.encode([t for text in lines for t in text])) > 30_000

    scores, lengths = native.score(pieces, [len(text) for text in lines])
    expected_scores, expected_lengths, start = [], [], 0
    for text in lines:
        scored = [line for line in pieces[start : start + len(text)] if line]
        expected_scores.append([lm.score(b" ".join(line), bos=True, eos=True) for line in scored])
        expected_lengths.append(sum(len(line) + 1 for line in scored))
        start += len(text)
    assert scores == expected_scores
    assert lengths == expected_lengths


def test_scorer_gives_the_same_perplexities_with_and_without_the_extension(
    models, sample_pages, monkeypatch, caplog
):
    fast = PerplexityScorer.from_dir(models / "lm", "en")
    assert isinstance(fast._lines, _kenlm_lines.Model)
    assert isinstance(fast._ascii, _kenlm_lines.AsciiScorer)
    monkeypatch.setattr(filters.perplexity, "_kenlm_lines", None)
    filters.perplexity._log_slow_path.cache_clear()
    with caplog.at_level(logging.WARNING, logger="filters.perplexity"):
        slow = PerplexityScorer.from_dir(models / "lm", "en")
        PerplexityScorer.from_dir(models / "lm", "en")
    assert [r.getMessage() for r in caplog.records] == [
        "filters._kenlm_lines is not built: scoring lines through the kenlm module (slow)"
    ]
    assert not isinstance(slow._lines, _kenlm_lines.Model) and slow._ascii is None
    texts = sample_pages[::3]
    assert fast.score_batch(texts) == slow.score_batch(texts)
    assert [fast.line_scores(t) for t in texts[:50]] == [slow.line_scores(t) for t in texts[:50]]
    assert fast.score_batch(["", "\n \n"]) == slow.score_batch(["", "\n \n"])


@pytest.mark.parametrize("kind", ["probing", "trie", "arpa"])
def test_exact_scores_and_how_pieces_become_words(arpa, kind):
    """Every binary type (trie goes through KenLM's virtual interface) and the ARPA text."""
    model = _kenlm_lines.Model(arpa if kind == "arpa" else build_binary(arpa, kind))
    lines = [
        [b"a", b"b"],
        [b"b"],
        [],  # a line without pieces is not scored
        [b"zz"],  # unknown to the LM
        [b"a b"],  # a piece of two words
        [b"\ta\x0b", b"\x0cb\r\n"],  # bytes.split()'s ASCII whitespace
        [b" "],  # a piece of no word: the line is </s> after <s>
        [b"a\x00zz", b"b"],  # the module reads the line as a C string: it ends at a NUL
        [b"\x00a", b"b"],
        [b"a\x1cb"],  # not ASCII whitespace: one unknown word
        [b"\xc2\xa0b"],  # nor is U+00A0
    ]
    scores, lengths = model.score(lines, [3, 0, 8])
    assert scores == [[A_B, B], [], [UNKNOWN, A_B, A_B, NOTHING, A, NOTHING, UNKNOWN, UNKNOWN]]
    assert lengths == [3 + 2, 0, 2 + 2 + 3 + 2 + 3 + 3 + 2 + 2]
    module = kenlm.Model(str(arpa))
    flat = [s for text in scores for s in text]
    assert flat == [module.score(b" ".join(line), bos=True, eos=True) for line in lines if line]


def test_empty_batches_and_texts(probing):
    model = _kenlm_lines.Model(probing)
    assert model.order == 2
    assert model.score([], []) == ([], [])
    assert model.score([], [0, 0]) == ([[], []], [0, 0])
    assert model.score([[], []], [2]) == ([[]], [0])


def test_a_line_of_only_unknown_characters(models):
    sp = sentencepiece.SentencePieceProcessor(model_file=str(models / "lm/en.sp.model"))
    pieces = sp.encode(["¶¶ ☃"], out_type=bytes)
    assert sp.encode(["¶¶ ☃"]) == [[sp.piece_to_id("▁"), 0, sp.piece_to_id("▁"), 0]]
    assert pieces == [["▁".encode(), "¶¶".encode(), "▁".encode(), "☃".encode()]]
    native = _kenlm_lines.Model(models / "lm/en.arpa.bin")
    expected = kenlm.Model(str(models / "lm/en.arpa.bin")).score(b" ".join(pieces[0]))
    assert native.score(pieces, [1]) == ([[expected]], [5])


def test_threads_share_a_model(probing):
    """The queries run with the GIL released, on one memory-mapped model."""
    model = _kenlm_lines.Model(probing)
    lines = [[b"a", b"b"], [b"b"], [b"zz"]] * 2000
    expected = model.score(lines, [len(lines)])
    assert results_in_threads(lambda: model.score(lines, [len(lines)])) == [expected] * 4


def test_bad_arguments(probing):
    model = _kenlm_lines.Model(probing)
    with pytest.raises(ValueError, match="sum to len"):
        model.score([[b"a"]], [2])
    with pytest.raises(ValueError, match="sum to len"):
        model.score([[b"a"], [b"b"]], [3, -1])
    with pytest.raises(TypeError, match="line 1: expected a list of bytes, got tuple"):
        model.score([[b"a"], (b"b",)], [2])
    with pytest.raises(TypeError, match="line 0, piece 1: expected bytes, got str"):
        model.score([[b"a", "b"]], [1])
    with pytest.raises(TypeError):
        model.score([[b"a"]], 1)
    with pytest.raises(RuntimeError, match="already loaded"):
        model.__init__(probing)
    unloaded = _kenlm_lines.Model.__new__(_kenlm_lines.Model)
    with pytest.raises(RuntimeError, match="not initialised"):
        unloaded.score([], [])
    with pytest.raises(RuntimeError, match="not initialised"):
        unloaded.order  # noqa: B018


def test_a_missing_model(tmp_path):
    with pytest.raises(OSError, match=r"Cannot read KenLM model '.*nowhere\.bin' \(.*No such file"):
        _kenlm_lines.Model(tmp_path / "nowhere.bin")
    with pytest.raises(ValueError, match="embedded null byte"):
        _kenlm_lines.Model("a\x00b")


def corrupt(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


# Offsets in KenLM's binary format 5: 88 the order, 92 the probing multiplier, 100 the
# has-vocabulary flag, 108 the counts.
@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: b"", "End of file"),
        (lambda d: d[: len(d) // 2], "Binary file has size"),
        (lambda d: d[:100], "binary header is truncated"),
        (lambda d: bytes(range(256)) * 4, "first non-empty line"),
        (lambda d: corrupt(d, 60, b"\xff\xff\xff\xff"), "test values don't match"),
        (lambda d: corrupt(d, 88, b"\x07"), "order 7, not 1 to 6"),
        (lambda d: corrupt(d, 92, struct.pack("<f", math.nan)), "invalid probing multiplier"),
        (lambda d: corrupt(d, 92, struct.pack("<f", math.inf)), "invalid probing multiplier"),
        (lambda d: corrupt(d, 92, struct.pack("<f", 0.5)), "invalid probing multiplier"),
        (lambda d: corrupt(d, 96, b"\x09"), "Confused by model type 9"),
        (lambda d: corrupt(d, 100, b"\x02"), "invalid vocabulary flag"),
        (lambda d: corrupt(d, 108, struct.pack("<Q", 1 << 40)), "more than the file can hold"),
        (lambda d: corrupt(d, 116, struct.pack("<Q", 1 << 62)), "more than the file can hold"),
        (lambda d: corrupt(d, 108, struct.pack("<Q", 9)), "Binary file has size"),
    ],
)
def test_a_corrupt_model_is_an_error_not_a_crash(probing, tmp_path, damage, message):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(damage(probing.read_bytes()))
    with pytest.raises(OSError, match=r"Cannot read KenLM model") as error:
        _kenlm_lines.Model(bad)
    assert message in str(error.value)
    assert "\n" not in str(error.value)
