"""Wikipedia benchmark: parse + clean speed per core, and the multistream split's speed-up.

Peer: a one-process reader of the same dump, the way the Hugging Face `wikipedia` builder that
RedPajama used reads a dump (one bz2 stream, `xml.etree` iterparse, one process), cleaning with the
same library (mwparserfromhell, through the same cleaner). Ours, on the multistream copy of that
dump: the split itself (our reader and cleaner over the bz2-stream ranges in 1 and in 2 processes,
no Beam), and the Beam pipeline end to end (start-up, reading, cleaning, the shuffle to
deterministic shards, writing, the report) with 1 and 2 worker processes. All in one run, on the
same pages.

    python -m benchmarks.wikipedia --out benchmarks/results/wikipedia.json
"""

from __future__ import annotations

import argparse
import bz2
import json
import multiprocessing
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmarks.common import machine, max_rss_mb, write_result
from converters.multistream import split_dump, write_multistream
from filters.wikitext import WikitextCleaner
from readers.wikidump import RawPage, read_pages, work_ranges

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DUMP = ROOT / "data/sample/wikipedia/enwiki-sample-pages-articles.xml.bz2"
_ID = re.compile(rb"<id>(\d+)</id>")


def build_dump(directory: Path, copies: int, pages_per_stream: int) -> tuple[Path, Path]:
    """The sample's 206 real pages repeated `copies` times under new ids, in both layouts."""
    header, pages, footer = split_dump(bz2.decompress(SAMPLE_DUMP.read_bytes()))
    body = []
    for k in range(copies):
        for page in pages:  # only the page id (the first <id>) changes
            body.append(_ID.sub(lambda m, k=k: b"<id>%d</id>" % (int(m[1]) + k * 10**7), page, 1))
    xml = header + b"".join(body) + footer
    single = directory / "enwiki-bench-pages-articles.xml.bz2"
    single.write_bytes(bz2.compress(xml, 9))
    multi = directory / "enwiki-bench-pages-articles-multistream.xml.bz2"
    write_multistream(
        xml, str(multi), str(multi).replace(".xml.bz2", "-index.txt.bz2"), pages_per_stream
    )
    return single, multi


def peer_one_process(dump: Path) -> dict:
    """One bz2 stream, ElementTree iterparse, clean each article: the single-process reader."""
    cleaner = WikitextCleaner("en")
    ns = "{http://www.mediawiki.org/xml/export-0.10/}"
    started, pages, articles, chars = time.perf_counter(), 0, 0, 0
    with bz2.open(dump) as fh:
        for _, elem in ET.iterparse(fh):  # noqa: S314 (the peer as it ran; our own dump)
            if elem.tag != ns + "page":
                continue
            pages += 1
            text = elem.find(f"{ns}revision/{ns}text").text or ""
            if elem.findtext(ns + "ns") == "0" and elem.find(ns + "redirect") is None:
                chars += len(cleaner.clean(text).text)
                articles += 1
            elem.clear()
    wall = time.perf_counter() - started
    return {
        "pages": pages,
        "articles": articles,
        "clean_chars": chars,
        "seconds": round(wall, 3),
        "pages_per_second": round(pages / wall, 1),
    }


def _clean_range(task: tuple[str, int, int | None]) -> tuple[int, int, int]:
    dump, start, end = task
    cleaner, pages, articles, chars = WikitextCleaner("en"), 0, 0, 0
    for page in read_pages(dump, start, end):
        pages += 1
        if isinstance(page, RawPage) and page.ns == 0 and not page.redirect:
            chars += len(cleaner.clean(page.text).text)
            articles += 1
    return pages, articles, chars


def ours_split(dump: Path, processes: int) -> dict:
    """Our reader and cleaner on the multistream ranges, no Beam: the split's own scaling."""
    tasks = [(str(dump), start, end) for start, end in work_ranges(str(dump))]
    started = time.perf_counter()
    if processes == 1:
        results = [_clean_range(t) for t in tasks]
    else:
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.map(_clean_range, tasks, chunksize=1)
    wall = time.perf_counter() - started
    pages, articles, chars = (sum(r[i] for r in results) for i in range(3))
    return {
        "processes": processes,
        "pages": pages,
        "articles": articles,
        "clean_chars": chars,
        "seconds": round(wall, 3),
        "pages_per_second": round(pages / wall, 1),
    }


def ours_pipeline(dump: Path, out: Path, workers: int) -> dict:
    """`python -m pipelines.wikipedia` as a user runs it, in a process of its own."""
    mode = "in_memory" if workers == 1 else "multi_processing"
    command = [
        sys.executable,
        "-m",
        "pipelines.wikipedia",
        "--dumps",
        str(dump),
        "--output",
        str(out),
        "--num_shards",
        "4",
        f"--direct_num_workers={workers}",
        f"--direct_running_mode={mode}",
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    wall = time.perf_counter() - started
    totals = json.loads((out / "report.json").read_text())["totals"]
    return {
        "workers": workers,
        "mode": mode,
        "pages": totals["read"],
        "kept": totals["kept"],
        "seconds": round(wall, 3),
        "pages_per_second": round(totals["read"] / wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/wikipedia.json")
    parser.add_argument("--copies", type=int, default=24, help="copies of the sample's pages")
    parser.add_argument("--pages_per_stream", type=int, default=25)
    args = parser.parse_args()
    if not SAMPLE_DUMP.exists():
        raise SystemExit("run `make sample` first")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        single, multi = build_dump(tmp, args.copies, args.pages_per_stream)
        peer = peer_one_process(single)
        split1 = ours_split(multi, 1)
        split2 = ours_split(multi, 2)
        one = ours_pipeline(multi, tmp / "out1", 1)
        two = ours_pipeline(multi, tmp / "out2", 2)
    result = {
        "benchmark": "wikipedia parse + clean",
        "dump": f"sample enwiki pages x{args.copies} ({peer['pages']} pages, "
        f"{peer['articles']} articles), {args.pages_per_stream} pages per bz2 stream",
        "machine": machine(),
        "peer_one_process_reader": peer,
        "ours_split_1_process": split1,
        "ours_split_2_processes": split2,
        "ours_beam_pipeline_1_worker": one,
        "ours_beam_pipeline_2_workers": two,
        "pages_per_second_per_core": split1["pages_per_second"],
        "one_core_vs_peer": round(peer["seconds"] / split1["seconds"], 2),
        "split_speedup_2_vs_1": round(split1["seconds"] / split2["seconds"], 2),
        "beam_speedup_2_vs_1": round(one["seconds"] / two["seconds"], 2),
        "beam_2_workers_vs_peer": round(peer["seconds"] / two["seconds"], 2),
        "target_speedup": 1.7,
        "max_rss_mb": max_rss_mb(),
    }
    write_result(args.out, result)


if __name__ == "__main__":
    main()
