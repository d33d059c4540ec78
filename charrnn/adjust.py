"""Every change a plan makes to the values its sources gave, each with its reason: the one home of these rules.

    config, reasons = fit_seq_len(config, sources, max_seq_len, n_chars, val_fraction, resume)
    config, reasons = fit_validation(config, sources, cost, limits)

`sources` says where each value came from ("you" | "preset" | "saved run"); a value the user chose is never
changed here (it is refused later, with the reason, if it cannot work). `reasons` maps each changed setting
to a sentence saying why, which the CLI's `--plan`, `charrnn.run.describe_sources` and the page show.

Validation sizes live here and in TrainConfig's defaults only: an estimate every `eval_every` seconds (2),
stretched to 1/EVAL_POINTS of the time budget, of `eval_chars` characters (10,000), fewer where the model
reads them slower than in about PERIODIC_SECONDS; a final pass over the held-out text's first
`final_eval_chars` (200,000; a server's fixed sample), fewer where the model would take longer than
FINAL_SECONDS (FINAL_SECONDS_SERVER on a server, where Stop must answer quickly) or than FINAL_SHARE of a
time budget: the budget includes the final pass (the loop stops training early enough for it,
`charrnn.loop.final_reserve`), so the pass must leave most of the budget to training.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .estimate import Estimate
    from .run import Limits
    from .train import TrainConfig

EVAL_POINTS = 20  # validation estimates per time-budgeted run: ~20 points on the curve, a few % of the time
PERIODIC_SECONDS = 0.3  # what one periodic estimate may take
FINAL_SECONDS = 10.0  # what the final pass may take (a default run's whole held-out text usually fits)
FINAL_SECONDS_SERVER = 1.0  # ... on a shared server (one that bounds a step's time)
FINAL_SHARE = 0.1  # ... and at most this share of a time budget (a 60 s run: 6 s)
_MOST = 10**12  # "no bound" in characters


def fit_seq_len(config: TrainConfig, sources: dict[str, str], max_seq_len: int | None, n_chars: int,
                val_fraction: float, resume: bool = False) -> tuple[TrainConfig, dict[str, str]]:
    """A sequence length the user did not choose, shortened to what the model reads at once and what both
    parts of the text hold; an exact resume keeps the saved one."""
    if sources.get("seq_len") == "you" or resume:
        return config, {}
    n_val = int(n_chars * val_fraction)
    bounds = [(max_seq_len, f"the model reads at most {max_seq_len} characters at once"),
              (n_val - 1, f"the held-out text has {n_val:,} characters"),
              (n_chars - n_val - 2, f"the training text has {n_chars - n_val:,} characters")]
    longest, why = min(((b, w) for b, w in bounds if b is not None), key=lambda bw: bw[0])
    if longest >= config.seq_len:
        return config, {}
    return replace(config, seq_len=max(1, longest)), {"seq_len": f"shortened from {config.seq_len}: {why}"}


def fit_validation(config: TrainConfig, sources: dict[str, str], cost: Estimate, limits: Limits
                   ) -> tuple[TrainConfig, dict[str, str]]:
    """How often and how much the run validates, from its budget and the model's estimated forward speed."""
    speed = cost.eval_chars_per_second or math.inf  # characters a second, forward only
    changes, reasons = {}, {}
    if sources.get("eval_every") == "preset" and config.time_budget:
        every = max(config.eval_every, config.time_budget / EVAL_POINTS)
        if every != config.eval_every:
            changes["eval_every"] = every
            reasons["eval_every"] = f"1/{EVAL_POINTS} of the {config.time_budget:g} s budget"
    if sources.get("eval_chars") != "you":
        changes["eval_chars"] = max(100, min(config.eval_chars, int(min(PERIODIC_SECONDS * speed, _MOST))))
        if changes["eval_chars"] < config.eval_chars:
            reasons["eval_chars"] = (f"lowered from {config.eval_chars:,}: what this model reads in about "
                                     f"{PERIODIC_SECONDS:g} s (estimated {speed:,.0f} characters/s)")
    if sources.get("final_eval_chars") != "you":
        final_seconds = FINAL_SECONDS_SERVER if limits.max_step_seconds is not None else FINAL_SECONDS
        if config.time_budget:
            final_seconds = min(final_seconds, max(FINAL_SECONDS_SERVER, FINAL_SHARE * config.time_budget))
        fixed = limits.final_eval_chars or config.final_eval_chars or _MOST
        changes["final_eval_chars"] = max(500, min(fixed, int(min(final_seconds * speed, _MOST))))
        if changes["final_eval_chars"] < fixed:
            reasons["final_eval_chars"] = (f"lowered from {fixed:,}: what this model reads in about "
                                           f"{final_seconds:g} s (estimated {speed:,.0f} characters/s)")
        elif limits.final_eval_chars and fixed != config.final_eval_chars:
            reasons["final_eval_chars"] = "this server's fixed sample of the held-out text (runs compare)"
    return replace(config, **changes), reasons
