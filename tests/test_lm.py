import argparse
import collections
import csv
import difflib
import doctest
import hashlib
import heapq
import inspect
import itertools
import json
import logging
import pdb
import pickle
import pydoc
import random
import sqlite3
import subprocess
import sys
import typing
import unittest
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece

from filtermodels.lm import main
from filters.perplexity import PerplexityScorer
from filters.text_normalizer import normalize_for_lm

# Real English prose every Python installation carries: a module's docstring is its "article",
# the first paragraph its "opening".
MODULES = [heapq, pdb, json, argparse, csv, unittest, subprocess, typing, inspect, itertools,
           doctest, pydoc, random, sqlite3, difflib, collections, pickle]  # fmt: skip
BULGARIAN = [
    "София е столицата и най-големият град на България.",
    "Дунав е втората по дължина река в Европа.",
]


def _articles() -> dict[str, tuple[str, str, str]]:
    """id -> (language, text, opening), with ids that do not sort in module order."""
    docs = {}
    for module in MODULES:
        text = (module.__doc__ or "").strip()
        assert len(text) > 400, f"{module.__name__} has no docstring (python -OO?)"
        key = hashlib.md5(module.__name__.encode()).hexdigest()[:6]
        docs[f"wikipedia/en/{key}-{module.__name__}"] = ("en", text, text.split("\n\n")[0])
    for i, text in enumerate(BULGARIAN):
        docs[f"wikipedia/bg/{i}"] = ("bg", text, text)
    docs["wikipedia/en/000-empty"] = ("en", "", "")  # an article without text is not used
    return docs


ARTICLES = _articles()
EN_IDS = sorted(i for i, (lang, text, _) in ARTICLES.items() if lang == "en" and text)


def _write_parts(directory: Path, rows: list[dict]) -> None:
    """Two shards with rows in no particular order, as the Wikipedia pipeline may leave them."""
    directory.mkdir(parents=True)
    rows = sorted(rows, key=lambda r: hashlib.sha1(r["id"].encode()).digest())
    for part in range(2):
        pq.write_table(
            pa.Table.from_pylist(rows[part::2]), directory / f"part-{part:05d}-of-00002.parquet"
        )


