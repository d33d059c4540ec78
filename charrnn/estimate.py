"""What a run will cost before it is built: memory (bytes) and the time of one training step (seconds).

    estimate(model_name, config, vocab_size, batch_size, seq_len, dropout) ─► Estimate

The run plan checks this against a server's budget (`run.Limits.max_run_mb`, `max_step_seconds`) before any
weight or batch is allocated, so that one request cannot take a shared server's memory (each setting can be
in its own range while their product is not), and the message can say which setting to lower and to what.
Uploaded checkpoints are sized the same way from their header before any tensor is read.

Memory, in float32 bytes:
    parameters × 16          weights, their gradients and AdamW's two moments
    activations × 4 × 2      what backward keeps per position: B·T × (input + layers × per-layer width),
                             doubled for autograd's temporaries (and dropout masks)
    logits × 4 × 3           B·T·V scores, their softmax and its gradient (cross-entropy)
    attention × 4 × 3        B·heads·T·T per transformer layer (scores, softmax, gradient)
The per-layer widths are read from each family's cell: an LSTM keeps its four gates, the cell state and
its tanh (≈ 7H per position), a GRU ≈ 6H, a tanh RNN ≈ 2H; the hand-written cells keep each
intermediate of their Python loop (about twice as much). Measured against peak RSS on this project's
machine (tests/test_estimate.py, benchmarks/README.md), the estimate is within a factor of two, and errs
high: it is a bound for refusing, not an accounting.

Step time: 6 × (multiply-adds per position) × B·T floating-point operations (forward 2, backward 4;
Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1) at `FLOPS`, the softmax and
cross-entropy over B·T·V logits, and, for the hand-written cells, a fixed Python overhead per time step and
layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import ModelConfig, model_class

# Calibrated on this project's 2-core CPU, one thread, fp32 (tests/test_estimate.py prints the table):
# LSTM H512×2 B64×T256 3.3 s/step (estimated 4.0), GRU H1024 B32×T128 1.3 (1.0), transformer 4×128
# B32×T256 0.64 (0.67), GRU-scratch H256×2 B64×T64 0.26 (0.27).
FLOPS = 80e9  # float32 operations per second one thread sustains in these models' matrix products
SCRATCH_STEP_SECONDS = 3e-4  # Python overhead of a hand-written cell per time step and layer (fwd + bwd)
LOGIT_SECONDS = 1.8e-8  # softmax and cross-entropy, forward and backward, per logit (B·T·V): measured with a
#                         19,000-character vocabulary, GRU H64, B16×T64: 0.45 s a step, 0.10 s of it products
NGRAM_SECONDS = 3e-8  # the n-gram scoring one position for one character and one order (86 ns at order 3)
COUNT_SECONDS = 1e-7  # the n-gram counting one character
EVAL_PIECE_LOGITS = 2**21  # a validation piece holds at most this many scores (positions × V): see train.py
MB = 1024 * 1024


@dataclass(frozen=True)
class Estimate:
    params: int
    param_bytes: int  # weights + gradients + AdamW moments
    activation_bytes: int  # what backward keeps, incl. the input embedding or one-hot vectors
    logits_bytes: int
    attention_bytes: int
    step_seconds: float  # one training step on one thread of this machine
    eval_chars_per_second: float = 0.0  # a validation pass (forward only), characters a second

    @property
    def total_bytes(self) -> int:
        return self.param_bytes + self.activation_bytes + self.logits_bytes + self.attention_bytes

    @property
    def total_mb(self) -> float:
        return self.total_bytes / MB

    def largest(self) -> str:
        """Which part costs most: "parameters" | "activations" | "logits" | "attention"."""
        parts = {"parameters": self.param_bytes, "activations": self.activation_bytes,
                 "logits": self.logits_bytes, "attention": self.attention_bytes}
        return max(parts, key=parts.get)


def count_params(model_name: str, config: ModelConfig, vocab_size: int) -> int:
    """Parameters of the model, counted on PyTorch's "meta" device: shapes only, no memory."""
    cls = model_class(model_name)
    try:
        with torch.device("meta"):
            return cls(vocab_size, config).num_params()
    except (NotImplementedError, RuntimeError):  # a constructor that needs real numbers
        return cls(vocab_size, config).num_params()


def estimate(model_name: str, config: ModelConfig, vocab_size: int, batch_size: int, seq_len: int,
             n_train: int = 0) -> Estimate:
    """The cost of training `model_name` with `config` on batches of `batch_size` × `seq_len` characters
    over a vocabulary of `vocab_size` (and, for the counted n-gram, `n_train` training characters)."""
    c, V, BT = config, vocab_size, batch_size * seq_len
    params = count_params(model_name, c, V)
    cls = model_class(model_name)
    if cls.fitted_by_counting:  # counts: a key and a count per distinct n-gram, at most one per position
        order = max(1, getattr(c, "order", 1))
        per_char = NGRAM_SECONDS * V * order  # scoring one position against every character, every order
        return Estimate(0, 24 * n_train * order, 0, 36 * EVAL_PIECE_LOGITS, 0,
                        COUNT_SECONDS * max(BT, n_train // 50) + 2 * 100 * per_char, 1 / per_char)
    layers = getattr(c, "n_layer", 1)
    H = getattr(c, "n_hidden", 0)
    E = V if getattr(c, "onehot", False) else getattr(c, "n_embd", 0)
    width = {"rnn": 3 * H, "gru": 7 * H, "lstm": 8 * H, "rnn-scratch": 6 * H, "gru-scratch": 14 * H,
             "lstm-scratch": 16 * H}.get(model_name)
    attention = 0
    macs = params - V * E if not getattr(c, "onehot", False) else params  # the embedding is a lookup
    if model_name == "transformer":
        C, heads = c.n_embd, c.n_head
        width = 18 * C
        attention = 4 * 3 * batch_size * heads * seq_len * seq_len * layers
        macs += 2 * layers * seq_len * C  # QK^T and attention × V per position
    elif model_name == "mlp":
        width = 3 * H
        E = E * c.context  # the concatenated window
    acts = BT * (E + layers * (width or 2 * H))
    act_bytes = 4 * 2 * acts * (2 if getattr(c, "dropout", 0) else 1)
    seconds = 6 * macs * BT / FLOPS + LOGIT_SECONDS * BT * V
    if model_name.endswith("-scratch"):
        seconds += SCRATCH_STEP_SECONDS * seq_len * layers
    return Estimate(params, 16 * params, act_bytes, 4 * 3 * BT * V, attention, seconds, 3 * BT / max(seconds, 1e-9))
