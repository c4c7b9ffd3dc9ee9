"""filters._kenlm_lines.AsciiScorer (native/ascii_unigram.h) gives SentencePiece's pieces of a
printable-ASCII line and kenlm.Model.score's float of them, bit for bit; core.spm_proto says
which models it may stand in for."""

import argparse
import csv
import heapq
import io
import itertools
import json
import pdb
import random
import struct
from collections.abc import Callable
from pathlib import Path

import kenlm
import pytest
import sentencepiece
from conftest import results_in_threads
from hypothesis import given, settings
from hypothesis import strategies as st

from core import spm_proto
from core.spm_proto import Piece, ProtoError, read_model
from filters import _kenlm_lines
from filters.perplexity import PerplexityScorer
from filters.text_normalizer import normalize_for_lm, normalized_lines

PROSE = "\n".join([heapq.__about__, pdb.__doc__, json.__doc__, argparse.__doc__, csv.__doc__])
PROSE_LINES = [line for line in normalize_for_lm(PROSE).split("\n") if line]
PRINTABLE = "".join(map(chr, range(0x20, 0x7F)))


def train(**options) -> bytes:
    """A small SentencePiece model trained on real prose (unigram unless told otherwise)."""
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(PROSE_LINES),
        model_writer=model,
        vocab_size=500,
        model_type=options.pop("model_type", "unigram"),
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
        **options,
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def small_model() -> bytes:
    return train()


def pieces_arpa(tmp: Path, model: bytes) -> Path:
    """A KenLM bigram model over the SentencePiece model's pieces, with varied probabilities and
    backoffs, and a bigram for every other pair of consecutive pieces of the vocabulary."""
    special = (b"<s>", b"</s>", b"<unk>")
    words = [p.text.decode() for p in read_model(model).pieces if p.text not in special]
    unigrams = [f"-{1 + (i % 7) * 0.25}\t{w}\t-{(i % 3) * 0.5}" for i, w in enumerate(words)]
    unigrams += ["-3.5\t<unk>\t0", "-99\t<s>\t-0.25", "-1.25\t</s>\t0"]
    bigrams = [
        f"-{0.25 + (i % 5) * 0.125}\t{a} {b}" for i, (a, b) in enumerate(itertools.pairwise(words))
    ]
    bigrams = [*bigrams[::2], f"-0.5\t<s> {words[0]}", f"-0.75\t{words[1]} </s>"]
    rows = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", ""]
    rows += ["\\1-grams:", *unigrams, "", "\\2-grams:", *bigrams, "", "\\end\\", ""]
    path = tmp / "pieces.arpa"
    path.write_text("\n".join(rows), encoding="utf-8")
    return path


def scorer(model: bytes, lm: Path) -> _kenlm_lines.AsciiScorer:
    pieces = read_model(model).pieces
    return _kenlm_lines.AsciiScorer(
        _kenlm_lines.Model(lm),
        [p.text for p in pieces],
        [p.score for p in pieces],
        bytes(p.type for p in pieces),
    )


def expected(model: bytes, lm: Path, lines: list[str]) -> tuple[list[float], list[int]]:
    """What SentencePiece and the kenlm module make of each line (0.0 and 0 for no pieces)."""
    sp = sentencepiece.SentencePieceProcessor(model_proto=model)
    return reference(sp, kenlm.Model(str(lm)), lines)


def reference(
    sp: sentencepiece.SentencePieceProcessor, module: kenlm.Model, lines: list[str]
) -> tuple[list[float], list[int]]:
    scores, counts = [], []
    for pieces in sp.encode(lines, out_type=bytes):
        scores.append(module.score(b" ".join(pieces), bos=True, eos=True) if pieces else 0.0)
        counts.append(len(pieces))
    return scores, counts


def taken(line: str) -> bool:
    return all(c in PRINTABLE for c in line)


def random_lines(seed: int, count: int, alphabet: str) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(alphabet, k=rng.randrange(60))) for _ in range(count)]


