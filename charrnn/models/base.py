"""What every model in the zoo shares: one call signature, one way to describe itself.

    logits, state = model(x, state)
        x:      (B, T) long  character ids
        state:  whatever the model carries between calls (None = start fresh)
        logits: (B, T, V)    unnormalised scores for the next character at every position

    logits, state = model.step(x, state)         sampling: x (B,) one character each → logits (B, V)

The loss is not computed here: the trainer computes cross-entropy once, for every model.

Everything the rest of the code needs to know about a model is asked of the model, never guessed from
its name or its attributes (makemore's one interface; nanoGPT's `get_num_params`):

    input_layer()       how characters enter: embedding, one-hot or a window of embeddings   (saliency, maps)
    probes()            its hidden activations, named per layer                              (neurons, saturation)
    attention_layers()  the modules whose attention weights can be drawn                     (maps)
    param_layers()      which parameters form the input, each layer and the output           (gradient statistics)
    cost(seq_len)       compute and activation width per position                            (estimate.py)
    named_sizes()       its sizes by the names the shape views use (V, E, H …)                (shapes, graph)
    output_names(m)     what one of its modules returns, by name ("h", "c")                  (shapes)
    window_len(T)       how far back one call reads, for models that re-read a window         (inspect)
    pair_counts()       a counted model's table of character pairs                           (bigram table)
    pairs()             …the same counts sparse, whatever the vocabulary's size              (bigram table)
    largest_options(V)  options whose range depends on the vocabulary (an n-gram's order)    (presets)

A new model that leaves one of these out gets NotImplementedError from it, and the tests that run every
view over every registered model fail, instead of silently getting a wrong memory estimate or no view.
The descriptions themselves (Probe, InputSpec, TrainingCost, CountingCost) live in `describe.py`.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from .describe import CountingCost, InputSpec, Probe, TrainingCost

State = Any  # None | Tensor | tuple of Tensors — each model documents its own


@dataclass
class ModelConfig:
    """Base of the per-model dataclass configs; these hold the only defaults."""

    def to_dict(self) -> dict:
        return asdict(self)


class CharModel(nn.Module):
    """Base class. Subclasses set the class attributes, implement `forward` and describe themselves."""

    Config: ClassVar[type[ModelConfig]]
    title: ClassVar[str]  # a short human name for the UI
    noun: ClassVar[str]  # the model in a sentence, with its article: "an LSTM", "a transformer"
    description: ClassVar[str]  # one paragraph: what it is, where it comes from (paper)
    recurrent: ClassVar[bool] = False  # True: trained on contiguous streams, state carried (TBPTT)
    # True: `fit_counts` instead of gradient descent (`counts_of` / `add_counts`: several processes' counts merged)
    fitted_by_counting: ClassVar[bool] = False
    # True: `step`'s output is a function of its (few) input ids and state ids alone, so that sampling may
    # remember the logits of every context it met (exact: the same numbers). The n-gram's contexts repeat.
    memo_steps: ClassVar[bool] = False

    def __init__(self, vocab_size: int, config: ModelConfig):
        super().__init__()
        self.vocab_size = vocab_size
        self.config = config

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        raise NotImplementedError

    def step(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """One character in, the scores for the next one out: x (B,) long → logits (B, V), state.

        What sampling calls once per character, carrying the state. By default one `forward` call on a
        length-1 sequence; a model with a faster one-step path overrides it (same numbers).
        """
        logits, state = self(x[:, None], state)  # (B, 1, V)
        return logits[:, -1], state

    @property
    def context(self) -> int | None:
        """How many past characters the model can see at most (None: unbounded, recurrent)."""
        return None

    @property
    def max_seq_len(self) -> int | None:
        """The longest x (in T) one call accepts (None: any length)."""
        return None

    def window_len(self, T: int = 1) -> int | None:
        """How many characters one call reads when asked about T new ones, for a model that re-reads a
        window at every call instead of carrying its context in the state (None: the state carries it,
        so one call over a whole text gives every position its context)."""
        return self.max_seq_len

    @property
    def device(self) -> torch.device:
        for t in itertools.chain(self.parameters(), self.buffers()):
            return t.device
        return torch.device("cpu")

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # ---- the model describes itself ----------------------------------------------------------------

    def input_layer(self) -> InputSpec | None:
        """How characters enter the model (None: it reads no vectors, e.g. a table of counts)."""
        raise NotImplementedError(f"{type(self).__name__} does not say how characters enter it (input_layer)")

    def probes(self) -> list[Probe]:
        """Its hidden activations, bottom layer first ([]: none, e.g. a table of counts)."""
        raise NotImplementedError(f"{type(self).__name__} does not name its hidden activations (probes)")

    def attention_layers(self) -> list[nn.Module]:
        """Modules whose attention weights can be drawn, bottom first. Each has a method
        `attention_weights(x) -> (B, n_head, T, T)` taking what the module itself receives, x (B, T, C)."""
        return []

    def pair_counts(self) -> torch.Tensor:
        """A model fitted by counting: (V, V) how often character b followed character a."""
        raise NotImplementedError(f"{type(self).__name__} keeps no counts of character pairs (pair_counts)")

    def pairs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A model fitted by counting: its pair counts sparse, (first (P,), next (P,), count (P,))."""
        raise NotImplementedError(f"{type(self).__name__} keeps no counts of character pairs (pairs)")

    def param_layers(self) -> dict[str, str]:
        """Every parameter's name → "input", "layer 1" … "layer L" (bottom to top) or "output"."""
        raise NotImplementedError(f"{type(self).__name__} does not group its parameters by layer (param_layers)")

    def cost(self, seq_len: int) -> TrainingCost | CountingCost:
        """What one position of a (B, seq_len) training batch costs: see `describe.py`."""
        raise NotImplementedError(f"{type(self).__name__} does not state its cost per position (cost)")

    def named_sizes(self) -> dict[str, int]:
        """Its sizes by the names the shape views write them with: V, E, H, L, 3H, heads …, in the order
        a name is preferred when two sizes are equal."""
        raise NotImplementedError(f"{type(self).__name__} does not name its sizes (named_sizes)")

    def output_names(self, module: nn.Module) -> list[str] | None:
        """Names of what one of its submodules returns, for the shape listing (None: "output", or
        "output[i]" for several). PyTorch's recurrent layers return (output, h_n) or (output, (h_n, c_n))."""
        return ["output", "h_n", "c_n"] if isinstance(module, nn.RNNBase) else None

    @classmethod
    def largest_options(cls, vocab_size: int) -> dict[str, int]:
        """Options whose largest allowed value depends on the vocabulary size: {option: largest value}."""
        return {}

    # ---- helpers for the descriptions ------------------------------------------------------------------

    def group_params(self, input: list[nn.Module], layers: list, output: list[nn.Module]) -> dict[str, str]:
        """`param_layers` from the modules forming the input and the output, and each layer (a module, or
        a list of parameters), bottom first.

        Raises ValueError if a parameter is in no group: every weight must belong somewhere, or the
        gradient statistics would silently leave it out.
        """
        names = {id(p): n for n, p in self.named_parameters()}
        parts = [("input", m) for m in input] + [(f"layer {k + 1}", layer) for k, layer in enumerate(layers)] \
            + [("output", m) for m in output]
        groups: dict[str, str] = {}
        for label, part in parts:  # a module, or a list of parameters (a layer inside a fused module)
            params = part.parameters() if isinstance(part, nn.Module) else part
            groups.update((names[id(p)], label) for p in params)
        missing = [n for n in names.values() if n not in groups]
        if missing:
            raise ValueError(f"{type(self).__name__}.param_layers leaves out {missing}")
        return groups


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
