"""The shapes of what a model says about itself (see `base.CharModel`): plain data, no behaviour.

    InputSpec      how characters enter the model          ← input_layer()
    Probe          one named hidden activation              ← probes()
    TrainingCost   what a training position costs           ← cost(seq_len), gradient-trained models
    CountingCost   what a counted character costs           ← cost(seq_len), models fitted by counting
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class InputSpec:
    """How characters enter the model.

    kind    "embedding"  a learned vector per character
            "onehot"     a one-hot vector per character; the first weight matrix's columns then act as
                         the embedding (W · onehot(c) is column c of W)
            "window"     a learned vector per character, the last C of them side by side at every position
    module  the module whose output is what the model reads: (B, T, D) aligned with x, or for "window"
            (B, T, C, D), where slot j of position t is the character t-C+1+j. Saliency takes the
            gradient there.
    table   (V, D) one vector per character, a view of the weights (for the embedding map)
    source  where `table` comes from, in words: "input.embedding.weight (V, E)"
    """

    kind: str
    module: nn.Module
    table: torch.Tensor
    source: str


def _itself(x: Any) -> Any:
    return x


@dataclass(frozen=True)
class Probe:
    """One hidden activation worth looking at: `size` numbers per character read.

    Read one of two ways:
        module given  the output of `module` while the model reads (a forward hook); `pick(output)`
                      is (…, T, size) for a call over T characters, or (…, size) for a module called
                      once per character (a hand-written cell)
        module None   the state the model carries, after each character: `pick(state)` is (B, size);
                      the text is then read one character at a time with `step`
    """

    name: str  # "layer 1 h": the key the neuron views use
    size: int
    what: str  # one line: what these numbers are
    bounded: bool  # values in [-1, 1] (tanh-like): saturation can be measured
    pick: Callable[[Any], torch.Tensor] = _itself
    module: nn.Module | None = None


@dataclass(frozen=True)
class TrainingCost:
    """What one position of a (B, T) training batch costs a gradient-trained model (`charrnn.estimate`
    turns it into bytes and seconds).

    macs         multiply-adds per position in the forward pass, through the weights (an embedding is
                 a lookup and costs none) and attention
    input_width  numbers read per position, kept for backward: E, V for one-hot, C·E for a window
    layer_width  numbers backward keeps per position and layer (an LSTM: its four gates, c, tanh c …)
    n_layer      layers of `layer_width`
    extra_width  other numbers backward keeps per position (e.g. dropout masks and outputs between layers)
    attention    attention scores per sequence, all layers together (heads · T · T · n_layer)
    loop_calls   Python-level calls per time step (a hand-written cell: one per layer), each with a
                 fixed overhead forward and backward
    dropout      dropout everywhere (attention weights too): masks double what backward keeps
    """

    macs: int
    input_width: int
    layer_width: int
    n_layer: int
    extra_width: int = 0
    attention: int = 0
    loop_calls: int = 0
    dropout: bool = False


@dataclass(frozen=True)
class CountingCost:
    """What a model fitted by counting costs (`charrnn.estimate`).

    count_bytes  bytes its table grows by per training character, at most (one new entry per position)
    orders       context lengths it may score each position with: predicting one position costs at most
                 V · orders table look-ups
    logit_bytes  bytes per score while scoring a validation piece (its working tables included)
    """

    count_bytes: int
    orders: int
    logit_bytes: int
