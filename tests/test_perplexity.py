import argparse
import csv
import gc
import heapq
import io
import itertools
import json
import pdb
import subprocess
import sys
from pathlib import Path

import kenlm
import pytest
import sentencepiece
from conftest import SAMPLE

from filters.perplexity import NO_SCORE, Perplexity, PerplexityScorer
from filters.text_normalizer import normalize_for_lm
from readers.warc import WarcRecord, iter_records
from readers.wet import wet_document

BIN = Path(sys.executable).parent

# Real English prose that every Python installation carries.
PROSE = "\n".join([heapq.__about__, pdb.__doc__, json.__doc__, argparse.__doc__, csv.__doc__])

# Real text to score, with what the normaliser has to deal with.
DOCUMENT = (
    "The  Python Debugger — “pdb” — runs your program step by step.\n"
    "\n"
    "   Heaps are arrays for which a[k] <= a[2*k+1] for all k, counting from 0.\n"
    "Ça va: 42 TOURNAMENTS in 1999…\n"
    "\t\n"
    "JSON is a subset of JavaScript syntax used as a lightweight data interchange format."
)


@pytest.fixture(scope="module")
def sp_model(tmp_path_factory) -> Path:
    """A small unigram SentencePiece model trained on real prose, normalised like the scorer's."""
    lines = [line for line in normalize_for_lm(PROSE).split("\n") if line]
    assert len(lines) > 300, "the stdlib docstrings are missing (python -OO?)"
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines),
        model_writer=model,
        vocab_size=300,
        model_type="unigram",
        character_coverage=1.0,
        num_threads=1,
        minloglevel=2,
    )
    path = tmp_path_factory.mktemp("sp") / "en.sp.model"
    path.write_bytes(model.getvalue())
    return path


def pieces_of(sp_model: Path, text: str) -> list[list[str]]:
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
    lines = [line for line in normalize_for_lm(text).split("\n") if line]
    return [sp.encode_as_pieces(line) for line in lines]


def write_binary(tmp: Path, unigrams: dict, bigrams: dict) -> Path:
    """An ARPA file from {word: (log10 p, backoff)} and {(w1, w2): log10 p}, made binary."""
    arpa = tmp / "lm.arpa"
    rows = ["\\data\\", f"ngram 1={len(unigrams)}", f"ngram 2={len(bigrams)}", "", "\\1-grams:"]
    rows += [f"{p}\t{w}\t{bo}" for w, (p, bo) in unigrams.items()]
    rows += ["", "\\2-grams:"] + [f"{p}\t{a} {b}" for (a, b), p in bigrams.items()]
    arpa.write_text("\n".join([*rows, "", "\\end\\", ""]), encoding="utf-8")
    binary = tmp / "lm.bin"
    subprocess.run([BIN / "build_binary", arpa, binary], check=True, capture_output=True)
    return binary


