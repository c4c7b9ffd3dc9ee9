"""bench-stackexchange: posts/s/core of reading, HTML to text and assembly; memory against the
size of the site.

    python -m benchmarks.stackexchange --out benchmarks/results/stackexchange.json

The sample's largest site (Python's programming FAQ as `Posts.xml`) is repeated `--copies` times
under new ids into one big `Posts.xml` (and the same rows as a `.7z`). One core, in this process:
reading the posts (readers.stackexchange: the streaming parser) and HTML to text, streamed at two
sizes (the second 4× the first) with the process's memory peak after each; a question's document
with its answers sorted, on the sample site. No peer is measured: RedPajama's script loads a
whole site into memory and has no package.
"""

from __future__ import annotations

import argparse
import re
import resource
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from benchmarks.common import machine, write_result
from filters.posthtml import html_to_text
from readers.stackexchange import ANSWER, QUESTION, Post, question_document, read_posts

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "data/sample/stackexchange/python-faq-programming.stackexchange.com/Posts.xml"
_ID = re.compile(r'\b(Id|ParentId|AcceptedAnswerId)="(\d+)"')


def big_site(directory: Path, copies: int) -> Path:
    """The sample site's rows `copies` times, ids shifted so that every copy is its own posts."""
    text = SITE.read_text("utf-8")
    head, rest = text.split("<posts>", 1)
    rows, tail = rest.rsplit("</posts>", 1)
    step = 10 ** len(str(max(int(m.group(2)) for m in _ID.finditer(rows))))
    path = directory / "big.stackexchange.com" / "Posts.xml"
    path.parent.mkdir(parents=True)
    with open(path, "w", encoding="utf-8") as out:
        out.write(head + "<posts>")
        for copy in range(copies):
            out.write(
                _ID.sub(lambda m, c=copy: f'{m.group(1)}="{int(m.group(2)) + c * step}"', rows)
            )
        out.write("</posts>" + tail)
    return path


def rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def stream(path: Path) -> tuple[int, float, float]:
    """Posts read and turned into text without being kept: (posts, read s, text s)."""
    posts, read_seconds, text_seconds = 0, 0.0, 0.0
    started = time.perf_counter()
    for post in read_posts(str(path)):
        if isinstance(post, Post):
            posts += 1
            mid = time.perf_counter()
            html_to_text(post.body)
            text_seconds += time.perf_counter() - mid
    read_seconds = time.perf_counter() - started - text_seconds
    return posts, read_seconds, text_seconds


def assemble_rate() -> float:
    """Questions' documents (answers sorted, text assembled) per second, on the sample site."""
    grouped: dict[int, list[Post]] = defaultdict(list)
    for post in read_posts(str(SITE)):
        if isinstance(post, Post):
            grouped[post.id if post.post_type == QUESTION else post.parent_id].append(post)
    started, posts = time.perf_counter(), 0
    for _ in range(20):
        for group in grouped.values():
            questions = [p for p in group if p.post_type == QUESTION]
            if questions:
                question_document(questions[0], [p for p in group if p.post_type == ANSWER])
                posts += len(group)
    return round(posts / (time.perf_counter() - started), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--copies", type=int, default=100)
    args = parser.parse_args()
    sizes = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (1, 4):
            path = big_site(Path(tmp) / str(scale), args.copies * scale)
            posts, read_s, text_s = stream(path)
            sizes.append(
                {
                    "posts_xml_mb": round(path.stat().st_size / 1e6, 1),
                    "posts": posts,
                    "read_posts_per_s": round(posts / read_s, 1),
                    "read_mb_per_s": round(path.stat().st_size / 1e6 / read_s, 2),
                    "html_posts_per_s": round(posts / text_s, 1),
                    "rss_peak_mb": rss_mb(),
                }
            )
            path.unlink()
    result = {
        "benchmark": "stackexchange",
        "machine": machine(),
        "one_core": sizes,
        "assemble_posts_per_s": assemble_rate(),
        "memory_note": "rss_peak_mb is the process's peak after streaming each site, the larger "
        "second: a reader holding the site would grow with it",
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
