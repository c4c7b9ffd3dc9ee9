"""The Posts.xml reader on files built here (plain, .7z, hostile) and the question document."""

from __future__ import annotations

from pathlib import Path

import py7zr

from core.deadletter import DeadLetter
from readers.stackexchange import Post, question_document, read_posts, site_name

HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
ROWS = (
    b'  <row Id="1" PostTypeId="1" AcceptedAnswerId="3" CreationDate="2010-07-09T19:19:03.353"'
    b' Score="5" ViewCount="120" Body="&lt;p&gt;How do I boil an egg &amp;amp; peel it?&lt;/p&gt;"'
    b' OwnerUserId="7" Title="Boiling eggs" Tags="&lt;eggs&gt;&lt;boiling&gt;" AnswerCount="2"'
    b' CommentCount="0" ContentLicense="CC BY-SA 2.5" />\n'
    b'  <row Id="2" PostTypeId="2" ParentId="1" CreationDate="2010-07-09T19:20:00.000" Score="-1"'
    b' Body="&lt;p&gt;Microwave.&lt;/p&gt;" OwnerUserId="8" CommentCount="1"'
    b' ContentLicense="CC BY-SA 2.5" />\n'
    b'  <row Id="3" PostTypeId="2" ParentId="1" CreationDate="2010-07-09T19:21:00.000" Score="9"'
    b' Body="&lt;p&gt;Ten minutes.&lt;/p&gt;" ContentLicense="CC BY-SA 2.5" />\n'
    b'  <row Id="4" PostTypeId="5" CreationDate="2010-07-09T19:22:00.000" Score="0" Body=""'
    b' ContentLicense="CC BY-SA 2.5" />\n'
)
TAIL = b"</posts>\n"


def _write(tmp_path: Path, data: bytes, name: str = "Posts.xml") -> str:
    site = tmp_path / "cooking.stackexchange.com"
    site.mkdir(exist_ok=True)
    (site / name).write_bytes(data)
    return str(site / name)


def _ids(records: list) -> list[int | str]:
    return [r.id if isinstance(r, Post) else r.reason for r in records]


def test_rows_become_posts_of_every_type(tmp_path: Path) -> None:
    records = list(read_posts(_write(tmp_path, HEAD + ROWS + TAIL)))
    assert _ids(records) == [1, 2, 3, 4]
    assert records[0] == Post(
        id=1,
        post_type=1,
        parent_id=None,
        accepted_answer_id=3,
        score=5,
        title="Boiling eggs",
        body="<p>How do I boil an egg &amp; peel it?</p>",
        creation_date="2010-07-09T19:19:03.353",
        tags=("eggs", "boiling"),
        site="cooking.stackexchange.com",
    )
    assert (records[1].parent_id, records[1].score, records[3].post_type) == (1, -1, 5)


def test_site_names() -> None:
    assert site_name("/d/cooking.stackexchange.com.7z") == "cooking.stackexchange.com"
    assert site_name("gs://b/stackoverflow.com-Posts.7z") == "stackoverflow.com"
    assert site_name("/d/math.stackexchange.com/Posts.xml") == "math.stackexchange.com"


def test_new_tag_spelling(tmp_path: Path) -> None:
    row = b'  <row Id="9" PostTypeId="1" Score="1" Title="t" Body="" Tags="|c++|lambda|" />\n'
    [post] = read_posts(_write(tmp_path, HEAD + row + TAIL), site="so")
    assert (post.tags, post.site) == (("c++", "lambda"), "so")


def test_non_integer_score_is_a_dead_letter_and_reading_goes_on(tmp_path: Path) -> None:
    bad = b'  <row Id="10" PostTypeId="2" ParentId="1" Score="lots" Body="x" />\n'
    records = list(read_posts(_write(tmp_path, HEAD + ROWS[:0] + bad + ROWS + TAIL)))
    assert _ids(records) == ["bad_row", 1, 2, 3, 4]
    dead = records[0]
    assert (dead.document, dead.offset, dead.post_id) == (True, 3, "10")
    assert dead.error == "Score='lots' is not an integer"


def test_truncated_file_keeps_the_posts_before_the_break(tmp_path: Path) -> None:
    data = HEAD + ROWS
    cut = data[: data.index(b'<row Id="3"') + 40]
    records = list(read_posts(_write(tmp_path, cut)))
    assert _ids(records) == [1, 2, "truncated"]
    assert records[-1].document is False


