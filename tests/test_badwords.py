"""C4's bad-words list (filtermodels/badwords.py): checks on hand-made tarballs, a user's list, and
one real download from the npm registry (it fails, never skips, when the registry is away)."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

from core.files import bytes_sha256
from filtermodels import badwords
from filtermodels.badwords import (
    BadWordsError,
    download,
    fetch_badwords,
    load_words,
    tarball_url,
    words_bytes,
    words_from_tarball,
)
from readers.registry import RegistryError


def make_tarball(members: dict[str, bytes], link: str | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if link:
            info = tarfile.TarInfo(link)
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return buf.getvalue()


LIST = ["2 girls 1 cup", "later", "s&m", "🖕"]
EXPECTED = ["2 girls 1 cup", "s&m", "🖕"]


def build(words: list[str] = LIST) -> bytes:
    en_json = json.dumps(words).encode()
    return make_tarball({"package/package.json": b"{}", badwords.MEMBER: en_json})


def test_words_bytes_is_ldnoobws_file_format():
    assert words_bytes(EXPECTED) == "2 girls 1 cup\ns&m\n🖕\n".encode()


def test_words_from_a_tarball_without_the_later_entry():
    data = build()
    result_sha256 = bytes_sha256(words_bytes(EXPECTED))
    assert words_from_tarball(data, bytes_sha256(data), result_sha256, (1, "later")) == EXPECTED


def test_a_different_tarball_is_refused():
    with pytest.raises(BadWordsError, match=r"tarball sha256 \w+, expected 8cf368fa"):
        words_from_tarball(build())


def test_a_different_result_is_refused():
    data = build()
    with pytest.raises(BadWordsError, match="word list sha256"):
        words_from_tarball(data, bytes_sha256(data), "0" * 64, (1, "later"))


def test_the_later_entry_must_be_where_it_is_expected():
    data = build()
    with pytest.raises(BadWordsError, match="entry 2 is not 'later'"):
        words_from_tarball(data, bytes_sha256(data), "0" * 64, (2, "later"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (make_tarball({"package/other.json": b"[]"}), "no package/en.json"),
        (make_tarball({}, link=badwords.MEMBER), "not a regular file"),
        (make_tarball({badwords.MEMBER: b'{"a": 1}'}), "not a list of strings"),
    ],
)
def test_malformed_tarballs_are_refused(data, message):
    with pytest.raises(BadWordsError, match=message):
        words_from_tarball(data, bytes_sha256(data), "0" * 64, (0, "x"))


def test_load_words_from_a_users_file(tmp_path):
    path = tmp_path / "words.txt"
    path.write_bytes("  spam \r\n\n\nbad word\n🖕\n\n".encode())
    assert load_words(path) == ["spam", "bad word", "🖕"]
    path.write_text("\n \n")
    with pytest.raises(BadWordsError, match="no words"):
        load_words(path)


def test_tarball_url_follows_the_npm_registry_setting(monkeypatch):
    monkeypatch.delenv("NPM_CONFIG_REGISTRY", raising=False)
    assert tarball_url() == "https://registry.npmjs.org/naughty-words/-/naughty-words-1.1.0.tgz"
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", "https://npm.example.org/repo/")
    assert tarball_url() == "https://npm.example.org/repo/naughty-words/-/naughty-words-1.1.0.tgz"
    assert tarball_url("http://mirror") == "http://mirror/naughty-words/-/naughty-words-1.1.0.tgz"


def test_download_is_bounded(web_root):
    root, url = web_root
    (root / "big.tgz").write_bytes(b"x" * 100)
    assert download(f"{url}/big.tgz", max_bytes=100) == b"x" * 100
    with pytest.raises(RegistryError, match="more than 99 bytes"):
        download(f"{url}/big.tgz", max_bytes=99)


def test_only_http_urls_are_fetched(tmp_path):
    path = tmp_path / "secret.txt"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="only http:// and https:// URLs are fetched"):
        download(path.as_uri())


def test_real_download_writes_the_list_c4_used_and_its_card(tmp_path, monkeypatch):
    target = fetch_badwords(tmp_path)
    assert target == tmp_path / "badwords" / "en.txt"
    data = target.read_bytes()
    assert bytes_sha256(data) == badwords.WORDS_SHA256
    words = data.decode().split("\n")[:-1]
    assert len(words) == 377 and "fag" not in words and words[:2] == ["2g1c", "2 girls 1 cup"]
    # filters.c4.badwords_pattern joins them unescaped, as TFDS: harmless since none is a regex
    assert "s&m" in words and not any(set(w) & set("\\^$.|?*+()[]{}") for w in words)
    card = json.loads((tmp_path / "badwords" / "en.json").read_text())
    assert card["sha256"] == badwords.WORDS_SHA256 and card["entries"] == 377
    assert "25e679f03d96baa721cde20db9944649e8d0a844" in card["source"]

    def no_network(*_args, **_kwargs):
        raise AssertionError("an intact list is not downloaded again")

    monkeypatch.setattr(badwords, "download", no_network)
    assert fetch_badwords(tmp_path) == target
