"""Conversion between our Meta-layout checkpoints and Hugging Face `LlamaForCausalLM`.

Only names and two permutations differ. Meta's RoPE rotates adjacent pairs (x[2i], x[2i+1]); HF's
rotates halves (x[i], x[i + hd/2]). Reordering the rows of wq and wk within each head
(0, 2, 4, ..., 1, 3, 5, ...) makes one rotation equal the other. q and k are permuted alike, so
attention scores, and hence logits, do not change (transformers' convert_llama_weights_to_hf.py).

`export_hf` is what `make export` calls. It writes a directory that `from_pretrained` loads:
config.json, generation_config.json, safetensors weights (one model.safetensors up to
max_shard_bytes, else numbered shards plus model.safetensors.index.json, HF's own layout) and,
given our SentencePiece model, tokenizer.model + tokenizer.json + tokenizer_config.json.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import sentencepiece as spm
import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn
from transformers import GenerationConfig, LlamaConfig

from tokenizer.hf import save_hf
from training.model import ModelArgs, ffn_hidden

_LAYER = {  # Meta name inside layers.N. -> HF name inside model.layers.N.
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP = {
    "tok_embeddings.weight": "model.embed_tokens.weight",
    "norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
# Buffers some checkpoints carry that both models recompute.
_IGNORED_META = ("rope.freqs",)
_IGNORED_HF_SUFFIX = ".rotary_emb.inv_freq"


def _names(args: ModelArgs) -> dict[str, str]:
    """Every Meta parameter name mapped to its HF name."""
    names = dict(_TOP)
    for i in range(args.n_layers):
        names |= {f"layers.{i}.{m}": f"model.layers.{i}.{h}" for m, h in _LAYER.items()}
    return names


def _check_keys(have: set[str], want: set[str], what: str) -> None:
    if have != want:
        missing, unexpected = sorted(want - have), sorted(have - want)
        raise KeyError(
            f"{what}: missing {missing[:5]} ({len(missing)}), "
            f"unexpected {unexpected[:5]} ({len(unexpected)})"
        )


def _permute(w: Tensor, n_heads: int) -> Tensor:
    """Meta (adjacent pairs) -> HF (halves): rows (0, 2, 4, ..., 1, 3, 5, ...) within each head."""
    rows, cols = w.shape
    return w.view(n_heads, rows // n_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def _unpermute(w: Tensor, n_heads: int) -> Tensor:
    rows, cols = w.shape
    return w.view(n_heads, 2, rows // n_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


def to_hf_state_dict(sd: Mapping[str, Tensor], args: ModelArgs) -> dict[str, Tensor]:
    """Our (Meta) state dict in HF LlamaForCausalLM names, wq/wk rows permuted per head."""
    sd = {k: v for k, v in sd.items() if k not in _IGNORED_META}
    names = _names(args)
    _check_keys(set(sd), set(names), "to_hf_state_dict")
    out = {}
    for name, t in sd.items():
        if name.endswith("attention.wq.weight"):
            t = _permute(t, args.n_heads)
        elif name.endswith("attention.wk.weight"):
            t = _permute(t, args.kv_heads)
        out[names[name]] = t
    return out


def from_hf_state_dict(sd: Mapping[str, Tensor], args: ModelArgs) -> dict[str, Tensor]:
    """The inverse of to_hf_state_dict."""
    sd = {k: v for k, v in sd.items() if not k.endswith(_IGNORED_HF_SUFFIX)}
    names = {h: m for m, h in _names(args).items()}
    _check_keys(set(sd), set(names), "from_hf_state_dict")
    out = {}
    for name, t in sd.items():
        meta = names[name]
        if meta.endswith("attention.wq.weight"):
            t = _unpermute(t, args.n_heads)
        elif meta.endswith("attention.wk.weight"):
            t = _unpermute(t, args.kv_heads)
        out[meta] = t
    return out


def hf_config(args: ModelArgs, dtype: torch.dtype = torch.float32) -> LlamaConfig:
    """The LlamaConfig of the same network; `dtype` is the dtype the weights are stored in."""
    return LlamaConfig(
        vocab_size=args.vocab_size,
        hidden_size=args.dim,
        intermediate_size=ffn_hidden(args),
        num_hidden_layers=args.n_layers,
        num_attention_heads=args.n_heads,
        num_key_value_heads=args.kv_heads,
        head_dim=args.head_dim,
        hidden_act="silu",
        max_position_embeddings=args.max_seq_len,
        rms_norm_eps=args.norm_eps,
        # transformers 5 keeps rope_theta inside rope_parameters (4.x had a top-level rope_theta).
        rope_parameters={"rope_type": "default", "rope_theta": args.rope_theta},
        tie_word_embeddings=False,
        attention_bias=False,
        mlp_bias=False,
        bos_token_id=1,
        eos_token_id=2,
        dtype=dtype,
    )


def _tokenizer_files(sp_model: Path, out: Path, args: ModelArgs) -> None:
    """tokenizer.model plus tokenizer.json/tokenizer_config.json with SentencePiece's exact ids."""
    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    if sp.get_piece_size() > args.vocab_size:
        raise ValueError(
            f"{sp_model} has {sp.get_piece_size()} pieces, more than vocab_size {args.vocab_size}"
        )
    save_hf(sp_model, out)
    shutil.copyfile(sp_model, out / "tokenizer.model")
    config_path = out / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["model_max_length"] = args.max_seq_len
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _save_weights(sd: dict[str, Tensor], out: Path, max_shard_bytes: int) -> None:
    """model.safetensors, or HF-style numbered shards plus an index when larger than one shard."""
    shards: list[dict[str, Tensor]] = [{}]
    size = 0
    for name, t in sd.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += nbytes
    if len(shards) == 1:
        save_file(shards[0], out / "model.safetensors", metadata={"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards, 1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, out / file, metadata={"format": "pt"})
        weight_map |= dict.fromkeys(shard, file)
    total = sum(t.numel() * t.element_size() for t in sd.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def export_hf(
    model: nn.Module | Mapping[str, Tensor],
    args: ModelArgs,
    out_dir: Path | str,
    tokenizer_model: Path | None = None,
    dtype: torch.dtype | None = None,
    max_shard_bytes: int = 5 * 2**30,
) -> Path:
    """Write a directory `LlamaForCausalLM.from_pretrained` (and AutoTokenizer) loads.

    `model` is our Transformer or its full state dict; under FSDP gather it first (e.g.
    get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True)))
    and call this on one rank. `dtype` casts the weights (e.g. torch.bfloat16 for release). The
    directory is built under a temporary name next to out_dir and renamed into place, replacing
    an earlier export, so a crash never leaves a half-written model.
    """
    sd = model.state_dict() if isinstance(model, nn.Module) else model
    if any(hasattr(t, "full_tensor") for t in sd.values()):
        raise TypeError("export_hf got sharded DTensors; pass a full state dict (see docstring)")
    hf_sd = {
        k: t.detach().to("cpu", dtype or t.dtype).contiguous()
        for k, t in to_hf_state_dict(sd, args).items()
    }
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _save_weights(hf_sd, tmp, max_shard_bytes)
        hf_config(args, next(iter(hf_sd.values())).dtype).save_pretrained(tmp)
        GenerationConfig(bos_token_id=1, eos_token_id=2).save_pretrained(tmp)
        if tokenizer_model is not None:
            _tokenizer_files(Path(tokenizer_model), tmp, args)
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def args_from_hf_config(cfg: Mapping) -> ModelArgs:
    """ModelArgs (training fields at their defaults) for a Llama config.json dict."""
    rope = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    dim, n_heads = cfg["hidden_size"], cfg["num_attention_heads"]
    unsupported = {
        "rope_type": rope.get("rope_type", rope.get("type", "default")) != "default",
        "hidden_act": cfg.get("hidden_act", "silu") != "silu",
        "attention_bias": cfg.get("attention_bias", False),
        "mlp_bias": cfg.get("mlp_bias", False),
        "head_dim": cfg.get("head_dim", dim // n_heads) != dim // n_heads,
    }
    if bad := [k for k, v in unsupported.items() if v]:
        raise ValueError(f"config.json: unsupported for LLaMA: {', '.join(bad)}")
    n_kv = cfg.get("num_key_value_heads") or n_heads
    args = ModelArgs(
        dim=dim,
        n_layers=cfg["num_hidden_layers"],
        n_heads=n_heads,
        n_kv_heads=None if n_kv == n_heads else n_kv,
        vocab_size=cfg["vocab_size"],
        norm_eps=cfg["rms_norm_eps"],
        rope_theta=float(rope.get("rope_theta", cfg.get("rope_theta", 10000.0))),
        max_seq_len=cfg["max_position_embeddings"],
    )
    # HF stores only the FFN size. Keep LLaMA's multiple_of 256 when it gives that size; otherwise
    # round up to the size itself, scaling down first when it is below 8·dim/3 (int() may then give
    # size - 1, which rounds up to size).
    hidden = cfg["intermediate_size"]
    if ffn_hidden(args) != hidden:
        base = int(2 * 4 * dim / 3)
        multiplier = None if base <= hidden else hidden / base
        args = replace(args, multiple_of=hidden, ffn_dim_multiplier=multiplier)
    if ffn_hidden(args) != hidden:
        raise ValueError(f"no multiple_of/ffn_dim_multiplier gives a hidden size of {hidden}")
    return args


def import_hf(path: Path | str) -> tuple[ModelArgs, dict[str, Tensor]]:
    """ModelArgs and a Meta-named state dict from a HF Llama directory (safetensors, any sharding).

    The training fields (lr, tokens, ...) are ModelArgs' defaults: HF configs do not record them.
    """
    path = Path(path)
    cfg = json.loads((path / "config.json").read_text())
    args = args_from_hf_config(cfg)
    if (index := path / "model.safetensors.index.json").exists():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    sd: dict[str, Tensor] = {}
    for file in files:
        sd |= load_file(path / file)
    if "lm_head.weight" not in sd and cfg.get("tie_word_embeddings"):
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"].clone()  # we never tie
    return args, from_hf_state_dict(sd, args)
