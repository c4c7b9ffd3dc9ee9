"""Tokenize benchmark: encoder tokens/s per core against its peers, and token-shard read speed.

Encoders, on the same documents and the same SentencePiece model, in one run:
- ours: tokenizer/encode.py's Encoder as the pipeline uses it (batches of --batch documents),
  with 1 thread and with every core;
- SentencePiece's batch API, `encode(list, num_threads=1)`, and a one-document-at-a-time
  `[sp.encode(t) for t in texts]` loop;
- Hugging Face `tokenizers` batch encoding of the model converted (tokenizer/hf.py): the layout
  of LLaMA's tokenizer.json (the whole text is one BPE word), and the same with a pre-tokenizer
  that splits words where no piece can span (so its word cache works; the same ids).
Two regimes: cold (new encoders, empty caches, every document) and steady state (the odd-numbered
documents, after the even-numbered ones went through the same encoder, as in a long run where
caches are warm). Encoders are built outside the timed region. Per-core figures are tokens per
CPU second of this process (threads add up; other processes on a shared machine do not count),
with 1 thread (RAYON_NUM_THREADS=1, TOKENIZERS_PARALLELISM=false). Every encoder's ids are
compared with SentencePiece's and mismatching documents are reported.

Reader: our ids written as token shards (tokenizer/shards.py) and read back memory-mapped: a
sequential pass over every document and a random-order pass, each summing the document's tokens
(so every value is read); tokens/s on one core, with the files in the page cache.

    python benchmarks/tokenize.py --out benchmarks/results/tokenize.json [--quick]
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file would shadow the standard library's `tokenize` (which numpy imports
# through `inspect`): its directory leaves sys.path before anything else is imported.
if sys.path and os.path.realpath(sys.path[0]) == os.path.dirname(os.path.realpath(__file__)):
    sys.path.pop(0)

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import sentencepiece

from benchmarks.common import machine, max_rss_mb
from core.ids import shard_file, shard_of
from core.manifest import write_manifest
from readers.warc import WarcRecord, iter_records
from readers.wet import wet_document
from tokenizer.encode import Encoder
from tokenizer.shards import TokenSource, manifest, shard_bytes, shard_entry

ROOT = Path(__file__).resolve().parent.parent
SHARDS = 4
TARGET_VS_HF = 1.0
TARGET_VS_NAIVE = 2.0
TARGET_READ_TOKENS_PER_SECOND = 100e6


def load_texts(input_dir: Path, wet: list[Path]) -> tuple[list[str], dict[str, int]]:
    """Every source's documents under `input_dir`, then the WET pages' texts, in a fixed order."""
    texts: list[str] = []
    counts: dict[str, int] = {}
    found = input_dir.iterdir() if input_dir.is_dir() else []
    for source in sorted(p.name for p in found if (p / "documents").is_dir()):
        files = sorted((input_dir / source / "documents").rglob("part-*.parquet"))
        column = [t for f in files for t in pq.read_table(f, columns=["text"])["text"].to_pylist()]
        counts[source] = len(column)
        texts += [t for t in column if t]
    pages = 0
    for path in wet:
        for record in iter_records(str(path)):
            doc = wet_document(record, path.name) if isinstance(record, WarcRecord) else None
            if doc and doc["raw_content"]:
                texts.append(doc["raw_content"])
                pages += 1
    counts["wet_pages"] = pages
    return texts, counts


Encode = Callable[[list[str]], list]


def timed(make: Callable[[], Encode], texts: list[str], repeats: int, warm: list[str]) -> tuple:
    """(ids of the last run, best CPU seconds, best wall seconds) over `repeats` runs, each by a
    fresh encoder from `make` (built and run on `warm` first, untimed)."""
    cpu, wall, ids = [], [], None
    for _ in range(repeats):
        encode = make()
        encode(warm)
        c, w = time.process_time(), time.perf_counter()
        ids = encode(texts)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return ids, min(cpu), min(wall)


def batched(encode: Encode, size: int) -> Encode:
    return lambda texts: [
        x for i in range(0, len(texts), size) for x in encode(texts[i : i + size])
    ]


def hf_tokenizers(model: Path, space_runs: bool) -> dict[str, str]:
    """The converted model's `tokenizers` JSON: LLaMA's layout, and the same with a word split."""
    from tokenizers import Regex, Tokenizer, pre_tokenizers

    from tokenizer.hf import hf_tokenizer

    whole = hf_tokenizer(model).backend_tokenizer
    words = Tokenizer.from_str(whole.to_str())
    # The Encoder's words: a run of "▁" and what follows up to the next "▁" (no piece spans one).
    pattern = "▁+[^▁]*" if space_runs else "▁[^▁]*"
    words.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    return {"llama_layout": whole.to_str(), "word_split": words.to_str()}


def mismatches(ids: list, reference: list[list[int]]) -> int:
    return sum(
        (a.tolist() if isinstance(a, np.ndarray) else a) != b
        for a, b in zip(ids, reference, strict=True)
    )


def methods(model: Path, batch: int) -> tuple[dict[str, tuple[Callable[[], Encode], int]], Encoder]:
    """name → (a maker of a fresh encoder, threads). Fresh: caches start empty."""
    from tokenizers import Tokenizer

    sp = sentencepiece.SentencePieceProcessor(model_file=str(model))
    cores = os.cpu_count() or 1
    probe = Encoder.from_file(model)
    hf_json = hf_tokenizers(model, probe.space_runs)

    def ours(threads: int) -> Callable[[], Encode]:
        return lambda: batched(Encoder.from_file(model, num_threads=threads).encode, batch)

    def hf(layout: str) -> Callable[[], Encode]:
        def make() -> Encode:
            tokenizer = Tokenizer.from_str(hf_json[layout])
            return batched(
                lambda t: [e.ids for e in tokenizer.encode_batch(t, add_special_tokens=False)],
                batch,
            )

        return make

    return {
        "ours_1_thread": (ours(1), 1),
        f"ours_{cores}_threads": (ours(cores), cores),
        "sentencepiece_batch_1_thread": (
            lambda: batched(lambda t: sp.encode(t, out_type=int, num_threads=1), batch),
            1,
        ),
        "sentencepiece_loop": (lambda: lambda t: [sp.encode(x) for x in t], 1),
        "hf_tokenizers_llama_layout": (hf("llama_layout"), 1),
        "hf_tokenizers_word_split": (hf("word_split"), 1),
    }, probe


def encoders(
    model: Path, texts: list[str], warm: list[str], batch: int, repeats: int, label: str
) -> tuple[dict, dict, list]:
    """Every method on `texts` after warming on `warm`: figures, mismatching documents, our ids."""
    makers, _ = methods(model, batch)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model))
    reference = sp.encode(texts, out_type=int, num_threads=os.cpu_count() or 1)
    tokens = sum(len(r) for r in reference)
    results, mismatched, ours_ids = {"tokens": tokens, "documents": len(texts)}, {}, []
    for name, (make, threads) in makers.items():
        ids, cpu, wall = timed(make, texts, repeats, warm)
        mismatched[name] = mismatches(ids, reference)
        results[name] = {
            "threads": threads,
            "cpu_seconds": round(cpu, 3),
            "wall_seconds": round(wall, 3),
            "tokens_per_cpu_second": round(tokens / cpu),
            "tokens_per_wall_second": round(tokens / wall),
        }
        if name == "ours_1_thread":
            ours_ids = ids
        print(f"{label:6s} {name:30s} {tokens / cpu / 1e6:7.2f} M tokens/CPU-s ({cpu:.2f} s CPU)")
    return results, mismatched, ours_ids


def ratios_of(results: dict) -> dict[str, float]:
    """Our 1-thread tokens per CPU second over each peer's."""
    per_core = {k: v["tokens_per_cpu_second"] for k, v in results.items() if isinstance(v, dict)}
    ours = per_core["ours_1_thread"]
    hf_best = max(per_core["hf_tokenizers_llama_layout"], per_core["hf_tokenizers_word_split"])
    return {
        "ours_vs_hf_tokenizers_best": round(ours / hf_best, 2),
        "ours_vs_hf_tokenizers_llama_layout": round(
            ours / per_core["hf_tokenizers_llama_layout"], 2
        ),
        "ours_vs_sentencepiece_loop": round(ours / per_core["sentencepiece_loop"], 2),
        "ours_vs_sentencepiece_batch": round(ours / per_core["sentencepiece_batch_1_thread"], 2),
    }


