"""Token shards: the encoder, the tokenize pipeline, and reading shards back (exact, zero-copy)."""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sentencepiece as spm
from conftest import DATAFLOW_DRY_RUN
from localbucket import serve_gs

from core.ids import shard_of
from core.manifest import MANIFEST
from core.spm_proto import read_model
from pipelines import tokenize
from readers.warc import WarcRecord, iter_records
from readers.wet import wet_document
from tokenizer.encode import Encoder
from tokenizer.shards import (
    TokenizerMismatchError,
    TokenShard,
    TokenShardError,
    TokenSource,
    file_sha256,
    manifest,
    open_sources,
    shard_bytes,
    shard_entry,
)

SHARDS = 3
# docs/recipe/tokenizer.md's settings, as tokenizer/train.py trains them, at a vocabulary a test can
# afford.
SP_SETTINGS = {
    "model_type": "bpe",
    "byte_fallback": True,
    "split_digits": True,
    "normalization_rule_name": "identity",
    "add_dummy_prefix": True,
    "remove_extra_whitespaces": False,
    "allow_whitespace_only_pieces": True,
    "unk_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "pad_id": -1,
    "character_coverage": 0.995,
    "max_sentence_length": 1 << 20,
    "num_threads": 1,
    "minloglevel": 2,
}
# Texts a round trip must survive: leading, trailing and repeated spaces, tabs and newlines,
# digits, characters outside the vocabulary (byte fallback), code indentation.
SPECIAL_TEXTS = [
    "  two leading spaces",
    " one leading space and a trailing one ",
    "many     spaces\t\ttabs\n\n\nand newlines\n",
    "digits 1234567890 and 3.14159",
    "Zürich, 東京, Москва, 🎉🦙 and \u00a0non-breaking space",
    "def f(x):\n    return x  +  1\n",
    " ",
]


def _texts(sample: Path, files: int = 1) -> list[str]:
    texts = []
    for path in sorted((sample / "commoncrawl/wet").glob("*.warc.wet.gz"))[:files]:
        for record in iter_records(str(path)):
            if isinstance(record, WarcRecord):
                doc = wet_document(record, path.name)
                if doc and doc["raw_content"]:
                    texts.append(doc["raw_content"])
    return texts


def _train(texts: list[str], vocab_size: int, **settings) -> bytes:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts),
        model_writer=model,
        vocab_size=vocab_size,
        **{**SP_SETTINGS, **settings},
    )
    return model.getvalue()


@pytest.fixture(scope="module")
def wet_texts(sample) -> list[str]:
    return _texts(sample)


@pytest.fixture(scope="module")
def models(tmp_path_factory, wet_texts) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    code = ["def f(x):\n    if x:\n        return  x   +  1\n    return 0\n"] * 40
    trained = {
        "a": _train(wet_texts[:300] + code, 800),
        "b": _train(wet_texts[300:], 600),
        "no_space_runs": _train(wet_texts[:300], 800, allow_whitespace_only_pieces=False),
    }
    paths = {}
    for name, model in trained.items():
        paths[name] = root / f"{name}.model"
        paths[name].write_bytes(model)
    return paths


# ---- the encoder -------------------------------------------------------------------------------


def _fuzz(n: int) -> list[str]:
    rng = random.Random(7)
    alphabet = [*"ab cd  e\t\n12 3é日🎉x", "  ", "   ", "\u2581", " \n "]
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n)]


