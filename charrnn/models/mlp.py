"""The fixed-context feed-forward model: look at the last few characters, guess the next one.

    "abc" → embed each → concatenate → tanh hidden layer(s) → V logits for the 4th character
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .base import CharModel, ModelConfig, State
from .describe import InputSpec, Probe, TrainingCost


@dataclass
class MLPConfig(ModelConfig):
    context: int = 8  # how many previous characters the model sees
    n_embd: int = 16  # embedding size per character
    n_hidden: int = 256
    n_layer: int = 1  # hidden layers
    dropout: float = 0.0


class MLP(CharModel):
    """Bengio, Ducharme, Vincent & Jauvin 2003, "A Neural Probabilistic Language Model", on
    characters (as in makemore part 2 and the fast.ai "3 characters → the 4th" model).

    Unlike the n-gram, similar contexts share what they learn: characters that behave alike get
    nearby embeddings, so the model can guess well after a context it never saw.

    state: (B, context) long, the last `context` ids seen (pad id V before the start of a text).
    """

    Config = MLPConfig
    title = "MLP (fixed context)"
    noun = "an MLP"
    description = (
        "A feed-forward network that reads a fixed window of the previous characters: each is turned "
        "into a learned vector (an embedding), the vectors are concatenated and passed through a tanh "
        "hidden layer to scores for the next character. Bengio et al. 2003, \"A Neural Probabilistic "
        "Language Model\" (the fast.ai \"3 characters predict the 4th\" model). Unlike the n-gram it "
        "generalises to contexts it never saw, but it still cannot look further back than its window.")

    def __init__(self, vocab_size: int, config: MLPConfig):
        super().__init__(vocab_size, config)
        if config.context < 1:
            raise ValueError(f"the MLP context must be at least 1 character, not {config.context}")
        self.pad = vocab_size
        self.embedding = nn.Embedding(vocab_size + 1, config.n_embd)  # +1: the pad before the text
        layers: list[nn.Module] = []
        width = config.context * config.n_embd
        for _ in range(config.n_layer):
            layers += [nn.Linear(width, config.n_hidden), nn.Tanh(), nn.Dropout(config.dropout)]
            width = config.n_hidden
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(width, vocab_size)
        with torch.no_grad():  # start with near-uniform guesses, i.e. a loss near ln(V)
            self.head.weight.mul_(0.1)
            self.head.bias.zero_()

    @property
    def context(self) -> int:
        return self.config.context

    def forward(self, x: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        B, T = x.shape
        C = self.config.context
        if state is None:
            state = x.new_full((B, C), self.pad)
        seq = torch.cat([state, x], dim=1)  # (B, C+T)
        # Every position at once: the window of C ids ending at each position of x.
        windows = seq.unfold(1, C, 1)[:, 1:]  # (B, T, C)
        emb = self.embedding(windows)  # (B, T, C, n_embd)
        h = self.hidden(emb.flatten(2))  # (B, T, C*n_embd) → (B, T, n_hidden)
        return self.head(h), seq[:, -C:]  # (B, T, V), (B, C)

    # ---- the description -------------------------------------------------------------------------

    def input_layer(self) -> InputSpec:
        # the embedding's output is (B, T, C, n_embd): the window of C vectors at every position
        return InputSpec("window", self.embedding, self.embedding.weight[:self.vocab_size],
                         "embedding.weight (V, E), without the pad row")

    def probes(self) -> list[Probe]:
        tanhs = [m for m in self.hidden if isinstance(m, nn.Tanh)]
        return [Probe(f"hidden {i + 1}", self.config.n_hidden, "tanh hidden layer", True, module=act)
                for i, act in enumerate(tanhs)]

    def param_layers(self) -> dict[str, str]:
        linears = [m for m in self.hidden if isinstance(m, nn.Linear)]
        return self.group_params([self.embedding], linears, [self.head])

    def cost(self, seq_len: int) -> TrainingCost:
        c, V = self.config, self.vocab_size
        # backward keeps each layer's input, pre-activation and tanh: ≈ 3H; the embedding is a lookup
        return TrainingCost(self.num_params() - V * c.n_embd, c.context * c.n_embd, 3 * c.n_hidden, c.n_layer,
                            dropout=bool(c.dropout))

    def named_sizes(self) -> dict[str, int]:
        c = self.config
        return {"V": self.vocab_size, "E": c.n_embd, "H": c.n_hidden, "C": c.context, "C·E": c.context * c.n_embd}
