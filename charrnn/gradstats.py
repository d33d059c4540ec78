"""Gradient statistics sampled while training: how large each layer's gradients and updates are.

    before = snapshot(model); optimizer.step(); stats = grad_stats_now(model, before, step=k)

The trainer calls these every `TrainConfig.stats_every` steps, with the learning rate it scheduled for
that step; `charrnn.inspect.diagnose` reads the results ("vanishing gradients", "updates too small") and
the page charts them. Each sample carries the model's own grouping of its parameters into layers
(`CharModel.param_layers`), so the readers need not know any model's parameter names. `update_size(samples)`
is the one figure for "how much a step changes the weights" (judged where the scheduled rate is near its
peak, not in a tail annealed to 0); the diagnosis and every view quote that figure. Karpathy's "A Recipe
for Training Neural Networks" (2019) gives the customary update-to-weight ratio of about 1e-3.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import torch
from torch import nn

from .models.base import CharModel


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every trainable parameter, taken just before `optimizer.step()`.

    Cost: one copy of the weights (memory and time of one parameter-sized copy).
    """
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


@torch.no_grad()
def grad_stats_now(model: CharModel, before: dict[str, torch.Tensor] | None = None, *,
                   step: int | None = None, lr: float | None = None) -> dict:
    """{"step": step, "lr": lr, "grad_norm": {name: ‖grad‖₂}, "update_ratio": {name: ‖Δw‖₂ / ‖w‖₂},
    "layer": {name: "input" | "layer 1" … | "output"}}.

    lr: the learning rate this step was taken with (the schedule's value at `step`), so that update
    sizes can be judged against it: a run annealed towards 0 takes tiny steps at its end, and should.

    Call right after `optimizer.step()`, with `before = snapshot(model)` taken just before it; the
    gradient norms are of `.grad` as it is then (after clipping, when clip_grad_norm_ scaled it in
    place). Without `before`, "update_ratio" is empty. Parameters without a gradient are left out,
    as are update ratios of all-zero weights (a ratio to 0 says nothing).

    Cost: two norms per parameter tensor and one host sync, plus `snapshot`'s copy. Measured on the
    default LSTM (H192x2, batch 16 x 64, 2-core CPU, 1 thread): ~1 ms for both, against ~31 ms per
    training step, i.e. ~3 % if taken every step and ~0.3 % every 10 steps.
    """
    names, grads, deltas, weights = [], [], [], []
    for name, p in model.named_parameters():
        if p.grad is None:
            continue
        names.append(name)
        grads.append(torch.linalg.vector_norm(p.grad.float()))
        if before is not None and name in before:
            deltas.append(torch.linalg.vector_norm((p - before[name]).float()))
            weights.append(torch.linalg.vector_norm(before[name].float()))
    g = torch.stack(grads).tolist() if grads else []
    layers = model.param_layers()
    stats = {"step": step, "lr": lr, "grad_norm": dict(zip(names, g, strict=True)), "update_ratio": {},
             "layer": {n: layers.get(n, "other") for n in names}}
    if deltas:
        d, w = torch.stack(deltas).tolist(), torch.stack(weights).tolist()
        stats["update_ratio"] = {n: di / wi for n, di, wi in zip(names, d, w, strict=True) if wi > 0}
    return stats


@dataclass(frozen=True)
class UpdateSize:
    """How much one optimizer step changes the weights: the median of ‖Δw‖₂ / ‖w‖₂ over every
    parameter tensor and every gradient sample taken while the scheduled learning rate was at least
    half its peak (samples without a recorded rate: all of them). The tail of a schedule annealed to 0
    takes tiny steps by design, so it is left out; this is the figure every view should show."""

    ratio: float
    first_step: int | None
    last_step: int | None
    samples: int
    lr: float | None  # the median scheduled learning rate of those samples (None: not recorded)

    def describe(self) -> str:
        where = (f"steps {self.first_step}-{self.last_step}" if self.first_step != self.last_step
                 else f"step {self.first_step}")
        over = f"median over {self.samples} samples" if self.samples != 1 else "1 sample"
        return f"{self.ratio:.1e} ({over}, {where}, at ≥ half the peak learning rate)"


def main_phase(grad_stats: list[dict] | None, share: float = 0.5) -> list[dict]:
    """The samples taken while the scheduled learning rate was at least `share` of its peak."""
    stats = list(grad_stats or [])
    rates = [s["lr"] for s in stats if s.get("lr") is not None]
    if not rates:
        return stats
    peak = max(rates)
    return [s for s in stats if s.get("lr") is not None and s["lr"] >= share * peak]


def update_size(grad_stats: list[dict] | None) -> UpdateSize | None:
    """The run's `UpdateSize`, or None without update ratios."""
    phase = [s for s in main_phase(grad_stats) if s.get("update_ratio")]
    values = [v for s in phase for v in s["update_ratio"].values() if math.isfinite(v)]
    if not values:
        return None
    rates = [s["lr"] for s in phase if s.get("lr") is not None]
    return UpdateSize(statistics.median(values), phase[0].get("step"), phase[-1].get("step"), len(phase),
                      statistics.median(rates) if rates else None)
