"""Default settings a new user gets: what to train with when nothing else is said.

    preset(model_name, n_chars, time_budget, max_steps, step_seconds=None) ─► (model options, TrainConfig)

The CLI and the app both start from this; every value can be overridden. How it is chosen:

1. **Per family** (`FAMILIES`, a plain table): a size and training settings that learn visibly in
   30 s on a 2-core CPU. The hand-written cells (`*-scratch`) run a Python loop per character, much
   slower than the fused layers, so they get one small layer and shorter sequences. The n-gram is
   fitted by counting and only its order depends on the corpus (`_BY_CORPUS_SIZE`), capped by what its
   vocabulary allows (`CharModel.largest_options`).
2. **Budget** (PyTorch's `rnn`, `gru`, `lstm`: their rows in `_SIZE_BY_BUDGET`, keyed by training
   steps): the budget buys a number of updates, and a bigger network needs more of them before it pays
   off. A step budget is its steps, the same plan on every machine; a time budget is the steps this
   machine makes in it, from a **measured** step of the row's network (`charrnn.steprate`: a few real
   steps on one thread, once per process, while planning — before the run's clock starts, so never out
   of the budget; `step_seconds` replaces the measurement, e.g. to use another process's figure). No
   table of speeds: the one this replaced (43,000 chars/s) was half of what the same CPU does now. On
   tinyshakespeare (benchmarks/README.md) H192×2 beats both H128×2 and H256×2 up to ~7,000 steps once
   its learning rate is 5e-3 (H256×2 cannot take that rate). From ~4,000 steps (~4 passes) on the LSTM
   generalises better with weight decay (AdamW's, 0.05: each step pulls every weight towards 0 by
   lr × 0.05 of itself) and a larger embedding (64) than without, and better than with dropout, which
   also costs ~15% of the speed. A time budget that buys the LSTM's two layers fewer than ~3,000 steps
   (a CPU without fast bf16: 60-300 s on an AVX2 laptop core) trains one layer of the same width instead,
   where this machine measures it ≥ 1.8× faster a step (`_FEW_STEPS`): in equal time it learns more.
3. **Corpus size**: the same budget on a small text is many passes over it, and a big network then
   learns the text by heart (validation loss rises while training loss falls). Above 8 expected
   passes dropout goes up to 0.2, above 50 the network also shrinks one size.
4. **Everything else**: Adam with a cosine learning rate that anneals exactly as the budget runs
   out (`train.lr_at`; to 0 for the LSTM, after a 200-step warm-up: at 5e-3 from the first step, some
   initial weights lose hundreds of steps and end 0.05 worse at 60 s — but never more than a tenth of the
   steps the budget buys, at least 20: a run of a few hundred steps would spend most of itself warming up),
   batch 16 (on a CPU a step
   costs nearly the same for fewer sequences, so smaller batches give more updates per second), bf16
   autocast where the CPU runs it fast (`precision="auto"`), validation sized by the plan to take a
   few percent of the budget (`charrnn.adjust`), and gradient statistics every 10 steps for the diagnosis
   (`STATS_EVERY`, 0.6 % of the step rate).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields, replace

from . import steprate
from .models import model_class
from .train import TrainConfig

# seconds per training step of (family, model options, config, vocabulary size): `steprate.step_seconds`
StepSeconds = Callable[[str, dict, TrainConfig, int], float]

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

# PyTorch recurrent layers by budget: rows of (up to this many training steps, settings); the last row: any
# more. A step budget is its steps; a time budget is the steps this machine makes in it at the row's size
# (`charrnn.steprate`, measured). Settings are model options (n_hidden, dropout, n_embd) and training ones
# (lr, weight_decay); what a row leaves out keeps the family's value. Measured on tinyshakespeare
# (benchmarks/README.md), LSTM, 2,500 steps: H128 1.60, H192 1.59, H256 1.66 nats/char at lr 3e-3; H192
# 1.57 at 4e-3 and 1.56 at 6e-3 (annealed to 0); weight decay or n_embd 64 do not help yet (~2.5 passes).
# 6,800 steps (~7 passes), H192 at 5e-3, mean of seeds 1 and 2: dropout 0.1 1.504; weight decay 0.1 1.487
# (0.2: 1.521); decay 0.1 with dropout 0 1.483 (and dropout costs ~15% of the speed); n_embd 64 with it
# 1.480, with decay 0.05 1.479. 5,700 steps (60 s on this project's quiet CPU since the command line trains
# the LSTM on one thread, ~5 passes), seeds 1 and 2: the short row 1.507, 1.493; the longer one (decay 0.05,
# n_embd 64) 1.478, 1.466 — so the longer row starts at 4,000 steps; with lr 7e-3 1.472, 1.458 (−0.006,
# −0.008: small but on both seeds), so up to 8,500 steps (90 s here) it runs at 7e-3; longer runs keep 5e-3
# (at 6,800 steps with dropout 6e-3 was 0.009 worse than 5e-3; 7e-3 beyond 8,500 steps is not measured).
# H256 needs a lower rate (1.58 at 5e-3) and pays off only with more steps; its row from 30,000 steps
# (300 s here) is a guess, and so are its decay and n_embd (carried over from H192). The GRU and RNN rows
# switch where the LSTM's used to (3,800 steps: 90 s at the speed they were written for), not measured again.
_PLAIN_BUDGET_ROWS = [(3_800, {"n_hidden": 192, "dropout": 0.0}), (math.inf, {"n_hidden": 256, "dropout": 0.1})]
_SIZE_BY_BUDGET: dict[str, list[tuple[float, dict]]] = {
    "rnn": _PLAIN_BUDGET_ROWS,
    "gru": _PLAIN_BUDGET_ROWS,
    "lstm": [(4_000, {"n_hidden": 192, "dropout": 0.0, "lr": 5e-3}),
             (8_500, {"n_hidden": 192, "dropout": 0.0, "n_embd": 64, "lr": 7e-3, "weight_decay": 0.05}),
             (30_000, {"n_hidden": 192, "dropout": 0.0, "n_embd": 64, "lr": 5e-3, "weight_decay": 0.05}),
             (math.inf, {"n_hidden": 256, "dropout": 0.1, "n_embd": 64, "lr": 3e-3, "weight_decay": 0.05})],
}
# A time budget too short for the first row's layers: when its network would make fewer than this many steps,
# one layer of the same width trains instead (LSTM only: measured). On a CPU that computes in fp32 (AVX2, no
# AVX-512: most laptops) one layer of 192 makes ~2.4x the steps a second of two, and in the time two layers
# take, one learns more (benchmarks/proxy_lstm.py on tinyshakespeare, 2026-12-06, equal time on an AVX2 EPYC
# at one thread, seed 1 (seed 2), one layer against two): 60 s 1.728 (1.738) against 1.992 (1.958); 120 s
# 1.607 (1.608) against 1.728 (1.689); 180 s 1.560 against 1.653; 300 s (2,700 steps of two) 1.519 against
# 1.566. For as many *steps* two layers learn more (1,050 steps: 1.740 against 1.787), so a step budget keeps
# them. The rows above were tuned on a CPU with fast bf16 (AMX: 5,700 steps of two layers in 60 s); there a
# 30 s budget (~2,850 steps) comes here only if one layer is measured _ONE_LAYER_GAIN times faster.
_FEW_STEPS: dict[str, float] = {"lstm": 3_000}
# ...and only where one layer is measured this much faster a step than two (2.4x here; on a CPU where small
# products are cheap relative to their overhead the gain is smaller, and the trade not measured)
_ONE_LAYER_GAIN = 1.8
# A warm-up of at most this share of the steps a budget buys, and at least _WARMUP_LEAST steps. The LSTM's 200
# steps were tuned where 60 s buys 5,700 steps; on a CPU where a 20 s page run makes ~125 steps (AVX2, fp32,
# one layer, a busy server) every run ended inside it, its rate still rising, and the diagnosis rightly said
# so (a tester's finding: the README's first step ended in a warning). benchmarks/README.md "Seventh round".
_WARMUP_SHARE = 0.1
_WARMUP_LEAST = 20
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
_SIZES = [64, 128, 192, 256]
# Expected passes over the text above which dropout is raised to 0.2, and above which the network also
# shrinks one size. A step budget's passes were always exact (its steps × batch × seq / characters); a time
# budget's were counted at 43,000 chars/s, half of what runs now make, and are now counted from a measured
# step. So 180 s on tinyshakespeare (~16 passes on a quiet machine) now gets dropout 0.2 on top of the
# weight decay: not measured (at 7 passes dropout added nothing to weight decay).
_MANY_PASSES = 8.0
_TOO_MANY_PASSES = 50.0


def preset(model_name: str, n_chars: int, time_budget: float | None = TrainConfig.time_budget,
           max_steps: int | None = None, vocab_size: int | None = None,
           step_seconds: StepSeconds | None = None) -> tuple[dict, TrainConfig]:
    """(model options, training config): `explained_preset` without its reasons."""
    options, config, _ = explained_preset(model_name, n_chars, time_budget, max_steps, vocab_size, step_seconds)
    return options, config


def explained_preset(model_name: str, n_chars: int, time_budget: float | None = TrainConfig.time_budget,
                     max_steps: int | None = None, vocab_size: int | None = None,
                     step_seconds: StepSeconds | None = None) -> tuple[dict, TrainConfig, dict[str, str]]:
    """(model options, training config) for `model_name` on a corpus of `n_chars` characters with a
    vocabulary of `vocab_size` (None: English-sized); options are capped to what the vocabulary allows
    (`CharModel.largest_options`: e.g. the n-gram's order, whose keys must fit in 64 bits).

    step_seconds(family, model options, config, vocabulary size) → seconds per training step: what a time
    budget buys for the recurrent families (None: `charrnn.steprate.step_seconds`, measured here once per
    process and network; a step budget never measures). Raises whatever `step_seconds` raises.

    The third value says why a rule of the budget moved a setting off its family's value, for the plan's "why"
    column ({setting: words}): each rule gives its own reason where it decides."""
    family_options, settings = FAMILIES.get(model_name, ({}, {}))
    reasons: dict[str, str] = {}
    options = dict(family_options)
    config = replace(TrainConfig(time_budget=time_budget, max_steps=max_steps), **settings)
    config = replace(config, stats_every=STATS_EVERY)
    if model_name in _BY_CORPUS_SIZE:
        options.update(next(row for limit, row in _BY_CORPUS_SIZE[model_name] if n_chars < limit))
    if model_name in _SIZE_BY_BUDGET:
        row, reasons = _budget_row(model_name, _SIZE_BY_BUDGET[model_name], options, n_chars, time_budget, max_steps,
                                   config, vocab_size, step_seconds)
        config = replace(config, **{k: v for k, v in row.items() if k in _TRAIN_FIELDS})
        options.update({k: v for k, v in row.items() if k not in _TRAIN_FIELDS})
    if vocab_size:  # a CJK text has thousands of characters: e.g. fewer n-gram contexts fit in the keys
        for option, largest in model_class(model_name).largest_options(vocab_size).items():
            if option in options:
                options[option] = min(options[option], largest)
    return options, config, reasons


def _budget_row(family: str, table: list[tuple[float, dict]], options: dict, n_chars: int,
                time_budget: float | None, max_steps: int | None, config: TrainConfig, vocab_size: int | None,
                step_seconds: StepSeconds | None) -> tuple[dict, dict[str, str]]:
    """(the settings of the budget row `table` gives for the steps the budget buys, adjusted to the corpus size;
    {setting: why} for a setting a rule here moved off the row)."""
    reasons: dict[str, str] = {}
    if max_steps is not None:  # a step budget: known, the same plan on every machine
        steps = max_steps
        settings = dict(next(row for limit, row in table if steps <= limit))
    else:  # a time budget: as many steps as this machine makes in it, at each row's size
        measure = step_seconds or steprate.step_seconds
        for limit, row in table:
            network = {**options, **{k: v for k, v in row.items() if k not in _TRAIN_FIELDS}}
            steps = (time_budget or 0) / measure(family, network, config, vocab_size or 65)
            if steps <= limit:
                break
        settings = dict(row)
        if time_budget and steps < _FEW_STEPS.get(family, 0) and options.get("n_layer", 1) > 1:  # too few steps
            network = {**options, **{k: v for k, v in settings.items() if k not in _TRAIN_FIELDS}, "n_layer": 1}
            one_layer = (time_budget or 0) / measure(family, network, config, vocab_size or 65)
            # measured on a big text (under 8 passes); on a small one a single layer cannot take the dropout
            # the passes rule below adds (between layers), so two layers stay
            if one_layer >= _ONE_LAYER_GAIN * steps \
                    and one_layer * config.batch_size * config.seq_len / max(n_chars, 1) <= _MANY_PASSES:
                layers = {**options, **settings}["n_layer"]
                reasons["n_layer"] = (f"{layers} layers would make "
                                      f"{steps:,.0f} steps in {time_budget:g} s on this CPU (a measured step), too "
                                      f"few for their depth; one layer makes {one_layer:,.0f} and learns more in "
                                      "that time")
                settings["n_layer"], steps = 1, one_layer
    warmup = max(_WARMUP_LEAST, round(_WARMUP_SHARE * steps))
    if warmup < config.warmup_steps:  # a family's long warm-up would take most of a short run
        settings["warmup_steps"] = warmup
        reasons["warmup_steps"] = (f"a tenth of the {steps:,.0f} steps the budget buys (the family's "
                                   f"{config.warmup_steps} are for runs of thousands of steps)")
    passes = steps * config.batch_size * config.seq_len / max(n_chars, 1)
    if passes > _MANY_PASSES:  # small text or long budget: it would start learning the text by heart
        settings["dropout"] = 0.2
    if passes > _TOO_MANY_PASSES:  # and fewer weights to do it with
        settings["n_hidden"] = _SIZES[max(0, _SIZES.index(settings["n_hidden"]) - 1)]
    return settings, reasons


def advised_lr(model_name: str, peak: float, time_budget: float | None = TrainConfig.time_budget,
               max_steps: int | None = None, step_seconds: StepSeconds | None = None) -> tuple[float, str]:
    """(a learning rate to try, why) after a run of `model_name` diverged at peak learning rate `peak`:
    the rate its preset uses for this budget where that is below `peak` ("the default for nn.GRU"), else
    a tenth of `peak` (the preset's own rate diverged: on this text it is too high). `step_seconds`: as for
    `preset` (None measures a step where a time budget needs one: ~1.5 s on a slow CPU)."""
    _, config = preset(model_name, 1_000_000, time_budget, max_steps, step_seconds=step_seconds)
    if config.lr < peak:
        return config.lr, "the default for this model"
    return peak / 10, f"a tenth of {peak:.2g}"
