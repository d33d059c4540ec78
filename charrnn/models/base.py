"""What every model in the zoo shares: one call signature, one way to describe itself.

    logits, state = model(x, state)
        x:      (B, T) long  character ids
        state:  whatever the model carries between calls (None = start fresh)
        logits: (B, T, V)    unnormalised scores for the next character at every position

The loss is not computed here: the trainer computes cross-entropy once, for every model.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

State = Any  # None | Tensor | tuple of Tensors — each model documents its own


@dataclass
class ModelConfig:
    """Base of the per-model dataclass configs; these hold the only defaults."""

    def to_dict(self) -> dict:
        return asdict(self)


class CharModel(nn.Module):
    """Base class. Subclasses set the class attributes and implement `forward`."""

    Config: ClassVar[type[ModelConfig]]
    title: ClassVar[str]  # a short human name for the UI
    description: ClassVar[str]  # one paragraph: what it is, where it comes from (paper)
    recurrent: ClassVar[bool] = False  # True: trained on contiguous streams, state carried (TBPTT)
    fitted_by_counting: ClassVar[bool] = False  # True: `fit_counts` instead of gradient descent

    def __init__(self, vocab_size: int, config: ModelConfig):
        super().__init__()
        self.vocab_size = vocab_size
        self.config = config

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    @property
    def context(self) -> int | None:
        """How many past characters the model can see at most (None: unbounded, recurrent)."""
        return None

    @property
    def max_seq_len(self) -> int | None:
        """The longest x (in T) one call accepts (None: any length)."""
        return None

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def detach_state(state: State) -> State:
    """Cut the gradient path at a TBPTT boundary, keeping the values.

    Without this, batch k+1's backward pass would run back through batch k, k-1, … to the start of
    the text: memory and time would grow with every step (and PyTorch would complain that the
    graph was already freed).
    """
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.detach()
    return type(state)(detach_state(s) for s in state)


class InputLayer(nn.Module):
    """Characters → vectors: a learned embedding, or a one-hot vector (the classic char-rnn input).

    One-hot is the same as an embedding whose table is the identity matrix: the first weight matrix
    of the network then does the embedding's job. Learning a small table is cheaper and usually
    trains faster, which is why it is the default.
    """

    def __init__(self, vocab_size: int, n_embd: int, onehot: bool):
        super().__init__()
        self.onehot = onehot
        self.vocab_size = vocab_size
        self.size = vocab_size if onehot else n_embd
        if not onehot:
            self.embedding = nn.Embedding(vocab_size, n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T) long → (B, T, size)
        if self.onehot:
            return nn.functional.one_hot(x, self.vocab_size).float()
        return self.embedding(x)
