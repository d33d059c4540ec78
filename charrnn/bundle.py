"""A trained model together with everything needed to sample from it and to continue training it.

This is what a checkpoint file holds and what the app keeps per user session.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .corpus import Vocab
from .models.base import CharModel, State


@dataclass
class History:
    """Loss curves, in nats per character. `chars` counts training characters seen so far."""

    step: list[int] = field(default_factory=list)
    chars: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_step: list[int] = field(default_factory=list)
    val_chars: list[int] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)


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
    split: Split | None = None  # the last run's split; None: unknown (trained before checkpoints kept it)
    # Sampled every TrainConfig.stats_every steps (not saved): {"step", "grad_norm", "update_ratio"}
    grad_stats: list = field(default_factory=list)

    @property
    def val_loss(self) -> float | None:
        return self.history.val_loss[-1] if self.history.val_loss else None