@pytest.mark.parametrize(
    ("name", "space_runs"), [("a", True), ("no_space_runs", False), ("nfkc", None)]
)
def test_encoder_gives_sentencepiece_ids_in_any_batching(models, wet_texts, name, space_runs):
    if name == "nfkc":  # remove_extra_whitespaces + NFKC: words are not independent, no cache
        path = models["a"].parent / "nfkc.model"
        settings = {"normalization_rule_name": "nmt_nfkc", "remove_extra_whitespaces": True}
        path.write_bytes(_train(wet_texts[:200], 700, **settings))
    else:
        path = models[name]
    encoder = Encoder.from_file(path)
    assert encoder.word_cache is (space_runs is not None)
    sp = spm.SentencePieceProcessor(model_file=str(path))
    texts = [*wet_texts[:200], *SPECIAL_TEXTS, *_fuzz(1500), ""]
    expected = sp.encode(texts)
    for batch in (1, 64, len(texts)):
        got = [
            ids for i in range(0, len(texts), batch) for ids in encoder.encode(texts[i : i + batch])
        ]
        assert all(g.dtype == np.uint16 for g in got)
        assert [g.tolist() for g in got] == expected
    assert encoder.encode(["Hello"])[0][0] != sp.bos_id()  # no BOS/EOS stored


def test_decoding_is_exact_except_for_a_literal_space_marker(models):
    encoder = Encoder.from_file(models["a"])
    sp = spm.SentencePieceProcessor(model_file=str(models["a"]))
    texts = ["  indented\r\n\ttext \x00 e\u0301 🦙 ", "a\u2581b"]
    decoded = [sp.decode(ids.tolist()) for ids in encoder.encode(texts)]
    assert decoded == [texts[0], "a b"]


def test_encoder_cache_is_bounded_and_results_do_not_depend_on_it(models, wet_texts):
    small = Encoder.from_file(models["a"], max_cached_words=50)
    big = Encoder.from_file(models["a"])
    for start in range(0, 60, 20):
        batch = wet_texts[start : start + 20]
        for x, y in zip(small.encode(batch), big.encode(batch), strict=True):
            assert np.array_equal(x, y)
        assert len(small._cache) <= 50 + 1
    assert len(big._cache) > 1000


def test_the_model_reader_gives_the_normaliser_and_trainer_settings(models):
    spec = read_model(models["a"].read_bytes())
    assert (spec.model_type, spec.treat_whitespace_as_suffix, spec.byte_fallback) == (
        2,
        False,
        True,
    )
    assert spec.precompiled_charsmap == b""
    assert (spec.add_dummy_prefix, spec.remove_extra_whitespaces, spec.escape_whitespaces) == (
        True,
        False,
        True,
    )


def test_encoder_refuses_vocabularies_that_do_not_fit_uint16(tmp_path):
    words = [f"w{i:05d}" for i in range(66_000)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(" ".join(words[i : i + 100]) for i in range(0, len(words), 100)),
        model_writer=model,
        vocab_size=65_600,
        model_type="word",
        use_all_vocab=True,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    path = tmp_path / "big.model"
    path.write_bytes(model.getvalue())
    with pytest.raises(ValueError, match=r"big\.model: 66,003 pieces.*at most 65,536"):
        Encoder.from_file(path)
    with pytest.raises(SystemExit, match=r"big\.model: not a usable SentencePiece model"):
        tokenize.main(
            ["--input", str(tmp_path), "--output", str(tmp_path / "t"), "--tokenizer", str(path)]
        )


# ---- the pipeline ------------------------------------------------------------------------------


def _ids_not_in_shard(prefix: str, count: int, shard: int) -> list[str]:
    ids, k = [], 0
    while len(ids) < count:
        candidate = f"{prefix}{k:04d}"
        if shard_of(candidate, SHARDS) != shard:
            ids.append(candidate)
        k += 1
    return ids


def _write_documents(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("id", pa.string()), ("text", pa.string()), ("source", pa.string())])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=16)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, wet_texts) -> dict:
    """Documents of two sources; which rows are kept, and why the others are not."""
    root = tmp_path_factory.mktemp("corpus")
    wiki = [f"wikipedia/en/{i}" for i in range(30)]
    wiki_texts = [*wet_texts[400:423], *SPECIAL_TEXTS]
    rows = [
        {"id": i, "text": t, "source": "wikipedia"} for i, t in zip(wiki, wiki_texts, strict=True)
    ]
    rows += [
        {"id": "wikipedia/en/empty", "text": "", "source": "wikipedia"},
        {"id": "wikipedia/en/null", "text": None, "source": "wikipedia"},
        {"id": None, "text": "a row without an id", "source": "wikipedia"},
    ]
    docs = root / "wikipedia/documents"
    _write_documents(docs / "part-00000-of-00002.parquet", rows[:20])
    _write_documents(docs / "part-00001-of-00002.parquet", [*rows[20:], rows[5]])  # rows[5] twice
    # CommonCrawl: bucket subdirectories, no document in shard 2, and a file that is not Parquet.
    cc = _ids_not_in_shard("cc/seg/", 6, shard=2)
    cc_rows = [
        {"id": i, "text": t, "source": "commoncrawl"}
        for i, t in zip(cc, wet_texts[430:436], strict=True)
    ]
    _write_documents(
        root / "commoncrawl/documents/en_head/part-00000-of-00001.parquet", cc_rows[:4]
    )
    _write_documents(
        root / "commoncrawl/documents/en_middle/part-00000-of-00001.parquet", cc_rows[4:]
    )
    broken = root / "commoncrawl/documents/en_tail/part-00000-of-00001.parquet"
    broken.parent.mkdir()
    broken.write_bytes(b"PAR1 not really parquet")
    for source in ("wikipedia", "commoncrawl"):
        (root / source / "report.json").write_text("{}\n")  # their runs finished
    kept = {r["id"]: r["text"] for r in rows[:30]} | {r["id"]: r["text"] for r in cc_rows}
    return {"root": root, "kept": kept, "broken": str(broken)}


