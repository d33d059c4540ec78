"""Default settings a new user gets: what to train with when nothing else is said.

    preset(model_name, n_chars, time_budget, max_steps) ─► (model options, TrainConfig)

The CLI and the app both start from this; every value can be overridden. How it is chosen:

1. **Per family** (`FAMILIES`, a plain table): a size and training settings that learn visibly in
   30 s on a 2-core CPU. The hand-written cells (`*-scratch`) run a Python loop per character, much
   slower than the fused layers, so they get one small layer and shorter sequences. The n-gram is
   fitted by counting and only its order depends on the corpus (`_BY_CORPUS_SIZE`), capped by what its
   vocabulary allows (`CharModel.largest_options`).
2. **Budget** (PyTorch's `rnn`, `gru`, `lstm`: their rows in `_SIZE_BY_BUDGET`): the budget buys a
   number of updates, and a bigger network needs more of them before it pays off. On 2 cores (measured
   on tinyshakespeare, see benchmarks/README.md) H192×2 beats both H128×2 and H256×2 at 60 s, and for
   the LSTM still at 180 s once its learning rate is raised to 5e-3 (H256×2 cannot take that rate). So
   `n_hidden`, dropout and (LSTM) the learning rate follow the budget (`_SIZE_BY_BUDGET`, per family). A
   longer budget is more passes over the text, and from ~5 passes on the LSTM generalises better with
   weight decay (AdamW's, 0.05: each step pulls every weight towards 0 by lr × 0.05 of itself) than with
   dropout, which also costs ~15% of the speed; it then also gets a larger embedding (64). A step budget
   counts as the time those steps take at the typical speed.
3. **Corpus size**: the same budget on a small text is many passes over it, and a big network then
   learns the text by heart (validation loss rises while training loss falls). Above 8 expected
   passes dropout goes up to 0.2, above 50 the network also shrinks one size.
4. **Everything else**: Adam with a cosine learning rate that anneals exactly as the budget runs
   out (`train.lr_at`; to 0 for the LSTM, after a 200-step warm-up: at 5e-3 from the first step, some
   initial weights lose hundreds of steps and end 0.05 worse at 60 s), batch 16 (on a CPU a step
   costs nearly the same for fewer sequences, so smaller batches give more updates per second), bf16
   autocast where the CPU runs it fast (`precision="auto"`), validation sized by the plan to take a
   few percent of the budget (`charrnn.adjust`), and gradient statistics every 10 steps for the diagnosis
   (`STATS_EVERY`, 0.6 % of the step rate).
"""

from __future__ import annotations

import math
from dataclasses import fields, replace

from .models import model_class
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
    "lstm": ({"n_layer": 2}, {"lr": 3e-3, "batch_size": 16, "seq_len": 64, "precision": "auto",
                              "min_lr_ratio": 0.0, "warmup_steps": 200}),
    "transformer": ({"n_layer": 2, "n_head": 4, "n_embd": 64, "block_size": 64},
                    {"lr": 1e-3, "batch_size": 32, "seq_len": 64}),
}

# PyTorch recurrent layers by budget: rows of (up to this many seconds, settings); the last row: any
# longer. Settings are model options (n_hidden, dropout, n_embd) and training ones (lr, weight_decay);
# what a row leaves out keeps the family's value. Measured on tinyshakespeare (benchmarks/README.md),
# LSTM, 60 s worth of steps: H128 1.60, H192 1.59, H256 1.66 nats/char at lr 3e-3; H192 1.57 at 4e-3
# and 1.56 at 6e-3 (annealed to 0); weight decay or n_embd 64 do not help yet (~2.5 passes over the
# text). 180 s worth (~7 passes), H192 at 5e-3, mean of seeds 1 and 2: dropout 0.1 1.504; weight
# decay 0.1 1.487 (0.2: 1.521); decay 0.1 with dropout 0 1.483 (and dropout costs ~15% of the
# speed); n_embd 64 with it 1.480, with decay 0.05 1.479. H256 needs a lower rate (1.58 at 5e-3) and
# pays off only with more steps than 180 s buys on 2 cores; the switch to it at 300 s is a guess, and
# so are its decay and n_embd (carried over from H192). Real runs of the CLI (with the family's
# 200-step warm-up): 60 s, seeds 0-4: 1.559, 1.556, 1.545, 1.591, 1.541; 180 s, seeds 0-2: 1.445, 1.442, 1.465.
_PLAIN_BUDGET_ROWS = [(90.0, {"n_hidden": 192, "dropout": 0.0}), (math.inf, {"n_hidden": 256, "dropout": 0.1})]
_SIZE_BY_BUDGET: dict[str, list[tuple[float, dict]]] = {
    "rnn": _PLAIN_BUDGET_ROWS,
    "gru": _PLAIN_BUDGET_ROWS,
    "lstm": [(90.0, {"n_hidden": 192, "dropout": 0.0, "lr": 5e-3}),
             (300.0, {"n_hidden": 192, "dropout": 0.0, "n_embd": 64, "lr": 5e-3, "weight_decay": 0.05}),
             (math.inf, {"n_hidden": 256, "dropout": 0.1, "n_embd": 64, "lr": 3e-3, "weight_decay": 0.05})],
}
# Model options by corpus size: rows of (below this many characters, options); the last row: any larger.
# A counted n-gram needs enough text to have seen its contexts: a 5-gram on 10,000 characters has seen
# almost none of them twice.
_BY_CORPUS_SIZE: dict[str, list[tuple[float, dict]]] = {
    "ngram": [(20_000, {"order": 3}), (200_000, {"order": 4}), (math.inf, {"order": 5})],
}
# Steps between samples of per-layer gradient norms and update ratios (what the diagnosis reads): one
# sample costs ~1 ms of CPU against ~15 ms per step of the default LSTM, so 0.6 % of the step rate
# (benchmarks/bench_stats_every.py).
STATS_EVERY = 10
_TRAIN_FIELDS = {f.name for f in fields(TrainConfig)}  # a row's settings that belong to the TrainConfig
_CHARS_PER_SEC = {192: 43_000, 256: 22_000}  # training speed on 2 cores, bf16, batch 16 (measured)
_SIZES = [64, 128, 192, 256]
_MANY_PASSES = 8.0  # expected passes over the text above which dropout is raised to 0.2...
_TOO_MANY_PASSES = 50.0  # ...and above which the network also shrinks one size


