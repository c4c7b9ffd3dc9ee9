"""A crawl big enough to time: the bundled sample's WET pages replicated into perturbed copies.

The bundled sample (data/sample/commoncrawl/wet, 4 WET files, ~2,243 pages) is too small
to time, so it is replicated `--copies` times into new WET files. Plain copies would be wrong:
line dedup is global, so every line of a copy would be a duplicate and every copy would vanish at
dedup, leaving LID and perplexity nothing to do. Each copy k therefore perturbs every line in a
way only the dedup hash can see: k is written in base 4 as extra spaces after the line's first
space runs (the LM normaliser, fastText's tokeniser and the classifier's `split()` all collapse
runs of spaces), and what does not fit, or a line with no space, gets combining marks
U+0300–U+036F at its end (the LM normaliser drops them after NFD; the classifier's tokens skip
them; fastText does see them, on those lines only). A line whose spaced form would share a dedup
hash with another line ("a — b" normalises to "a  b", as copy 1 of "a b" does) gets marks only.
So lines that share a hash in the sample share one within each copy, and no hash is shared
between copies (both checked when the files are written): every copy deduplicates, scores and
buckets like the sample. Perplexity and wiki_prob are unchanged; LID scores move on the marked
lines, so a few LID decisions at the margin can differ (the JSON compares the counts left after
each stage with `copies` times a one-copy run's). The texts grow by the extra spaces (reported).
Pages under the 300-character minimum are written unchanged (they are dropped before dedup), so
the minimum drops the same pages in every copy. Copies get their own URL fragment, record ids
and block digests, so doc-digest dedup keeps them apart. Each conversion record refers to a
response record (WARC-Refers-To) as Common Crawl's do: cc_net (benchmarks/ccnet_peer.py) reads
header fields by position, so the fields must come in Common Crawl's order.
"""

from __future__ import annotations

import gzip
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_WET = ROOT / "data/sample/commoncrawl/wet"
MIN_LENGTH = 300  # the pipeline's minimum: shorter pages are dropped before dedup
_SPACE_RUN = re.compile(r" +")
_MARKS = 112  # U+0300..U+036F, combining diacritical marks (category Mn)


def _marks(k: int) -> str:
    out = []
    while k:
        out.append(chr(0x300 + k % _MARKS))
        k //= _MARKS
    return "".join(out)


def perturb_line(line: str, copy: int) -> str:
    """The stripped line, made unique to `copy` in a way only the dedup hash sees (copy 0: as is).

    Base-4 digits of `copy` become 0-3 extra spaces after each of the first space runs; the rest
    of the number, if any, becomes combining marks at the end. Only spaces are used, not tabs,
    since the dedup normaliser deletes tabs (control characters).
    """
    text = line.strip()
    if not text or copy == 0:
        return text
    out, start, k = [], 0, copy
    for run in _SPACE_RUN.finditer(text):
        if not k:
            break
        out += [text[start : run.end()], " " * (k % 4)]
        start, k = run.end(), k // 4
    out.append(text[start:])
    return "".join(out) + _marks(k)


def _sample_documents() -> Iterator[tuple[int, dict]]:
    """(file index, wet_document) of every conversion record of the sample, in file order."""
    from core.deadletter import DeadLetter
    from readers.warc import iter_records
    from readers.wet import wet_document

    for i, path in enumerate(sorted(SAMPLE_WET.glob("*.warc.wet.gz"))):
        for record in iter_records(str(path)):
            if isinstance(record, DeadLetter):
                raise SystemExit(f"{path}: the sample has a bad record: {record}")
            doc = wet_document(record, path.name)
            if doc is not None:
                yield i, doc


