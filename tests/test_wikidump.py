"""The dump reader: headers, multistream ranges, and bad input turned into dead letters."""

from __future__ import annotations

import bz2
import gzip
from collections import Counter
from pathlib import Path

import pytest
from conftest import dump_xml, page_xml, write_bz2

from converters.multistream import split_dump, write_multistream
from core.deadletter import DeadLetter
from readers.wikidump import RawPage, read_pages, read_siteinfo, stream_offsets, work_ranges


def _all_pages(path: str, **kw) -> list[RawPage | DeadLetter]:
    return [
        p for start, end in work_ranges(str(path)) for p in read_pages(str(path), start, end, **kw)
    ]


def _pages(n: int, start_id: int = 1) -> list[str]:
    return [page_xml(i, f"Page {i}", f"Text of page {i}.") for i in range(start_id, start_id + n)]


def test_siteinfo_of_the_real_english_and_bulgarian_samples(sample):
    en = read_siteinfo(str(sample / "wikipedia/enwiki-sample-pages-articles.xml.bz2"))
    assert (en.dbname, en.language, en.base) == (
        "enwiki",
        "en",
        "https://en.wikipedia.org/wiki/Main_Page",
    )
    assert (en.namespaces[6], en.namespaces[14], en.dtd) == ("File", "Category", False)
    bg = read_siteinfo(str(sample / "wikipedia/bgwiki-sample-pages-articles.xml.bz2"))
    assert (bg.language, bg.namespaces[6], bg.namespaces[14]) == ("bg", "Файл", "Категория")


def test_real_sample_single_and_multistream_give_the_same_pages(sample):
    single = _all_pages(sample / "wikipedia/enwiki-sample-pages-articles.xml.bz2")
    multi = _all_pages(sample / "wikipedia/enwiki-sample-pages-articles-multistream.xml.bz2")
    assert len(single) == 206
    kinds = Counter("redirect" if p.redirect else f"ns{p.ns}" for p in single)
    assert kinds == {"ns0": 106, "redirect": 100}
    key = [(p.page_id, p.title, p.text, p.timestamp) for p in single]
    assert key == [(p.page_id, p.title, p.text, p.timestamp) for p in multi]
    anarchism = next(p for p in single if p.title == "Anarchism")
    assert anarchism.page_id == 12 and anarchism.text.startswith("{{Redirect2|Anarchist|Anarchists")


def test_multistream_index_lists_streams_of_100_pages(sample):
    dump = sample / "wikipedia/enwiki-sample-pages-articles-multistream.xml.bz2"
    index = str(dump).replace(".xml.bz2", "-index.txt.bz2")
    lines = bz2.decompress(Path(index).read_bytes()).decode().splitlines()
    assert len(lines) == 206
    offsets = stream_offsets(index)
    assert len(offsets) == 3 and offsets[0] > 0  # stream 0 is the <siteinfo> header
    assert [int(line.split(":")[0]) for line in lines].count(offsets[1]) == 100
    assert lines[1].split(":", 2)[1:] == ["12", "Anarchism"]
    assert work_ranges(str(dump)) == [
        (offsets[0], offsets[1]),
        (offsets[1], offsets[2]),
        (offsets[2], None),
    ]
    assert work_ranges(str(dump), streams_per_range=2) == [
        (offsets[0], offsets[2]),
        (offsets[2], None),
    ]


def test_index_titles_are_unescaped(tmp_path):
    xml = dump_xml([page_xml(7, "AT&T <Inc>", "x")])
    write_multistream(xml, str(tmp_path / "x-multistream.xml.bz2"), str(tmp_path / "i.bz2"))
    assert (
        bz2.decompress((tmp_path / "i.bz2").read_bytes()).decode().split(":", 2)[2]
        == "AT&T <Inc>\n"
    )


def test_split_dump_roundtrips():
    xml = dump_xml(_pages(3))
    header, pages, footer = split_dump(xml)
    assert header + b"".join(pages) + footer == xml
    assert len(pages) == 3 and footer == b"</mediawiki>\n"


def test_plain_and_gzip_dumps(tmp_path):
    xml = dump_xml(_pages(3))
    (tmp_path / "a.xml").write_bytes(xml)
    (tmp_path / "b.xml.gz").write_bytes(gzip.compress(xml))
    for name in ("a.xml", "b.xml.gz"):
        assert [p.page_id for p in _all_pages(tmp_path / name)] == [1, 2, 3]


def test_header_without_siteinfo_uses_xml_lang(sample):
    site = read_siteinfo(str(sample / "wikipedia/enwiki-tables-sample-pages-articles.xml.bz2"))
    assert (site.language, site.dbname, site.namespaces) == ("en", "enwiki", {})


def test_page_fields(tmp_path):
    foo = page_xml(5, "Foo", "[[Bar]] &amp; <b>", ns=0)
    red = page_xml(6, "R", "#REDIRECT [[Foo]]", redirect="Foo")
    xml = dump_xml([foo, red, page_xml(7, "Talk:Foo", "hi", ns=1)])
    foo, red, talk = _all_pages(write_bz2(tmp_path / "d.xml.bz2", xml))
    assert (foo.page_id, foo.title, foo.ns, foo.redirect, foo.revision_id) == (
        5,
        "Foo",
        0,
        False,
        50,
    )
    assert foo.text == "[[Bar]] &amp; <b>"  # the XML escapes are undone exactly once
    assert foo.timestamp.isoformat() == "2022-07-01T12:00:00+00:00"
    assert red.redirect and talk.ns == 1


