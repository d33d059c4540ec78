"""A small causal transformer (GPT-style), for comparison with the recurrent models.

Instead of carrying a state from character to character, every position looks directly at all the
earlier positions of its window (self-attention) and takes what it needs from them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..options import SettingError
from .base import CharModel, ModelConfig, State
from .describe import InputSpec, Probe, TrainingCost


@dataclass
class TransformerConfig(ModelConfig):
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    block_size: int = 64  # the longest window it can see (train with seq_len = block_size to use it all)
    dropout: float = 0.0


class CausalSelfAttention(nn.Module):
    """Multi-head attention where position t may only look at positions ≤ t (the causal mask):
    when predicting character t+1 the model must not see it."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.n_head, self.dropout = config.n_head, config.dropout
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd)  # queries, keys, values at once
        self.proj = nn.Linear(config.n_embd, config.n_embd)
        self.resid_drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # 3 × (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        # softmax(q k^T / sqrt(hs) + causal mask) v, computed by one fused call
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # heads side by side again
        return self.resid_drop(self.proj(y))

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` in eval mode as bare tensor operations: x (B, T, C) → (B, T, C), the same numbers.

        The same kernels on the same shapes as `forward` (nn.Linear on a contiguous (B, T, C) input is one
        addmm on (B·T, C); dropout is off), so the result is equal bit for bit; only nn.Module's per-call
        work is skipped, which at batch 1 costs about as much as this layer's arithmetic.
        """
        B, T, C = x.shape
        qkv = torch.addmm(self.qkv.bias, x.view(B * T, C), self.qkv.weight.t())  # (B·T, 3C)
        q, k, v = qkv.view(B, T, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)  # 3 × (B, nh, T, hs)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B * T, C)  # heads side by side again
        return torch.addmm(self.proj.bias, y, self.proj.weight.t()).view(B, T, C)

    def attention_weights(self, x: torch.Tensor) -> torch.Tensor:
        """softmax(q kᵀ / √hd + causal mask) from this module's own qkv weights: x (B, T, C) → (B, nh, T, T).

        `forward` uses a fused kernel that never forms this matrix; this recomputes it for the views,
        leaving the training path untouched.
        """
        B, T, C = x.shape
        q, k, _ = self.qkv(x).split(C, dim=2)  # (B, T, C) each
        hd = C // self.n_head
        q, k = (t.view(B, T, self.n_head, hd).transpose(1, 2) for t in (q, k))  # (B, nh, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hd)  # (B, nh, T, T)
        mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # True above the diagonal: the future
        return torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1)


class Block(nn.Module):
    """Pre-norm transformer block: x + attention(norm(x)), then x + MLP(norm(x)). Normalising
    before each sub-layer (GPT-2) keeps the residual path clean and trains stably without warm-up
    tricks."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(config.n_embd), nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config)
        self.mlp = nn.Sequential(nn.Linear(config.n_embd, 4 * config.n_embd), nn.GELU(),
                                 nn.Linear(4 * config.n_embd, config.n_embd), nn.Dropout(config.dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C) → (B, T, C)
        x = x + self.attn(self.ln1(x))  # positions exchange information
        return x + self.mlp(self.ln2(x))  # each position thinks on its own

    def infer(self, x: torch.Tensor) -> torch.Tensor:
        """`forward` in eval mode as bare tensor operations: x (B, T, C) → (B, T, C), equal bit for bit
        (see `CausalSelfAttention.infer`)."""
        B, T, C = x.shape
        x = x + self.attn.infer(_layer_norm(self.ln1, x))
        up, down = self.mlp[0], self.mlp[2]
        hidden = torch.addmm(up.bias, _layer_norm(self.ln2, x).view(B * T, C), up.weight.t())  # (B·T, 4C)
        return x + torch.addmm(down.bias, F.gelu(hidden), down.weight.t()).view(B, T, C)


def _layer_norm(norm: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    """norm(x) without the module call: x (..., C) → (..., C)."""
    return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


class Transformer(CharModel):
    """Vaswani et al. 2017, "Attention Is All You Need", decoder only, as in GPT-2 (Radford et al.
    2019) and nanoGPT.

    state: (B, ≤ block_size-1) long, the last characters seen; the next call attends to them.
    With no cache of keys and values, each call recomputes the window: simple, and cheap at this size.
    """

    Config = TransformerConfig
    title = "Transformer"
    noun = "a transformer"
    description = (
        "A small GPT-style causal transformer (Vaswani et al. 2017; Radford et al. 2019): each "
        "character's embedding plus a position embedding goes through blocks of masked self-attention, "
        "where every position looks directly at all earlier ones in its window, and a small "
        "feed-forward layer. No recurrence: it sees exactly the last block_size characters, all at "
        "once, which makes training parallel over positions. For comparison with the RNNs.")

    def __init__(self, vocab_size: int, config: TransformerConfig):
        super().__init__(vocab_size, config)
        if config.n_embd % config.n_head:
            raise SettingError("n_head", f"n_embd ({config.n_embd}) must be a multiple of n_head ({config.n_head}): "
                               "each head gets n_embd / n_head numbers; change one of them", config.n_head)
        self.tok_emb = nn.Embedding(vocab_size, config.n_embd)
        self.pos_emb = nn.Embedding(config.block_size, config.n_embd)  # attention itself ignores order
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd)
        self.head = nn.Linear(config.n_embd, vocab_size, bias=False)
        self.register_buffer("trained_len", torch.zeros((), dtype=torch.long))  # see `window_len`
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith(("attn.proj.weight", "mlp.2.weight")):
                # GPT-2: scale the layers that write into the residual path by 1/sqrt(2 n_layer), so
                # its variance does not grow with depth
                nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # small weights: logits start near 0, a near-uniform guess with a loss near ln(V)
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @property
    def context(self) -> int:
        return self.config.block_size

    @property
    def max_seq_len(self) -> int:
        return self.config.block_size

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        B, T = x.shape
        bs = self.config.block_size
        if T > bs:
            raise ValueError(f"the transformer sees at most block_size={bs} characters at once, got {T}")
        seq = x if state is None else torch.cat([state, x], dim=1)  # (B, P+T)
        if self.training:
            self.trained_len.clamp_(min=min(seq.shape[1], bs))
        window = seq[:, -self.window_len(T):]  # (B, W): older characters fall out of view
        pos = torch.arange(window.shape[1], device=x.device)  # (W,)
        h = self.drop(self.tok_emb(window) + self.pos_emb(pos))  # (B, W, C)
        for block in self.blocks:
            h = block(h)
        logits = self.head(self.ln_f(h[:, -T:]))  # (B, T, V): only x's positions are asked for
        return logits, seq[:, -(bs - 1):] if bs > 1 else seq[:, :0]  # (B, ≤ block_size-1)

    def step(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """x (B,) → logits (B, V), state (B, ≤ block_size-1): `forward` on one character, equal bit for bit.

        Sampling calls this once per character. Outside training and autograd it runs the same kernels on
        the same shapes as `forward` without nn.Module's per-call work (~30 module calls a step, a quarter
        of a step's time at batch 1 at the preset size). It still re-reads the whole window: the positions
        are learned and absolute, so once the window is full every character shifts every position, and
        cached keys and values would be stale (tests/test_samples_pinned.py holds the samples to this).
        """
        if self.training or torch.is_grad_enabled():
            return super().step(x, state)
        bs = self.config.block_size
        seq = x[:, None] if state is None else torch.cat([state, x[:, None]], dim=1)  # (B, P+1)
        window = seq[:, -self.window_len(1):]  # (B, W)
        h = F.embedding(window, self.tok_emb.weight) + self.pos_emb.weight[:window.shape[1]]  # (B, W, C)
        for block in self.blocks:
            h = block.infer(h)
        logits = F.linear(_layer_norm(self.ln_f, h[:, -1:]), self.head.weight)  # (B, 1, V)
        return logits[:, -1], seq[:, -(bs - 1):] if bs > 1 else seq[:, :0]

    def window_len(self, T: int = 1) -> int:
        """How many characters to look at when asked about T new ones.

        Position embeddings are learned: a model trained on 32-character windows has never used
        position 40, whose embedding is still random noise, and reading a longer window makes it
        much worse, not better. So it looks back at most as far as the longest window it was
        trained on (`trained_len`, saved with the weights), and at most block_size.
        """
        trained = int(self.trained_len) or self.config.block_size  # not trained yet: all alike
        return max(min(trained, self.config.block_size), T)

    # ---- the description -------------------------------------------------------------------------

    def input_layer(self) -> InputSpec:
        return InputSpec("embedding", self.tok_emb, self.tok_emb.weight, "tok_emb.weight (V, E)")

    def probes(self) -> list[Probe]:
        C, probes = self.config.n_embd, []
        for i, block in enumerate(self.blocks):
            gelu = next(m for m in block.mlp if isinstance(m, nn.GELU))
            probes += [Probe(f"block {i + 1} residual", C, "residual stream after this block", False, module=block),
                       Probe(f"block {i + 1} mlp", 4 * C, "the block's MLP hidden layer (GELU)", False, module=gelu)]
        return probes

    def attention_layers(self) -> list[nn.Module]:
        return [block.attn for block in self.blocks]

    def param_layers(self) -> dict[str, str]:
        return self.group_params([self.tok_emb, self.pos_emb], list(self.blocks), [self.ln_f, self.head])

    def cost(self, seq_len: int) -> TrainingCost:
        c, V, T = self.config, self.vocab_size, seq_len
        # per position: the token embedding is a lookup; QKᵀ and attention × V add 2·T·C multiply-adds per
        # layer. Backward keeps ≈ 18C per layer (qkv, attention output, the MLP's 4C twice, two norms …)
        # and the B·heads·T·T attention scores of every layer.
        return TrainingCost(self.num_params() - V * c.n_embd + 2 * c.n_layer * T * c.n_embd, c.n_embd,
                            18 * c.n_embd, c.n_layer, attention=c.n_head * T * T * c.n_layer,
                            dropout=bool(c.dropout))

    def named_sizes(self) -> dict[str, int]:
        c = self.config
        return {"V": self.vocab_size, "E": c.n_embd, "heads": c.n_head, "hd": c.n_embd // c.n_head,
                "3E": 3 * c.n_embd, "4E": 4 * c.n_embd}
