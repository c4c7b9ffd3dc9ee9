"""Every fuzz target of fuzzing.targets for a few hundred derandomized examples (so a failure here
reproduces), then the inputs fuzzing crashed a reader on, kept as exact regression cases, and
the refusals of hostile archives and documents that no other test file covered."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from filters.html import html_to_text
from fuzzing.targets import TARGETS
from mixtures.mixture import MixtureError, load_mixture
from readers.arxiv import read_paper
from readers.books import read_books_jsonl
from readers.c4 import read_published
from readers.github import read_bigquery
from readers.jsonl import read_jsonl
from readers.wikidump import read_pages, read_siteinfo
from tokenizer.shards import TokenShard, TokenShardError, shard_bytes

EXAMPLES = 300


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_fuzz_target(name, sample):
    target = TARGETS[name]

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=timedelta(seconds=10),
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def run(case):
        target.check(case)

    run()


# ---- crashes fuzzing found, as exact inputs ----------------------------------------------------

DEEP = b"[" * 100_000  # json.loads raised RecursionError, not ValueError


def test_deeply_nested_json_line_is_bad_json(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_bytes(DEEP + b'\n{"a": 1}\n')
    [dead, (number, row)] = read_jsonl(str(path))
    assert (dead.reason, dead.line, dead.error) == (
        "bad_json",
        1,
        "JSON nested too deeply to parse",
    )
    assert (number, row) == (2, {"a": 1})


def test_deeply_nested_json_line_in_books_and_github(tmp_path):
    path = tmp_path / "pg19-00000.jsonl"
    path.write_bytes(DEEP + b"\n")
    [dead] = read_books_jsonl(str(path), "pg19")
    assert (dead.reason, dead.document, dead.line) == ("bad_json", False, 1)
    [dead] = read_bigquery(str(path))
    assert (dead.reason, dead.document, dead.offset) == ("bad_json", False, 0)


def test_c4_timestamp_of_the_wrong_type_is_a_bad_record(tmp_path):
    path = tmp_path / "c4-train.00000-of-01024.json"
    rows = [{"text": "a", "url": "u", "timestamp": 5}, {"text": "b", "url": "v"}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    dead, doc = read_published(str(path))
    assert (dead.reason, dead.line) == ("bad_record", 1)
    assert (doc["id"], doc["text"], doc["timestamp"]) == ("c4/c4-train.00000-of-01024/2", "b", None)


def test_github_content_neither_string_nor_null_is_a_bad_record(tmp_path):
    path = tmp_path / "rows.jsonl"
    rows = [{"repo_name": "a/b", "path": "x.py", "content": c} for c in (5, [1], {"k": "v"})]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got = [(d.reason, d.document, d.offset, d.repo_name, d.path) for d in read_bigquery(str(path))]
    assert got == [("bad_record", False, i, "a/b", "x.py") for i in range(3)]


def test_html_encoding_hint_with_a_nul_is_ignored():
    out = html_to_text(b"<title>T</title><p>caf\xc3\xa9</p>", encoding_hint="\x00")
    assert (out.title, out.text) == ("T", "café")


def test_siteinfo_namespace_without_an_integer_key_is_skipped(tmp_path):
    path = tmp_path / "x.xml"
    path.write_bytes(
        b'<mediawiki xml:lang="en"><siteinfo><dbname>enwiki</dbname><namespaces>'
        b'<namespace key="6">File</namespace><namespace>NoKey</namespace>'
        b'<namespace key="x">Bad</namespace></namespaces></siteinfo><page>'
    )
    site = read_siteinfo(str(path))
    assert (site.language, site.namespaces) == ("en", {6: "File"})


def test_page_over_the_bound_is_too_large_even_when_read_in_one_chunk(tmp_path):
    """A page of 65 KB under a 64 KiB bound was parsed whole when no chunk boundary fell in it."""
    text = b"a" * (65 << 10)
    path = tmp_path / "enwiki-x-pages-articles.xml"
    page = b"<page><title>Big</title><id>7</id><revision><text>%s</text></revision></page>"
    path.write_bytes(b'<mediawiki xml:lang="en">' + page % text + page % b"b" + b"</mediawiki>")
    big, small = read_pages(str(path), max_page_bytes=64 << 10)
    assert (big.reason, big.document, big.title, big.page_id) == ("too_large", True, "Big", 7)
    assert small.text == "b"


@pytest.mark.parametrize("position", [480, 483, 484])
def test_damaged_id_offsets_are_a_shard_error_not_an_abort(tmp_path, position):
    """Byte 480 of this shard is in its id column's offsets: pyarrow aborted the process (480),
    segfaulted (483) or raised UnicodeDecodeError (484) reading the ids; now the shard is refused
    when it is opened."""
    raw = bytearray(
        shard_bytes(["ab", "cd"], [np.array([1, 2], np.uint16), np.array([3], np.uint16)])
    )
    raw[position] = 0xFF
    path = tmp_path / "part-00000-of-00001.arrow"
    path.write_bytes(raw)
    with pytest.raises(TokenShardError, match="not a readable token shard"):
        TokenShard(path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("sources:\n  c4: {weight: 1" + "0" * 400 + "}\n", "c4.weight must be a number"),
        ("sources: " + "[" * 5000, "not valid YAML"),
        ("name: \xff\n", "not valid YAML"),
    ],
)
def test_mixture_errors_found_by_fuzzing(tmp_path, text, message):
    path = tmp_path / "mix.yaml"
    path.write_bytes(text.encode("latin-1") if "\xff" in text else text.encode())
    with pytest.raises(MixtureError, match=message):
        load_mixture(path)


# ---- hostile inputs: bombs and path traversal --------------------------------------------------


def test_mixture_billion_laughs_is_refused_before_expansion(tmp_path):
    """Nine lists of nine aliases: 300 bytes that str() made into 9**8 items (gigabytes)."""
    anchors = ["&a0 [x, x, x, x, x, x, x, x, x]"]
    anchors += [f"&a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text(f"description: [{', '.join(anchors)}]\nsources: {{c4: {{weight: 1}}}}\n")
    with pytest.raises(MixtureError, match="aliases"):
        load_mixture(path)


def test_mixture_file_over_the_bound_is_not_parsed(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# " + b"x" * (1 << 20) + b"\nsources: {c4: {weight: 1}}\n")
    with pytest.raises(MixtureError, match="not a mixture file"):
        load_mixture(path)


def _paper(name: str, fmt: int, pax_path: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as out:
        info = tarfile.TarInfo(name)
        if pax_path is not None:
            info.pax_headers = {"path": pax_path}
        info.size = 1
        out.addfile(info, io.BytesIO(b"x"))
    return gzip.compress(buffer.getvalue(), mtime=0)


@pytest.mark.parametrize(
    "data, member",
    [
        (
            _paper("main.tex", tarfile.PAX_FORMAT, "../../etc/cron.d/x.tex"),
            "../../etc/cron.d/x.tex",
        ),
        (_paper("a/" * 60 + "../" * 61 + "x.tex", tarfile.GNU_FORMAT), None),  # GNU long name
        (_paper("..\\..\\x.tex", tarfile.GNU_FORMAT), "..\\..\\x.tex"),
        (_paper("C:/Windows/x.tex", tarfile.GNU_FORMAT), "C:/Windows/x.tex"),
        (_paper("a/../../x.tex", tarfile.USTAR_FORMAT), "a/../../x.tex"),
    ],
)
def test_paper_tar_path_traversal_in_every_tar_format_is_refused(data, member):
    dead = read_paper(io.BytesIO(data), "2301.00001.gz", "x.tar")
    assert (dead.reason, dead.document, dead.arxiv_id) == ("unsafe_path", True, "2301.00001")
    if member is not None:
        assert dead.error == f"member {member!r}"