def preset(model_name: str, n_chars: int, time_budget: float | None = TrainConfig.time_budget,
           max_steps: int | None = None, vocab_size: int | None = None) -> tuple[dict, TrainConfig]:
    """(model options, training config) for `model_name` on a corpus of `n_chars` characters with a
    vocabulary of `vocab_size` (None: English-sized); options are capped to what the vocabulary allows
    (`CharModel.largest_options`: e.g. the n-gram's order, whose keys must fit in 64 bits)."""
    family_options, settings = FAMILIES.get(model_name, ({}, {}))
    options = dict(family_options)
    config = replace(TrainConfig(time_budget=time_budget, max_steps=max_steps), **settings)
    config = replace(config, stats_every=STATS_EVERY)
    if model_name in _BY_CORPUS_SIZE:
        options.update(next(row for limit, row in _BY_CORPUS_SIZE[model_name] if n_chars < limit))
    if model_name in _SIZE_BY_BUDGET:
        row = _budget_row(_SIZE_BY_BUDGET[model_name], n_chars, time_budget, max_steps, config)
        config = replace(config, **{k: v for k, v in row.items() if k in _TRAIN_FIELDS})
        options.update({k: v for k, v in row.items() if k not in _TRAIN_FIELDS})
    if vocab_size:  # a CJK text has thousands of characters: e.g. fewer n-gram contexts fit in the keys
        for option, largest in model_class(model_name).largest_options(vocab_size).items():
            if option in options:
                options[option] = min(options[option], largest)
    return options, config


def _seconds(time_budget: float | None, max_steps: int | None, config: TrainConfig, n_hidden: int) -> float:
    """The budget in seconds: the time budget, or how long `max_steps` take at the typical speed."""
    if time_budget is not None:
        return time_budget
    return (max_steps or 0) * config.batch_size * config.seq_len / _CHARS_PER_SEC[n_hidden]


def _budget_row(table: list[tuple[float, dict]], n_chars: int, time_budget: float | None,
                max_steps: int | None, config: TrainConfig) -> dict:
    """The settings of the budget row `table` gives, adjusted to the corpus size."""
    seconds = _seconds(time_budget, max_steps, config, 256)
    if time_budget is None:  # a step budget: count it at the speed of the size it would buy
        small = next(row["n_hidden"] for limit, row in table if seconds <= limit)
        seconds = _seconds(time_budget, max_steps, config, small)
    settings = dict(next(row for limit, row in table if seconds <= limit))
    seconds = _seconds(time_budget, max_steps, config, settings["n_hidden"])
    passes = seconds * _CHARS_PER_SEC[settings["n_hidden"]] / max(n_chars, 1)
    if passes > _MANY_PASSES:  # small text or long budget: it would start learning the text by heart
        settings["dropout"] = 0.2
    if passes > _TOO_MANY_PASSES:  # and fewer weights to do it with
        settings["n_hidden"] = _SIZES[max(0, _SIZES.index(settings["n_hidden"]) - 1)]
    return settings



def advised_lr(model_name: str, peak: float, time_budget: float | None = TrainConfig.time_budget,
               max_steps: int | None = None) -> tuple[float, str]:
    """(a learning rate to try, why) after a run of `model_name` diverged at peak learning rate `peak`:
    the rate its preset uses for this budget where that is below `peak` ("the default for nn.GRU"), else
    a tenth of `peak` (the preset's own rate diverged: on this text it is too high)."""
    _, config = preset(model_name, 1_000_000, time_budget, max_steps)
    if config.lr < peak:
        return config.lr, "the default for this model"
    return peak / 10, f"a tenth of {peak:.2g}"
