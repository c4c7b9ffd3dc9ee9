"""Train the LLaMA tokenizer (docs/recipe/tokenizer.md): SentencePiece BPE on a sample drawn by a
mixture's weights.

    python -m tokenizer.train --mix llama1 --data out --output models/tokenizer

The sample: each source of the mixture that has documents (`<data>/<source>/documents/**/
part-*.parquet`) gets a share of `--sample_chars` characters, its weight renormalised over those
sources (weights are shares of training tokens; characters are their proxy until a tokenizer
exists). A source's documents are taken in the order of a seeded hash of their ids until its share
is filled, the last one cut to fill it exactly; a source with less text gives all it has and the
report says so. One streaming pass over the `id` and `text` columns; only the sample is held in
memory, which SentencePiece needs anyway (it keeps every training sentence in memory).

SentencePiece reads one sentence per line, as Meta's trainer did: every non-empty line of a
document is a sentence. Meta's `max_sentence_length` (4,192 bytes) made SentencePiece skip longer
lines; here a line over MAX_SENTENCE_BYTES is split at a space instead, and the space dropped, since
the dummy prefix puts it back: "a b" and the sentences "a", "b" give the same words "▁a", "▁b".

Writes `<output>/<name>.model`, `<name>.vocab` and the model card `<name>.json` (the model's
sha256, which token-shard manifests carry, the trainer options, the sources and shares drawn).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import logging
import math
import re
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import sentencepiece

from core.files import file_sha256, write_atomically
from core.spm import largest_vocab, sentencepiece_bytes, vocab_text
from mixtures.mixture import Mixture, MixtureError, load_mixture

log = logging.getLogger("tokenizer")

DEFAULT_VOCAB_SIZE: Final = 32_000
DEFAULT_SAMPLE_CHARS: Final = 100_000_000
# Token shards store ids as uint16.
MAX_VOCAB_SIZE: Final = 1 << 16
MAX_SENTENCE_BYTES: Final = 1 << 16
# The pieces do not depend on the thread count (checked with 1, 2 and 16), but SentencePiece
# records it in the model, so a machine-dependent count would change the model's sha256 and make
# token shards from two machines look like two tokenizers. Fixed, as in pipelines/lm.py.
NUM_THREADS: Final = 16
# docs/recipe/tokenizer.md, and the trainer spec stored in Meta's tokenizer.model.
# input_sentence_size=0: every sentence of our sample is used (Meta let SentencePiece sample 200M
# sentences from its input).
SP_SETTINGS: Final[dict[str, Any]] = {
    "model_type": "bpe",
    "split_digits": True,
    "byte_fallback": True,
    "normalization_rule_name": "identity",
    "add_dummy_prefix": True,
    "remove_extra_whitespaces": False,
    "allow_whitespace_only_pieces": True,
    "split_by_unicode_script": True,
    "split_by_number": True,
    "split_by_whitespace": True,
    "max_sentencepiece_length": 16,
    "unk_id": 0,
    "bos_id": 1,
    "eos_id": 2,
    "pad_id": -1,
    "character_coverage": 0.99995,
    "max_sentence_length": MAX_SENTENCE_BYTES,
    "input_sentence_size": 0,
    "hard_vocab_limit": True,
}
# SentencePiece's messages when the vocabulary does not fit the sample.
_TOO_LOW = re.compile(r"smaller than required_chars\. (\d+) vs (\d+)")
_BATCH_ROWS: Final = 4096


class TokenizerError(Exception):
    """A failure the user can act on; `main` exits non-zero with its message."""


@dataclass
class Share:
    """One source's part of the sample: what the mixture asks and what was drawn."""

    name: str
    weight: float
    share: float
    target_chars: int
    files: list[Path]
    drawn_chars: int = 0
    documents: int = 0
    available_chars: int = 0
    available_documents: int = 0

    @property
    def short(self) -> bool:
        return self.drawn_chars < self.target_chars


@dataclass(order=True)
class _Doc:
    key: int
    file: int
    row: int
    text: str = field(compare=False)


def document_files(data: Path, source: str) -> list[Path]:
    return sorted((data / source / "documents").rglob("part-*.parquet"))