def test_truncated_bz2_keeps_pages_before_and_dead_letters_the_rest(tmp_path):
    data = bz2.compress(dump_xml(_pages(2000)), 1)  # 100 kB blocks: several in the file
    path = tmp_path / "t.xml.bz2"
    path.write_bytes(data[: len(data) // 2])
    out = _all_pages(path)
    pages = [p for p in out if isinstance(p, RawPage)]
    dead = [p for p in out if isinstance(p, DeadLetter)]
    assert 0 < len(pages) < 2000
    assert [p.page_id for p in pages] == list(range(1, len(pages) + 1))
    assert len(dead) == 1 and dead[0].reason == "corrupt_input"
    assert "truncated" in dead[0].error and dead[0].file == str(path)


def test_truncated_multistream_loses_only_the_broken_stream(tmp_path):
    xml = dump_xml(_pages(250))
    dump, index = tmp_path / "x-multistream.xml.bz2", tmp_path / "x-multistream-index.txt.bz2"
    write_multistream(xml, str(dump), str(index), pages_per_stream=100)
    offsets = stream_offsets(str(index))
    dump.write_bytes(dump.read_bytes()[: offsets[2] + 50])  # the third stream is cut short
    out = _all_pages(dump)
    assert [p.page_id for p in out if isinstance(p, RawPage)] == list(range(1, 201))
    (dead,) = [p for p in out if isinstance(p, DeadLetter)]
    assert (dead.reason, dead.stream_offset) == ("corrupt_input", offsets[2])


def test_entity_bomb_and_external_entity_are_never_expanded(tmp_path):
    lol = "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    prolog = (
        f'<?xml version="1.0"?>\n<!DOCTYPE mediawiki [<!ENTITY lol0 "lol">{lol}'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    )
    pages = [
        page_xml(1, "Good", "fine"),
        page_xml(2, "Bomb", "BOMB"),
        page_xml(3, "Xxe", "XXE"),
        page_xml(4, "Good too", "fine"),
    ]
    xml = dump_xml(pages, prolog=prolog).replace(b"BOMB", b"&lol9;").replace(b"XXE", b"&xxe;")
    path = write_bz2(tmp_path / "bomb.xml.bz2", xml)
    assert read_siteinfo(str(path)).dtd
    out = _all_pages(path)
    assert [(type(p).__name__, p.page_id) for p in out] == [
        ("RawPage", 1),
        ("DeadLetter", 2),
        ("DeadLetter", 3),
        ("RawPage", 4),
    ]
    assert {p.reason for p in out if isinstance(p, DeadLetter)} == {"xml_error"}
    assert all("lol" not in p.text and "root:" not in p.text for p in out if isinstance(p, RawPage))


def test_invalid_utf8_page_is_a_dead_letter(tmp_path):
    xml = dump_xml(_pages(3)).replace(b"Text of page 2.", b"Text \xff\xfe of page 2.")
    out = _all_pages(write_bz2(tmp_path / "u.xml.bz2", xml))
    assert [type(p).__name__ for p in out] == ["RawPage", "DeadLetter", "RawPage"]
    assert (out[1].reason, out[1].title, out[1].page_id) == ("invalid_utf8", "Page 2", 2)
    assert out[1].offset == xml.index(b"<page>", xml.index(b"</page>"))


def test_ten_megabyte_page_is_a_dead_letter_with_bounded_memory(tmp_path):
    huge = "x" * (10 << 20)
    xml = dump_xml([page_xml(1, "A", "a"), page_xml(2, "Huge", huge), page_xml(3, "C", "c")])
    out = _all_pages(write_bz2(tmp_path / "h.xml.bz2", xml))
    assert [type(p).__name__ for p in out] == ["RawPage", "DeadLetter", "RawPage"]
    assert (out[1].reason, out[1].title, out[1].page_id) == ("too_large", "Huge", 2)
    # A larger limit reads it.
    out = _all_pages(tmp_path / "h.xml.bz2", max_page_bytes=16 << 20)
    assert [len(p.text) for p in out] == [1, 10 << 20, 1]


def test_dump_ending_inside_a_page(tmp_path):
    xml = dump_xml(_pages(2))
    cut = xml[: xml.rindex(b"<text")]
    out = _all_pages(write_bz2(tmp_path / "c.xml.bz2", cut))
    assert [type(p).__name__ for p in out] == ["RawPage", "DeadLetter"]
    assert (out[1].reason, out[1].document) == ("truncated", True)


@pytest.mark.parametrize("content", [b"", bz2.compress(b""), bz2.compress(b"not xml at all")])
def test_empty_or_foreign_files_have_no_header(tmp_path, content):
    path = tmp_path / "empty.xml.bz2"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="no <mediawiki> header"):
        read_siteinfo(str(path))
    assert _all_pages(path) == []


def test_markers_split_across_chunks(tmp_path, monkeypatch):
    import readers.wikidump as wikidump

    monkeypatch.setattr(wikidump, "CHUNK", 7)  # every marker straddles chunk boundaries
    xml = dump_xml(_pages(5))
    assert [p.page_id for p in _all_pages(write_bz2(tmp_path / "s.xml.bz2", xml))] == [
        1,
        2,
        3,
        4,
        5,
    ]
