"""The ablation's training and evaluation sets, as token shards made with one tokenizer.

Evaluation sets, one per source of the mixture that has documents:
  - C4: its validation split (`<data>/c4/validation/`, md5 of the normalised URL), encoded here;
  - every other source: the documents the trainer's id-hash rule (`training.data.SourceSplit`)
    holds out at `fraction` of the source's token shards: Wikipedia articles, books, curated
    CommonCrawl pages, GitHub files, StackExchange questions, arXiv papers.
Training sets:
  - curated: the CommonCrawl pipeline's documents (every kept bucket: head and middle);
  - text_only: every page of the same WET files as the reader gives it (`raw_content`), with no
    length rule, line dedup, language ID, perplexity or document dedup;
  - head: the curated documents of the head bucket(s) alone;
  - mixture: every source of the mixture that has token shards.
Every evaluated page is taken out of every training set. CommonCrawl and C4 ids name the same WET
record (`cc/<segment>/<uuid>`, `c4/<segment>/<uuid>`), so pages are compared by that record
(`page_key`): a C4 validation page is out of the CommonCrawl sets, a held-out CommonCrawl page out
of C4's training documents. `check_disjoint` verifies it on what is written.
"""

from __future__ import annotations

import glob
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import sentencepiece

from core.files import write_atomically
from core.ids import shard_file, shard_of
from core.manifest import write_manifest
from mixtures.mixture import Mixture
from readers.wet import document_id, wet_documents
from tokenizer.encode import Encoder
from tokenizer.shards import TokenSource, manifest, open_sources, shard_bytes, shard_entry
from training.data import SourceSplit

CC, C4 = "commoncrawl", "c4"
SETS = ("curated", "text_only", "head", "mixture")
CRAWL_PREFIXES = ("cc/", "c4/")  # ids made from a WET record by the CommonCrawl and C4 pipelines
ENCODE_BATCH = 256


class AblationError(ValueError):
    """Inputs the ablation cannot use, or sets that would make its comparison unfair."""


@dataclass(frozen=True)
class Doc:
    id: str
    tokens: np.ndarray  # uint16, no <s>/</s>
    utf8_bytes: int


def page_key(doc_id: str) -> str:
    """The page a document is: its WET record for crawl ids (one page may be in C4 and CCNet),
    else the id itself."""
    if doc_id.startswith(CRAWL_PREFIXES):
        return "crawl/" + doc_id[3:]
    return doc_id


class Decoder:
    """UTF-8 bytes of tokens' text (bits per byte need them; token shards keep no text)."""

    def __init__(self, model: bytes):
        self.processor = sentencepiece.SentencePieceProcessor(model_proto=model)

    def sizes(self, arrays: list[np.ndarray]) -> list[int]:
        texts = self.processor.decode([a.tolist() for a in arrays]) if arrays else []
        return [len(text.encode("utf-8")) for text in texts]


def source_documents(source: TokenSource, decoder: Decoder) -> list[Doc]:
    """Every document of a token source in shard and row order."""
    docs: list[Doc] = []
    for shard in source.shards:
        ids = [shard.document_id(i) for i in range(len(shard))]
        arrays = [shard.document(i) for i in range(len(shard))]
        sizes = decoder.sizes(arrays)
        docs += [Doc(*row) for row in zip(ids, arrays, sizes, strict=True)]
    return docs


def held_out_ids(source: TokenSource, fraction: float) -> set[str]:
    """The ids the trainer's validation rule holds out of `source` at `fraction`."""
    split = SourceSplit(source, fraction)
    return {
        shard.document_id(int(row))
        for s, shard in enumerate(source.shards)
        for row in split.rows(s, "val")
    }


def encode_documents(encoder: Encoder, rows: Iterable[tuple[str, str]]) -> list[Doc]:
    """(id, text) pairs → documents; empty texts are left out (nothing to train or score)."""
    docs: list[Doc] = []
    batch: list[tuple[str, str]] = []

    def flush() -> None:
        arrays = encoder.encode([text for _, text in batch])
        docs.extend(
            Doc(doc_id, tokens, len(text.encode("utf-8")))
            for (doc_id, text), tokens in zip(batch, arrays, strict=True)
        )
        batch.clear()

    for doc_id, text in rows:
        if text:
            batch.append((doc_id, text))
            if len(batch) >= ENCODE_BATCH:
                flush()
    flush()
    return docs


def wet_pages(patterns: list[str]) -> Iterator[tuple[str, str]]:
    """(id, text) of every WET conversion record, ids as the CommonCrawl pipeline makes them."""
    for doc in wet_documents(patterns):
        yield document_id(doc["cc_segment"], doc["warc_record_id"]), doc["raw_content"]


def parquet_column(directory: Path, column: str) -> Iterator:
    for path in sorted(directory.glob("**/*.parquet")):
        yield from pq.read_table(path, columns=[column]).column(column).to_pylist()


def parquet_texts(directory: Path) -> Iterator[tuple[str, str]]:
    for path in sorted(directory.glob("**/*.parquet")):
        table = pq.read_table(path, columns=["id", "text"])
        yield from zip(
            table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True
        )