def doc_key(seed: int, source: str, doc_id: str) -> int:
    """The document's place in the sample order: a seeded 64-bit hash of its id."""
    digest = hashlib.blake2b(f"{seed}\0{source}\0{doc_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer shares of `total` in proportion to `weights`, summing to it (largest remainder)."""
    weight_sum = sum(weights.values())
    quotas = {name: total * w / weight_sum for name, w in weights.items()}
    shares = {name: math.floor(q) for name, q in quotas.items()}
    by_remainder = sorted(weights, key=lambda name: shares[name] - quotas[name])
    for name in by_remainder[: total - sum(shares.values())]:
        shares[name] += 1
    return shares


def plan(
    mixture: Mixture, data: Path, sources: Sequence[str] | None, sample_chars: int
) -> tuple[list[Share], list[str]]:
    """Each present source's share of the sample, and the sources without documents."""
    names = list(sources) if sources else list(mixture.sources)
    unknown = [n for n in names if n not in mixture.sources]
    if unknown:
        raise TokenizerError(
            f"--sources {', '.join(unknown)}: not in mixture {mixture.name} ({mixture.path}); "
            f"its sources are {', '.join(mixture.sources)}"
        )
    files = {name: document_files(data, name) for name in names}
    present = {name: f for name, f in files.items() if _rows(f) > 0}
    missing = [name for name in names if name not in present]
    if not present:
        raise TokenizerError(
            f"none of the sources of mixture {mixture.name} ({', '.join(names)}) has documents "
            f"under {data}/<source>/documents/ (part-*.parquet): run their pipelines first "
            "(make wikipedia, make commoncrawl, …) or point --data at their output"
        )
    weights = {name: mixture.sources[name].weight for name in present}
    targets = apportion(sample_chars, weights)
    total = sum(weights.values())
    shares = [
        Share(name, weights[name], weights[name] / total, targets[name], present[name])
        for name in present
    ]
    return shares, missing


def _rows(files: list[Path]) -> int:
    rows = 0
    for path in files:
        try:
            rows += pq.ParquetFile(path).metadata.num_rows
        except (pa.ArrowException, OSError) as exc:
            raise TokenizerError(f"{path}: not a readable Parquet file ({exc})") from exc
    return rows


def _batches(path: Path) -> Iterator[pa.RecordBatch]:
    try:
        parquet = pq.ParquetFile(path)
        missing = {"id", "text"} - set(parquet.schema_arrow.names)
        if missing:
            raise TokenizerError(
                f"{path}: no {', '.join(sorted(missing))} column; documents need `id` and `text` "
                '(docs/design.md, "Documents"): is this a pipeline\'s documents/ output?'
            )
        yield from parquet.iter_batches(batch_size=_BATCH_ROWS, columns=["id", "text"])
    except (pa.ArrowException, OSError) as exc:
        raise TokenizerError(f"{path}: cannot read documents ({exc})") from exc


def draw(share: Share, seed: int) -> list[_Doc]:
    """The documents of lowest key whose text fills `share.target_chars`, the last one cut.

    A max-heap keeps the shortest run of lowest keys seen so far that reaches the target, so
    memory stays at the sample's size while every document of the source is considered.
    """
    heap: list[tuple[int, int, int, int, str]] = []  # (-key, -file, -row, length, text)
    total = 0
    target = share.target_chars
    for file_index, path in enumerate(share.files):
        row = 0
        for batch in _batches(path):
            ids = batch.column(0).to_pylist()
            texts = batch.column(1)
            lengths = pc.fill_null(pc.utf8_length(texts), 0).to_pylist()
            for i, length in enumerate(lengths):
                if length == 0:
                    continue
                share.available_chars += length
                share.available_documents += 1
                key = doc_key(seed, share.name, str(ids[i]))
                entry = (-key, -file_index, -(row + i), length, "")
                if total >= target and (not heap or entry < heap[0]):
                    continue  # sorts after every document already chosen
                heapq.heappush(heap, (*entry[:4], texts[i].as_py()))
                total += length
                while total - heap[0][3] >= target:
                    total -= heapq.heappop(heap)[3]
            row += len(lengths)
    docs = sorted(_Doc(-k, -f, -r, text) for k, f, r, _, text in heap)
    if total > target:  # the minimal run overshoots by less than its last document
        docs[-1].text = docs[-1].text[: len(docs[-1].text) - (total - target)]
        total = target
    share.drawn_chars, share.documents = total, len(docs)
    return docs


def split_long(line: str, limit: int = MAX_SENTENCE_BYTES) -> Iterator[str]:
    """`line` in pieces of at most `limit` UTF-8 bytes, cut at a space (dropped) if there is one."""
    data = line.encode()
    while len(data) > limit:
        cut = data.rfind(b" ", 0, limit + 1)
        if cut > 0:
            yield data[:cut].decode()
            data = data[cut + 1 :]
            continue
        cut = limit
        while data[cut] & 0xC0 == 0x80:  # a UTF-8 continuation byte: back up to a character
            cut -= 1
        yield data[:cut].decode()
        data = data[cut:]
    if data:
        yield data.decode()


def sentences(text: str) -> Iterator[str]:
    """SentencePiece's training sentences of one document: its non-empty lines."""
    for line in text.split("\n"):
        if len(line) * 4 <= MAX_SENTENCE_BYTES or len(line.encode()) <= MAX_SENTENCE_BYTES:
            if line:
                yield line
        else:
            yield from split_long(line)


def write_sample(docs: list[_Doc], path: Path) -> dict[str, Any]:
    """The training sentences, one per line; their count and sha256 go into the model card."""
    digest = hashlib.sha256()
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for doc in docs:
            for sentence in sentences(doc.text):
                line = sentence + "\n"
                out.write(line)
                digest.update(line.encode())
                count += 1
    return {"sentences": count, "sentences_sha256": digest.hexdigest()}


def _train_once(sample: Path, vocab_size: int, num_threads: int) -> bytes:
    return sentencepiece_bytes(
        sample, vocab_size=vocab_size, num_threads=num_threads, **SP_SETTINGS
    )


def train_model(
    sample: Path, vocab_size: int, allow_smaller: bool, num_threads: int
) -> tuple[bytes, int]:
    """The model and its vocabulary size; a sample too small for `vocab_size` is an error unless
    `allow_smaller`, because the size fixes the model's embeddings and the ids of every shard."""
    try:
        return _train_once(sample, vocab_size, num_threads), vocab_size
    except RuntimeError as err:
        too_low = _TOO_LOW.search(str(err))
        if too_low:
            raise TokenizerError(
                f"--vocab_size {vocab_size} is too small: the 3 special pieces, 256 byte pieces "
                f"and the sample's characters need at least {too_low.group(2)}"
            ) from None
        allowed = largest_vocab(err)
        if allowed is None:
            raise TokenizerError(f"SentencePiece training failed: {err}") from err
    if not allow_smaller:
        raise TokenizerError(
            f"the sample is too small for {vocab_size:,} BPE pieces: SentencePiece can make at "
            f"most {allowed} from it. Draw more text (--sample_chars, make TOKENIZER_CHARS=; "
            f"more sources), ask for fewer pieces (--vocab_size {allowed}, make VOCAB={allowed}), "
            "or pass --allow_smaller_vocab to accept the largest size the sample supports"
        )
    log.warning("the sample supports %d pieces, not %d: training with %d", allowed, vocab_size,
                allowed)  # fmt: skip
    return _train_once(sample, allowed, num_threads), allowed


def describe(model_path: str | Path) -> dict[str, Any]:
    """The tokenizer entry of token-shard manifests: path, sha256, vocabulary size."""
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    return {"path": str(model_path), "sha256": file_sha256(model_path), "vocab_size": len(sp)}


def train(
    mixture: Mixture,
    data: Path,
    output: Path,
    *,
    name: str | None = None,
    sources: Sequence[str] | None = None,
    vocab_size: int = DEFAULT_VOCAB_SIZE,
    sample_chars: int = DEFAULT_SAMPLE_CHARS,
    seed: int = 0,
    allow_smaller_vocab: bool = False,
    num_threads: int = NUM_THREADS,
    command: str = "",
) -> dict[str, Any]:
    """Draws the sample, trains, writes the model, vocab and card; returns the card."""
    if not 1 <= vocab_size <= MAX_VOCAB_SIZE:
        raise TokenizerError(
            f"--vocab_size {vocab_size}: must be in 1..{MAX_VOCAB_SIZE} (token shards are uint16)"
        )
    if sample_chars < 1:
        raise TokenizerError(f"--sample_chars {sample_chars}: must be positive")
    name = name or mixture.name
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    shares, missing = plan(mixture, data, sources, sample_chars)
    docs: list[_Doc] = []
    for share in shares:
        drawn = draw(share, seed)
        docs.extend(drawn)
        if share.short:
            log.warning(
                "%s: %d characters, short of its target %d: all of it is used",
                share.name, share.available_chars, share.target_chars,
            )  # fmt: skip
    docs.sort()  # one seeded order across sources
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{name}.tokenizer-", dir=output) as tmp_name:
        tmp = Path(tmp_name)
        sample = write_sample(docs, tmp / "sample.txt")
        del docs
        if sample["sentences"] == 0:
            raise TokenizerError(f"the sources {', '.join(s.name for s in shares)} have no text")
        seconds["sample"] = time.perf_counter() - start

        start = time.perf_counter()
        model, actual_vocab = train_model(
            tmp / "sample.txt", vocab_size, allow_smaller_vocab, num_threads
        )
        seconds["train"] = time.perf_counter() - start
        model_path = output / f"{name}.model"
        write_atomically(model_path, model)
        write_atomically(output / f"{name}.vocab", vocab_text(model).encode("utf-8"))
        drawn_total = sum(s.drawn_chars for s in shares)
        card = {
            "tokenizer": describe(model_path),
            "vocab_size_requested": vocab_size,
            "sentencepiece": {
                **SP_SETTINGS,
                "vocab_size": actual_vocab,
                "num_threads": num_threads,
                "version": sentencepiece.__version__,
            },
            "mixture": {"name": mixture.name, "path": str(mixture.path)},
            "data": str(data),
            "sample": {
                "seed": seed,
                "sample_chars_requested": sample_chars,
                "characters": drawn_total,
                "documents": sum(s.documents for s in shares),
                **sample,
                "max_sentence_bytes": MAX_SENTENCE_BYTES,
                "sources": {
                    s.name: {
                        "weight": s.weight,
                        "target_share": s.share,
                        "target_chars": s.target_chars,
                        "drawn_chars": s.drawn_chars,
                        "drawn_share": s.drawn_chars / drawn_total,
                        "documents": s.documents,
                        "available_chars": s.available_chars,
                        "available_documents": s.available_documents,
                        "short": s.short,
                    }
                    for s in shares
                },
                "short": [s.name for s in shares if s.short],
                "missing": missing,
            },
            "command": command,
            "seconds": {step: round(s, 3) for step, s in seconds.items()},
        }
        write_atomically(output / f"{name}.json", (json.dumps(card, indent=1) + "\n").encode())
    return card


def print_card(card: dict[str, Any], output: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    sample = card["sample"]
    mixture, seed = card["mixture"]["name"], sample["seed"]
    table = Table(title=f"tokenizer sample: mixture {mixture}, seed {seed}")
    for column in ("source", "target", "drawn", "characters", "documents", "note"):
        table.add_column(column, justify="left" if column in ("source", "note") else "right")
    for name, s in sample["sources"].items():
        note = "short: all it has" if s["short"] else ""
        table.add_row(name, f"{s['target_share']:.2%}", f"{s['drawn_share']:.2%}",
                      f"{s['drawn_chars']:,}", f"{s['documents']:,}", note)  # fmt: skip
    console = Console()
    console.print(table)
    tok = card["tokenizer"]
    if sample["missing"]:
        console.print(f"no documents (left out): {', '.join(sample['missing'])}")
    console.print(
        f"{sample['characters']:,} characters, {sample['sentences']:,} sentences; "
        f"{tok['vocab_size']:,} pieces (requested {card['vocab_size_requested']:,})\n"
        f"wrote {tok['path']} (sha256 {tok['sha256']}), its .vocab and model card in {output}"
    )


def _source_list(text: str) -> list[str]:
    return [name for name in text.split(",") if name]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m tokenizer.train",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 2)[2],
    )
    parser.add_argument("--mix", default="llama1", help="mixture name or YAML path (llama1)")
    parser.add_argument("--data", type=Path, default=Path("out"), help="pipelines' output root")
    parser.add_argument("--output", type=Path, default=Path("models/tokenizer"))
    parser.add_argument("--name", help="file name of the outputs (default: the mixture's name)")
    parser.add_argument(
        "--sources", nargs="+", type=_source_list, help="a subset of the mixture's sources"
    )
    parser.add_argument("--vocab_size", type=int, default=DEFAULT_VOCAB_SIZE)
    parser.add_argument(
        "--sample_chars",
        type=int,
        default=DEFAULT_SAMPLE_CHARS,
        help="characters to draw; held in memory (about 30 bytes each on the bundled sample)",
    )
    parser.add_argument("--seed", type=int, default=0, help="which documents the sample takes")
    parser.add_argument(
        "--allow_smaller_vocab",
        action="store_true",
        help="train the largest vocabulary the sample supports when --vocab_size is too big",
    )
    parser.add_argument(
        "--num_threads",
        type=int,
        default=NUM_THREADS,
        help="SentencePiece threads; stored in the model, so another value changes its sha256",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    sources = [name for group in args.sources for name in group] if args.sources else None
    try:
        mixture = load_mixture(args.mix)
        card = train(
            mixture,
            args.data,
            args.output,
            name=args.name,
            sources=sources,
            vocab_size=args.vocab_size,
            sample_chars=args.sample_chars,
            seed=args.seed,
            allow_smaller_vocab=args.allow_smaller_vocab,
            num_threads=args.num_threads,
            command=shlex.join(["python", "-m", "tokenizer.train", *argv]),
        )
    except (TokenizerError, MixtureError) as err:
        raise SystemExit(f"tokenizer.train: error: {err}") from None
    print_card(card, args.output)
    return card


if __name__ == "__main__":
    main()