def test_unigram_model_gives_the_closed_form(sp_model, tmp_path):
    """Every piece log10 p = -2 and </s> = -1: a line of n pieces scores -(2n + 1)."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
    unigrams = {"<unk>": (-2.0, 0), "<s>": (-99, 0), "</s>": (-1.0, 0)}
    unigrams |= {sp.id_to_piece(i): (-2.0, 0) for i in range(3, len(sp))}
    # KenLM needs a bigram section; "</s>" is never a context, so this one is never used.
    scorer = PerplexityScorer(sp_model, write_binary(tmp_path, unigrams, {("</s>", "</s>"): -1}))

    n = [len(p) for p in pieces_of(sp_model, DOCUMENT)]
    assert len(n) == 4
    got = scorer.score(DOCUMENT)
    assert got.lines == 4
    assert got.length == sum(n) + 4
    assert got.log10_prob == pytest.approx(-(2 * sum(n) + 4), abs=1e-4)
    assert got.perplexity == round(10 ** ((2 * sum(n) + 4) / (sum(n) + 4)), 1)
    assert scorer.line_scores(DOCUMENT) == [
        pytest.approx((-(2 * k + 1), k + 1), abs=1e-4) for k in n
    ]


def test_bigram_model_with_backoff_and_unknown_pieces(sp_model, tmp_path):
    """KenLM's <s>, </s>, backoff and <unk> handling, against the ARPA arithmetic by hand."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
    lines = pieces_of(sp_model, DOCUMENT)
    first, (a, b), last = lines[0][0], lines[1][:2], lines[2][-1]
    bigrams = {("<s>", first): -0.75, (a, b): -0.125, (last, "</s>"): -0.0625}
    unigrams = {"<unk>": (-3.0, 0.0), "<s>": (-99.0, -0.25), "</s>": (-1.0, 0.0)}
    # Pieces get -1.5, -2 or -2.5; every fifth one is left out, so it scores as <unk>.
    for i in range(3, len(sp)):
        piece = sp.id_to_piece(i)
        if i % 5 or piece in (first, a, b, last):
            unigrams[piece] = (-1.5 - 0.5 * (i % 3), 0.0)
    unigrams[a] = (unigrams[a][0], -0.5)  # a context of a bigram gets a backoff of its own
    scorer = PerplexityScorer(sp_model, write_binary(tmp_path, unigrams, bigrams))

    def by_hand(pieces: list[str]) -> float:
        words = ["<s>", *(p if p in unigrams else "<unk>" for p in pieces), "</s>"]
        return sum(
            bigrams[(v, w)] if (v, w) in bigrams else unigrams[v][1] + unigrams[w][0]
            for v, w in itertools.pairwise(words)
        )

    expected = [(by_hand(p), len(p) + 1) for p in lines]
    assert any(p not in unigrams for line in lines for p in line), "no <unk> exercised"
    assert scorer.line_scores(DOCUMENT) == [pytest.approx(e, abs=1e-4) for e in expected]
    log10_prob, length = sum(e[0] for e in expected), sum(e[1] for e in expected)
    got = scorer.score(DOCUMENT)
    assert (got.lines, got.length) == (4, length)
    assert got.log10_prob == pytest.approx(log10_prob, abs=1e-4)
    assert got.perplexity == round(10 ** (-log10_prob / length), 1)