def write_token_source(
    directory: Path, source: str, docs: list[Doc], tokenizer: dict, num_shards: int
) -> dict:
    """`docs` as `make tokenize` lays a source out: shard by id hash, rows sorted by id, the
    manifest last. The directory is replaced."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    by_shard: dict[int, list[Doc]] = {s: [] for s in range(num_shards)}
    for doc in docs:
        by_shard[shard_of(doc.id, num_shards)].append(doc)
    entries = []
    for s, shard_docs in by_shard.items():
        shard_docs.sort(key=lambda d: d.id)
        data = shard_bytes([d.id for d in shard_docs], [d.tokens for d in shard_docs])
        path = directory / shard_file(s, num_shards, ".arrow")
        write_atomically(path, data)
        tokens = sum(len(d.tokens) for d in shard_docs)
        size = sum(d.utf8_bytes for d in shard_docs)
        entries.append(shard_entry(path, len(shard_docs), tokens, size, data=data))
    body = manifest(source, tokenizer, entries)
    write_manifest(directory, body)
    return body


def counts(docs: list[Doc]) -> dict[str, int]:
    return {
        "documents": len(docs),
        "tokens": sum(len(d.tokens) for d in docs),
        "bytes": sum(d.utf8_bytes for d in docs),
    }


@dataclass
class Sets:
    """Training sets (set → source → documents) and evaluation sets (name → documents)."""

    train: dict[str, dict[str, list[Doc]]]
    evals: dict[str, list[Doc]]
    tokenizer: dict


def build_sets(
    *,
    tokens: Path,
    data: Path,
    tokenizer: Path,
    wet: list[str],
    mixture: Mixture,
    fraction: float,
) -> Sets:
    """The four training sets and the evaluation sets from `make corpus`'s output."""
    model = tokenizer.read_bytes()
    encoder, decoder = Encoder(model, name=str(tokenizer)), Decoder(model)
    sources = open_sources(tokens, list(mixture.sources))
    if CC not in sources:
        raise AblationError(f"{tokens}/{CC}: no token shards; run `make corpus` first")
    shas = {s.tokenizer_sha256 for s in sources.values()}
    if shas != {encoder.sha256}:
        raise AblationError(
            f"the token shards under {tokens} were made by another tokenizer than {tokenizer} "
            f"({sorted(shas)} vs {encoder.sha256}): give the one `make corpus` used (TOKENIZER=)"
        )
    entry = dict(next(iter(sources.values())).manifest["tokenizer"])
    documents = {name: source_documents(source, decoder) for name, source in sources.items()}

    evals: dict[str, list[Doc]] = {}
    for name in mixture.sources:
        if name == C4:
            validation = data / C4 / "validation"
            docs = encode_documents(encoder, parquet_texts(validation))
            if docs:
                evals[name] = docs
        elif name in sources:
            held = held_out_ids(sources[name], fraction)
            evals[name] = [d for d in documents[name] if d.id in held]
    excluded = {page_key(d.id) for docs in evals.values() for d in docs}

    def kept(docs: Iterable[Doc]) -> list[Doc]:
        return [d for d in docs if page_key(d.id) not in excluded]

    curated = kept(documents[CC])
    head_ids = set()
    for directory in sorted((data / CC / "documents").glob("*_head")):
        head_ids.update(parquet_column(directory, "id"))
    head = [d for d in curated if d.id in head_ids]
    paths = sorted({p for pattern in wet for p in glob.glob(pattern)})
    if not paths:
        raise AblationError(f"no WET file matches {wet}: the text-only set needs the crawl's pages")
    text_only = kept(encode_documents(encoder, wet_pages(paths)))
    train = {
        "curated": {CC: curated},
        "text_only": {CC: text_only},
        "head": {CC: head},
        "mixture": {name: kept(docs) for name, docs in documents.items()},
    }
    for set_name, by_source in train.items():
        empty = [name for name, docs in by_source.items() if not docs]
        if empty:
            raise AblationError(f"training set {set_name}: no documents for {empty}")
    check_disjoint(
        {s: {src: [d.id for d in docs] for src, docs in by.items()} for s, by in train.items()},
        {name: [d.id for d in docs] for name, docs in evals.items()},
    )
    return Sets(train=train, evals=evals, tokenizer=entry)


def check_disjoint(
    train: Mapping[str, Mapping[str, Iterable[str]]], evals: Mapping[str, Iterable[str]]
) -> None:
    """Raises unless no evaluated page is in any training set: ids compared by `page_key`."""
    held = {page_key(doc_id): name for name, ids in evals.items() for doc_id in ids}
    clashes = [
        f"{set_name}/{source} trains on {doc_id} of eval set {held[page_key(doc_id)]}"
        for set_name, by_source in train.items()
        for source, ids in by_source.items()
        for doc_id in ids
        if page_key(doc_id) in held
    ]
    if clashes:
        raise AblationError(
            f"{len(clashes)} evaluated documents are in a training set: " + "; ".join(clashes[:5])
        )


def token_dir_ids(directory: Path) -> list[str]:
    """The ids of a written token source, in shard and row order."""
    source = TokenSource(directory)
    return [shard.document_id(i) for shard in source.shards for i in range(len(shard))]


def write_sets(sets: Sets, output: Path, num_shards: int) -> dict:
    """`<output>/sets/<set>/<source>/` and `<output>/eval/<name>/`; what each holds."""
    written: dict = {"train": {}, "eval": {}}
    for set_name, by_source in sets.train.items():
        root = output / "sets" / set_name
        if root.exists():
            shutil.rmtree(root)
        written["train"][set_name] = {source: counts(docs) for source, docs in by_source.items()}
        for source, docs in by_source.items():
            write_token_source(root / source, source, docs, sets.tokenizer, num_shards)
    if (output / "eval").exists():
        shutil.rmtree(output / "eval")
    for name, docs in sets.evals.items():
        write_token_source(output / "eval" / name, name, docs, sets.tokenizer, num_shards)
        written["eval"][name] = counts(docs)
    return written