def hostile_lines(sp: sentencepiece.SentencePieceProcessor) -> list[str]:
    """Spacing, characters the model does not know, runs of them, and lines long enough that
    SentencePiece rebases its running path score (beyond ±1e5)."""
    unknown = [c for c in PRINTABLE[1:] if sp.piece_to_id(c) == sp.unk_id()]
    assert unknown, "the model knows every printable character: no unknown run tested"
    rng = random.Random(7)
    lines = ["", " ", "     ", "a", " a ", "  a  b   c  ", "~", "~~~~ ~~", "▁", " ▁ "]
    lines += ["".join(unknown), " ".join(unknown), unknown[0] * 50, f"x{unknown[0]}y"]
    lines += random_lines(1, 2000, PRINTABLE + "    ")
    lines += random_lines(2, 500, "ab  " + "".join(unknown))
    lines += [" ".join(rng.choices(PROSE_LINES, k=400)), "".join(rng.choices(PRINTABLE, k=40_000))]
    return lines


def test_every_ascii_line_of_the_sample_as_sentencepiece_and_kenlm(models, sample_pages):
    """The real en model pair on every normalised line of the crawl sample: ~150,000 lines, most
    of them printable ASCII; the others are left to SentencePiece (-1)."""
    model = (models / "lm/en.sp.model").read_bytes()
    assert read_model(model).ascii_ineligibility() is None
    lines = [line for page in sample_pages for line in normalized_lines(page)]
    scores, counts = scorer(model, models / "lm/en.arpa.bin").score(lines)
    want_scores, want_counts = expected(model, models / "lm/en.arpa.bin", lines)
    ascii_lines = [i for i, line in enumerate(lines) if taken(line)]
    assert (len(lines), len(ascii_lines)) == (152_152, 142_855)
    assert [i for i, n in enumerate(counts) if n >= 0] == ascii_lines
    assert [scores[i] for i in ascii_lines] == [want_scores[i] for i in ascii_lines]
    assert [counts[i] for i in ascii_lines] == [want_counts[i] for i in ascii_lines]
    assert all(scores[i] == 0.0 for i, n in enumerate(counts) if n < 0)


def test_hostile_lines_on_the_real_model(models):
    model = (models / "lm/en.sp.model").read_bytes()
    sp = sentencepiece.SentencePieceProcessor(model_proto=model)
    lines = hostile_lines(sp)
    assert sp.encode(lines[-1], out_type=int).count(sp.unk_id()) > 1000
    scores, counts = scorer(model, models / "lm/en.arpa.bin").score(lines)
    assert [i for i, n in enumerate(counts) if n < 0] == [8, 9]  # U+2581 is not ASCII
    del lines[8:10], scores[8:10], counts[8:10]
    assert (scores, counts) == expected(model, models / "lm/en.arpa.bin", lines)
    assert counts[:3] == [0, 0, 0] and scores[:3] == [0.0, 0.0, 0.0]


@pytest.fixture(scope="module")
def en_pair(models) -> tuple:
    """The real en pair as SentencePiece, the kenlm module and the native scorer load it."""
    sp_model, lm = models / "lm/en.sp.model", models / "lm/en.arpa.bin"
    return (
        sentencepiece.SentencePieceProcessor(model_file=str(sp_model)),
        kenlm.Model(str(lm)),
        scorer(sp_model.read_bytes(), lm),
    )


@settings(max_examples=300, deadline=None, derandomize=True)
@given(lines=st.lists(st.text(alphabet=PRINTABLE + "   ", max_size=80), max_size=12))
def test_any_printable_lines_on_the_real_model(en_pair, lines):
    sp, module, ascii_scorer = en_pair
    assert ascii_scorer.score(lines) == reference(sp, module, lines)


def rewrite(model: bytes, change: Callable[[int, Piece], tuple[float, int]]) -> bytes:
    """The model with each piece's (score, type) replaced by change(index, piece)."""

    def varint(value: int) -> bytes:
        out = b""
        while value > 0x7F:
            out += bytes([value & 0x7F | 0x80])
            value >>= 7
        return out + bytes([value])

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    out, index = b"", 0
    for number, value in spm_proto._fields(model):
        assert isinstance(value, bytes)
        if number == 1:
            piece = spm_proto._piece(value)
            score, kind = change(index, piece)
            index += 1
            value = field(1, piece.text) + b"\x15" + struct.pack("<f", score) + b"\x18"
            value += varint(kind)
        out += field(number, value)
    return out