def write_shards(directory: Path, ids: list[np.ndarray]) -> None:
    names = [f"bench/{i:08d}" for i in range(len(ids))]
    by_shard: dict[int, list[int]] = {s: [] for s in range(SHARDS)}
    for i, name in enumerate(names):
        by_shard[shard_of(name, SHARDS)].append(i)
    entries = []
    for shard, rows in by_shard.items():
        rows.sort(key=lambda i: names[i])
        data = shard_bytes([names[i] for i in rows], [ids[i] for i in rows])
        path = directory / shard_file(shard, SHARDS, ".arrow")
        path.write_bytes(data)
        entries.append(shard_entry(path, len(rows), sum(len(ids[i]) for i in rows), 0, data))
    body = manifest("bench", {"sha256": "bench"}, entries)
    write_manifest(directory, body)


def read_pass(source: TokenSource, order: np.ndarray | None) -> tuple[int, int]:
    """(tokens, checksum) of one pass: in file order, or documents by index in `order`."""
    tokens = checksum = 0
    if order is None:
        for shard in source.shards:
            for doc in shard:
                tokens += len(doc)
                checksum += int(np.add.reduce(doc, dtype=np.uint64))
    else:
        for index in order.tolist():
            doc = source.document(index)
            tokens += len(doc)
            checksum += int(np.add.reduce(doc, dtype=np.uint64))
    return tokens, checksum