def _run(corpus: dict, model: Path, out: Path, *extra: str) -> dict:
    return tokenize.main(
        [
            "--input",
            str(corpus["root"]),
            "--output",
            str(out),
            "--tokenizer",
            str(model),
            "--num_shards",
            str(SHARDS),
            "--batch",
            "7",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def run(tmp_path_factory, corpus, models) -> dict:
    """One in-process run over an output that holds an earlier run's shards of another count."""
    out = tmp_path_factory.mktemp("tokens")
    old = out / "wikipedia"
    old.mkdir()
    (old / "part-00004-of-00005.arrow").write_bytes(b"an earlier run's shard")
    (old / ".tmp-0123-part-00000-of-00003.arrow").write_bytes(b"a killed run's temp file")
    report = _run(corpus, models["a"], out)
    return {"out": out, "report": report}


def _tree(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.name != "report.json"
    }


def test_round_trip_every_kept_document_decodes_to_its_text(run, corpus, models):
    sp = spm.SentencePieceProcessor(model_file=str(models["a"]))
    sources = open_sources(run["out"])
    assert sorted(sources) == ["commoncrawl", "wikipedia"]
    seen = {}
    for source in sources.values():
        for shard_index, shard in enumerate(source.shards):
            ids = [shard.document_id(i) for i in range(len(shard))]
            assert ids == sorted(ids)
            assert all(shard_of(i, SHARDS) == shard_index for i in ids)
            for i, doc_id in enumerate(ids):
                seen[doc_id] = sp.decode(shard.document(i).tolist())
    assert seen == corpus["kept"]


def test_report_accounts_for_every_row(run, corpus):
    report = run["report"]
    assert report["by_source"] == {
        "commoncrawl": {"input_errors": 1, "kept": 6, "read": 6},
        "wikipedia": {
            "dropped_duplicate": 1,
            "dropped_empty": 1,
            "dropped_invalid": 2,
            "kept": 30,
            "read": 34,
        },
    }
    assert report["invariant"] == {"read": 40, "kept_plus_dropped": 40, "holds": True}
    assert json.loads((run["out"] / "report.json").read_text())["tokens"] == report["tokens"]
    dead = [
        json.loads(line)
        for line in (run["out"] / "dead_letter/part-00000-of-00001.jsonl").read_text().splitlines()
    ]
    assert [(d["source"], d["reason"], d["id"], d["row"], d["error"][:12]) for d in dead] == [
        ("commoncrawl", "unreadable_file", None, None, "ArrowInvalid"),
        ("wikipedia", "null_text", "wikipedia/en/null", 11, "text is null"),
        ("wikipedia", "no_id", None, 12, "no id"),
    ]
    assert dead[0]["file"] == corpus["broken"]
    assert dead[1]["file"].endswith("wikipedia/documents/part-00001-of-00002.parquet")


def test_manifests_match_a_recount_of_the_shards(run, corpus, models):
    model_sha = hashlib.sha256(models["a"].read_bytes()).hexdigest()
    total = 0
    for name in ("commoncrawl", "wikipedia"):
        directory = run["out"] / name
        body = json.loads((directory / MANIFEST).read_text())
        assert body["tokenizer"] == {
            "path": str(models["a"]),
            "sha256": model_sha,
            "vocab_size": 800,
        }
        assert [e["file"] for e in body["shards"]] == [
            f"part-{k:05d}-of-{SHARDS:05d}.arrow" for k in range(SHARDS)
        ]
        for entry in body["shards"]:
            shard = TokenShard(directory / entry["file"])
            ids = [shard.document_id(i) for i in range(len(shard))]
            assert entry["documents"] == len(shard)
            assert entry["tokens"] == int(shard.lengths().sum()) == shard.num_tokens
            assert entry["bytes"] == sum(len(corpus["kept"][i].encode()) for i in ids)
            assert entry["sha256"] == file_sha256(directory / entry["file"])
        for key in ("documents", "tokens", "bytes"):
            assert body[key] == sum(e[key] for e in body["shards"])
        assert run["report"]["sources"][name]["tokens"] == body["tokens"]
        total += body["tokens"]
        TokenSource(directory).verify()
    assert run["report"]["tokens"] == total
    cc = json.loads((run["out"] / "commoncrawl" / MANIFEST).read_text())
    assert (
        cc["shards"][2]["documents"] == 0
        and len(TokenShard(run["out"] / "commoncrawl" / cc["shards"][2]["file"])) == 0
    )


def test_stale_shards_and_temp_files_are_removed(run):
    assert sorted(p.name for p in (run["out"] / "wikipedia").iterdir()) == [
        MANIFEST,
        *(f"part-{k:05d}-of-{SHARDS:05d}.arrow" for k in range(SHARDS)),
    ]


def test_one_and_two_worker_processes_give_byte_identical_shards(run, corpus, models, tmp_path):
    _run(
        corpus,
        models["a"],
        tmp_path,
        "--direct_num_workers=2",
        "--direct_running_mode=multi_processing",
    )
    assert _tree(tmp_path) == _tree(run["out"])


def test_documents_are_zero_copy_views_of_the_mapped_file(run):
    path = run["out"] / "wikipedia/part-00001-of-00003.arrow"
    shard = TokenShard(path)
    document = shard.document(2)
    assert any(np.shares_memory(document, buffer) for buffer in shard.buffers())
    base = document
    while isinstance(base, np.ndarray):
        base = base.base
    assert isinstance(base, pa.Buffer)  # the pyarrow buffer of the memory map, not a copy
    address = document.__array_interface__["data"][0]
    mapped = [
        [int(x, 16) for x in line.split()[0].split("-")]
        for line in Path("/proc/self/maps").read_text().splitlines()
        if line.endswith(str(path))
    ]
    assert any(lo <= address < hi for lo, hi in mapped)


def _copy(run, tmp_path: Path) -> Path:
    out = tmp_path / "tokens"
    shutil.copytree(run["out"], out)
    return out / "wikipedia"


def _truncate(directory: Path) -> str:
    path = directory / "part-00001-of-00003.arrow"
    path.write_bytes(path.read_bytes()[:-100])
    return path.name


def _flip_header(directory: Path) -> str:
    path = directory / "part-00002-of-00003.arrow"
    data = bytearray(path.read_bytes())
    data[:6] = b"XXXXXX"  # the ARROW1 magic
    path.write_bytes(bytes(data))
    return path.name


def _delete(directory: Path) -> str:
    (directory / "part-00000-of-00003.arrow").unlink()
    return "part-00000-of-00003.arrow"


def _miscount(directory: Path) -> str:
    body = json.loads((directory / MANIFEST).read_text())
    body["shards"][1]["tokens"] += 1
    (directory / MANIFEST).write_text(json.dumps(body))
    return "part-00001-of-00003.arrow"


@pytest.mark.parametrize("damage", [_truncate, _flip_header, _delete, _miscount])
def test_a_damaged_shard_is_named_in_the_error(run, tmp_path, damage):
    directory = _copy(run, tmp_path)
    name = damage(directory)
    with pytest.raises(TokenShardError, match=name):
        TokenSource(directory)


def test_a_changed_byte_inside_a_shard_fails_verify(run, tmp_path):
    directory = _copy(run, tmp_path)
    path = directory / "part-00001-of-00003.arrow"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TokenShardError, match=r"part-00001-of-00003\.arrow: sha256 differs"):
        TokenSource(directory).verify()


def test_shards_of_two_tokenizers_are_refused(run, models, corpus, tmp_path):
    out = _copy(run, tmp_path).parent
    # Another tokenizer's shard for wikipedia, next to commoncrawl's from model "a".
    encoder = Encoder.from_file(models["b"])
    texts = sorted(corpus["kept"].items())[:5]
    data = shard_bytes([i for i, _ in texts], encoder.encode([t for _, t in texts]))
    shutil.rmtree(out / "wikipedia")
    (out / "wikipedia").mkdir()
    path = out / "wikipedia/part-00000-of-00001.arrow"
    path.write_bytes(data)
    entry = shard_entry(path, 5, 0, 0, data=data)
    entry["tokens"] = TokenShard(path).num_tokens
    info = {"sha256": encoder.sha256, "vocab_size": 600, "path": str(models["b"])}
    (out / "wikipedia" / MANIFEST).write_text(json.dumps(manifest("wikipedia", info, [entry])))
    with pytest.raises(TokenizerMismatchError, match="2 different tokenizers"):
        open_sources(out)
    assert sorted(open_sources(out, ["wikipedia"])) == ["wikipedia"]
    # The pipeline will not tokenize one source with model "b" next to commoncrawl's "a" shards.
    with pytest.raises(SystemExit, match=r"commoncrawl was tokenized by .*a\.model.*--sources"):
        _run(corpus, models["b"], out, "--sources", "wikipedia")


def test_clear_errors_for_a_missing_model_and_missing_documents(corpus, models, tmp_path):
    with pytest.raises(
        SystemExit, match=r"nothing\.model: no such tokenizer model.*make tokenizer"
    ):
        _run(corpus, tmp_path / "nothing.model", tmp_path / "t")
    with pytest.raises(SystemExit, match=r"books/documents.*make books"):
        _run(corpus, models["a"], tmp_path / "t", "--sources", "wikipedia,books")
    assert not (tmp_path / "t").exists()


def test_dataflow_job_builds_offline_with_dry_run(corpus, models, tmp_path, monkeypatch):
    with pytest.raises(SystemExit, match="cannot read local paths: "):
        _run(corpus, models["a"], "gs://demo-bucket/tokens", "--mixture", "llama1",
             *DATAFLOW_DRY_RUN)  # fmt: skip
    serve_gs(tmp_path / "gcs", monkeypatch)
    shutil.copytree(corpus["root"], tmp_path / "gcs/demo-bucket/corpus")
    shutil.copy(models["a"], tmp_path / "gcs/demo-bucket/a.model")
    on_bucket = {**corpus, "root": "gs://demo-bucket/corpus"}
    report = _run(
        on_bucket, "gs://demo-bucket/a.model", "gs://demo-bucket/tokens", "--mixture", "llama1",
        *DATAFLOW_DRY_RUN,
    )  # fmt: skip
    assert (report["dry_run"], report["sources"]) == (True, ["commoncrawl", "wikipedia"])
    assert report["job"].proto_pipeline.components.transforms
    assert not (tmp_path / "gcs/demo-bucket/tokens").exists()
