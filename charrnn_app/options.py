"""The settings a user can change, read from the model registry rather than written per model.

Every field of every registered model's `Config` dataclass becomes one input on the page; choosing a
model shows the fields its Config has and hides the others. Labels, help and ranges come from the
core's one table (`charrnn.options`), which the run plan checks against; every input starts empty,
meaning "the preset's value for this text and budget".
"""

from __future__ import annotations

from dataclasses import fields

import torch

from charrnn import MODELS, make_config
from charrnn.models import build_model
from charrnn.options import MODEL_OPTIONS, TRAIN_OPTIONS, Option
from charrnn.run import DEFAULT_MODEL

# Training settings every model has, shown on the page (from TrainConfig); empty = the preset's value.
TRAIN_SPECS: tuple[Option, ...] = tuple(TRAIN_OPTIONS[n] for n in ("lr", "batch_size", "seq_len", "weight_decay"))


def option_specs() -> list[Option]:
    """One spec per distinct Config field over all registered models, in registry order (a field a new
    model brings without an entry in `charrnn.options` gets a plain text input)."""
    specs: dict[str, Option] = {}
    for cls in MODELS.values():
        for f in fields(cls.Config):
            if f.name not in specs:
                specs[f.name] = MODEL_OPTIONS.get(f.name) or Option(f.name, "str", f.name.replace("_", " "))
    return list(specs.values())


def model_fields(name: str) -> set[str]:
    return {f.name for f in fields(MODELS[name].Config)}


def is_choice(spec: Option) -> bool:
    """Shown as a dropdown (on/off, or named choices) rather than a text field."""
    return spec.kind == "bool" or bool(spec.choices)


def choices(spec: Option) -> list[str]:
    return ["on", "off"] if spec.kind == "bool" else list(spec.choices)


def shown_value(value) -> str:
    """A setting's value as the page writes it: on/off, 0.005, 192."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return "none" if value is None else str(value)


def default_model() -> str:
    """The model a new user starts with: the CLI's default (`charrnn.run.DEFAULT_MODEL`) if registered,
    else the first."""
    return DEFAULT_MODEL if DEFAULT_MODEL in MODELS else next(iter(MODELS))


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
