"""cc_net 1.0.0 (facebookresearch/cc_net, from PyPI, unmodified) timed stage by stage on a WET
crawl: the measured peer of benchmarks/commoncrawl.py, which runs this file in cc_net's own
virtual environment (build/ccnet-venv; never a project dependency) and pinned to one core.

Only cc_net's own classes do the work, set up as its `mine.py` sets them up:
  read          CCSegmentsReader (min_len=300) over the local files as its cache directory
  dedup         HashesCollector over every document (the `hashes` job), its hash set dumped,
                then DuplicatesRemover loading it (the `mine` job's first step)
  lid           Classifier(top=1, threshold) with the given fastText model, then `keep_lang`
  perplexity    MultiSentencePiece(normalize=True) → DocLM → PerplexityBucket, on the documents
                LID kept
  mine          both passes as `python -m cc_net` runs a shard: pass 1 reads every file and
                collects the hash set; pass 2 reads again and runs dedup → lid → keep_lang → sp
                → lm → pp_bucket → drop → split_by_lang (gzip JSON files per language and bucket)
A stage's input is made by cc_net's earlier stages, untimed, in the same process. The bucket
cut-offs are this project's (`<lm_dir>/<lang>.cutoffs.json`) written as cc_net's CSV, so both
bucket alike. Each model is loaded before its stage is timed (`mine` times its loads, as a job
does). The result is one JSON object: docs in, kept, wall and CPU seconds, peak RSS.

    build/ccnet-venv/bin/python -m benchmarks.ccnet_peer --stage lid --crawl DIR \\
        --lid_model models/lid.176.ftz --lm_dir models/lm --result out.json

cc_net reads WET headers by position (`parse_doc`: the digest is line 7, the length line 9), so
every conversion record needs Common Crawl's field order, WARC-Refers-To included
(benchmarks/crawl_replica.py writes it).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cc_net import dedup, jsonql, perplexity, process_wet_file, split_by_lang

STAGES = ("read", "dedup", "lid", "perplexity", "mine")
MIN_LEN = 300  # mine.Config.min_len


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


class Peer:
    def __init__(self, args: argparse.Namespace, work: Path) -> None:
        self.crawl = Path(args.crawl)
        self.segments = sorted(p.name for p in self.crawl.glob("*.warc.wet.gz"))
        self.language, self.threshold, self.work = args.language, args.lid_threshold, work
        self.lid_model = Path(args.lid_model).resolve()
        lm_dir = Path(args.lm_dir).resolve()
        self.sp_model = lm_dir / f"{self.language}.sp.model"
        self.lm_model = lm_dir / f"{self.language}.arpa.bin"
        cutoffs = json.loads((lm_dir / f"{self.language}.cutoffs.json").read_text())
        self.cutoff_csv = work / "cutoff.csv"  # PerplexityBucket reads rows 30 and 60
        rows = [cutoffs["head"] if p <= 30 else cutoffs["middle"] for p in range(100)]
        self.cutoff_csv.write_text(
            f",{self.language}\n" + "".join(f"{p},{v}\n" for p, v in enumerate(rows))
        )

    # -- cc_net's transformers, configured as mine._mine_shard configures them

    def reader(self) -> Iterable[dict]:
        return process_wet_file.CCSegmentsReader(
            self.segments, min_len=MIN_LEN, cache_dir=self.crawl
        )

    def collector(self, output: Path | None) -> jsonql.Transformer:
        return dedup.HashesCollector(field="raw_content", output=output)

    def remover(self, hashes: Path) -> jsonql.Transformer:
        return dedup.DuplicatesRemover(field="raw_content", hashes_files=[hashes])

    def lid(self) -> list:
        keep = {self.language}
        return [
            split_by_lang.Classifier(
                model=self.lid_model,
                field="raw_content",
                out_field="language",
                top=1,
                threshold=self.threshold,
            ),
            jsonql.where([lambda doc: doc.get("language") in keep]),
        ]

    def scoring(self) -> list[jsonql.Transformer]:
        return [
            perplexity.MultiSentencePiece(
                {self.language: self.sp_model},
                field="raw_content",
                output_field="tokenized",
                normalize=True,
            ),
            perplexity.DocLM(
                {self.language: self.lm_model},
                field="tokenized",
                output_field="perplexity",
                normalize=False,
            ),
            perplexity.PerplexityBucket(self.cutoff_csv),
        ]

    # -- stages

    def read(self) -> list[dict]:
        return list(self.reader())

    def hashes(self, docs: Iterable[dict]) -> Path:
        output = self.work / "hashes.bin"
        jsonql.run_pipes(self.collector(output), inputs=docs)
        return output

    def deduplicate(self, docs: list[dict]) -> list[dict]:
        hashes = self.hashes(docs)
        return _run(self.remover(hashes), docs)

    def run(self, stage: str) -> dict:
        result: dict[str, Any] = {"stage": stage}
        if stage == "read":
            docs, wall, cpu = _timed(self.read)
            result.update(docs=None, kept=len(docs))
        elif stage == "mine":
            (kept, written), wall, cpu = _timed(self.mine)
            result.update(docs=None, kept=kept, bytes_written=written)
        else:
            docs = self.read()
            if stage == "dedup":
                result["docs"] = len(docs)
                out, wall, cpu = _timed(lambda: self.deduplicate(docs))
                result.update(kept=len(out), kept_lines=sum(d["nlines"] for d in out))
            else:
                docs = self.deduplicate(docs)
                transformers = self.lid()
                if stage == "perplexity":
                    docs = _prepared(transformers, docs)
                    transformers = self.scoring()
                for t in transformers:
                    t.__enter__()
                result["docs"] = len(docs)

                def apply(docs: list[dict] = docs) -> list[dict]:
                    for t in transformers:
                        docs = _run(t, docs)
                    return docs

                out, wall, cpu = _timed(apply)
                kept = _kept_buckets(out) if stage == "perplexity" else out
                result["kept"] = len(kept)
                if stage == "perplexity":  # to compare with ours, page by page
                    result["by_url"] = {d["url"]: [d["nlines"], d["perplexity"]] for d in out}
        rusage = resource.getrusage(resource.RUSAGE_SELF)
        result.update(
            seconds=round(wall, 3),
            cpu_seconds=round(cpu, 3),
            max_rss_mb=round(rusage.ru_maxrss / 1024, 1),
        )
        return result

    def mine(self) -> tuple[int, int]:
        """Both passes of one shard: the hashes job, then the mine job (mine.DEFAULT_PIPELINE)."""
        hashes = self.work / "mine-hashes.bin"
        jsonql.run_pipes(self.collector(hashes), inputs=self.reader())
        out = self.work / "mined"
        steps = [
            self.remover(hashes),
            *self.lid(),
            *self.scoring(),
            perplexity.DropKeys("tokenized"),
            jsonql.split(pattern=str(out / "{language}_{bucket}.json.gz"), mkdir=True),
        ]
        jsonql.run_pipes(*steps, inputs=self.reader(), output=None)  # split writes the files
        files = sorted(out.glob("*.json.gz"))
        kept = sum(
            sum(1 for _ in jsonql.open_read(f))
            for f in files
            if f.name.split("_")[-1].split(".")[0] in ("head", "middle")
        )
        return kept, sum(f.stat().st_size for f in files)


def _run(transformer: jsonql.Transformer, docs: Iterable[dict]) -> list[dict]:
    """A transformer over documents, as run_pipes applies it: None drops a document."""
    return [d for d in transformer.map(docs) if d is not None]


def _prepared(transformers: list, docs: list[dict]) -> list[dict]:
    for t in transformers:
        with t:
            docs = _run(t, docs)
    return docs


def _kept_buckets(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d.get("bucket") in ("head", "middle")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", choices=STAGES, required=True)
    parser.add_argument("--crawl", required=True, help="a folder of *.warc.wet.gz files")
    parser.add_argument("--lid_model", required=True)
    parser.add_argument("--lm_dir", required=True, help="<lang>.sp.model, .arpa.bin, .cutoffs.json")
    parser.add_argument("--language", default="en")
    parser.add_argument("--lid_threshold", type=float, default=0.5)
    parser.add_argument("--result", required=True, help="the JSON result is written here")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # cc_net logs a summary per transformer
    with tempfile.TemporaryDirectory() as tmp:
        result = Peer(args, Path(tmp)).run(args.stage)
    Path(args.result).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
