"""PyTorch's own recurrent layers: `nn.RNN`, `nn.GRU`, `nn.LSTM`, with layers, hidden size, dropout.

The same networks as the hand-written cells in `rnn_scratch.py`, run by PyTorch's fused kernels:
much faster to train, and what you would use in practice.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import InputLayer, ModelConfig, State
from .recurrent import RecurrentModel


@dataclass
class RNNConfig(ModelConfig):
    n_hidden: int = 256
    n_layer: int = 2
    dropout: float = 0.0  # between layers (needs n_layer ≥ 2)
    n_embd: int = 32  # embedding size (ignored with onehot)
    onehot: bool = False


class TorchRNN(RecurrentModel):
    """Embedding → stacked `cell_type` layers → linear readout to V logits.

    state: (n_layer, B, n_hidden) for RNN and GRU; a pair (h, c) of those for LSTM.
    """

    Config = RNNConfig
    cell_type: type[nn.RNNBase] = nn.RNN
    # What the fused layer keeps per position and layer for backward, in units of n_hidden (its gates
    # and the new state: a tanh RNN ≈ 2H, a GRU ≈ 6H, an LSTM ≈ 7H), plus the layer's output.
    activation_width = 3

    def __init__(self, vocab_size: int, config: RNNConfig):
        super().__init__(vocab_size, config)
        self.input = InputLayer(vocab_size, config.n_embd, config.onehot)
        dropout = config.dropout if config.n_layer > 1 else 0.0
        self.rnn = self.cell_type(self.input.size, config.n_hidden, config.n_layer,
                                  batch_first=True, dropout=dropout)
        self.head = nn.Linear(config.n_hidden, vocab_size)

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        if x.shape[1] == 1 and not torch.is_grad_enabled():
            logits, state = self.step(x[:, 0], state)  # one character: the fast one-step path
            return logits[:, None], state
        out, state = self.rnn(self.input(x), state)  # (B, T, n_embd) → (B, T, n_hidden)
        return self.head(out), state  # (B, T, V)

    def step(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """x (B,) → logits (B, V): one time step, layer by layer, through PyTorch's one-step cell on the layer's
        own weights (`torch.rnn_tanh_cell`, `gru_cell`, `lstm_cell`: what nn.RNNCell, nn.GRUCell and
        nn.LSTMCell call).

        The same numbers as `self.rnn` on a length-1 sequence (to float rounding), but a call to the fused
        layer costs milliseconds of fixed overhead on a CPU, which would cap sampling at ~150 chars/s. The
        one-step cell is one call where the same cell written as a dozen tensor operations (its gates sliced,
        each activation its own call) spent more on the calls than on the arithmetic at batch 1.
        """
        x = self.input(x)  # (B, n_embd)
        B, L, H = x.shape[0], self.config.n_layer, self.config.n_hidden
        if state is None:
            state = self._zeros(B, x)
        new = []
        for layer in range(L):
            x, layer_state = self._cell(x, self._layer_state(state, layer), *self.layer_params(layer), H)
            new.append(layer_state)
        return self.head(x), self._stack(new)  # (B, V)

    def layer_params(self, layer: int) -> list[nn.Parameter]:
        """Layer `layer`'s (weight_ih, weight_hh, bias_ih, bias_hh), by PyTorch's names for them."""
        return [getattr(self.rnn, f"{w}_l{layer}") for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]

    def onehot_table(self) -> tuple[torch.Tensor, str]:
        return self.rnn.weight_ih_l0.T, "rnn.weight_ih_l0 columns (one-hot input)"

    def _zeros(self, B: int, like: torch.Tensor) -> State:
        return like.new_zeros(self.config.n_layer, B, self.config.n_hidden)

    def _layer_state(self, state: State, layer: int):
        return state[layer]

    def _stack(self, states: list) -> State:
        return torch.stack(states)

    @staticmethod
    def _cell(x, h, w_ih, w_hh, b_ih, b_hh, H):
        """x (B, in), h (B, H) → (output, state), both h' = tanh(W_ih x + b_ih + W_hh h + b_hh) (B, H)."""
        h = torch.rnn_tanh_cell(x, h, w_ih, w_hh, b_ih, b_hh)
        return h, h


class TorchGRU(TorchRNN):
    cell_type = nn.GRU
    activation_width = 7

    @staticmethod
    def _cell(x, h, w_ih, w_hh, b_ih, b_hh, H):
        """x (B, in), h (B, H) → (h', h'), Cho et al. 2014 in PyTorch's gate order (reset r, update z, new n):
        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)), h' = (1 − z) ⊙ n + z ⊙ h. The hand-written one is
        `rnn_scratch.GRUCell`."""
        h = torch.gru_cell(x, h, w_ih, w_hh, b_ih, b_hh)
        return h, h


class TorchLSTM(TorchRNN):
    cell_type = nn.LSTM
    activation_width = 8
    cell_state = True

    def _zeros(self, B, like):
        z = like.new_zeros(self.config.n_layer, B, self.config.n_hidden)
        return (z, z.clone())

    def _layer_state(self, state, layer):
        return (state[0][layer], state[1][layer])

    def _stack(self, states):
        return (torch.stack([h for h, _ in states]), torch.stack([c for _, c in states]))

    @staticmethod
    def _cell(x, hc, w_ih, w_hh, b_ih, b_hh, H):
        """x (B, in), (h, c) (B, H) each → (h', (h', c')), Hochreiter & Schmidhuber 1997 with a forget gate, in
        PyTorch's gate order (input i, forget f, cell g, output o): c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c'). The
        hand-written one is `rnn_scratch.LSTMCell`."""
        h, c = torch.lstm_cell(x, hc, w_ih, w_hh, b_ih, b_hh)
        return h, (h, c)


TorchRNN.noun, TorchGRU.noun, TorchLSTM.noun = "an RNN", "a GRU", "an LSTM"
TorchRNN.title, TorchRNN.description = "nn.RNN", (
    "PyTorch's built-in Elman RNN (Elman 1990): h_t = tanh(W_ih x_t + W_hh h_{t-1} + b), stacked in "
    "layers. The same maths as the hand-written RNN, run by a fused kernel. Plain RNNs struggle to "
    "carry information for more than a few dozen steps because gradients vanish or explode.")
TorchGRU.title, TorchGRU.description = "nn.GRU", (
    "PyTorch's Gated Recurrent Unit (Cho et al. 2014): reset and update gates decide how much of the "
    "old state to keep, which lets gradients flow across long spans. Fewer weights than an LSTM, "
    "often as good.")
TorchLSTM.title, TorchLSTM.description = "nn.LSTM", (
    "PyTorch's Long Short-Term Memory (Hochreiter & Schmidhuber 1997): a separate cell state updated "
    "through input, forget and output gates, so memories can survive hundreds of steps. The classic "
    "char-rnn model (Karpathy 2015) and the default here.")
