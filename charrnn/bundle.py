"""A trained model together with everything needed to sample from it and to continue training it.

This is what a checkpoint file holds and what the app keeps per user session.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .corpus import Vocab
from .models.base import CharModel, State


@dataclass
class History:
    """A model's loss curves in nats per character — the one record of them: the checkpoint keeps it, and a
    run record's curve (`charrnn.record`) is the window of it that its run added.

    Training points (one per step) and validation points (one per estimate) each sit on three x axes:
    optimizer steps, training characters seen, and seconds of the model's own training on its run's clock
    (NaN where unknown: a checkpoint written before seconds were kept).
    """

    step: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_chars: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    val_seconds: list[float] = field(default_factory=list)

    def add(self, step: int, chars: int, seconds: float, train_loss: float) -> None:
        self.step.append(step)
        self.chars.append(chars)
        self.seconds.append(seconds)
        self.train_loss.append(train_loss)

    def add_val(self, step: int, chars: int, seconds: float, val_loss: float) -> None:
        """A validation point; at the step of the last one, it replaces its loss (a final estimate over more
        of the held-out text replaces a partial one)."""
        if self.val_step and self.val_step[-1] == step:
            self.val_loss[-1] = val_loss
            return
        self.val_step.append(step)
        self.val_chars.append(chars)
        self.val_seconds.append(seconds)
        self.val_loss.append(val_loss)

    def point(self, i: int) -> tuple[int, int, float, float]:
        """Training point i: (step, chars, seconds, loss); seconds NaN where unknown."""
        return self.step[i], self.chars[i], _at(self.seconds, i), self.train_loss[i]

    def val_point(self, i: int) -> tuple[int, int, float, float]:
        """Validation point i: (step, chars, seconds, loss); seconds NaN where unknown."""
        return self.val_step[i], self.val_chars[i], _at(self.val_seconds, i), self.val_loss[i]


def _at(values: list[float], i: int) -> float:
    return values[i] if i < len(values) else math.nan


@dataclass(frozen=True)
class Split:
    """How the last run cut its text: the first `n_train` of `n_chars` characters for training, the rest
    (`val_fraction` of it, rounded down) held out for validation (`charrnn.corpus.split`)."""

    val_fraction: float
    n_train: int
    n_chars: int


@dataclass
class Bundle:
    model: CharModel
    vocab: Vocab
    model_name: str  # a key of charrnn.models.MODELS
    train_config: object | None = None  # the TrainConfig of the last run
    history: History = field(default_factory=History)
    step: int = 0  # optimizer steps over the model's whole life
    chars_seen: int = 0
    seconds: float = 0.0  # training wall-clock over the model's whole life
    # Where the last run stopped, so that a resumed run continues exactly there:
    run_step: int = 0  # steps into the last run's learning-rate schedule
    run_seconds: float = 0.0
    optimizer_state: dict | None = None  # Adam moments
    rnn_state: State = None  # recurrent state at the end of the last batch
    rng_state: torch.Tensor | None = None  # the run's own random stream there (`randomness.RunRandom.state`)
    split: Split | None = None  # the last run's split; None: unknown (trained before checkpoints kept it)
    world_size: int = 1  # processes the last run trained on (torchrun), each on its rows of every batch
    # Sampled every TrainConfig.stats_every steps (not saved): {"step", "grad_norm", "update_ratio"}
    grad_stats: list = field(default_factory=list)

    @property
    def val_loss(self) -> float | None:
        return self.history.val_loss[-1] if self.history.val_loss else None
