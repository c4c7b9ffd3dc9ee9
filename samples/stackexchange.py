"""The StackExchange part of the bundled sample: Posts.xml files made from the Python FAQ.

No StackExchange dump is in a package registry, but Debian's python3.11-doc (already fetched for
the CommonCrawl part) holds the Python FAQ: real questions with real answers. Each FAQ page
becomes a "site" (`python-faq-<page>.stackexchange.com`, not a real host), each of its questions a
question row (Title: the question, Body: the question as a paragraph) and its answer one to three
answer rows (the answer's blocks split in order), bodies rewritten into the HTML StackExchange
stores (`<p>`, `<pre><code>`, `<code>`, `<ul>/<ol><li>`, `<blockquote>`, `<a href>`).

Rows carry every attribute of the real dump's schema that applies to their type. What the pipeline
must meet is there on purpose: negative scores, the scores 9, 42 and 10 on the answers of one
question (string order 9 > 42 > 10), questions without answers, answers whose question row is
missing, code blocks and nested lists. Scores and dates follow fixed rules, so the same .deb
gives the same bytes. Two sites are written as `<site>/Posts.xml`, one as `<site>.7z`.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from xml.sax.saxutils import quoteattr

import lxml.html
import py7zr
from lxml import etree
from py7zr.helpers import ArchiveTimestamp

from core.files import bytes_sha256, write_atomically
from samples.webpages import PYTHON_DOC, PYTHON_DOC_ROOT, PYTHON_DOC_URL, deb_files, fetch_deb

log = logging.getLogger("stackexchangesample")

# (FAQ page, written as a .7z archive)
PAGES = (("programming.html", False), ("library.html", False), ("design.html", True))
FAQ = "faq/"
LICENSE = "CC BY-SA 4.0"
SCORES = (3, 0, -2, 15, 1, 7, -1, 4, 2, 11, 0, 5)  # cycled over the posts by id
FIRST_DATE = 1_262_304_000  # 2010-01-01T00:00:00Z; post n is created n hours later
NO_ANSWERS_EVERY, MISSING_QUESTION_EVERY = 7, 11  # question k (1-based) of a site
ARCHIVE_TIME = ArchiveTimestamp.from_datetime(FIRST_DATE)
_ESCAPE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
# the dump's attribute spelling: double quotes, `&quot;`, newlines as `&#xA;`
_ATTRIBUTE = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\n": "&#xA;"})


@dataclass(frozen=True, slots=True)
class Question:
    title: str
    blocks: tuple[str, ...]  # the answer, block by block, as StackExchange HTML
    tags: tuple[str, ...]


def site_of(page: str) -> str:
    return f"python-faq-{page.removesuffix('.html')}.stackexchange.com"


# ---- Sphinx HTML -> StackExchange HTML ---------------------------------------------------------


def _inline(element: etree._Element) -> str:
    """An element's text and inline markup: code, links, emphasis; other tags their text."""
    parts = [(element.text or "").translate(_ESCAPE)]
    for child in element:
        inner = _inline(child)
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "code":
            parts.append(f"<code>{child.text_content().translate(_ESCAPE)}</code>")
        elif tag == "a" and child.get("href", "").startswith("http"):
            parts.append(f"<a href={quoteattr(child.get('href'))}>{inner}</a>")
        elif tag in ("em", "strong"):
            parts.append(f"<{tag}>{inner}</{tag}>")
        else:
            parts.append(inner)
        parts.append((child.tail or "").translate(_ESCAPE))
    return " ".join("".join(parts).split(" ")).strip()


def blocks(element: etree._Element) -> list[str]:
    """The block children of a Sphinx element, as StackExchange HTML blocks."""
    out: list[str] = []
    for child in element:
        tag, classes = child.tag, child.get("class", "")
        if tag == "p":
            out.append(f"<p>{_inline(child)}</p>")
        elif tag == "div" and classes.startswith("highlight"):
            code = "".join(child.xpath(".//pre")[0].itertext()).translate(_ESCAPE)
            out.append(f"<pre><code>{code}</code></pre>")
        elif tag == "pre":
            out.append(f"<pre><code>{child.text_content().translate(_ESCAPE)}</code></pre>")
        elif tag in ("ul", "ol"):
            items = "".join(f"<li>{_item(li)}</li>\n" for li in child.findall("li"))
            out.append(f"<{tag}>\n{items}</{tag}>")
        elif tag == "blockquote" or tag == "div":
            inner = "\n\n".join(blocks(child))
            if inner:
                out.append(
                    f"<blockquote>\n{inner}\n</blockquote>" if tag == "blockquote" else inner
                )
        elif tag == "dl":
            for part in child:
                out.append(f"<p>{_inline(part)}</p>" if part.tag == "dt" else "")
                out.extend(blocks(part) if part.tag == "dd" else [])
    return [block for block in out if block]


def _item(li: etree._Element) -> str:
    inner = blocks(li)
    if not inner:
        return _inline(li)
    if len(inner) == 1 and inner[0].startswith("<p>"):  # a tight list: `<li>text</li>`
        return inner[0][3:-4]
    return "\n".join(inner)


def questions(html: bytes) -> list[Question]:
    """The FAQ's questions: sections without subsections, headed by their question."""
    tree = lxml.html.document_fromstring(html)
    found = []
    for section in tree.xpath("//section[not(.//section)]"):
        heading = section[0] if len(section) else None
        if heading is None or heading.tag not in ("h2", "h3", "h4"):
            continue
        for link in heading.xpath(".//a[@class='headerlink']"):
            link.drop_tree()
        title = " ".join(heading.text_content().split())
        parent = section.getparent()
        group = parent[0].text_content() if parent is not None and len(parent) else ""
        tag = "-".join(" ".join(group.split()).rstrip("¶").lower().split()[:2])
        body = tuple(blocks(section))
        if title and body:
            found.append(Question(title, body, ("python", tag) if tag else ("python",)))
    return found


