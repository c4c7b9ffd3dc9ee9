"""LLaMA (Touvron et al. 2023), readable in one sitting, with Meta's parameter names.

Contract (what training/train.py relies on):

    model = Transformer(args)       # initialised by init_weights(); seed with torch.manual_seed
    logits = model(tokens)          # tokens LongTensor[B, T], T <= args.max_seq_len
                                    #   -> float32 logits [B, T, vocab_size]
    loss = model(tokens, targets)   # targets LongTensor[B, T]; -100 marks positions to skip
                                    #   -> scalar: mean cross-entropy over the other positions

The loss never materialises the [B, T, vocab] logits: training/loss.py projects and scores
`model.loss_chunk` rows at a time (default: ~32M logits per chunk; `Transformer(args,
loss_chunk=0)` or setting the attribute to 0 selects the plain F.cross_entropy over fp32 logits,
the reference the chunked loss is tested against).

Large models are built without allocating memory, then materialised where they will live:

    with torch.device("meta"):
        model = Transformer(args)
    # ... shard (FSDP2 fully_shard per block of model.layers, then the root) ...
    model.to_empty(device="cuda")
    model.init_weights()            # also recomputes the RoPE tables, which to_empty leaves empty

The state dict holds exactly Meta's names (`tok_embeddings`, `layers.N.attention.wq`, ...,
`output`), so `model.load_state_dict(torch.load("consolidated.00.pth"))` loads an official
single-shard checkpoint; its `rope.freqs` entry is dropped on load. RoPE pairs adjacent
dimensions (Meta's complex layout) but is computed with real cos/sin tables, which torch.compile
and FSDP handle without complex tensors. Attention is scaled_dot_product_attention with
is_causal=True: no mask and no attention weights are materialised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.loss import IGNORE_INDEX, default_chunk, linear_cross_entropy


@dataclass(frozen=True)
class ModelArgs:
    """Shape of the network plus the training facts the paper ties to each size."""

    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None  # None: as many as n_heads (no grouped-query attention)
    vocab_size: int = 32000
    multiple_of: int = 256  # the SwiGLU hidden size is rounded up to a multiple of this
    ffn_dim_multiplier: float | None = None  # Llama 2 70B: 1.3
    norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    max_seq_len: int = 2048
    lr: float = 3e-4  # peak learning rate
    adam_eps: float = 1e-8
    tokens: int = 1_000_000_000_000  # training budget
    batch_tokens: int = 4_194_304  # tokens per optimizer step (2048 sequences x 2048)

    def __post_init__(self) -> None:
        if self.dim % self.n_heads or (self.dim // self.n_heads) % 2:
            raise ValueError(f"dim {self.dim} must split into {self.n_heads} heads of even size")
        if self.n_heads % self.kv_heads:
            raise ValueError(
                f"n_heads {self.n_heads} is not a multiple of n_kv_heads {self.kv_heads}"
            )

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_heads

    @property
    def kv_heads(self) -> int:
        return self.n_kv_heads or self.n_heads


def ffn_hidden(args: ModelArgs) -> int:
    """SwiGLU hidden size: 2/3 of 4·dim (same FLOPs as a 4·dim MLP), scaled, rounded up."""
    hidden = int(2 * 4 * args.dim / 3)
    if args.ffn_dim_multiplier is not None:
        hidden = int(args.ffn_dim_multiplier * hidden)
    return args.multiple_of * -(-hidden // args.multiple_of)


_LLAMA1 = dict(norm_eps=1e-6, max_seq_len=2048, adam_eps=1e-8)
_LLAMA2 = dict(norm_eps=1e-5, max_seq_len=4096, adam_eps=1e-5, tokens=2_000_000_000_000)

PRESETS: dict[str, ModelArgs] = {
    # LLaMA-1 (paper Table 2; params.json). 65B's params.json says norm_eps 1e-5, unlike the others.
    "llama-7b": ModelArgs(dim=4096, n_layers=32, n_heads=32, lr=3e-4, tokens=10**12, **_LLAMA1),
    "llama-13b": ModelArgs(dim=5120, n_layers=40, n_heads=40, lr=3e-4, tokens=10**12, **_LLAMA1),
    "llama-33b": ModelArgs(
        dim=6656, n_layers=60, n_heads=52, lr=1.5e-4, tokens=14 * 10**11, **_LLAMA1
    ),
    "llama-65b": ModelArgs(
        dim=8192,
        n_layers=80,
        n_heads=64,
        lr=1.5e-4,
        tokens=14 * 10**11,
        **(_LLAMA1 | {"norm_eps": 1e-5}),
    ),
    # Llama 2 (paper Table 1; params.json): context 4096, AdamW eps 1e-5, 2T tokens, 70B uses GQA.
    "llama2-7b": ModelArgs(dim=4096, n_layers=32, n_heads=32, lr=3e-4, **_LLAMA2),
    "llama2-13b": ModelArgs(dim=5120, n_layers=40, n_heads=40, lr=3e-4, **_LLAMA2),
    "llama2-70b": ModelArgs(
        dim=8192,
        n_layers=80,
        n_heads=64,
        n_kv_heads=8,
        ffn_dim_multiplier=1.3,
        multiple_of=4096,
        lr=1.5e-4,
        **_LLAMA2,
    ),
    # Small LLaMA-1-shaped models for tests and single-GPU runs (parameters with vocab 32000:
    # tiny 4.2M, 20m 19.8M, 125m 134M, 350m 374M, 1b 953M). Widths, depths and learning rates
    # follow the GPT-3 table (125M: 6e-4, 350M: 3e-4, 760M-1.3B: 2.5e-4-2e-4); 20m follows
    # Pythia's smallest models (1e-3); llama-1b takes Llama 3.2 1B's width and depth. Budgets are
    # about 20 tokens per parameter (Chinchilla), batches GPT-3's 0.5M/1M tokens. llama-tiny is for
    # tests and CPU smoke runs (1,000 steps of 16 x 256 tokens).
    "llama-tiny": ModelArgs(
        dim=64, n_layers=2, n_heads=4, max_seq_len=256, lr=1e-3, tokens=4_096_000, batch_tokens=4096
    ),
    "llama-20m": ModelArgs(
        dim=256, n_layers=4, n_heads=4, lr=1e-3, tokens=400_000_000, batch_tokens=131_072
    ),
    "llama-125m": ModelArgs(
        dim=768, n_layers=12, n_heads=12, lr=6e-4, tokens=2_700_000_000, batch_tokens=524_288
    ),
    "llama-350m": ModelArgs(
        dim=1024, n_layers=24, n_heads=16, lr=3e-4, tokens=7_400_000_000, batch_tokens=524_288
    ),
    "llama-1b": ModelArgs(
        dim=2048, n_layers=16, n_heads=16, lr=2.5e-4, tokens=19_000_000_000, batch_tokens=1_048_576
    ),
}


def get_preset(name: str, **overrides: object) -> ModelArgs:
    """The named preset with fields replaced, e.g. `get_preset("llama-tiny", vocab_size=512)`."""
    if name not in PRESETS:
        raise KeyError(f"unknown model preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def rope_tables(args: ModelArgs, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """cos and sin [max_seq_len, head_dim/2] of position·theta^(-2i/head_dim), fp32 as Meta's."""
    hd = args.head_dim
    freqs = 1.0 / (
        args.rope_theta ** (torch.arange(0, hd, 2, device=device)[: hd // 2].float() / hd)
    )
    angles = torch.outer(torch.arange(args.max_seq_len, device=device).float(), freqs)
    return angles.cos(), angles.sin()


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate each adjacent pair (x[2i], x[2i+1]) of x [B, T, H, hd] by angle i; fp32, cast back.

    Equals Meta's `view_as_complex(x.reshape(..., -1, 2)) * freqs_cis` without complex tensors.
    """
    xf = x.float().unflatten(-1, (-1, 2))
    x0, x1 = xf[..., 0], xf[..., 1]
    cos, sin = cos[:, None, :], sin[:, None, :]  # broadcast over heads
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2).type_as(x)


class RMSNorm(nn.Module):
    """x / rms(x) · weight, normalised in fp32 and cast back before the weight (as Meta's)."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class Attention(nn.Module):
    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads, self.head_dim = args.n_heads, args.kv_heads, args.head_dim
        self.wq = nn.Linear(args.dim, args.n_heads * args.head_dim, bias=False)
        self.wk = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
        self.wv = nn.Linear(args.dim, args.kv_heads * args.head_dim, bias=False)
        self.wo = nn.Linear(args.n_heads * args.head_dim, args.dim, bias=False)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        B, T, _ = x.shape
        q = apply_rope(self.wq(x).view(B, T, self.n_heads, self.head_dim), cos, sin)
        k = apply_rope(self.wk(x).view(B, T, self.n_kv_heads, self.head_dim), cos, sin)
        v = self.wv(x).view(B, T, self.n_kv_heads, self.head_dim)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # [B, H, T, hd]
        if (rep := self.n_heads // self.n_kv_heads) > 1:  # GQA: kv head j serves q heads j·rep...
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.wo(y.transpose(1, 2).reshape(B, T, -1))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) · w3 x); w1 is the gate, w3 the up and w2 the down projection."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        hidden = ffn_hidden(args)
        self.w1 = nn.Linear(args.dim, hidden, bias=False)
        self.w2 = nn.Linear(hidden, args.dim, bias=False)
        self.w3 = nn.Linear(args.dim, hidden, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class TransformerBlock(nn.Module):
    """Pre-normalisation: h = x + attention(norm(x)); out = h + feed_forward(norm(h))."""

    def __init__(self, args: ModelArgs) -> None:
        super().__init__()
        self.attention = Attention(args)
        self.feed_forward = FeedForward(args)
        self.attention_norm = RMSNorm(args.dim, args.norm_eps)
        self.ffn_norm = RMSNorm(args.dim, args.norm_eps)

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
        h = x + self.attention(self.attention_norm(x), cos, sin)
        return h + self.feed_forward(self.ffn_norm(h))


class Transformer(nn.Module):
    def __init__(self, args: ModelArgs, loss_chunk: int | None = None) -> None:
        super().__init__()
        self.args = args
        # Rows per chunk of the loss; None: default_chunk(vocab); 0: plain (whole fp32 logits).
        self.loss_chunk = default_chunk(args.vocab_size) if loss_chunk is None else loss_chunk
        self.tok_embeddings = nn.Embedding(args.vocab_size, args.dim)
        self.layers = nn.ModuleList(TransformerBlock(args) for _ in range(args.n_layers))
        self.norm = RMSNorm(args.dim, args.norm_eps)
        self.output = nn.Linear(args.dim, args.vocab_size, bias=False)
        # Not persistent: derived from args, so checkpoints carry no RoPE entry.
        cos, sin = rope_tables(args)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.register_load_state_dict_pre_hook(_drop_meta_rope_freqs)
        self.init_weights()

    def reset_rope(self) -> None:
        """Recompute the RoPE tables on the CPU (identical bits on every device), then move them."""
        cos, sin = rope_tables(self.args, device="cpu")
        self.rope_cos = cos.to(self.rope_cos.device)
        self.rope_sin = sin.to(self.rope_sin.device)

    @torch.no_grad()
    def init_weights(self) -> None:
        """N(0, 0.02) for embeddings and linears; N(0, 0.02/sqrt(2·n_layers)) for wo and w2.

        The two projections that write into the residual stream are scaled down (GPT-2, nanoGPT) so
        its variance does not grow with depth. RMSNorm weights start at one. Randomness comes from
        the caller's torch RNG state; nothing is seeded here.
        """
        self.reset_rope()
        residual_std = 0.02 / math.sqrt(2 * self.args.n_layers)
        for name, p in self.named_parameters():
            if p.ndim == 1:
                nn.init.ones_(p)
            elif name.endswith(("attention.wo.weight", "feed_forward.w2.weight")):
                nn.init.normal_(p, mean=0.0, std=residual_std)
            else:
                nn.init.normal_(p, mean=0.0, std=0.02)

    def forward(self, tokens: Tensor, targets: Tensor | None = None) -> Tensor:
        seq_len = tokens.shape[1]
        if seq_len > self.args.max_seq_len:
            raise ValueError(f"{seq_len} tokens exceed max_seq_len {self.args.max_seq_len}")
        h = self.tok_embeddings(tokens)
        cos, sin = self.rope_cos[:seq_len], self.rope_sin[:seq_len]
        for layer in self.layers:
            h = layer(h, cos, sin)
        h = self.norm(h)
        if targets is None:
            return self.output(h).float()
        if self.loss_chunk:
            return linear_cross_entropy(h, self.output.weight, targets, self.loss_chunk)
        logits = self.output(h).float()
        return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE_INDEX)


def _drop_meta_rope_freqs(module: nn.Module, state_dict: dict, prefix: str, *_: object) -> None:
    """Meta's consolidated.*.pth carry `rope.freqs`, a buffer our model recomputes instead."""
    state_dict.pop(prefix + "rope.freqs", None)


def num_params(model: nn.Module | ModelArgs, exclude_embedding: bool = False) -> int:
    """Parameter count of a model or, computed from shapes, of a ModelArgs.

    exclude_embedding drops the input embedding only (a lookup, not a matmul); the untied output
    matrix stays, as in the PaLM/torchtitan FLOP count.
    """
    if isinstance(model, nn.Module):
        n = sum(p.numel() for p in model.parameters())
        return n - model.tok_embeddings.weight.numel() if exclude_embedding else n
    a = model
    q, kv = a.n_heads * a.head_dim, a.kv_heads * a.head_dim
    per_layer = a.dim * (2 * q + 2 * kv) + 3 * a.dim * ffn_hidden(a) + 2 * a.dim
    return a.n_layers * per_layer + a.dim + a.vocab_size * a.dim * (1 if exclude_embedding else 2)


def flops_per_token(args: ModelArgs, seq_len: int) -> int:
    """Training FLOPs per token (forward + backward), PaLM appendix B: 6·N + 12·L·d·T.

    N excludes the input embedding; 12·L·d·T is QK^T and AV without causal halving and without
    recomputation, so MFU from this figure is comparable with torchtitan's and nanoGPT's.
    """
    return 6 * num_params(args, exclude_embedding=True) + 12 * args.n_layers * args.dim * seq_len


@torch.no_grad()
def generate(model: Transformer, tokens: Tensor, max_new_tokens: int) -> Tensor:
    """Greedy decoding without a KV cache: each step reruns the last max_seq_len tokens.

    Slow but has no state to get wrong; it exists to check a trained or converted model.
    Returns tokens [B, T + max_new_tokens].
    """
    for _ in range(max_new_tokens):
        logits = model(tokens[:, -model.args.max_seq_len :])
        tokens = torch.cat((tokens, logits[:, -1].argmax(-1, keepdim=True)), dim=1)
    return tokens
