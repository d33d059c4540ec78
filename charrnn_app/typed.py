"""The settings a user typed, which the next run keeps: listed beside Train, each with a one-click reset.

A value typed into a setting stays for every later Train — continuing the model, another model, or "Start a
new model" — which is what an experiment wants until it is over; then a learning rate typed for one
experiment silently shapes the next. So every typed value the next run would use is listed under Train
as a ticked box ("learning rate 0.01"); unticking it empties the field, which means the preset's value again.

    listed(model, max_steps, *values) -> the list's update        (on any change of the model or a field)
    reset(kept, model, max_steps, *values) -> the fields' updates  (a box unticked)

`values` are the Train tab's setting fields in their order: `options.option_specs()` then `options.TRAIN_SPECS`.
"""

from __future__ import annotations

import gradio as gr

from charrnn import MODELS

from . import options

STEPS = "max_steps"  # the step limit: 0 = none


def _specs() -> list:
    return [*options.option_specs(), *options.TRAIN_SPECS]


def typed(model, max_steps, values) -> list[tuple[str, str]]:
    """[(label with the value, setting name)] of the values typed that a Train with `model` would use."""
    used = options.model_fields(model) if model in MODELS else set()
    if model in MODELS and not MODELS[model].fitted_by_counting:
        used |= {s.name for s in options.TRAIN_SPECS}
    out = [(f"{spec.label} {str(v).strip()}", spec.name) for spec, v in zip(_specs(), values, strict=True)
           if spec.name in used and v is not None and str(v).strip()]
    if max_steps not in (None, "", 0, 0.0):
        out.append((f"step limit {int(max_steps):,}", STEPS))
    return out


def listed(model, max_steps, *values):
    """The list under Train: every typed value the next run would keep, ticked; hidden when there is none."""
    items = typed(model, max_steps, values)
    return gr.update(choices=items, value=[name for _, name in items], visible=bool(items))


def reset(kept, model, max_steps, *values) -> list:
    """A box unticked: its field emptied (the preset's value again; the step limit back to none). One update
    per field, then the step limit's; the others are left as they are."""
    kept = set(kept or [])
    dropped = {name for _, name in typed(model, max_steps, values)} - kept
    fields = [gr.update(value=None) if spec.name in dropped else gr.skip() for spec in _specs()]
    return [*fields, 0 if STEPS in dropped else gr.skip()]
