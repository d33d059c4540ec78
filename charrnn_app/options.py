"""The settings a user can change, read from the model registry rather than written per model.

Every field of every registered model's `Config` dataclass becomes one input on the page; choosing a
model shows the fields its Config has and hides the others. `FIELD_SPECS` only adds labels, help
and ranges for fields we know; a field a new model brings gets a plain input from its type.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields

import torch

from charrnn import MODELS, make_config
from charrnn.models import build_model
from charrnn.presets import preset


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # "int" | "float" | "bool" | "str"
    label: str
    info: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


# Labels and help for the fields the registry's models use today (and sensible bounds).
FIELD_SPECS: dict[str, FieldSpec] = {s.name: s for s in [
    FieldSpec("order", "int", "n-gram order (n)", "predict from the previous n-1 characters", 1, 10),
    FieldSpec("smoothing", "float", "add-k smoothing (k)", "every count starts at k; 0 = raw counts", 0, 10),
    FieldSpec("context", "int", "context (characters)", "how many previous characters the model sees", 1, 256),
    FieldSpec("block_size", "int", "context window (block_size)", "the longest window attention sees", 2, 512),
    FieldSpec("n_embd", "int", "embedding size", "length of the vector that stands for a character", 1, 1024),
    FieldSpec("n_hidden", "int", "hidden size", "numbers in the hidden state / hidden layer", 1, 2048),
    FieldSpec("n_layer", "int", "layers", "stacked layers", 1, 12),
    FieldSpec("n_head", "int", "attention heads", "must divide the embedding size", 1, 32),
    FieldSpec("dropout", "float", "dropout", "share of activations zeroed while training (0 = off)", 0, 0.9),
    FieldSpec("onehot", "bool", "one-hot input (no embedding)", "the classic char-rnn input"),
    FieldSpec("identity_init", "bool", "identity init of W_hh (IRNN, Le et al. 2015)"),
    FieldSpec("nonlinearity", "str", "nonlinearity", choices=("tanh", "relu")),
    FieldSpec("combine", "str", "combine input and state", "W_ih x + W_hh h, or W [x; h]",
              choices=("add", "concat")),
]}

# Training settings every model has (from TrainConfig); None on the page = the preset's value.
TRAIN_SPECS: tuple[FieldSpec, ...] = (
    FieldSpec("lr", "float", "learning rate", "step size of the optimizer (AdamW)", 1e-6, 1.0),
    FieldSpec("batch_size", "int", "batch size", "text pieces learned from at once", 1, 1024),
    FieldSpec("seq_len", "int", "sequence length", "characters per piece (backprop through time)", 2, 1024),
    FieldSpec("weight_decay", "float", "weight decay", "pulls every weight a little towards 0 each step "
              "(AdamW): less learning by heart", 0, 1.0),
)


def _kind(tp) -> str:
    return {int: "int", float: "float", bool: "bool", str: "str"}.get(tp, "str")


def option_specs() -> list[FieldSpec]:
    """One spec per distinct Config field over all registered models, in registry order."""
    specs: dict[str, FieldSpec] = {}
    for cls in MODELS.values():
        hints = typing.get_type_hints(cls.Config)
        for f in fields(cls.Config):
            if f.name not in specs:
                specs[f.name] = FIELD_SPECS.get(f.name) or FieldSpec(
                    f.name, _kind(hints.get(f.name)), f.name.replace("_", " "))
    return list(specs.values())


def model_fields(name: str) -> set[str]:
    return {f.name for f in fields(MODELS[name].Config)}


def coerce(spec: FieldSpec, value):
    """A value from the page (or an API call) as the type the config wants; None stays None."""
    if value is None or value == "":
        return None
    try:
        return {"int": lambda v: int(round(float(v))), "float": float, "bool": bool, "str": str}[spec.kind](value)
    except (TypeError, ValueError):
        raise ValueError(f"{spec.label}: {value!r} is not a valid {spec.kind}") from None


def defaults(name: str, n_chars: int, time_budget: float) -> dict:
    """Starting values for a model: its Config defaults, overridden by the preset for this corpus size
    and time budget, plus the preset's training settings (`TRAIN_SPECS`)."""
    options, train_config = preset(name, n_chars, time_budget)
    config = make_config(name, **options)
    values = {f.name: getattr(config, f.name) for f in fields(config)}
    values.update({s.name: getattr(train_config, s.name) for s in TRAIN_SPECS})
    return values


def default_model() -> str:
    """The model a new user starts with: the LSTM if registered (the classic char-rnn), else the first."""
    return "lstm" if "lstm" in MODELS else next(iter(MODELS))


def model_choices() -> list[tuple[str, str]]:
    return [(f"{cls.title} ({name})", name) for name, cls in MODELS.items()]


def count_params(name: str, vocab_size: int, options: dict) -> int:
    """Parameters of `name` with these options for a vocabulary of `vocab_size` characters, counted on
    PyTorch's "meta" device: shapes only, no memory, so asking about a huge model costs nothing."""
    config = make_config(name, **options)
    try:
        with torch.device("meta"):
            return MODELS[name](vocab_size, config).num_params()
    except (NotImplementedError, RuntimeError):  # a model whose constructor needs real numbers
        return build_model(name, vocab_size, config).num_params()


def model_card(name: str, options: dict, vocab_size: int | None) -> str:
    """Markdown: what the model is, where it comes from, and how many weights it has here."""
    if name not in MODELS:
        return f"Unknown model {name!r}."
    cls = MODELS[name]
    vocab = vocab_size or 65
    try:
        n = count_params(name, vocab, options)
        size = ("Its counts are the whole model: one per n-gram seen, so its size grows with the text"
                if cls.fitted_by_counting else
                f"**{n:,} parameters** with these settings and a vocabulary of {vocab} characters")
        if not vocab_size:
            size += " (assuming 65 characters, as in English text, until you choose yours)"
    except Exception as e:  # settings that cannot build: the card says so, Train gives the error
        size = f"⚠️ These settings cannot build the model: {str(e).splitlines()[0]}"
    how = ("Fitted by counting — no gradient descent." if cls.fitted_by_counting
           else "Carries a hidden state from one character to the next." if cls.recurrent
           else "Sees a fixed window of previous characters.")
    return f"#### {cls.title} · `{name}`\n{cls.description}\n\n{how} {size}."
