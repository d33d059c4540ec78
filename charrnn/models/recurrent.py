"""What the recurrent models share: the layout, and so the description, of input → layers → readout.

    x (B, T) ─input─► (B, T, E) ─n_layer recurrent layers─► (B, T, H) ─head─► logits (B, T, V)
    state: (n_layer, B, H) — for an LSTM a pair (h, c) of those

The hand-written cells (`rnn_scratch.py`) and PyTorch's fused layers (`rnn_torch.py`) differ in how a
layer is computed, not in this layout; each says only what differs: a layer's parameters, the first
weight matrix for a one-hot input, and its `activation_width`.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from .base import CharModel
from .describe import InputSpec, Probe, TrainingCost


class RecurrentModel(CharModel):
    """Base of the recurrent models. Subclasses build `self.input` (an InputLayer), their layers and
    `self.head` (nn.Linear(n_hidden, V)), and set the class attributes below."""

    recurrent = True
    # Numbers backward keeps per position and layer, in units of n_hidden: the gates, the new state and
    # the non-linearities' outputs (what autograd saves, not every intermediate). Checked against peak RSS
    # by tests/test_estimate.py: within 2×, and mostly high.
    activation_width: ClassVar[int]
    cell_state: ClassVar[bool] = False  # True: the state is a pair (h, c) (the LSTM)
    loop_calls_per_layer: ClassVar[int] = 0  # Python-level cell calls per time step and layer

    def layer_params(self, layer: int) -> nn.Module | list[nn.Parameter]:
        """The parameters of layer `layer` (0 = bottom)."""
        raise NotImplementedError

    def onehot_table(self) -> tuple[torch.Tensor, str]:
        """For a one-hot input: the first weight matrix's columns, (V, H·gates), and where they come from."""
        raise NotImplementedError

    def h_bounded(self) -> bool:
        """Is h in [-1, 1]? (tanh and the gated cells: yes; a relu RNN: no)."""
        return True

    # ---- the description ----------------------------------------------------------------------------

    def input_layer(self) -> InputSpec:
        if self.input.onehot:
            table, source = self.onehot_table()
            return InputSpec("onehot", self.input, table, source)
        return InputSpec("embedding", self.input, self.input.embedding.weight, "input.embedding.weight (V, E)")

    def probes(self) -> list[Probe]:
        """Each layer's h (and c) from the carried state, after every character: the fused layers return
        only the top layer's h at every step, so the state is where every layer can be read."""
        H, probes = self.config.n_hidden, []
        for k in range(self.config.n_layer):
            if self.cell_state:
                probes += [Probe(f"layer {k + 1} h", H, "hidden state h_t of this layer", self.h_bounded(),
                                 lambda state, k=k: state[0][k]),
                           Probe(f"layer {k + 1} c", H, "LSTM cell state c_t (unbounded)", False,
                                 lambda state, k=k: state[1][k])]
            else:
                probes.append(Probe(f"layer {k + 1} h", H, "hidden state h_t of this layer", self.h_bounded(),
                                    lambda state, k=k: state[k]))  # (n_layer, B, H) → (B, H)
        return probes

    def param_layers(self) -> dict[str, str]:
        return self.group_params([self.input], [self.layer_params(k) for k in range(self.config.n_layer)],
                                 [self.head])

    def cost(self, seq_len: int) -> TrainingCost:
        c, V = self.config, self.vocab_size
        E = V if c.onehot else c.n_embd
        macs = self.num_params() - (0 if c.onehot else V * E)  # the embedding is a lookup; one-hot is a matmul
        # Dropout acts between layers only: a mask and an output of ≈ 3H per position at each of the
        # n_layer - 1 boundaries (measured: 2-2.5H), not a doubling of everything.
        dropped = 3 * c.n_hidden * (c.n_layer - 1) if c.dropout else 0
        return TrainingCost(macs, E, self.activation_width * c.n_hidden, c.n_layer, extra_width=dropped,
                            loop_calls=self.loop_calls_per_layer * c.n_layer)

    def named_sizes(self) -> dict[str, int]:
        c = self.config
        return {"V": self.vocab_size, "E": c.n_embd, "H": c.n_hidden, "L": c.n_layer,  # L: the state's layers
                "3H": 3 * c.n_hidden, "4H": 4 * c.n_hidden}  # GRU and LSTM gates, side by side
