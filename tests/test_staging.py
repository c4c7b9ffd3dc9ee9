"""Remote model files as local copies (pipelines.staging), against a gs:// bucket on local disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest
from localbucket import serve_gs

from core import files
from pipelines import staging

MODEL = b"a model's bytes\n" * 1000
DIGEST = hashlib.sha256(MODEL).hexdigest()


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    monkeypatch.setattr(staging, "_copies", {})  # a fresh "process"
    fs = serve_gs(tmp_path / "gcs", monkeypatch)
    (tmp_path / "gcs/bucket/models").mkdir(parents=True)
    (tmp_path / "gcs/bucket/models/en.arpa.bin").write_bytes(MODEL)
    return fs


def test_a_local_path_is_used_as_it_is(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(MODEL)
    assert staging.local_copy(str(path), "not checked", tmp_path / "cache") == str(path)
    assert not (tmp_path / "cache").exists()


def test_a_remote_file_is_copied_once_and_checked(bucket, tmp_path):
    url, cache = "gs://bucket/models/en.arpa.bin", tmp_path / "cache"
    local = staging.local_copy(url, DIGEST, cache)
    assert local.startswith(str(cache)) and local.endswith("en.arpa.bin")
    assert Path(local).read_bytes() == MODEL
    assert staging.local_copy(url, DIGEST, cache) == local
    assert bucket.opened == [url]  # the second call is served from the process's cache
    assert os.listdir(cache) == [os.path.basename(local)]  # no temporary file left

    staging._copies.clear()  # another worker process on the same machine
    assert staging.local_copy(url, DIGEST, cache) == local and bucket.opened == [url]


def test_threads_of_one_process_share_one_copy(bucket, tmp_path):
    url = "gs://bucket/models/en.arpa.bin"
    found: list[str] = []
    threads = [
        threading.Thread(target=lambda: found.append(staging.local_copy(url, DIGEST, tmp_path)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found) == 8 and bucket.opened == [url]


def test_a_sha256_mismatch_is_refused_and_leaves_nothing(bucket, tmp_path):
    wrong = "0" * 64
    with pytest.raises(ValueError, match=r"en\.arpa\.bin: sha256 is [0-9a-f]{64}, but its model"):
        staging.local_copy("gs://bucket/models/en.arpa.bin", wrong, tmp_path / "cache")
    assert os.listdir(tmp_path / "cache") == []


def test_without_a_digest_a_changed_remote_file_is_copied_again(bucket, tmp_path):
    url, cache = "gs://bucket/models/en.arpa.bin", tmp_path / "cache"
    first = staging.local_copy(url, None, cache)
    remote = tmp_path / "gcs/bucket/models/en.arpa.bin"
    remote.write_bytes(MODEL + b"retrained\n")
    staging._copies.clear()
    second = staging.local_copy(url, None, cache)
    assert first != second and Path(second).read_bytes().endswith(b"retrained\n")


def test_publish_uploads_only_what_changed(bucket, tmp_path, monkeypatch):
    local = tmp_path / "lid.176.ftz"
    local.write_bytes(MODEL)
    sent: list[str] = []
    upload = staging.upload

    def counted(src, url):
        sent.append(url)
        upload(src, url)

    monkeypatch.setattr(staging, "upload", counted)
    urls = staging.publish({"lid.176.ftz": local}, "gs://bucket/up")
    assert urls == {"lid.176.ftz": "gs://bucket/up/lid.176.ftz"} and len(sent) == 1
    assert (tmp_path / "gcs/bucket/up/lid.176.ftz").read_bytes() == MODEL
    staging.publish({"lid.176.ftz": local}, "gs://bucket/up")
    assert len(sent) == 1  # unchanged: not sent again
    local.write_bytes(MODEL + b"new\n")
    staging.publish({"lid.176.ftz": local}, "gs://bucket/up")
    assert len(sent) == 2 and (tmp_path / "gcs/bucket/up/lid.176.ftz").read_bytes().endswith(
        b"new\n"
    )
    assert not [p for p in os.listdir(tmp_path / "gcs/bucket/up") if p.startswith(".tmp-")]


def test_paths_and_cards():
    assert files.is_remote("gs://b/m") and not files.is_remote("/models/lm")
    assert files.join("gs://b/m/", "lm/en.json") == "gs://b/m/lm/en.json"
    assert staging.with_suffix("gs://b/m/wikiref.npz", ".json") == "gs://b/m/wikiref.json"
    assert staging.with_suffix("models/wikiref.npz", ".json") == "models/wikiref.json"
