"""The Beam-free core: id hashes, atomic writes, manifests (and the old token-manifest name),
dead letters and the document schema."""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys

import pyarrow as pa
import pytest

from core import files, ids, manifest, schema
from core.deadletter import DeadLetter
from readers.warc import dead_letter as warc_dead_letter
from readers.wikidump import dead_letter as wiki_dead_letter


def test_id_hash_is_blake2b_little_endian_and_shards_agree():
    # blake2b(b"cc/x", digest_size=8) read little-endian, computed independently.
    import hashlib

    for key in ("cc/x", "wikipedia/en/12", "ünïcode/ü", ""):
        expected = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")
        assert ids.id_hash(key) == expected
        assert ids.shard_of(key, 7) == expected % 7
        signed = ids.signed_id_hash(key)
        assert signed == (expected - (1 << 64) if expected >= 1 << 63 else expected)
        assert -(1 << 63) <= signed < 1 << 63
    assert ids.shard_file(3, 12, ".parquet") == "part-00003-of-00012.parquet"


def test_training_and_mixtures_never_import_beam():
    code = (
        "import sys, training.data, training.train, mixtures.audit, tokenizer.shards, core.files, "
        "core.manifest, core.schema; "
        "print(sorted(m for m in sys.modules if m.startswith('apache_beam')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_write_atomically_replaces_whole_files_and_leaves_no_temp(tmp_path):
    path = tmp_path / "deep" / "report.json"
    files.write_atomically(path, b"first")
    files.write_atomically(str(path), b"second")
    assert path.read_bytes() == b"second"
    assert os.listdir(path.parent) == ["report.json"]


def test_write_atomically_removes_its_temp_file_when_writing_fails(tmp_path, monkeypatch):
    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        files.write_atomically(tmp_path / "x.json", b"data")
    assert os.listdir(tmp_path) == []


def test_json_round_trip_and_missing_file(tmp_path):
    files.write_json(tmp_path / "a.json", {"b": 1, "a": [1, 2]})
    assert (tmp_path / "a.json").read_bytes() == b'{\n "a": [\n  1,\n  2\n ],\n "b": 1\n}\n'
    assert files.read_json(tmp_path / "a.json") == {"a": [1, 2], "b": 1}
    assert files.read_json(tmp_path / "missing.json") is None
    assert files.join("gs://bucket/dir/", "a", "b") == "gs://bucket/dir/a/b"
    assert files.join("out", "a") == os.path.join("out", "a")


def test_one_manifest_name_and_the_old_one_is_read_with_a_warning(tmp_path, caplog):
    manifest.write_manifest(tmp_path / "documents", {"rows": 3})
    assert (tmp_path / "documents" / "_manifest.json").is_file()
    assert manifest.read_manifest(tmp_path / "documents") == {"rows": 3}
    old = tmp_path / "tokens" / "wikipedia"
    old.mkdir(parents=True)
    (old / "manifest.json").write_text(json.dumps({"documents": 2}))
    with caplog.at_level(logging.WARNING, logger="manifest"):
        assert manifest.read_manifest(old) == {"documents": 2}
        assert manifest.source_manifests(tmp_path / "tokens") == {
            "wikipedia": old / "manifest.json"
        }
    assert "old name" in caplog.text and "_manifest.json" in caplog.text
    assert manifest.read_manifest(tmp_path / "nothing") is None


def test_dead_letters_of_both_readers_share_one_type_and_keep_their_fields():
    warc = warc_dead_letter("f.wet.gz", 10, 4, "bad_digest", "digest", "<urn:1>", "u", "conversion")
    wiki = wiki_dead_letter("d.xml.bz2", 100, 7, "xml_error", "boom", True, "Title", 12)
    assert isinstance(warc, DeadLetter) and isinstance(wiki, DeadLetter)
    assert warc.document and wiki.document
    assert not warc_dead_letter("f", 0, 0, "corrupt_gzip", "e").document
    assert warc.to_record() == {
        "file": "f.wet.gz",
        "offset": 10,
        "offset_in_member": 4,
        "record_id": "<urn:1>",
        "url": "u",
        "warc_type": "conversion",
        "reason": "bad_digest",
        "error": "digest",
    }
    assert wiki.to_record() == {
        "file": "d.xml.bz2",
        "offset": 7,
        "stream_offset": 100,
        "title": "Title",
        "page_id": 12,
        "reason": "xml_error",
        "error": "boom",
    }
    assert (wiki.stream_offset, warc.offset_in_member) == (100, 4)
    with pytest.raises(AttributeError):
        _ = wiki.offset_in_member
    assert pickle.loads(pickle.dumps(wiki)) == wiki  # noqa: S301 (its own bytes, as Beam does)


def test_document_schema_has_the_common_columns_first():
    for source in schema.SOURCE_FIELDS:
        names = schema.document_schema(source).names
        assert names[:5] == ["id", "text", "source", "url", "title"]
        assert len(set(names)) == len(names)
    with pytest.raises(schema.SchemaError, match="no document schema for source 'c5'"):
        schema.document_schema("c5")


def test_a_row_with_a_missing_or_unexpected_field_is_refused():
    s = pa.schema([("id", pa.string()), ("text", pa.string())])
    schema.check_row(s, {"id": "a", "text": None})
    with pytest.raises(schema.SchemaError, match=r"'a': missing fields \['text'\], unexpected"):
        schema.check_row(s, {"id": "a", "txt": "x"})
    with pytest.raises(schema.SchemaError, match=r"unexpected fields \['_line_hashes'\]"):
        schema.check_row(s, {"id": "a", "text": "x", "_line_hashes": b""})