def reader(ids: list[np.ndarray], min_seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        write_shards(Path(tmp), ids)
        source = TokenSource(tmp)
        expected = (
            sum(len(a) for a in ids),
            sum(int(a.sum(dtype=np.uint64)) for a in ids),
        )
        order = np.random.default_rng(0).permutation(len(source))
        results = {}
        for name, pass_order in (("sequential", None), ("random", order)):
            best, spent, passes = float("inf"), 0.0, 0
            while spent < min_seconds or passes < 3:
                started = time.process_time()
                if read_pass(source, pass_order) != expected:
                    raise SystemExit("the shards read back differ between passes")
                elapsed = time.process_time() - started
                best, spent, passes = min(best, elapsed), spent + elapsed, passes + 1
            results[name] = {
                "passes": passes,
                "best_pass_cpu_seconds": round(best, 4),
                "tokens_per_second": round(expected[0] / best),
                "documents_per_second": round(len(source) / best),
            }
            print(f"read {name:10s} {expected[0] / best / 1e6:8.1f} M tokens/s")
        results["documents"] = len(source)
        results["tokens"] = expected[0]
        results["shards"] = SHARDS
        results["page_cache"] = "warm (files just written; cold reads need a cache drop, root)"
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/results/tokenize.json")
    parser.add_argument("--tokenizer", default="models/tokenizer/llama1.model")
    parser.add_argument("--input", default="out", help="directory of <source>/documents/")
    parser.add_argument(
        "--wet", nargs="*", default=None, help="WET files (default: the sample's, all of them)"
    )
    parser.add_argument("--batch", type=int, default=1024, help="documents per encoder call")
    parser.add_argument("--repeats", type=int, default=3, help="runs per encoder; the best counts")
    parser.add_argument("--quick", action="store_true", help="one WET file, one run each")
    args = parser.parse_args()
    # Before `tokenizers` is imported: one thread, so that its figures are per core.
    os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    model = Path(args.tokenizer)
    if not model.exists():
        raise SystemExit(f"{model}: missing; train it with `make tokenizer`")
    wet = sorted((ROOT / "data/sample/commoncrawl/wet").glob("*.warc.wet.gz"))
    wet = [Path(p) for p in args.wet] if args.wet is not None else wet[:1] if args.quick else wet
    texts, counts = load_texts(Path(args.input), wet)
    if not texts:
        raise SystemExit("no documents to encode: run `make wikipedia` or `make sample`")
    repeats = 1 if args.quick else args.repeats
    print(f"{len(texts):,} documents, {sum(map(len, texts)):,} characters; {model}")
    cold, cold_mismatched, ours_ids = encoders(model, texts, [], args.batch, repeats, "cold")
    # Steady state: the odd documents after the even ones warmed every encoder's caches.
    steady, steady_mismatched, _ = encoders(
        model, texts[1::2], texts[0::2], args.batch, repeats, "steady"
    )
    read = reader(ours_ids, 0.2 if args.quick else 1.0)
    ratios = {"cold": ratios_of(cold), "steady_state": ratios_of(steady)}
    sequential = read["sequential"]["tokens_per_second"]
    exact = not any([*cold_mismatched.values(), *steady_mismatched.values()])
    targets = {
        f"encoder_{versus}_{regime}": {
            "target": target,
            "value": ratios[regime][key],
            "met": ratios[regime][key] >= target,
        }
        for regime in ("cold", "steady_state")
        for versus, key, target in (
            ("at_least_hf_tokenizers", "ours_vs_hf_tokenizers_best", TARGET_VS_HF),
            ("2x_sentencepiece_loop", "ours_vs_sentencepiece_loop", TARGET_VS_NAIVE),
        )
    }
    targets["reader_sequential_tokens_per_second"] = {
        "target": TARGET_READ_TOKENS_PER_SECOND,
        "value": sequential,
        "met": sequential >= TARGET_READ_TOKENS_PER_SECOND,
    }
    targets["same_ids_as_sentencepiece"] = {"target": True, "value": exact, "met": exact}
    probe = Encoder.from_file(model)
    result = {
        "benchmark": "tokenize: batch encoder vs peers; memory-mapped token shard reads",
        "quick": args.quick,
        "documents": {
            "count": len(texts),
            "characters": sum(map(len, texts)),
            "utf8_bytes": sum(len(t.encode()) for t in texts),
            "by_origin": counts,
            "tokens": cold["tokens"],
            "batch": args.batch,
        },
        "tokenizer": {
            "path": str(model),
            "sha256": probe.sha256,
            "vocab_size": probe.vocab_size,
            "word_cache": probe.word_cache,
            "space_runs": probe.space_runs,
        },
        "machine": machine(
            sentencepiece=sentencepiece.__version__,
            tokenizers=__import__("tokenizers").__version__,
            numpy=np.__version__,
            pyarrow=pa.__version__,
        ),
        "encoders_cold": cold,
        "encoders_steady_state": steady,
        "mismatched_documents": {"cold": cold_mismatched, "steady_state": steady_mismatched},
        "repeats": repeats,
        "ratios": ratios,
        "reader": read,
        "targets": targets,
        "max_rss_mb": max_rss_mb(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")  # prints only the verdicts
    print(json.dumps({"ratios": ratios, "targets": targets}, indent=1))


if __name__ == "__main__":
    main()
