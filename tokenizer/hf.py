"""The SentencePiece tokenizer as a Hugging Face `LlamaTokenizer`, giving SentencePiece's own ids.

transformers 5 has one Llama tokenizer class, backed by `tokenizers` (`LlamaTokenizerFast` is an
alias of `LlamaTokenizer`; the sentencepiece-backed slow class is gone). Three things keep it from
reproducing our model as it comes:
- its reader of `.model` files imports sentencepiece's generated protobuf module, which needs a
  newer protobuf runtime than apache-beam allows (sentencepiece 0.2.3's is generated for protobuf
  7; beam needs < 7), then falls back to a tiktoken reader and fails. The vocabulary and merges
  are read with SentencePiece instead, the specs with transformers' own protobuf module.
- its `Metaspace` pre-tokenizer adds the dummy prefix "▁" only when the text does not start with a
  space; SentencePiece always adds it (" a" is "▁▁a"). The normalizer Hugging Face's converter gives
  the original LLaMA tokenizer (prepend "▁", spaces to "▁", no pre-tokenizer) is used instead.
- it reads "<s>" in a text as the BOS token; SentencePiece reads it as text: `split_special_tokens`.
`LlamaTokenizer.from_pretrained` rebuilds the Metaspace pipeline from a saved directory, so
`save_hf` saves one that `AutoTokenizer` loads as the generic `TokenizersBackend`, unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import sentencepiece
from tokenizers import normalizers
from transformers import LlamaTokenizer
from transformers.tokenization_utils_base import generate_merges
from transformers.utils import sentencepiece_model_pb2_new as model_pb2

BPE = model_pb2.TrainerSpec.ModelType.BPE


def model_proto(path: str | Path) -> model_pb2.ModelProto:
    """The `.model` file's protobuf: trainer and normalizer specs, pieces."""
    proto = model_pb2.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    return proto


def _check(path: str | Path, proto: model_pb2.ModelProto) -> None:
    trainer, norm = proto.trainer_spec, proto.normalizer_spec
    special_ids = (trainer.unk_id, trainer.bos_id, trainer.eos_id)
    checks = {
        "model_type is not BPE": trainer.model_type == BPE,
        "byte_fallback is off": trainer.byte_fallback,
        f"normalizer is {norm.name!r}, not identity": norm.name == "identity",
        "add_dummy_prefix is off": norm.add_dummy_prefix,
        "remove_extra_whitespaces is on": not norm.remove_extra_whitespaces,
        "<unk>, <s>, </s> are not ids 0, 1, 2": special_ids == (0, 1, 2),
    }
    wrong = [what for what, ok in checks.items() if not ok]
    if wrong:
        raise ValueError(
            f"{path}: not a LLaMA-style SentencePiece model ({'; '.join(wrong)}): "
            "train one with `make tokenizer`"
        )


def hf_tokenizer(model_path: str | Path) -> LlamaTokenizer:
    """A `LlamaTokenizer` (= `LlamaTokenizerFast`) with SentencePiece's ids and decoding.

    Like Meta's, it adds `<s>` and not `</s>` when `add_special_tokens` is on (the default).
    """
    proto = model_proto(model_path)
    _check(model_path, proto)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model_path))
    vocab = {sp.id_to_piece(i): i for i in range(len(sp))}
    tokenizer = LlamaTokenizer(
        vocab=vocab,
        merges=generate_merges(vocab),
        unk_token=sp.id_to_piece(sp.unk_id()),
        bos_token=sp.id_to_piece(sp.bos_id()),
        eos_token=sp.id_to_piece(sp.eos_id()),
        add_bos_token=True,
        add_eos_token=False,
        add_prefix_space=True,
        split_special_tokens=True,
    )
    backend = tokenizer.backend_tokenizer
    backend.normalizer = normalizers.Sequence(
        [normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")]
    )
    backend.pre_tokenizer = None
    return tokenizer


def save_hf(model_path: str | Path, directory: str | Path) -> list[str]:
    """`tokenizer.json` and a `tokenizer_config.json` that `AutoTokenizer` loads unchanged."""
    files = list(hf_tokenizer(model_path).save_pretrained(str(directory)))
    config_path = Path(directory) / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["tokenizer_class"] = "TokenizersBackend"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return [f for f in files if Path(f).name in ("tokenizer.json", "tokenizer_config.json")]
