"""The loss curve's side of the diagnosis: what a finding is, what the advice may suggest for a model, and
the symptoms read from the loss curves alone (a jump back up, a run stopped too early, memorising, a text
too short). `charrnn.inspect.diagnose` combines them with the causes read from the gradients.

Every function here is pure: numbers in (losses in nats/char, step counts), a `Finding` or None out.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field

from ..bundle import History
from ..corpus import VAL_FRACTION

RAISE_LR = "Raise the learning rate to about 1e-3 - 3e-3 (Adam's usual range for these models)."


@dataclass
class Finding:
    kind: str  # symptoms: "diverged" | "unstable" | "worse_than_uniform" | "stuck_uniform" | "stuck_unigram" |
    #            "slow" | "too_early" | "memorising" | "text_too_short"; causes: "updates_too_small" |
    #            "updates_too_large" | "vanishing_gradients" | "saturated"; "infinite_loss" (probability 0 given)
    message: str  # what is happening, in plain words, with the numbers
    evidence: dict[str, float] = field(default_factory=dict)  # the numbers the message rests on
    advice: str = ""  # what to try
    severity: str = "problem"  # "problem" | "warning" | "info"


@dataclass(frozen=True)
class ModelFacts:
    """What a finding's advice may suggest for this model (`model_facts` reads them from the model)."""

    gated: bool = False  # gated recurrent cells (GRU, LSTM): "use a gated cell" does not apply
    recurrent: bool = False
    counted: bool = False  # fitted by counting (n-gram): no learning rate, no gradients, no curve to judge
    n_layer: int = 1  # hidden layers the gradient passes through (bottom to top)
    options: frozenset[str] = frozenset()  # the fields of the model's config: "dropout", "identity_init" …
    identity_init: bool = False  # already started from W_hh = I


def is_flat(train: list[float], w: int) -> bool:
    """The loss fell less than 0.02 nats over the last third of the run (medians of w steps)."""
    cut = len(train) * 2 // 3
    earlier = statistics.median(train[max(0, cut - w):cut])
    return earlier - statistics.median(train[-w:]) < 0.02


def window_medians(train: list[float], parts: int = 20) -> list[float]:
    """The training loss as `parts` medians of consecutive windows (one batch's loss is noisy)."""
    w = max(3, len(train) // parts)
    return [statistics.median(train[i:i + w]) for i in range(0, len(train) - w + 1, w)]


def unstable_finding(train: list[float], jump: float) -> Finding | None:
    """The training loss climbed far back above its best so far during the run (not a slow drift)."""
    medians = window_medians(train)
    best, worst = medians[0], None
    for m in medians[1:]:
        if m > best + max(jump, 0.25 * (medians[0] - best)) and (worst is None or m - best > worst[0] - worst[1]):
            worst = (m, best)
        best = min(best, m)
    if worst is None:
        return None
    return Finding(
        "unstable", f"The training loss jumped back up from {worst[1]:.2f} to {worst[0]:.2f} nats during the run: "
        "the steps are so large that they undo what was learned.", {"best": worst[1], "jumped_to": worst[0]},
        "Lower the learning rate 3-10x (or the gradient clip, e.g. 0.5).")


def too_early_finding(warmup_steps: int | None, run_steps: int | None) -> Finding | None:
    """The run stopped inside its learning-rate warm-up. (A run annealed to the end of a short budget looks
    settled: its loss curve cannot say that more steps would help, so the diagnosis does not guess.)"""
    if warmup_steps and run_steps is not None and run_steps < warmup_steps:
        return Finding(
            "too_early", f"The run stopped after {run_steps} steps, inside its {warmup_steps}-step learning-rate "
            "warm-up: the learning rate never reached its peak, so this is not what the model can learn.",
            {"run_steps": run_steps, "warmup_steps": warmup_steps},
            "Train longer (a larger time budget or step limit).", "warning")
    return None


def short_text_finding(n_chars: int | None, min_text: int) -> Finding | None:
    if n_chars is None or n_chars >= min_text:
        return None
    held = int(n_chars * VAL_FRACTION)
    return Finding(
        "text_too_short", f"The text has only {n_chars:,} characters: the model can learn it by heart within "
        f"seconds, and the validation loss rests on about {held:,} held-out characters, too few to mean much.",
        {"n_chars": n_chars, "held_out": held},
        "Train on more text: tens of thousands of characters at least (the examples have 14,000-190,000).",
        "warning")


def context_advice(facts: ModelFacts, known: bool) -> str:
    checks = [part for option, part in (("order", "n-gram order ≥ 2"), ("context", "MLP context ≥ 2"))
              if not known or option in facts.options]
    if not known or facts.recurrent or "block_size" in facts.options:
        checks.append("sequence length > 1")
    return ("Keep training: recurrent models often sit here for a few hundred steps before they find the "
            "context. If it lasts, raise the learning rate" + (f", and check the model can see context "
                                                               f"({', '.join(checks)})." if checks else "."))


def architecture_cures(facts: ModelFacts, known: bool) -> list[str]:
    """The architectural cures for gradients that fade: only those this model does not have already."""
    if not known:
        return ["a gated cell (GRU, LSTM)", "a relu RNN with identity init (Le et al. 2015)"]
    cures = []
    if facts.recurrent and not facts.gated:
        cures.append("a gated cell (GRU, LSTM)")
        if "identity_init" in facts.options and not facts.identity_init:
            cures.append("relu with identity init (Le et al. 2015)")
    return cures


def memorising_finding(history: History, train: list[float], rise: float, facts: ModelFacts, known: bool
                ) -> Finding | None:
    val, steps = history.val_loss, history.val_step
    if len(val) < 3 or not all(math.isfinite(v) for v in val):
        return None
    best = min(range(len(val)), key=val.__getitem__)
    if best == len(val) - 1 or val[-1] - val[best] < max(rise, 0.03 * val[best]):
        return None
    def train_near(step: int) -> float:  # median training loss of the steps up to `step`
        upto = [loss for s, loss in zip(history.step, history.train_loss, strict=False)
                if s <= step and math.isfinite(loss)]
        return statistics.median(upto[-max(5, len(upto) // 10):]) if upto else math.nan
    then, now = train_near(steps[best]), statistics.median(train[-max(5, len(train) // 10):])
    if not now < then - 0.02:
        return None  # training is not falling: something else (e.g. a noisy estimate)
    ev = {"best_val": val[best], "best_step": steps[best], "last_val": val[-1], "last_step": steps[-1],
          "train_at_best": then, "train_now": now}
    cures = ["a smaller model"] + (["dropout (0.1-0.3)"] if not known or "dropout" in facts.options else []) + [
        "weight decay", "more text", f"stopping near step {steps[best]}"]
    return Finding(
        "memorising", f"Validation loss rose from {val[best]:.2f} (step {steps[best]}) to {val[-1]:.2f} while "
        f"the training loss kept falling ({then:.2f} → {now:.2f}): the model is memorising the training text "
        "instead of learning what generalises to new text.", ev,
        "Use " + ", ".join(cures[:-1]) + f", or try {cures[-1]}.")
