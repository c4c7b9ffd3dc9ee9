"""The tokenizer (docs/recipe/tokenizer.md): sampling by mixture weights, SentencePiece settings,
Hugging Face ids.

Trained on real web text: the sample's WET pages, written as the documents of two sources.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece
from transformers import AutoTokenizer, LlamaTokenizerFast

from readers.warc import WarcRecord, iter_records
from readers.wet import wet_document
from tokenizer import train as tt
from tokenizer.hf import hf_tokenizer, model_proto, save_hf

SOURCE_CHARS = 1_200_000  # characters of text per test source
SAMPLE_CHARS = 1_000_000
VOCAB = 2000
# github has no documents: commoncrawl and wikipedia renormalise to 0.8 and 0.2.
MIXTURE = """\
name: test
budget_tokens: 1.0e6
sources:
  commoncrawl: {weight: 0.6}
  wikipedia: {weight: 0.15}
  github: {weight: 0.25}
"""
EDGE_CASES = [
    "",
    " ",
    "  leading spaces",
    "\n\nleading newlines",
    "trailing spaces   ",
    "tab\tseparated\tvalues",
    "multiple    spaces  between",
    "line one\nline two\r\nwindows line",
    "Digits 1234567890 and 3.14159, 2024-05-01",
    "emoji 😀🎉 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "<s> and </s> and <unk> as text",
    "Ünïcödé naïve café — “quotes”",
    "中文字符测试 日本語のテキスト",
]


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, sample) -> dict:
    """`<data>/{commoncrawl,wikipedia}/documents/…` from alternate WET pages, and the mixture."""
    texts: list[str] = []
    for path in sorted((sample / "commoncrawl" / "wet").glob("*.warc.wet.gz")):
        for record in iter_records(str(path)):
            doc = wet_document(record, "s") if isinstance(record, WarcRecord) else None
            if doc and doc["raw_content"]:
                texts.append(doc["raw_content"])
    sources: dict[str, list[dict]] = {"commoncrawl": [], "wikipedia": []}
    for i, text in enumerate(texts):
        rows = sources["commoncrawl" if i % 2 == 0 else "wikipedia"]
        if sum(len(r["text"]) for r in rows) < SOURCE_CHARS:
            rows.append({"id": f"test/{i:05d}", "text": text, "url": None})
    data = tmp_path_factory.mktemp("documents")
    cc, wiki = sources["commoncrawl"], sources["wikipedia"]
    half = len(cc) // 2
    _write(data / "commoncrawl/documents/en_head/part-00000-of-00002.parquet", cc[:half])
    _write(data / "commoncrawl/documents/en_middle/part-00001-of-00002.parquet", cc[half:])
    _write(data / "wikipedia/documents/part-00000-of-00001.parquet", wiki)
    # A writer's temporary file (pipelines/shards.py) is not a shard.
    (data / "wikipedia/documents/.tmp-0123-part-00000-of-00001.parquet").write_bytes(b"partial")
    mixture = data / "test.yaml"
    mixture.write_text(MIXTURE, encoding="utf-8")
    return {"data": data, "mixture": mixture, "sources": sources}


def _train(corpus: dict, output: Path, *extra: str, vocab: int = VOCAB) -> dict:
    return tt.main(
        ["--mix", str(corpus["mixture"]), "--data", str(corpus["data"]), "--output", str(output),
         "--vocab_size", str(vocab), "--sample_chars", str(SAMPLE_CHARS), *extra]
    )  # fmt: skip


@pytest.fixture(scope="session")
def trained(corpus, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("tokenizer")
    card = _train(corpus, out, "--seed", "0")
    model = out / "test.model"
    return {"card": card, "model": model, "sp": sentencepiece.SentencePieceProcessor(str(model))}


@pytest.fixture(scope="session")
def documents(corpus) -> list[str]:
    return [row["text"] for rows in corpus["sources"].values() for row in rows]


@pytest.fixture(scope="session")
def hf(trained):
    return hf_tokenizer(trained["model"])


# ---- the sample ---------------------------------------------------------------------------------


def test_apportion_is_exact_and_proportional():
    assert tt.apportion(10, {"a": 1, "b": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert tt.apportion(1_000_000, {"cc": 0.6, "wiki": 0.15}) == {"cc": 800_000, "wiki": 200_000}
    assert tt.apportion(7, {"a": 0.5, "b": 0.3, "c": 0.2}) == {"a": 4, "b": 2, "c": 1}


def test_sample_follows_the_renormalised_weights_exactly(trained):
    sample = trained["card"]["sample"]
    assert sample["missing"] == ["github"]
    assert sample["short"] == []
    cc, wiki = sample["sources"]["commoncrawl"], sample["sources"]["wikipedia"]
    assert (cc["target_share"], wiki["target_share"]) == pytest.approx((0.8, 0.2), abs=1e-12)
    assert (cc["target_chars"], wiki["target_chars"]) == (800_000, 200_000)
    # every document is whole but the last, which is cut to fill the target to the character
    assert (cc["drawn_chars"], wiki["drawn_chars"]) == (800_000, 200_000)
    assert sample["characters"] == SAMPLE_CHARS
    assert (cc["drawn_share"], wiki["drawn_share"]) == pytest.approx((0.8, 0.2), abs=1e-12)
    assert cc["available_chars"] >= SOURCE_CHARS and wiki["available_chars"] >= SOURCE_CHARS


def test_sample_takes_the_documents_of_lowest_seeded_key(corpus, trained):
    sources = trained["card"]["sample"]["sources"]
    for name, rows in corpus["sources"].items():
        ordered = sorted(rows, key=lambda r: tt.doc_key(0, name, r["id"]))
        total, taken = 0, 0
        while total < sources[name]["target_chars"]:
            total += len(ordered[taken]["text"])
            taken += 1
        assert sources[name]["documents"] == taken
        assert sources[name]["available_documents"] == len(rows)


def test_same_seed_same_model_bytes_other_seed_other_sample(corpus, trained, tmp_path):
    again = _train(corpus, tmp_path / "again", "--seed", "0")
    assert (tmp_path / "again/test.model").read_bytes() == trained["model"].read_bytes()
    assert again["tokenizer"]["sha256"] == trained["card"]["tokenizer"]["sha256"]
    assert again["sample"]["sentences_sha256"] == trained["card"]["sample"]["sentences_sha256"]
    other = _train(corpus, tmp_path / "other", "--seed", "1")
    assert other["sample"]["sentences_sha256"] != trained["card"]["sample"]["sentences_sha256"]
    assert other["sample"]["characters"] == SAMPLE_CHARS


def test_a_source_short_of_its_share_gives_all_it_has(corpus, tmp_path):
    card = _train(corpus, tmp_path, "--sources", "wikipedia", "--sample_chars", "10000000")
    wiki = card["sample"]["sources"]["wikipedia"]
    available = sum(len(r["text"]) for r in corpus["sources"]["wikipedia"])
    assert (wiki["target_share"], wiki["target_chars"]) == (1.0, 10_000_000)
    assert (wiki["drawn_chars"], wiki["available_chars"]) == (available, available)
    assert wiki["documents"] == len(corpus["sources"]["wikipedia"])
    assert card["sample"]["short"] == ["wikipedia"] and card["sample"]["missing"] == []
    assert list(card["sample"]["sources"]) == ["wikipedia"]


def test_model_card_and_outputs(trained):
    card, model = trained["card"], trained["model"]
    assert json.loads(model.with_suffix(".json").read_text()) == card
    assert card["tokenizer"] == {
        "path": str(model),
        "sha256": tt.file_sha256(model),
        "vocab_size": VOCAB,
    }
    assert card["vocab_size_requested"] == VOCAB
    assert card["sentencepiece"]["vocab_size"] == VOCAB
    vocab = model.with_suffix(".vocab").read_text(encoding="utf-8").splitlines()
    assert len(vocab) == VOCAB
    assert vocab[:4] == ["<unk>\t0", "<s>\t0", "</s>\t0", "<0x00>\t0"]
    assert card["command"].startswith("python -m tokenizer.train --mix ")


def test_long_lines_are_split_at_spaces_without_losing_text():
    assert list(tt.split_long("aaa bbb ccc", limit=7)) == ["aaa bbb", "ccc"]
    assert list(tt.split_long("ééééé", limit=5)) == ["éé", "éé", "é"]  # at character boundaries
    line = " ".join(f"word{i}" for i in range(20_000))  # 188,889 bytes
    pieces = list(tt.sentences(f"first\n\n{line}\n"))
    assert pieces[0] == "first" and len(pieces) == 4
    assert all(len(p.encode()) <= tt.MAX_SENTENCE_BYTES for p in pieces)
    assert " ".join(pieces[1:]) == line


# ---- the SentencePiece model --------------------------------------------------------------------


def test_trainer_and_normalizer_spec_are_spec_8(trained):
    proto = model_proto(trained["model"])
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    assert trainer.model_type == trainer.BPE
    assert trainer.vocab_size == VOCAB and len(proto.pieces) == VOCAB
    assert trainer.split_digits and trainer.byte_fallback and trainer.allow_whitespace_only_pieces
    assert (trainer.unk_id, trainer.bos_id, trainer.eos_id, trainer.pad_id) == (0, 1, 2, -1)
    assert trainer.character_coverage == pytest.approx(0.99995)
    assert trainer.max_sentence_length == tt.MAX_SENTENCE_BYTES
    assert (trainer.input, trainer.model_prefix) == ([], "")  # no temporary paths in the model
    assert (norm.name, norm.add_dummy_prefix, norm.remove_extra_whitespaces) == (
        "identity",
        True,
        False,
    )
    assert norm.precompiled_charsmap == b""
    assert [p.piece for p in proto.pieces[:3]] == ["<unk>", "<s>", "</s>"]
    assert [p.piece for p in proto.pieces[3:259]] == [f"<0x{b:02X}>" for b in range(256)]


def test_digits_are_always_single_tokens(trained):
    sp = trained["sp"]
    assert sp.encode("12345", out_type=str) == ["▁", "1", "2", "3", "4", "5"]
    pieces = sp.encode("In 2024 it cost 1,234.50 (pi 3.14159)", out_type=str)
    assert "".join(pieces).replace("▁", " ").strip() == "In 2024 it cost 1,234.50 (pi 3.14159)"
    digit_pieces = [p for p in pieces if any(c.isdigit() for c in p)]
    assert len(digit_pieces) == 4 + 6 + 6 and all(len(p) == 1 for p in digit_pieces)
    vocab = [sp.id_to_piece(i) for i in range(len(sp)) if not sp.is_byte(i)]  # not <0x30>
    assert [p for p in vocab if any(c in "0123456789" for c in p) and len(p) > 1] == []


@pytest.mark.parametrize("text", ["𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "😀🎉", "龘靐齉"])
def test_characters_outside_the_vocabulary_round_trip_through_bytes(trained, text):
    sp = trained["sp"]
    assert [sp.piece_to_id(c) for c in text] == [sp.unk_id()] * len(text)  # truly not pieces
    assert sp.encode(text, out_type=str) == ["▁"] + [f"<0x{b:02X}>" for b in text.encode()]
    ids = sp.encode(f"x {text} y")
    assert sp.unk_id() not in ids
    assert sp.decode(ids) == f"x {text} y"


def test_encode_decode_is_lossless_on_every_document(trained, documents):
    sp = trained["sp"]
    encoded = sp.encode(documents)
    assert [sp.decode(ids) for ids in encoded] == documents
    assert all(sp.unk_id() not in ids for ids in encoded)


# ---- Hugging Face --------------------------------------------------------------------------------


def test_hf_gives_sentencepiece_ids_on_every_document(trained, hf, documents):
    assert isinstance(hf, LlamaTokenizerFast)
    assert len(hf) == VOCAB
    expected = trained["sp"].encode(documents)
    assert hf(documents, add_special_tokens=False)["input_ids"] == expected
    assert hf.batch_decode(expected) == documents


@pytest.mark.parametrize("text", EDGE_CASES)
def test_hf_gives_sentencepiece_ids_on_edge_cases(trained, hf, text):
    sp = trained["sp"]
    ids = sp.encode(text)
    assert hf.encode(text, add_special_tokens=False) == ids
    assert hf.encode(text) == [sp.bos_id(), *ids]  # <s> added, </s> not, as Meta's
    assert hf.decode(ids) == sp.decode(ids) == text


def test_hf_saved_tokenizer_loads_unchanged(trained, hf, tmp_path):
    files = save_hf(trained["model"], tmp_path)
    assert sorted(Path(f).name for f in files) == ["tokenizer.json", "tokenizer_config.json"]
    loaded = AutoTokenizer.from_pretrained(str(tmp_path))
    for text in EDGE_CASES:
        assert loaded.encode(text) == hf.encode(text)


def test_hf_refuses_a_model_that_is_not_llama_style(tmp_path):
    model, proto = tmp_path / "unigram.model", io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(["a few words of text", "and some more words"] * 20),
        model_writer=proto,
        model_type="unigram",
        vocab_size=19,
        minloglevel=2,
    )
    model.write_bytes(proto.getvalue())
    with pytest.raises(ValueError, match=r"unigram\.model: not a LLaMA-style .*not BPE"):
        hf_tokenizer(model)


# ---- errors --------------------------------------------------------------------------------------


def test_no_documents_for_the_mixture_is_a_clear_error(corpus, tmp_path):
    empty = tmp_path / "empty"
    (empty / "wikipedia" / "documents").mkdir(parents=True)
    args = ["--mix", str(corpus["mixture"]), "--data", str(empty), "--output", str(tmp_path)]
    with pytest.raises(SystemExit, match=r"none of the sources of mixture test .*make wikipedia"):
        tt.main(args)
    assert not list(tmp_path.glob("*.model"))


def test_unknown_source_and_oversized_vocabulary_are_refused(corpus, tmp_path):
    with pytest.raises(SystemExit, match=r"--sources books: not in mixture test"):
        _train(corpus, tmp_path, "--sources", "books")
    with pytest.raises(SystemExit, match=r"--vocab_size 70000: must be in 1\.\.65536"):
        _train(corpus, tmp_path, vocab=70_000)


def test_a_vocabulary_too_big_for_the_sample_is_an_error_or_shrunk_on_request(tmp_path):
    data = tmp_path / "data"
    rows = [{"id": f"w/{i}", "text": f"the quick brown fox {i} jumps over the lazy dog"}
            for i in range(30)]  # fmt: skip
    _write(data / "wikipedia/documents/part-00000-of-00001.parquet", rows)
    args = ["--mix", "llama1", "--data", str(data), "--output", str(tmp_path / "out")]
    with pytest.raises(SystemExit, match=r"at most (\d+).*VOCAB=\1.*--allow_smaller_vocab"):
        tt.main(args)
    assert not (tmp_path / "out/llama1.model").exists()
    card = tt.main([*args, "--allow_smaller_vocab"])
    size = card["tokenizer"]["vocab_size"]
    assert 259 < size < 400 and card["vocab_size_requested"] == 32_000
    assert card["sentencepiece"]["vocab_size"] == size
    assert len(sentencepiece.SentencePieceProcessor(str(tmp_path / "out/llama1.model"))) == size
    assert card["sample"]["missing"] == ["commoncrawl", "c4", "github", "books", "arxiv",
                                         "stackexchange"]  # fmt: skip


def test_a_share_of_no_characters_draws_nothing(corpus):
    files = tt.document_files(corpus["data"], "wikipedia")
    share = tt.Share("wikipedia", 0.001, 0.001, 0, files)
    assert tt.draw(share, seed=0) == []
    assert (share.drawn_chars, share.documents, share.short) == (0, 0, False)
    assert share.available_documents == len(corpus["sources"]["wikipedia"])