def tied(index: int, piece: Piece) -> tuple[float, int]:
    """Every normal piece scores the same: ties everywhere, which SentencePiece breaks by the
    order it offers candidates (the first one stays)."""
    return (-1.0 if piece.type == spm_proto.NORMAL else piece.score), piece.type


def some_unused(index: int, piece: Piece) -> tuple[float, int]:
    """Every third normal piece unused: matched in the trie but never chosen, including
    one-character ones (whose characters become unknown)."""
    unused = piece.type == spm_proto.NORMAL and index % 3 == 0
    return piece.score, 5 if unused else piece.type


@pytest.mark.parametrize("change", [tied, some_unused])
def test_ties_and_unused_pieces(small_model, tmp_path, change):
    model = rewrite(small_model, change)
    same = rewrite(small_model, lambda i, p: (p.score, p.type))
    assert read_model(same).pieces == read_model(small_model).pieces
    sp = sentencepiece.SentencePieceProcessor(model_proto=model)
    lm = pieces_arpa(tmp_path, model)
    lines = [line for line in PROSE_LINES + hostile_lines(sp) if taken(line)]
    assert scorer(model, lm).score(lines) == expected(model, lm, lines)
    if change is some_unused:
        assert any(sp.is_unused(i) and len(sp.id_to_piece(i)) == 1 for i in range(len(sp)))


IDENTITY = {"normalization_rule_name": "identity"}
INELIGIBLE = [
    ({"model_type": "bpe"}, "model type 2 is not unigram"),
    ({"model_type": "char"}, "model type 4 is not unigram"),
    ({"byte_fallback": True}, "byte fallback"),
    ({"user_defined_symbols": ["ab"]}, "user-defined pieces"),
    ({"treat_whitespace_as_suffix": True}, "whitespace as suffix"),
    ({"add_dummy_prefix": False}, "non-default whitespace handling"),
    ({"remove_extra_whitespaces": False}, "non-default whitespace handling"),
    ({"normalization_rule_tsv": "RULES"}, "the character map rewrites printable ASCII (b'ab')"),
]


@pytest.mark.parametrize(("options", "why"), [(IDENTITY, None), *INELIGIBLE])
def test_which_models_it_stands_in_for(tmp_path, options, why):
    """A model it cannot reproduce is scored through SentencePiece alone, with the same results
    as SentencePiece and the kenlm module give; one it can gives them too (whitespace runs,
    tabs and a no-break space included)."""
    if options.get("normalization_rule_tsv") == "RULES":
        rules = tmp_path / "rules.tsv"
        rules.write_text("61 62\t78\n", encoding="utf-8")  # "ab" -> "x"
        options = {"normalization_rule_tsv": str(rules)}
    model = train(**options)
    assert read_model(model).ascii_ineligibility() == why
    sp_path = tmp_path / "m.sp.model"
    sp_path.write_bytes(model)
    lm = pieces_arpa(tmp_path, model)
    perplexity = PerplexityScorer(sp_path, lm)
    assert (perplexity._ascii is None) == (why is not None)
    lines = [
        "ab cab",
        "  a  b ",
        *PROSE_LINES[:200],
        "Ça va, 42 ‘x’",
        "tab\there",
        " \xa0 x  y",
        "",
    ]
    # The scorer takes lines before their whitespace is collapsed (translated_lines) and scores
    # their collapsed form, as the pipeline has always scored them.
    collapsed = [" ".join(line.split()) for line in lines]
    assert perplexity._score_lines(lines) == expected(model, lm, collapsed)