# ---- rows ----------------------------------------------------------------------------------------


def _date(post_id: int) -> str:
    return datetime.fromtimestamp(FIRST_DATE + 3600 * post_id, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.000"
    )


def _row(attributes: dict[str, str | int]) -> str:
    return (
        "  <row "
        + " ".join(f'{k}="{str(v).translate(_ATTRIBUTE)}"' for k, v in attributes.items())
        + " />\n"
    )


def _split(body: tuple[str, ...], k: int) -> list[str]:
    """The answer in `k` consecutive parts (fewer if it has fewer blocks)."""
    k = max(1, min(k, len(body)))
    size = -(-len(body) // k)
    return ["\n\n".join(body[i : i + size]) for i in range(0, len(body), size)]


def posts_xml(found: list[Question]) -> tuple[bytes, dict]:
    """A site's Posts.xml and what is in it."""
    rows: list[str] = []
    counts = {"questions": 0, "answers": 0, "unanswered": 0, "orphan_answers": 0}
    post_id, forced = 0, False
    for k, question in enumerate(found, 1):
        post_id += 1
        qid = post_id
        parts = [] if k % NO_ANSWERS_EVERY == 0 else _split(question.blocks, 1 + k % 3)
        scores = [SCORES[(qid + j) % len(SCORES)] for j in range(len(parts))]
        if len(parts) == 3 and not forced:  # numeric order differs from string order
            scores, forced = [9, 42, 10], True
        answer_ids = list(range(qid + 1, qid + 1 + len(parts)))
        post_id += len(parts)
        accepted = answer_ids[scores.index(max(scores))] if parts and k % 2 else None
        question_row = {
            "Id": qid,
            "PostTypeId": 1,
            **({"AcceptedAnswerId": accepted} if accepted else {}),
            "CreationDate": _date(qid),
            "Score": SCORES[qid % len(SCORES)] - (k % 5 == 0) * 6,
            "ViewCount": 100 + 37 * qid,
            "Body": f"<p>{question.title.translate(_ESCAPE)}</p>\n",
            **({"OwnerUserId": 1000 + k % 13} if k % 9 else {"OwnerDisplayName": "anonymous"}),
            **(
                {"LastEditorUserId": 1000 + k % 5, "LastEditDate": _date(qid + 50)}
                if k % 4 == 1
                else {}
            ),
            **({"LastEditorDisplayName": "editor"} if k % 8 == 3 else {}),
            "LastActivityDate": _date(post_id + 1),
            "Title": question.title,
            "Tags": "".join(f"<{t}>" for t in question.tags),
            "AnswerCount": len(parts),
            "CommentCount": k % 4,
            **({"FavoriteCount": k % 6} if k % 3 == 0 else {}),
            **({"ClosedDate": _date(post_id + 2)} if k % 10 == 4 else {}),
            **({"CommunityOwnedDate": _date(qid + 1)} if k % 12 == 6 else {}),
            "ContentLicense": LICENSE,
        }
        if k % MISSING_QUESTION_EVERY:
            rows.append(_row(question_row))
            counts["questions"] += 1
            counts["unanswered"] += not parts
        else:
            counts["orphan_answers"] += len(parts)
        for answer_id, score, part in zip(answer_ids, scores, parts, strict=True):
            rows.append(
                _row(
                    {
                        "Id": answer_id,
                        "PostTypeId": 2,
                        "ParentId": qid,
                        "CreationDate": _date(answer_id),
                        "Score": score,
                        "Body": part + "\n",
                        "OwnerUserId": 2000 + answer_id % 17,
                        "LastActivityDate": _date(answer_id + 1),
                        "CommentCount": answer_id % 3,
                        "ContentLicense": LICENSE,
                    }
                )
            )
            counts["answers"] += 1
    xml = '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "".join(rows) + "</posts>\n"
    return xml.encode("utf-8"), counts


def seven_zip(posts: bytes) -> bytes:
    """A .7z holding Posts.xml, with fixed timestamps (py7zr stamps `writestr` with now)."""
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, mode="w") as archive:
        archive.writestr(posts, "Posts.xml")
        for info in archive.header.files_info.files:
            for stamp in ("creationtime", "lastwritetime", "lastaccesstime"):
                info[stamp] = ARCHIVE_TIME
    return buffer.getvalue()


# ---- the build ---------------------------------------------------------------------------------


def build_stackexchange(cache: Path, out: Path) -> list[dict]:
    """Write stackexchange/ under `out`; its MANIFEST entries."""
    deb = fetch_deb(PYTHON_DOC, cache)
    wanted = {FAQ + page for page, _ in PAGES}
    pages = {
        path: html for path, html, _ in deb_files(deb, PYTHON_DOC_ROOT, lambda p, _: p in wanted)
    }
    entries = []
    for page, archived in PAGES:
        site = site_of(page)
        posts, counts = posts_xml(questions(pages[FAQ + page]))
        name, data = (f"{site}.7z", seven_zip(posts)) if archived else (f"{site}/Posts.xml", posts)
        write_atomically(out / name, data)
        origin = f"{deb.name}:{PYTHON_DOC_ROOT}{FAQ}{page} ({PYTHON_DOC_URL}{FAQ}{page})"
        entries.append(
            {
                "file": f"stackexchange/{name}",
                "sha256": bytes_sha256(data),
                "from": origin,
                **counts,
            }
        )
        log.info("stackexchange: %s %s", name, counts)
    return entries
