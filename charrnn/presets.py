"""Default settings a new user gets: what to train with when nothing else is said.

    preset(model_name, n_chars, time_budget, max_steps) ─► (model options, TrainConfig)

The CLI and the app both start from this; every value can be overridden. How it is chosen:

1. **Per family** (`FAMILIES`, a plain table): a size and training settings that learn visibly in
   30 s on a 2-core CPU. The hand-written cells (`*-scratch`) run a Python loop per character, much
   slower than the fused layers, so they get one small layer and shorter sequences. The n-gram is
   fitted by counting and only its order depends on the corpus (below).
2. **Budget** (PyTorch's `rnn`, `gru`, `lstm`): the budget buys a number of updates, and a bigger
   network needs more of them before it pays off. On 2 cores (measured on tinyshakespeare, see
   benchmarks/README.md) H192×2 beats both H128×2 and H256×2 at 60 s, while H256×2 is the one that
   gets near 1.50 nats/char in 180 s. So `n_hidden` grows with the budget (`_SIZE_BY_BUDGET`; the
   switch at 90 s lies between the two measured points). A step budget counts as the time
   those steps take at the typical speed.
3. **Corpus size**: the same budget on a small text is many passes over it, and a big network then
   learns the text by heart (validation loss rises while training loss falls). Above 8 expected
   passes dropout goes up to 0.2, above 50 the network also shrinks one size.
4. **Everything else**: Adam with a cosine learning rate that anneals exactly as the budget runs
   out (`train.lr_at`), batch 16 (on a CPU a step costs nearly the same for fewer sequences, so
   smaller batches give more updates per second), bf16 autocast where the CPU runs it fast
   (`precision="auto"`), and validation estimates spaced so they take a few percent of the budget.
"""

from __future__ import annotations

import math
from dataclasses import replace

from .train import TrainConfig

# name → (model options, training settings). Names missing here get the Config defaults.
FAMILIES: dict[str, tuple[dict, dict]] = {
    "ngram": ({"order": 4}, {}),
    "mlp": ({"context": 8, "n_embd": 16, "n_hidden": 256, "n_layer": 1},
            {"lr": 3e-3, "batch_size": 32, "seq_len": 32}),
    "rnn-scratch": ({"n_hidden": 128, "n_layer": 1}, {"lr": 3e-3, "batch_size": 32, "seq_len": 32}),
    "gru-scratch": ({"n_hidden": 128, "n_layer": 1}, {"lr": 3e-3, "batch_size": 32, "seq_len": 32}),
    "lstm-scratch": ({"n_hidden": 128, "n_layer": 1}, {"lr": 3e-3, "batch_size": 32, "seq_len": 32}),
    "rnn": ({"n_layer": 2}, {"lr": 2e-3, "batch_size": 16, "seq_len": 64, "precision": "auto"}),
    "gru": ({"n_layer": 2}, {"lr": 3e-3, "batch_size": 16, "seq_len": 64, "precision": "auto"}),
    "lstm": ({"n_layer": 2}, {"lr": 3e-3, "batch_size": 16, "seq_len": 64, "precision": "auto"}),
    "transformer": ({"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},
                    {"lr": 1e-3, "batch_size": 32, "seq_len": 64}),
}

# PyTorch recurrent layers: (budget up to this many seconds, n_hidden, dropout); the last: any longer.
# Measured on tinyshakespeare, 60 s worth of steps: H128 1.60, H192 1.59, H256 1.66 nats/char;
# 180 s worth: H256 1.50, with dropout 0.1 about the same at 180 s and safer beyond (it overfits).
_SIZE_BY_BUDGET = [(90.0, 192, 0.0), (math.inf, 256, 0.1)]
_CHARS_PER_SEC = {192: 43_000, 256: 22_000}  # training speed on 2 cores, bf16, batch 16 (measured)
_SIZES = [64, 128, 192, 256]
_MANY_PASSES = 8.0  # expected passes over the text above which dropout is raised to 0.2...
_TOO_MANY_PASSES = 50.0  # ...and above which the network also shrinks one size


def preset(model_name: str, n_chars: int, time_budget: float | None = 60.0,
           max_steps: int | None = None) -> tuple[dict, TrainConfig]:
    """(model options, training config) for `model_name` on a corpus of `n_chars` characters."""
    family_options, settings = FAMILIES.get(model_name, ({}, {}))
    options = dict(family_options)
    config = replace(TrainConfig(time_budget=time_budget, max_steps=max_steps), **settings)
    config = replace(config, **_eval_settings(time_budget))
    if model_name == "ngram":
        options["order"] = 3 if n_chars < 20_000 else 4 if n_chars < 200_000 else 5
    elif model_name in ("rnn", "gru", "lstm"):
        options.update(_recurrent_size(n_chars, time_budget, max_steps, config))
    return options, config


def _seconds(time_budget: float | None, max_steps: int | None, config: TrainConfig, n_hidden: int) -> float:
    """The budget in seconds: the time budget, or how long `max_steps` take at the typical speed."""
    if time_budget is not None:
        return time_budget
    return (max_steps or 0) * config.batch_size * config.seq_len / _CHARS_PER_SEC[n_hidden]


def _recurrent_size(n_chars: int, time_budget: float | None, max_steps: int | None,
                    config: TrainConfig) -> dict:
    """n_hidden (and dropout) for PyTorch's RNN/GRU/LSTM from the budget and the corpus size."""
    seconds = _seconds(time_budget, max_steps, config, 256)
    n_hidden, dropout = next((size, p) for limit, size, p in _SIZE_BY_BUDGET if seconds <= limit)
    seconds = _seconds(time_budget, max_steps, config, n_hidden)
    passes = seconds * _CHARS_PER_SEC[n_hidden] / max(n_chars, 1)
    if passes > _MANY_PASSES:  # small text or long budget: it would start learning the text by heart
        dropout = 0.2
    if passes > _TOO_MANY_PASSES:  # and fewer weights to do it with
        n_hidden = _SIZES[max(0, _SIZES.index(n_hidden) - 1)]
    return {"n_hidden": n_hidden, "dropout": dropout}


def _eval_settings(time_budget: float | None) -> dict:
    """Validation estimates every 1/20 of the budget (at least every 2 s), on 10,000 characters.

    Each estimate takes wall-clock time out of the budget; this keeps it to a few percent while the
    curve still gets ~20 points. The final estimate, after the budget, uses the whole validation text.
    """
    every = max(2.0, time_budget / 20) if time_budget else 2.0
    return {"eval_every": every, "eval_chars": 10_000}
