"""What a run will cost before it is built: memory (bytes) and the time of one training step (seconds).

    estimate(model_name, config, vocab_size, batch_size, seq_len, dropout) ─► Estimate

The run plan checks this against a server's budget (`run.Limits.max_run_mb`, `max_step_seconds`) before any
weight or batch is allocated, so that one request cannot take a shared server's memory (each setting can be
in its own range while their product is not), and the message can say which setting to lower and to what.
Uploaded checkpoints are sized the same way from their header before any tensor is read.

Each model states what one position costs (`CharModel.cost`, declared in charrnn/models/): its
multiply-adds, the numbers backward keeps for its input and for each layer, its attention scores. This
module turns that into bytes and seconds, the same way for every model.

Memory, in float32 bytes:
    parameters × 16          weights, their gradients and AdamW's two moments
    activations × 4 × 2      what backward keeps per position: B·T × (input + layers × per-layer width
                             + other), doubled for autograd's temporaries (and, where the model says so,
                             for dropout masks)
    logits × 4 × 3           B·T·V scores, their softmax and its gradient (cross-entropy)
    attention × 4 × 3        B × the model's attention scores per sequence (scores, softmax, gradient)
Measured against peak RSS (tests/test_estimate.py runs every registered model in a subprocess;
benchmarks/README.md has the table), the estimate is within a factor of two, and mostly errs high (up to
1.8×; the hand-written RNN and GRU come within ±25 % of the truth): a bound for refusing, not an accounting.
A model fitted by counting states instead how many bytes its table grows per character counted and how
many look-ups scoring one position takes.

Step time, on a CPU only (the constants are calibrated on this project's CPU; on a GPU the step time is
left unknown, None, and a run measures it instead of trusting a guess): 6 × (multiply-adds per position)
× B·T floating-point operations (forward 2, backward 4;
Kaplan et al. 2020, "Scaling Laws for Neural Language Models", §2.1) at `FLOPS`, the softmax and
cross-entropy over B·T·V logits, and, for models written as a Python loop over time, a fixed overhead
per time step and loop call.
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import CountingCost, ModelConfig, blueprint, model_class

# Calibrated on this project's 2-core CPU, one thread, fp32, against four runs (benchmarks/README.md,
# "`estimate.py`: what a run will cost"): measured 3.3, 1.3, 0.64 and 0.26 s a step where these constants
# give 4.0, 1.0, 0.67 and 0.27.
FLOPS = 80e9  # float32 operations per second one thread sustains in these models' matrix products
LOOP_STEP_SECONDS = 3e-4  # Python overhead of one cell call in a loop over time, per time step (fwd + bwd)
LOGIT_SECONDS = 1.8e-8  # softmax and cross-entropy, forward and backward, per logit (B·T·V): measured with a
#                         19,000-character vocabulary, H64, B16×T64: 0.45 s a step, 0.10 s of it products
LOOKUP_SECONDS = 3e-8  # a counted model scoring one position for one character and one order (86 ns at order 3)
COUNT_SECONDS = 1e-7  # a counted model counting one character
EVAL_PIECE_LOGITS = 2**21  # a validation piece holds at most this many scores (positions × V): see train.py
MB = 1024 * 1024


@dataclass(frozen=True)
class Estimate:
    params: int
    param_bytes: int  # weights + gradients + AdamW moments (a counted model: its table)
    activation_bytes: int  # what backward keeps, incl. the input embedding or one-hot vectors
    logits_bytes: int
    attention_bytes: int
    step_seconds: float | None  # one training step on one CPU thread (None: on a GPU, not guessed)
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
    return blueprint(model_class(model_name), vocab_size, config).num_params()


def estimate(model_name: str, config: ModelConfig, vocab_size: int, batch_size: int, seq_len: int,
             n_train: int = 0, device: str = "cpu") -> Estimate:
    """The cost of training `model_name` with `config` on batches of `batch_size` × `seq_len` characters
    over a vocabulary of `vocab_size` (and, for a model fitted by counting, `n_train` training characters),
    on a `device` of that type ("cpu", "cuda", "mps": the step time is estimated for a CPU only).

    Raises NotImplementedError for a model that does not state its cost (`CharModel.cost`)."""
    V, B, T, BT = vocab_size, batch_size, seq_len, batch_size * seq_len
    model = blueprint(model_class(model_name), V, config)
    cost = model.cost(T)
    if isinstance(cost, CountingCost):  # a table: one entry per position counted, at most
        per_char = LOOKUP_SECONDS * V * cost.orders  # scoring one position against every character, every order
        return Estimate(0, cost.count_bytes * n_train, 0, cost.logit_bytes * EVAL_PIECE_LOGITS, 0,
                        COUNT_SECONDS * max(BT, n_train // 50) + 2 * 100 * per_char, 1 / per_char)
    params = model.num_params()
    acts = BT * (cost.input_width + cost.n_layer * cost.layer_width + cost.extra_width)
    act_bytes = 4 * 2 * acts * (2 if cost.dropout else 1)
    seconds = 6 * cost.macs * BT / FLOPS + LOGIT_SECONDS * BT * V
    if cost.loop_calls:
        seconds += LOOP_STEP_SECONDS * T * cost.loop_calls
    # the validation speed stays the CPU's: a floor for sizing the final pass, which a run then measures
    return Estimate(params, 16 * params, act_bytes, 4 * 3 * BT * V, 4 * 3 * B * cost.attention,
                    seconds if device == "cpu" else None, 3 * BT / max(seconds, 1e-9))