def test_the_model_reader(small_model, models):
    for data in (small_model, (models / "lm/en.sp.model").read_bytes()):
        model = read_model(data)
        sp = sentencepiece.SentencePieceProcessor(model_proto=data)
        assert len(model.pieces) == len(sp)
        assert [p.text for p in model.pieces] == [
            sp.id_to_piece(i).encode() for i in range(len(sp))
        ]
        assert [p.score for p in model.pieces] == [sp.get_score(i) for i in range(len(sp))]
        assert [p.type == spm_proto.UNKNOWN for p in model.pieces] == [
            sp.is_unknown(i) for i in range(len(sp))
        ]
        assert (model.model_type, model.byte_fallback) == (spm_proto.UNIGRAM, False)
        # NFKC's map has rules that start with an ASCII letter, none made only of ASCII.
        assert sp.normalize("a\u0300") == "▁à"
        assert spm_proto.charsmap_ascii_rules(model.precompiled_charsmap) == []
    empty = read_model(b"")  # every field at its .proto default
    assert (empty.pieces, empty.model_type, empty.add_dummy_prefix) == ([], spm_proto.UNIGRAM, True)
    assert empty.ascii_ineligibility() == "not exactly one unknown piece"
    # An unknown group (field 12, holding a varint) is skipped, as protobuf skips it.
    grouped = small_model + b"\x63\x08\x01\x64"
    assert len(sentencepiece.SentencePieceProcessor(model_proto=grouped)) == 500
    assert read_model(grouped) == read_model(small_model)
    for bad in (
        small_model[:-3],
        b"\x0a\xff",
        b"\x0b",
        b"\x0c",
        b"\x0e",
        b"\xff" * 11,
        b"\x0a\x03\x15\x00",
        b"\x0a\x03\x15\x00\x00",
    ):
        with pytest.raises(ProtoError):
            read_model(bad)
    with pytest.raises(ProtoError):
        spm_proto.charsmap_ascii_rules(b"\x08\x00\x00\x00\x00")


def test_bad_arguments(small_model, tmp_path):
    lm = pieces_arpa(tmp_path, small_model)
    model = _kenlm_lines.Model(lm)
    pieces = read_model(small_model).pieces
    texts, scores = [p.text for p in pieces], [p.score for p in pieces]
    types = bytes(p.type for p in pieces)
    ok = _kenlm_lines.AsciiScorer(model, texts, scores, types)
    assert ok.score([]) == ([], [])
    assert ok.score(["é", "a\tb", "\x7f", "\x00"]) == ([0.0] * 4, [-1] * 4)
    with pytest.raises(TypeError, match="line 1: expected str"):
        ok.score(["a", b"a"])
    with pytest.raises(TypeError):
        ok.score(("a",))
    with pytest.raises(TypeError):
        _kenlm_lines.AsciiScorer(object(), texts, scores, types)
    with pytest.raises(ValueError, match="differ in length"):
        _kenlm_lines.AsciiScorer(model, texts, scores[:-1], types)
    with pytest.raises(ValueError, match="type 4 is not supported"):
        _kenlm_lines.AsciiScorer(model, texts, scores, types[:5] + b"\x04" + types[6:])
    with pytest.raises(ValueError, match="no unknown piece"):
        _kenlm_lines.AsciiScorer(model, texts, scores, b"\x01" + types[1:])
    with pytest.raises(ValueError, match="more than one unknown piece"):
        _kenlm_lines.AsciiScorer(model, texts, scores, types[:5] + b"\x02" + types[6:])
    with pytest.raises(TypeError, match="piece 3: expected bytes"):
        _kenlm_lines.AsciiScorer(model, [*texts[:3], "x", *texts[4:]], scores, types)
    with pytest.raises(RuntimeError, match="not initialised"):
        _kenlm_lines.AsciiScorer.__new__(_kenlm_lines.AsciiScorer).score(["a"])


def test_threads_share_a_scorer(small_model, tmp_path):
    """The GIL is released while a batch is encoded and scored."""
    lm = pieces_arpa(tmp_path, small_model)
    shared = scorer(small_model, lm)
    lines = PROSE_LINES * 4
    want = shared.score(lines)
    assert results_in_threads(lambda: shared.score(lines)) == [want] * 4