def test_xml_bomb_is_refused_not_expanded(tmp_path: Path) -> None:
    entities = [b'<!ENTITY e0 "lollollollollollollollollollol">']
    for i in range(1, 10):
        entities.append(b'<!ENTITY e%d "%s">' % (i, b"&e%d;" % (i - 1) * 10))
    doctype = b"<!DOCTYPE posts [" + b"".join(entities) + b"]>\n"
    row = b'  <row Id="1" PostTypeId="1" Score="1" Title="t" Body="&e9;" />\n'
    data = b'<?xml version="1.0"?>\n' + doctype + b"<posts>\n" + row + TAIL
    [dead] = read_posts(_write(tmp_path, data))
    assert isinstance(dead, DeadLetter)
    assert (dead.reason, dead.document) == ("dtd_refused", False)


def test_external_entity_is_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    doctype = b'<!DOCTYPE posts [<!ENTITY x SYSTEM "file://%s">]>\n' % str(secret).encode()
    row = b'  <row Id="1" PostTypeId="1" Score="1" Title="t" Body="&x;" />\n'
    records = list(
        read_posts(_write(tmp_path, b'<?xml version="1.0"?>\n' + doctype + HEAD[22:] + row + TAIL))
    )
    assert _ids(records) == ["dtd_refused"]
    assert "SECRET" not in repr(records)


def test_undeclared_entity_is_an_xml_error(tmp_path: Path) -> None:
    row = b'  <row Id="5" PostTypeId="1" Score="1" Title="t" Body="&x;" />\n'
    records = list(read_posts(_write(tmp_path, HEAD + ROWS + row + TAIL)))
    assert _ids(records) == [1, 2, 3, 4, "xml_error"]


def _archive(path: Path, data: bytes) -> str:
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(data, "Posts.xml")
    return str(path)


def test_7z_archive(tmp_path: Path) -> None:
    path = _archive(tmp_path / "cooking.stackexchange.com.7z", HEAD + ROWS + TAIL)
    records = list(read_posts(path))
    assert _ids(records) == [1, 2, 3, 4]
    assert records[0].site == "cooking.stackexchange.com"


def test_7z_stopped_early_and_bounded(tmp_path: Path) -> None:
    many = b"".join(
        b'  <row Id="%d" PostTypeId="1" Score="0" Title="t" Body="%s" />\n' % (i, b"x" * 500)
        for i in range(1, 3001)
    )
    path = _archive(tmp_path / "big.stackexchange.com.7z", HEAD + many + TAIL)
    reader = read_posts(path)
    assert next(reader).id == 1
    reader.close()  # the decompressing thread stops
    [dead] = read_posts(path, max_bytes=100_000)
    assert (dead.reason, dead.document) == ("too_large", False)


def test_truncated_7z_is_a_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "cooking.stackexchange.com.7z"
    data = Path(_archive(path, HEAD + ROWS + TAIL)).read_bytes()
    path.write_bytes(data[: len(data) // 2])
    [dead] = read_posts(str(path))
    assert (dead.reason, dead.document) == ("corrupt_input", False)


def test_7z_without_posts_xml(tmp_path: Path) -> None:
    path = tmp_path / "cooking.stackexchange.com.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(b"<users/>", "Users.xml")
    [dead] = read_posts(str(path))
    assert (dead.reason, dead.error) == ("corrupt_input", "ValueError: no Posts.xml in the archive")


def _post(id: int, score: int, body: str, post_type: int = 2) -> Post:
    return Post(
        id, post_type, 1 if post_type == 2 else None, None, score, "", body, "", (), "s.com"
    )


def test_question_document_sorts_scores_numerically() -> None:
    question = Post(1, 1, None, 12, 3, "Sort a list?", "<p>How &amp; why?</p>", "", (), "s.com")
    answers = [
        _post(10, 9, "<p>nine</p>"),
        _post(11, 42, "<p>forty-two</p>"),
        _post(12, -3, "<p>minus three</p>"),
        _post(13, 10, "<p>ten</p>"),
        _post(9, 9, "<p>nine, older</p>"),
    ]
    assert question_document(question, answers) == {
        "id": "stackexchange/s.com/1",
        "text": "Q: Sort a list? How & why?\nA: forty-two\nA: ten\nA: nine, older\nA: nine\n"
        "A: minus three",
        "source": "stackexchange",
        "title": "Sort a list?",
        "url": "https://s.com/questions/1",
        "site": "s.com",
        "question_id": 1,
        "question_score": 3,
        "answer_scores": [42, 10, 9, 9, -3],
        "accepted_answer_id": 12,
    }


def test_question_without_answers() -> None:
    question = Post(7, 1, None, None, -2, "Why?", "<p>Just why.</p>", "", (), "s.com")
    doc = question_document(question, [])
    assert (doc["text"], doc["answer_scores"], doc["question_score"]) == (
        "Q: Why? Just why.",
        [],
        -2,
    )