@pytest.fixture(scope="module")
def real_lm(sp_model, tmp_path_factory) -> Path:
    """A 5-gram KenLM model of the prose, built by lmplz and build_binary."""
    tmp = tmp_path_factory.mktemp("lm")
    tokens = "".join(" ".join(p) + "\n" for p in pieces_of(sp_model, PROSE))
    arpa = subprocess.run(
        [BIN / "lmplz", "-o", "5", "--discount_fallback", "-S", "5%", "-T", f"{tmp}/"],
        input=tokens, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (tmp / "en.arpa").write_text(arpa, encoding="utf-8")
    subprocess.run(
        [BIN / "build_binary", tmp / "en.arpa", tmp / "en.arpa.bin"],
        check=True,
        capture_output=True,
    )
    return tmp / "en.arpa.bin"


def test_line_scores_equal_kenlm_query(sp_model, real_lm):
    """Per line, the scorer's log10 p equals the `Total:` KenLM's own `query` prints."""
    lines = pieces_of(sp_model, DOCUMENT + "\n" + PROSE[:3000])
    tokens = "".join(" ".join(p) + "\n" for p in lines)
    query = subprocess.run(
        [BIN / "query", "-v", "sentence", real_lm],
        input=tokens, capture_output=True, text=True, check=True,
    )  # fmt: skip
    totals = [
        float(line.split()[1]) for line in query.stdout.splitlines() if line.startswith("Total:")
    ]
    assert len(totals) == len(lines) > 20

    scorer = PerplexityScorer(sp_model, real_lm)
    scores = scorer.line_scores(DOCUMENT + "\n" + PROSE[:3000])
    assert [s for s, _ in scores] == pytest.approx(totals, abs=1e-4)
    assert [n for _, n in scores] == [len(p) + 1 for p in lines]

    got = scorer.score(DOCUMENT + "\n" + PROSE[:3000])
    assert (got.lines, got.length) == (len(lines), sum(len(p) + 1 for p in lines))
    assert got.log10_prob == pytest.approx(sum(totals), abs=1e-3)
    assert got.perplexity == round(10 ** (-got.log10_prob / got.length), 1)
    assert got.perplexity == pytest.approx(10 ** (-sum(totals) / got.length), abs=0.051)


def test_real_pages_score_as_str_pieces_of_the_normalised_lines(sp_model, real_lm):
    """Bit for bit what KenLM gives SentencePiece's str pieces of normalize_for_lm's lines (the
    scorer hands KenLM UTF-8 pieces instead), on crawl pages full of pieces unknown to the LM."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(sp_model))
    lm = kenlm.Model(str(real_lm))
    scorer = PerplexityScorer(sp_model, real_lm)
    path = sorted((SAMPLE / "commoncrawl" / "wet").glob("*.warc.wet.gz"))[0]
    texts = [
        doc["raw_content"]
        for record in iter_records(str(path))
        if isinstance(record, WarcRecord) and (doc := wet_document(record, path.name))
    ]
    assert len(texts) > 400
    for text in texts:
        lines = [line for line in normalize_for_lm(text).split("\n") if line]
        expected = [
            (lm.score(" ".join(pieces), bos=True, eos=True), len(pieces) + 1)
            for pieces in sp.encode(lines, out_type=str)
            if pieces
        ]
        assert scorer.line_scores(text) == expected


def test_layout_blank_lines_and_spaces_do_not_change_the_score(sp_model, real_lm):
    scorer = PerplexityScorer(sp_model, real_lm)
    tidy = scorer.score("heaps are arrays.\nthe python debugger.")
    assert scorer.score("\n  Heaps   are arrays.\n\n\n\tThe Python debugger.  \n") == tidy
    # Scored line by line: joining the lines into one sentence gives another score.
    assert scorer.score("heaps are arrays. the python debugger.") != tidy


def test_in_domain_text_has_lower_perplexity(sp_model, real_lm):
    scorer = PerplexityScorer(sp_model, real_lm)
    sentence = "The Python debugger supports setting breakpoints and single stepping."
    shuffled = "stepping breakpoints The setting debugger and supports single Python."
    assert scorer.score(sentence).perplexity < scorer.score(shuffled).perplexity


@pytest.mark.parametrize("text", ["", "\n\n", "  \t \n \x00\x1f \n"])
def test_nothing_to_score_gives_no_score(sp_model, real_lm, text):
    scorer = PerplexityScorer(sp_model, real_lm)
    assert scorer.line_scores(text) == []
    assert scorer.score(text) == Perplexity(NO_SCORE, 0.0, 0, 0)
    assert NO_SCORE == -1.0


def test_from_dir_and_missing_models(sp_model, real_lm, tmp_path):
    assert sp_model.parent != real_lm.parent
    (tmp_path / "en.sp.model").write_bytes(sp_model.read_bytes())
    (tmp_path / "en.arpa.bin").write_bytes(real_lm.read_bytes())
    scorer = PerplexityScorer.from_dir(tmp_path, "en")
    assert scorer.score(DOCUMENT) == PerplexityScorer(sp_model, real_lm).score(DOCUMENT)
    with pytest.raises(FileNotFoundError, match=r"fr\.sp\.model.*make lm"):
        PerplexityScorer.from_dir(tmp_path, "fr")


def test_a_batch_pauses_cycle_collection_and_restores_it(sp_model, real_lm, monkeypatch):
    scorer = PerplexityScorer(sp_model, real_lm)
    seen = []
    score_lines = scorer._score_lines
    monkeypatch.setattr(
        scorer, "_score_lines", lambda lines: seen.append(gc.isenabled()) or score_lines(lines)
    )
    assert gc.isenabled()
    scorer.score_batch(["heaps are arrays."])
    assert seen == [False] and gc.isenabled()
    gc.disable()  # off before the batch: stays off after it
    try:
        scorer.score_batch(["heaps are arrays."])
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(AttributeError):  # and back on after a failing batch (not a str)
        scorer.score_batch([None])
    assert gc.isenabled()
