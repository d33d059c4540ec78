"""Recurrent networks written out by hand: the Elman RNN, the GRU and the LSTM, one line per gate.

Each cell maps (input x_t, previous state) → new state, and the model runs it over the text in a
plain Python loop, one character after another, so every step can be read (and printed, and
changed). `rnn_torch.py` computes the same functions with PyTorch's fused kernels, much faster;
the tests check that these cells give the same numbers and gradients as nn.RNNCell / nn.GRUCell /
nn.LSTMCell with the same weights.

Weight names and gate orders follow PyTorch's (weight_ih, weight_hh, bias_ih, bias_hh).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

from .base import InputLayer, ModelConfig, State
from .describe import Probe
from .recurrent import RecurrentModel


def _uniform(*shape: int, hidden: int) -> nn.Parameter:
    # PyTorch's initialisation for its recurrent layers: U(-1/sqrt(H), 1/sqrt(H)) for every weight
    bound = 1 / math.sqrt(hidden)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class ElmanCell(nn.Module):
    """h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)       combine="add"
       h_t = f(W [x_t; h_{t-1}] + b)                          combine="concat"

    Elman 1990, "Finding Structure in Time". The two ways of writing it are the same function:
    W [x; h] = W_ih x + W_hh h when W is W_ih and W_hh side by side (min-char-rnn writes the first,
    many textbooks the second). f is tanh or relu. identity_init starts W_hh at the identity and the
    biases at zero (Le, Jaitly & Hinton 2015, "A Simple Way to Initialize Recurrent Networks of
    Rectified Linear Units"): with relu, the state is then copied forward unchanged until learning
    says otherwise, so gradients neither vanish nor explode at the start.
    """

    def __init__(self, input_size: int, hidden_size: int, nonlinearity: str = "tanh",
                 combine: str = "add", identity_init: bool = False):
        super().__init__()
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', not {nonlinearity!r}")
        if combine not in ("add", "concat"):
            raise ValueError(f"combine must be 'add' or 'concat', not {combine!r}")
        I, H = input_size, hidden_size
        self.combine, self.activation = combine, torch.tanh if nonlinearity == "tanh" else torch.relu
        if combine == "add":
            self.weight_ih, self.weight_hh = _uniform(H, I, hidden=H), _uniform(H, H, hidden=H)  # (H, I), (H, H)
            self.bias_ih, self.bias_hh = _uniform(H, hidden=H), _uniform(H, hidden=H)
        else:
            self.weight, self.bias = _uniform(H, I + H, hidden=H), _uniform(H, hidden=H)  # (H, I+H), (H,)
        if identity_init:
            with torch.no_grad():
                self.w_hh().copy_(torch.eye(H))
                for b in (self.bias_ih, self.bias_hh) if combine == "add" else (self.bias,):
                    b.zero_()

    def w_hh(self) -> torch.Tensor:
        """The hidden-to-hidden matrix (H, H), whichever way the cell is written."""
        return self.weight_hh if self.combine == "add" else self.weight[:, -self.weight.shape[0]:]

    def w_ih(self) -> torch.Tensor:
        """The input-to-hidden matrix (H, I), whichever way the cell is written."""
        return self.weight_ih if self.combine == "add" else self.weight[:, :-self.weight.shape[0]]

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # (B, I), (B, H) → (B, H)
        if self.combine == "add":
            pre = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh
        else:
            pre = torch.cat([x, h], dim=1) @ self.weight.T + self.bias  # (B, I+H) @ (I+H, H)
        return self.activation(pre)


class GRUCell(nn.Module):
    """Cho et al. 2014, "Learning Phrase Representations using RNN Encoder-Decoder". Gates in
    PyTorch's order (reset, update, new), so nn.GRUCell's weights can be copied in."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        H = hidden_size
        self.weight_ih, self.weight_hh = _uniform(3 * H, input_size, hidden=H), _uniform(3 * H, H, hidden=H)
        self.bias_ih, self.bias_hh = _uniform(3 * H, hidden=H), _uniform(3 * H, hidden=H)

    def w_ih(self) -> torch.Tensor:  # (3H, I)
        return self.weight_ih

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:  # (B, I), (B, H) → (B, H)
        x_r, x_z, x_n = (x @ self.weight_ih.T + self.bias_ih).chunk(3, dim=1)  # 3 × (B, H)
        h_r, h_z, h_n = (h @ self.weight_hh.T + self.bias_hh).chunk(3, dim=1)
        r = torch.sigmoid(x_r + h_r)  # reset gate: how much of the old state the candidate may use
        z = torch.sigmoid(x_z + h_z)  # update gate: how much of the old state to keep
        n = torch.tanh(x_n + r * h_n)  # candidate state
        return (1 - z) * n + z * h  # keep a z-share of the old state: a path gradients can travel


class LSTMCell(nn.Module):
    """Hochreiter & Schmidhuber 1997, "Long Short-Term Memory" (with the forget gate of Gers et al.
    2000). Gates in PyTorch's order (input, forget, cell, output)."""

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        H = hidden_size
        self.weight_ih, self.weight_hh = _uniform(4 * H, input_size, hidden=H), _uniform(4 * H, H, hidden=H)
        self.bias_ih, self.bias_hh = _uniform(4 * H, hidden=H), _uniform(4 * H, hidden=H)

    def w_ih(self) -> torch.Tensor:  # (4H, I)
        return self.weight_ih

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
                ) -> tuple[torch.Tensor, torch.Tensor]:  # (B, I), ((B, H), (B, H)) → ((B, H), (B, H))
        h, c = state
        gates = x @ self.weight_ih.T + self.bias_ih + h @ self.weight_hh.T + self.bias_hh  # (B, 4H)
        i, f, g, o = gates.chunk(4, dim=1)
        i = torch.sigmoid(i)  # input gate: how much of the candidate to write
        f = torch.sigmoid(f)  # forget gate: how much of the old cell to keep
        g = torch.tanh(g)  # candidate values
        o = torch.sigmoid(o)  # output gate: how much of the cell to show
        c = f * c + i * g  # the cell is updated by addition: memories (and gradients) can last
        h = o * torch.tanh(c)
        return h, c


