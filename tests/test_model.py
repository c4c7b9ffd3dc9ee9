"""The LLaMA model: exact sizes, Meta names, RoPE, init, and parity with Hugging Face Llama."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sentencepiece as spm
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from training.hf import (
    args_from_hf_config,
    export_hf,
    from_hf_state_dict,
    hf_config,
    import_hf,
    to_hf_state_dict,
)
from training.model import (
    PRESETS,
    ModelArgs,
    Transformer,
    apply_rope,
    ffn_hidden,
    flops_per_token,
    generate,
    get_preset,
    num_params,
    rope_tables,
)

TINY = get_preset("llama-tiny", vocab_size=512, max_seq_len=64)  # dim 64, 2 layers, 4 heads of 16
TINY_GQA = replace(TINY, n_kv_heads=2)


def random_model(args: ModelArgs, seed: int = 0) -> Transformer:
    """Weights large enough that attention is far from uniform, so a RoPE or permutation error
    changes the logits (with the 0.02 init every score is ~0 and the softmax hides such errors)."""
    torch.manual_seed(seed)
    model = Transformer(args)
    with torch.no_grad():
        for p in model.parameters():
            if p.ndim == 1:
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, args.dim**-0.5)
    return model.eval()


def hf_model(args: ModelArgs, sd: dict[str, torch.Tensor]) -> LlamaForCausalLM:
    hf = AutoModelForCausalLM.from_config(hf_config(args), attn_implementation="eager")
    hf.load_state_dict(sd)  # strict: every name must match
    return hf.eval()


def tokens(args: ModelArgs, batch: int = 2, length: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randint(
        0, args.vocab_size, (batch, length), generator=torch.Generator().manual_seed(seed)
    )


# --- sizes --------------------------------------------------------------------------------------


# Llama 2 70B by hand: dim 8192, 80 layers, 64 heads of 128, 8 KV heads, FFN 28672, vocab 32000.
#   FFN: int(8·8192/3) = 21845; int(1.3 · 21845) = 28398; rounded up to a multiple of 4096: 28672.
#   per layer: wq 8192² = 67,108,864; wk + wv 2·8192·1024 = 16,777,216; wo 67,108,864;
#              w1 + w2 + w3 3·8192·28672 = 704,643,072; two norms 16,384 -> 855,654,400
#   total: 80·855,654,400 = 68,452,352,000 + embedding and output 2·32000·8192 = 524,288,000
#          + final norm 8192 = 68,976,648,192
@pytest.mark.parametrize(
    ("name", "params", "ffn"),
    [
        ("llama-7b", 6_738_415_616, 11008),
        ("llama-13b", 13_015_864_320, 13824),
        ("llama-33b", 32_528_943_616, 17920),
        ("llama-65b", 65_285_660_672, 22016),
        ("llama2-7b", 6_738_415_616, 11008),
        ("llama2-13b", 13_015_864_320, 13824),
        ("llama2-70b", 68_976_648_192, 28672),
    ],
)
def test_paper_sizes_have_exact_parameter_counts(name: str, params: int, ffn: int) -> None:
    args = PRESETS[name]
    with torch.device("meta"):
        model = Transformer(args)
    assert ffn_hidden(args) == ffn
    assert num_params(model) == params
    assert num_params(args) == params
    assert num_params(args, exclude_embedding=True) == params - args.vocab_size * args.dim


def test_llama2_70b_shapes() -> None:
    args = PRESETS["llama2-70b"]
    with torch.device("meta"):
        model = Transformer(args)
    attention = model.layers[0].attention
    assert attention.wq.weight.shape == (8192, 8192)
    assert attention.wk.weight.shape == attention.wv.weight.shape == (1024, 8192)
    assert model.layers[0].feed_forward.w2.weight.shape == (8192, 28672)
    assert (args.max_seq_len, args.norm_eps, args.adam_eps) == (4096, 1e-5, 1e-5)


def test_flops_per_token_7b() -> None:
    flops = flops_per_token(PRESETS["llama-7b"], 2048)
    assert flops == 6 * 6_607_343_616 + 12 * 32 * 4096 * 2048 == 42_865_287_168
    assert round(flops / 1e9, 2) == 42.87


def test_presets_and_overrides() -> None:
    assert get_preset("llama-125m", max_seq_len=512).max_seq_len == 512
    assert PRESETS["llama-125m"].max_seq_len == 2048  # the preset itself is untouched
    assert [PRESETS[n].lr for n in ("llama-7b", "llama-13b", "llama-33b", "llama-65b")] == [
        3e-4,
        3e-4,
        1.5e-4,
        1.5e-4,
    ]
    assert PRESETS["llama-65b"].norm_eps == 1e-5 and PRESETS["llama-7b"].norm_eps == 1e-6
    with pytest.raises(KeyError, match="llama-7b, llama-13b"):
        get_preset("llama-8b")
    with pytest.raises(ValueError, match="not a multiple of n_kv_heads"):
        ModelArgs(dim=64, n_layers=1, n_heads=4, n_kv_heads=3)


# --- names and loading --------------------------------------------------------------------------


def test_state_dict_has_meta_names_exactly() -> None:
    model = Transformer(TINY)
    layer = [
        "attention.wq",
        "attention.wk",
        "attention.wv",
        "attention.wo",
        "feed_forward.w1",
        "feed_forward.w2",
        "feed_forward.w3",
        "attention_norm",
        "ffn_norm",
    ]
    expected = {"tok_embeddings.weight", "norm.weight", "output.weight"}
    expected |= {f"layers.{i}.{name}.weight" for i in range(2) for name in layer}
    assert set(model.state_dict()) == expected
    assert model.layers[0].feed_forward.w1.weight.shape == (256, 64)  # int(8·64/3) = 170 -> 256


def test_loads_meta_checkpoint_with_rope_freqs() -> None:
    source = random_model(TINY)
    sd = source.state_dict() | {"rope.freqs": torch.ones(TINY.head_dim // 2)}
    target = Transformer(TINY)
    target.load_state_dict(sd)  # strict
    assert all(torch.equal(v, target.state_dict()[k]) for k, v in source.state_dict().items())
    with pytest.raises(RuntimeError, match=r"rope\.other"):  # only that one key is tolerated
        target.load_state_dict(sd | {"rope.other": torch.ones(1)})


# --- forward ------------------------------------------------------------------------------------


def meta_apply_rotary_emb(x: torch.Tensor, theta: float) -> torch.Tensor:
    """meta-llama/llama model.py: precompute_freqs_cis + apply_rotary_emb, on x [B, T, H, hd]."""
    _, seq_len, _, dim = x.shape
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2)[: (dim // 2)].float() / dim))
    freqs = torch.outer(torch.arange(seq_len), freqs).float()
    freqs_cis = torch.polar(torch.ones_like(freqs), freqs)
    x_ = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    return torch.view_as_real(x_ * freqs_cis[None, :, None, :]).flatten(3).type_as(x)


def test_rope_equals_meta_complex_formulation() -> None:
    args = ModelArgs(dim=512, n_layers=1, n_heads=4, max_seq_len=2048)  # head_dim 128
    torch.manual_seed(0)
    x = torch.randn(2, 2048, 4, 128)
    cos, sin = rope_tables(args)
    ours = apply_rope(x, cos, sin)
    assert torch.allclose(ours, meta_apply_rotary_emb(x, 10000.0), atol=1e-5, rtol=0)
    assert not torch.allclose(ours[:, 1:], x[:, 1:], atol=1e-2)  # it does rotate
    assert torch.equal(ours[:, 0], x[:, 0])  # position 0 is the identity


def test_loss_is_mean_cross_entropy_over_unmasked_targets() -> None:
    model = random_model(TINY)
    x, y = tokens(TINY, seed=1), tokens(TINY, seed=2)
    y[0, :10] = -100
    logits = model(x)
    assert logits.shape == (2, 24, TINY.vocab_size) and logits.dtype == torch.float32
    logp = logits.log_softmax(-1)
    keep = y != -100
    expected = -logp[keep].gather(-1, y[keep][:, None]).mean()
    assert torch.allclose(model(x, y), expected, atol=1e-6)
    assert model(x, y).ndim == 0
    with pytest.raises(ValueError, match="exceed max_seq_len 64"):
        model(tokens(TINY, length=65))


def test_meta_device_init() -> None:
    args = ModelArgs(dim=256, n_layers=8, n_heads=4, vocab_size=1000, max_seq_len=128)
    with torch.device("meta"):
        model = Transformer(args)
    assert model.layers[0].attention.wo.weight.is_meta
    model.to_empty(device="cpu")
    torch.manual_seed(0)
    model.init_weights()
    cos, sin = rope_tables(args)
    assert torch.equal(model.rope_cos, cos) and torch.equal(model.rope_sin, sin)
    wo = model.layers[3].attention.wo.weight  # 65,536 samples: std within 2% of 0.02/sqrt(16)
    assert abs(wo.std().item() / (0.02 / 4) - 1) < 0.02
    assert abs(model.layers[3].feed_forward.w1.weight.std().item() / 0.02 - 1) < 0.02
    assert abs(model.tok_embeddings.weight.std().item() / 0.02 - 1) < 0.02
    assert torch.equal(model.norm.weight, torch.ones(256))
    x = torch.randint(0, 1000, (2, 128), generator=torch.Generator().manual_seed(0))
    loss = model(x, x)
    # Logits start near N(0, σ²), σ² = 0.02²·dim = 0.1024 (normalised h, output std 0.02), so the
    # loss starts near ln(vocab) + σ²/2 = 6.9078 + 0.0512.
    assert abs(loss.item() - 6.959) < 0.03


# --- Hugging Face -------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [TINY, TINY_GQA], ids=["mha", "gqa"])
def test_same_logits_as_hf_llama(args: ModelArgs) -> None:
    model = random_model(args)
    x = tokens(args, length=48)
    hf = hf_model(args, to_hf_state_dict(model.state_dict(), args))
    with torch.no_grad():
        ours, theirs = model(x), hf(x).logits
    assert (ours - theirs).abs().max() < 1e-5
    # Renamed but not permuted, the logits differ: the comparison above can fail.
    sd = model.state_dict()
    renamed_only = dict(zip(to_hf_state_dict(sd, args), sd.values(), strict=True))
    with torch.no_grad():
        assert (hf_model(args, renamed_only)(x).logits - ours).abs().max() > 1e-2


@pytest.mark.parametrize("args", [TINY, TINY_GQA], ids=["mha", "gqa"])
def test_state_dict_round_trip_is_exact(args: ModelArgs) -> None:
    sd = random_model(args).state_dict()
    back = from_hf_state_dict(to_hf_state_dict(sd, args), args)
    assert back.keys() == sd.keys() and all(torch.equal(back[k], sd[k]) for k in sd)
    with pytest.raises(KeyError, match="_orig_mod"):
        to_hf_state_dict({f"_orig_mod.{k}": v for k, v in sd.items()}, args)


@pytest.mark.parametrize("name", ["llama-7b", "llama-65b", "llama2-70b", "llama-tiny"])
def test_hf_config_round_trip(name: str) -> None:
    args = PRESETS[name]
    cfg = hf_config(args).to_dict()
    assert cfg["rope_parameters"]["rope_theta"] == 10000.0 and not cfg["tie_word_embeddings"]
    back = args_from_hf_config(cfg)
    assert ffn_hidden(back) == cfg["intermediate_size"] == ffn_hidden(args)
    assert num_params(back) == num_params(args)
    assert (back.norm_eps, back.max_seq_len, back.kv_heads) == (
        args.norm_eps,
        args.max_seq_len,
        args.kv_heads,
    )


def test_greedy_generation_matches_hf() -> None:
    model = random_model(TINY_GQA, seed=3)
    hf = hf_model(TINY_GQA, to_hf_state_dict(model.state_dict(), TINY_GQA))
    hf.generation_config.eos_token_id = None  # ours never stops early
    prompt = tokens(TINY_GQA, length=5, seed=4)
    ours = generate(model, prompt, max_new_tokens=8)
    theirs = hf.generate(prompt, max_new_tokens=8, do_sample=False)
    assert ours.shape == (2, 13)
    assert torch.equal(ours, theirs)


# --- export -------------------------------------------------------------------------------------

CORPUS = [
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "In 1969, Apollo 11 landed on the Moon; 600 million people watched.",
    "Rotary embeddings rotate pairs of dimensions by position-dependent angles.",
    "Ünïcödé text, naïve café façades, and the word résumé appear here.",
    "def add(a, b):\n    return a + b  # a tiny function",
    "Prices rose 3.5% in March, then fell by 2.25% in April of 2023.",
    "Wikipedia is a free online encyclopedia written by volunteers.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
]


def train_sentencepiece(tmp_path: Path, name: str, **options: object) -> Path:
    (tmp_path / f"{name}.txt").write_text("\n".join(CORPUS * 20) + "\n")
    llama = dict(  # docs/recipe/tokenizer.md, with Meta's remove_extra_whitespaces=False
        model_type="bpe",
        vocab_size=400,  # 256 byte pieces + 3 specials + characters + merges
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        character_coverage=1.0,
    )
    spm.SentencePieceTrainer.train(
        input=str(tmp_path / f"{name}.txt"),
        model_prefix=str(tmp_path / name),
        minloglevel=2,
        **(llama | options),
    )
    return tmp_path / f"{name}.model"


TEXTS = [
    "The quick brown fox, 2024.",
    "  leading  and double spaces ",
    "naïve 漢字 🙂 emoji\n\tand control characters",
    "",
]


def test_export_and_import(tmp_path: Path) -> None:
    args = replace(TINY_GQA, vocab_size=400)
    model = random_model(args)
    sp_model = train_sentencepiece(tmp_path, "sp")
    out = export_hf(model, args, tmp_path / "hf", tokenizer_model=sp_model)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
    ]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
    x = tokens(args, length=32)
    hf = LlamaForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        assert (hf(x).logits - model(x)).abs().max() < 1e-5
    back_args, back_sd = import_hf(out)
    assert back_args == replace(
        args, lr=ModelArgs.lr, tokens=ModelArgs.tokens, batch_tokens=ModelArgs.batch_tokens
    )
    assert all(torch.equal(back_sd[k], v) for k, v in model.state_dict().items())

    sp = spm.SentencePieceProcessor(model_file=str(sp_model))
    tok = AutoTokenizer.from_pretrained(out)
    for text in TEXTS:
        ids = tok.encode(text)
        assert ids == [1, *sp.encode(text)]
        assert tok.decode(ids, skip_special_tokens=True) == text
    assert (tok.bos_token_id, tok.eos_token_id, tok.unk_token_id) == (1, 2, 0)

    # A second export replaces the first in place.
    export_hf(random_model(args, seed=9), args, out)
    assert not (out / "tokenizer.model").exists()
    assert not torch.equal(import_hf(out)[1]["output.weight"], back_sd["output.weight"])


def test_sharded_bf16_export(tmp_path: Path) -> None:
    model = random_model(TINY)
    out = export_hf(
        model.state_dict(), TINY, tmp_path / "hf", dtype=torch.bfloat16, max_shard_bytes=100_000
    )
    index = json.loads((out / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    n = len(shards)
    assert n > 1 and shards == [f"model-{i:05d}-of-{n:05d}.safetensors" for i in range(1, n + 1)]
    assert load_file(out / shards[0])["model.embed_tokens.weight"].dtype == torch.bfloat16
    assert json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    hf = LlamaForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    _, sd = import_hf(out)
    ours = Transformer(TINY).eval()
    ours.load_state_dict(sd)
    x = tokens(TINY)
    with torch.no_grad():
        assert (hf(x).logits - ours(x)).abs().max() < 1e-5
    assert all(torch.equal(sd[k], v.bfloat16()) for k, v in model.state_dict().items())