def line_forms(lines: set[str], copies: int) -> tuple[list[dict[str, str]], dict]:
    """Each copy's form of every distinct stripped line, checked to deduplicate like the sample.

    perturb_line's form, except where it would share a dedup hash with another copy's line or
    another line of the sample ("a — b" normalises to "a  b", which copy 1 of "a b" also gives):
    such a line gets combining marks only. So the map (copy, line's hash) → hash is one to one,
    and lines with one hash in the sample share one hash within each copy (both are checked).
    """
    from filters.dedup import line_hash

    original = {line: line_hash(line) for line in lines if line}
    forms = [{line: perturb_line(line, k) for line in lines} for k in range(copies)]
    marked = 0
    for _ in range(2):
        owners: dict[int, set[tuple[int, int]]] = {}
        for k, form in enumerate(forms):
            for line, h in original.items():
                owners.setdefault(line_hash(form[line]), set()).add((k, h))
        clashes = {pair for pairs in owners.values() if len(pairs) > 1 for pair in pairs}
        if not clashes:
            break
        for k in range(1, copies):
            for line, h in original.items():
                if (k, h) in clashes:
                    forms[k][line], marked = line + _marks(k), marked + 1
    per_copy = {len({line_hash(forms[k][line]) for line in original}) for k in range(copies)}
    sample = len(set(original.values()))
    if clashes or per_copy != {sample} or len(owners) != copies * sample:
        raise SystemExit(f"the copies do not deduplicate like the sample: {per_copy}, {sample}")
    return forms, {
        "distinct_line_hashes_per_copy": sample,
        "distinct_line_hashes": len(owners),
        "lines_marked_to_avoid_a_shared_hash": marked,
    }


def _write_copy(
    directory: Path, copy: int, docs: list[tuple[int, dict]], form: dict[str, str]
) -> int:
    """Write one copy; returns the characters of its texts."""
    from converters.warcwriter import WarcWriter, record_id

    writers: dict[int, WarcWriter] = {}
    chars = 0
    for i, doc in docs:
        if i not in writers:
            name = f"CC-BENCH-{copy:03d}-{i:05d}.warc.wet.gz"
            writers[i] = WarcWriter(str(directory / name))
            writers[i].warcinfo(
                {"software": "benchmarks/commoncrawl.py"}, date=doc["date_download"]
            )
        lines = [doc["title"], *doc["raw_content"].split("\n")]
        if len(doc["raw_content"]) < MIN_LENGTH:  # dropped before dedup: its lines never count
            text = "\n".join(line.strip() for line in lines) + "\n"
        else:
            text = "\n".join(form.get(line) or perturb_line(line, copy) for line in lines) + "\n"
        chars += len(text)
        url = doc["url"] if copy == 0 else f"{doc['url']}#bench-copy-{copy}"
        languages = doc["identified_languages"]
        writers[i].conversion(
            url,
            text,
            date=doc["date_download"],
            refers_to=record_id("response", url, doc["date_download"]),
            language=",".join(languages) if languages else None,
        )
    for writer in writers.values():
        writer.close()
    return chars


def build_crawl(directory: Path, copies: int, limit: int | None = None) -> dict:
    """`copies` perturbed copies of the sample's WET files (its first `limit` pages) under
    `directory`, as many files per copy as the sample has."""
    directory.mkdir(parents=True, exist_ok=True)
    docs = list(_sample_documents())[:limit]
    long_enough = (d["raw_content"] for _, d in docs if len(d["raw_content"]) >= MIN_LENGTH)
    lines = {line for text in long_enough for line in text.split("\n")}
    forms, check = line_forms(lines, copies)
    chars = [_write_copy(directory, copy, docs, forms[copy]) for copy in range(copies)]
    files = sorted(directory.glob("*.warc.wet.gz"))
    return {
        "files": len(files),
        "bytes": sum(f.stat().st_size for f in files),
        "sample_pages": len(docs),
        "copies": copies,
        "characters_vs_copies_of_the_sample": round(sum(chars) / (copies * chars[0]), 4),
        **check,
    }


def one_wet_file(path: Path, pages: int, copies: int = 16) -> dict:
    """One WET file of at least `pages` pages, as big as a Common Crawl WET file (~40,000 pages;
    the sample's pages are shorter than the crawl's average, so it has fewer bytes): a
    `copies`-copy crawl's files concatenated (gzip members concatenate), then its first files
    again until `pages` is reached (exact repeats of pages, as a crawl has)."""
    parts = path.parent / f"{path.name}.parts"
    build_crawl(parts, copies)
    files = sorted(parts.glob("*.warc.wet.gz"))
    marker = b"\r\nWARC-Type: conversion\r\n"
    counts = [gzip.decompress(f.read_bytes()).count(marker) for f in files]
    total, chosen = 0, []
    while total < pages:
        for file, count in zip(files, counts, strict=True):
            if total >= pages:
                break
            chosen.append(file)
            total += count
    with path.open("wb") as out:
        for file in chosen:
            out.write(file.read_bytes())
    shutil.rmtree(parts)
    size = path.stat().st_size
    return {"pages": total, "bytes": size, "copies": copies, "files_joined": len(chosen)}