@pytest.fixture(scope="module")
def wikipedia(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wikipedia")
    documents = [
        {"id": i, "title": i.rsplit("-", 1)[-1], "text": text, "language": lang, "source": "wiki"}
        for i, (lang, text, _) in ARTICLES.items()
    ]
    _write_parts(root / "documents", documents)
    _write_parts(
        root / "openings",
        [
            {"id": i, "language": lang, "text": opening}
            for i, (lang, _, opening) in ARTICLES.items()
        ],
    )
    return root


def expected_corpus(texts: list[str]) -> dict[str, int]:
    lines = [line for text in texts for line in normalize_for_lm(text).split("\n") if line]
    return {"documents": len(texts), "lines": len(lines), "characters": sum(map(len, lines))}


def run(wikipedia: Path, out: Path, *args: str) -> dict:
    main(["--lang", "en", "--wikipedia", str(wikipedia), "--out", str(out), *args])
    return json.loads((out / "en.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_trains_on_articles_and_shrinks_a_too_large_vocabulary(wikipedia, tmp_path, caplog):
    out = tmp_path / "lm"
    with caplog.at_level(logging.INFO, logger="lm"):
        card = run(wikipedia, out, "--vocab_size", "65536")

    assert sorted(p.name for p in out.iterdir()) == [
        "en.arpa.bin", "en.json", "en.sp.model", "en.sp.vocab"
    ]  # fmt: skip
    assert (card["language"], card["text_requested"], card["text"]) == ("en", "auto", "articles")
    assert "training on articles" in caplog.text
    assert {k: card[k] for k in ("documents", "lines", "characters")} == expected_corpus(
        [ARTICLES[i][1] for i in EN_IDS]
    )

    sp = sentencepiece.SentencePieceProcessor(model_file=str(out / "en.sp.model"))
    assert card["vocab_size_requested"] == 65536
    assert 300 < card["vocab_size"] == len(sp) < 65536
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "65536" in warnings[0] and str(card["vocab_size"]) in warnings[0]
    vocab = (out / "en.sp.vocab").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t")[0] for line in vocab] == [sp.id_to_piece(i) for i in range(len(sp))]
    assert card["sentencepiece"]["model_type"] == "unigram"
    assert card["sentencepiece"]["character_coverage"] == 0.9995

    assert card["order"] == 5
    assert "-o 5 --discount_fallback -S 20%" in card["kenlm"]["lmplz"]
    assert card["kenlm"]["sentences"] == card["lines"]
    for name, entry in card["files"].items():
        assert entry == {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
    assert set(card["seconds"]) == {"read", "sentencepiece", "tokenize", "lmplz", "build_binary"}

    scorer = PerplexityScorer.from_dir(out, "en")
    sentence = max(normalize_for_lm(unittest.__doc__).split("\n"), key=len)
    words = sentence.split()
    assert len(words) >= 6
    shuffled = " ".join(random.Random(0).sample(words, len(words)))
    assert shuffled != sentence
    assert scorer.score(sentence).perplexity < scorer.score(shuffled).perplexity


def test_two_trainings_give_identical_models(wikipedia, tmp_path):
    first = run(wikipedia, tmp_path / "a", "--text", "articles", "--vocab_size", "500")
    second = run(wikipedia, tmp_path / "b", "--text", "articles", "--vocab_size", "500")
    assert first["vocab_size"] == second["vocab_size"] == 500
    for name in ("en.sp.model", "en.sp.vocab", "en.arpa.bin"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
        assert first["files"][name] == second["files"][name]


def test_openings_of_the_first_documents_by_id(wikipedia, tmp_path):
    card = run(wikipedia, tmp_path, "--text", "openings", "--max_docs", "10", "--vocab_size", "999")
    assert card["text"] == "openings"
    assert {k: card[k] for k in ("documents", "lines", "characters")} == expected_corpus(
        [ARTICLES[i][2] for i in EN_IDS[:10]]
    )
    assert card["vocab_size"] < 999


def test_auto_takes_openings_when_enough_documents_have_one(wikipedia, tmp_path, monkeypatch):
    monkeypatch.setattr("filtermodels.lm.AUTO_MIN_OPENINGS", len(EN_IDS))
    card = run(wikipedia, tmp_path, "--vocab_size", "200")
    assert (card["text_requested"], card["text"], card["documents"]) == ("auto", "openings", 17)
    assert card["kenlm"]["lmplz"].endswith("-T $TMP/ < $TMP/tokens.txt > $TMP/lm.arpa")
    assert card["kenlm"]["build_binary"].endswith("$TMP/lm.arpa $TMP/arpa.bin")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_language_without_documents_fails_clearly(wikipedia, tmp_path):
    out = tmp_path / "lm"
    with pytest.raises(
        SystemExit, match=r"no articles with language 'fr'.*languages there: bg, en"
    ):
        main(["--lang", "fr", "--wikipedia", str(wikipedia), "--out", str(out)])
    assert not out.exists()


def test_missing_or_unreadable_input_fails_clearly(tmp_path):
    out = str(tmp_path / "lm")
    with pytest.raises(SystemExit, match=r"nowhere: no such directory"):
        main(["--lang", "en", "--wikipedia", str(tmp_path / "nowhere"), "--out", out])
    wiki = tmp_path / "wiki"
    _write_parts(wiki / "documents", [{"id": "a", "text": "no language column"}])
    with pytest.raises(SystemExit, match=r"no Parquet files in .*wiki/openings"):
        main(["--lang", "en", "--wikipedia", str(wiki), "--out", out, "--text", "openings"])
    with pytest.raises(SystemExit, match=r"cannot read the Wikipedia output .*language"):
        main(["--lang", "en", "--wikipedia", str(wiki), "--out", out])


def test_runs_as_a_module(wikipedia, tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "filtermodels.lm", "--lang", "bg",
         "--wikipedia", str(wikipedia), "--out", str(tmp_path), "--vocab_size", "65536"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "bg: 2 articles" in proc.stdout
    assert (tmp_path / "bg.arpa.bin").is_file()