@dataclass
class ScratchConfig(ModelConfig):
    n_hidden: int = 128
    n_layer: int = 1
    n_embd: int = 32  # embedding size (ignored with onehot)
    onehot: bool = False
    dropout: float = 0.0  # between layers (needs n_layer ≥ 2)


@dataclass
class ElmanConfig(ScratchConfig):
    nonlinearity: str = "tanh"  # "tanh" | "relu"
    combine: str = "add"  # "add": W_ih x + W_hh h | "concat": W [x; h]
    identity_init: bool = False  # W_hh = I at the start (IRNN, Le et al. 2015)


class ScratchRNN(RecurrentModel):
    """Input layer → `n_layer` hand-written cells unrolled over time → linear readout to V logits.

    state: (n_layer, B, n_hidden); for the LSTM a pair (h, c) of those — the same layout as the
    nn.RNN / nn.GRU / nn.LSTM models.
    """

    Config = ElmanConfig
    # What autograd saves of each step of the Python loop: f(pre) and the inputs of its products; measured
    # ≈ 2.6H per position and layer (peak RSS, H 256-512). Plus a fixed overhead per cell call.
    activation_width = 3
    loop_calls_per_layer = 1

    def __init__(self, vocab_size: int, config: ScratchConfig):
        super().__init__(vocab_size, config)
        self.input = InputLayer(vocab_size, config.n_embd, config.onehot)
        sizes = [self.input.size] + [config.n_hidden] * (config.n_layer - 1)
        self.cells = nn.ModuleList(self.make_cell(size, config.n_hidden) for size in sizes)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.n_hidden, vocab_size)

    def make_cell(self, input_size: int, hidden_size: int) -> nn.Module:
        c = self.config
        return ElmanCell(input_size, hidden_size, c.nonlinearity, c.combine, c.identity_init)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        B, T = x.shape
        emb = self.input(x)  # (B, T, n_embd)
        layer_states = self.split_state(state if state is not None else self.zeros(B, emb))
        outputs = []
        for t in range(T):  # one character after another: the state carries what came before
            inp = emb[:, t]  # (B, n_embd)
            for layer, cell in enumerate(self.cells):
                layer_states[layer] = cell(inp, layer_states[layer])
                inp = self.output(layer_states[layer])  # (B, n_hidden)
                if layer < len(self.cells) - 1:
                    inp = self.drop(inp)
            outputs.append(inp)
        out = torch.stack(outputs, dim=1)  # (B, T, n_hidden)
        return self.head(out), self.join_state(layer_states)  # (B, T, V)

    # The state's layout; the LSTM overrides these for its (h, c) pair.
    def zeros(self, B: int, like: torch.Tensor) -> State:
        return like.new_zeros(self.config.n_layer, B, self.config.n_hidden)

    def split_state(self, state: State) -> list:
        return list(state.unbind(0))

    def join_state(self, states: list) -> State:
        return torch.stack(states)

    @staticmethod
    def output(layer_state):
        return layer_state

    # ---- the description (the rest is in RecurrentModel) ---------------------------------------

    def layer_params(self, layer):
        return self.cells[layer]

    def onehot_table(self):
        return self.cells[0].w_ih().T, "cells.0 input weight columns (one-hot input)"

    def h_bounded(self):
        return self.config.nonlinearity == "tanh"  # relu: unbounded

    def probes(self):
        """Each layer's h (and c) as its cell returns them, once per character: one forward pass over a
        text shows every layer at every step, so no need to read it a character at a time."""
        H, probes = self.config.n_hidden, []
        for k, cell in enumerate(self.cells):
            h = Probe(f"layer {k + 1} h", H, "hidden state h_t of this layer", self.h_bounded(), module=cell)
            if self.cell_state:  # the LSTM cell returns (h, c)
                probes += [replace(h, pick=lambda out: out[0]),
                           Probe(f"layer {k + 1} c", H, "LSTM cell state c_t (unbounded)", False,
                                 lambda out: out[1], module=cell)]
            else:
                probes.append(h)
        return probes


