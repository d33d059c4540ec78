"""The model zoo: one registry, one call signature (see `base.py`).

MODELS maps the name used everywhere — CLI `--model`, the UI dropdown, checkpoint metadata,
parametrised tests — to the model class. Adding a model is writing its class (a forward pass and the
description `base.CharModel` asks for: input layer, probes, parameter layers, cost per position …) and
adding one line here; the estimate, the views and the tests then read it from the model. Nothing
outside this package branches on a model's name.
"""

from __future__ import annotations

from dataclasses import fields

import torch

from ..options import MODEL_OPTIONS, check
from .base import CharModel, ModelConfig, State, detach_state
from .describe import CountingCost, InputSpec, Probe, TrainingCost
from .mlp import MLP
from .ngram import NGram
from .rnn_scratch import ScratchGRU, ScratchLSTM, ScratchRNN
from .rnn_torch import TorchGRU, TorchLSTM, TorchRNN
from .transformer import Transformer

# In the order of the curriculum: counting, a fixed window, recurrence by hand, then PyTorch's
# recurrent layers, then attention.
MODELS: dict[str, type[CharModel]] = {
    "ngram": NGram,
    "mlp": MLP,
    "rnn-scratch": ScratchRNN,
    "gru-scratch": ScratchGRU,
    "lstm-scratch": ScratchLSTM,
    "rnn": TorchRNN,
    "gru": TorchGRU,
    "lstm": TorchLSTM,
    "transformer": Transformer,
}


class UnknownModel(ValueError):
    pass


def model_class(name: str) -> type[CharModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModel(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}") from None


def make_config(name: str, **options) -> ModelConfig:
    """The model's config with `options` applied; options the model does not have are ignored,
    so one set of UI/CLI settings can build any model. Every value is checked against its range in
    `charrnn.options` (raises SettingError, a ValueError, naming the setting)."""
    cls = model_class(name).Config
    known = {f.name for f in fields(cls)}
    return cls(**{k: check(k, v) if k in MODEL_OPTIONS else v for k, v in options.items()
                  if k in known and v is not None})


def build_model(name: str, vocab_size: int, config: ModelConfig | None = None, seed: int = 0) -> CharModel:
    """A freshly initialised model; the same seed gives the same initial weights (the global
    random generator is left as it was)."""
    cls = model_class(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls(vocab_size, config if config is not None else cls.Config())


def blueprint(cls: type[CharModel], vocab_size: int, config: ModelConfig | None = None) -> CharModel:
    """The model built on PyTorch's "meta" device: shapes only, no memory, no numbers. Enough to count its
    parameters and read its description (cost, layers) before a real model is allowed to exist."""
    config = config if config is not None else cls.Config()
    try:
        with torch.device("meta"):
            return cls(vocab_size, config)
    except (NotImplementedError, RuntimeError):  # a constructor that needs real numbers
        return cls(vocab_size, config)


__all__ = ["MODELS", "CharModel", "CountingCost", "InputSpec", "ModelConfig", "Probe", "State", "TrainingCost",
           "UnknownModel", "blueprint", "build_model", "detach_state", "make_config", "model_class"]
