"""A tenth model, written for the tests and registered only by them: causal dilated convolutions.

Not in `charrnn.models.MODELS`: the tests that use it register it for their own duration. Nothing outside
this file knows it exists, so it shows that a model gets every inspection view and a right memory
estimate from its own description (`CharModel`: input layer, probes, parameter layers, cost, named
sizes), or that a test fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from charrnn.models import CharModel, InputSpec, ModelConfig, Probe, State, TrainingCost


@dataclass
class ConvConfig(ModelConfig):
    n_embd: int = 16
    n_hidden: int = 64
    n_layer: int = 3  # dilations 1, 2, 4, …: it sees the last 2**n_layer characters


class CausalConv(CharModel):
    """Causal dilated convolutions over characters (van den Oord et al. 2016, "WaveNet"; Bai, Kolter &
    Koltun 2018, "An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence
    Modeling"):

        layer l, d = 2**l:   h_l[t] = tanh(W_l · [h_{l-1}[t-d]; h_{l-1}[t]] + b_l)      h_0 = embedding

    Each layer carries the last d inputs it saw, so a text can be continued one character at a time
    without recomputing the window (Paine et al. 2016, "Fast Wavenet Generation Algorithm").

    state: a tuple of n_layer tensors, layer l's (B, 2**l, C_l): its last inputs (zeros before the text).
    """

    Config = ConvConfig
    title = "Causal convolution"
    noun = "a causal convolution"
    description = ("Dilated causal convolutions (WaveNet, van den Oord et al. 2016): each layer mixes a "
                   "character's vector with the one 2**l places back, so n layers see 2**n characters.")

    def __init__(self, vocab_size: int, config: ConvConfig):
        super().__init__(vocab_size, config)
        c = config
        self.embedding = nn.Embedding(vocab_size, c.n_embd)
        sizes = [c.n_embd] + [c.n_hidden] * (c.n_layer - 1)
        self.convs = nn.ModuleList(nn.Conv1d(size, c.n_hidden, kernel_size=2, dilation=2 ** k)
                                   for k, size in enumerate(sizes))
        self.acts = nn.ModuleList(nn.Tanh() for _ in sizes)
        self.head = nn.Linear(c.n_hidden, vocab_size)

    @property
    def context(self) -> int:
        return 2 ** self.config.n_layer

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        B, T = x.shape
        h = self.embedding(x)  # (B, T, E)
        if state is None:
            state = tuple(h.new_zeros(B, conv.dilation[0], conv.in_channels) for conv in self.convs)
        carried = []
        for conv, act, past in zip(self.convs, self.acts, state, strict=True):
            seq = torch.cat([past, h], dim=1)  # (B, d + T, C)
            carried.append(seq[:, -conv.dilation[0]:])  # (B, d, C): what the next call needs
            h = act(conv(seq.transpose(1, 2)).transpose(1, 2))  # (B, H, T) → (B, T, H)
        return self.head(h), tuple(carried)  # (B, T, V)

    # ---- the description -------------------------------------------------------------------------

    def input_layer(self) -> InputSpec:
        return InputSpec("embedding", self.embedding, self.embedding.weight, "embedding.weight (V, E)")

    def probes(self) -> list[Probe]:
        return [Probe(f"layer {k + 1}", self.config.n_hidden, "tanh output of this convolution", True, module=act)
                for k, act in enumerate(self.acts)]

    def param_layers(self) -> dict[str, str]:
        return self.group_params([self.embedding], list(self.convs), [self.head])

    def cost(self, seq_len: int) -> TrainingCost:
        c = self.config
        # backward keeps each layer's input window (a copy, transposed), its output and the tanh: ≈ 3H
        return TrainingCost(self.num_params() - self.vocab_size * c.n_embd, c.n_embd, 3 * c.n_hidden, c.n_layer)

    def named_sizes(self) -> dict[str, int]:
        return {"V": self.vocab_size, "E": self.config.n_embd, "H": self.config.n_hidden}