class ScratchGRU(ScratchRNN):
    Config = ScratchConfig
    activation_width = 14  # the gates' (B, 3H) products stay alive through their chunks: measured ≈ 13-14H

    def h_bounded(self):
        return True  # a gated mix of the old h and a tanh candidate

    def make_cell(self, input_size, hidden_size):
        return GRUCell(input_size, hidden_size)


class ScratchLSTM(ScratchRNN):
    Config = ScratchConfig
    activation_width = 10  # four gates, c, tanh c, h and the products' inputs: measured ≈ 6-8H
    cell_state = True

    def h_bounded(self):
        return True  # o · tanh(c)

    def make_cell(self, input_size, hidden_size):
        return LSTMCell(input_size, hidden_size)

    def zeros(self, B, like):
        z = like.new_zeros(self.config.n_layer, B, self.config.n_hidden)
        return (z, z.clone())

    def split_state(self, state):
        return list(zip(state[0].unbind(0), state[1].unbind(0), strict=True))

    def join_state(self, states):
        return (torch.stack([h for h, _ in states]), torch.stack([c for _, c in states]))

    @staticmethod
    def output(layer_state):
        return layer_state[0]  # the next layer and the readout see h; c stays inside the cell

    def output_names(self, module):
        return ["h", "c"] if isinstance(module, LSTMCell) else super().output_names(module)


ScratchRNN.noun, ScratchGRU.noun, ScratchLSTM.noun = "a hand-written RNN", "a hand-written GRU", "a hand-written LSTM"
ScratchRNN.title, ScratchRNN.description = "RNN (from scratch)", (
    "The Elman recurrent network (Elman 1990) written out by hand: at every character the new "
    "hidden state is f(W_ih x_t + W_hh h_{t-1} + b), unrolled over the text in a plain Python loop. "
    "Try tanh or relu, adding the input and hidden terms or multiplying one matrix with their "
    "concatenation (the same function written two ways), and identity initialisation of W_hh "
    "(Le, Jaitly & Hinton 2015), which lets a relu RNN carry its state unchanged at the start.")
ScratchGRU.title, ScratchGRU.description = "GRU (from scratch)", (
    "The Gated Recurrent Unit (Cho et al. 2014) written out gate by gate: a reset gate decides how "
    "much of the old state the candidate may use, an update gate how much of the old state to keep. "
    "Keeping part of the state unchanged gives gradients a short path back through time, so it "
    "learns longer dependencies than the plain RNN. Same numbers as nn.GRU, slower.")
ScratchLSTM.title, ScratchLSTM.description = "LSTM (from scratch)", (
    "The Long Short-Term Memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. "
    "2000) written out gate by gate: a cell state updated by addition through input, forget and "
    "output gates, so memories can survive hundreds of characters. Same numbers as nn.LSTM, slower.")
