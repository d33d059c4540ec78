"""One link scheme for the page: its state in the URL's query, so a teacher can share one link.

    ?example=weather&model=gru&budget=60&present=1

`apply_link` runs when a page loads and sets the components from the query; `make_link` turns the
page's state back into a query. Unknown or bad values are ignored (a link never breaks the page).
The comparison lessons add their keys here (one scheme, one place).
"""

from urllib.parse import urlencode

import gradio as gr

from charrnn import MODELS

KEYS = ("example", "model", "budget", "present")


def parse(query: dict[str, str], examples=(), max_seconds: float = 120.0) -> dict:
    """The valid part of a query: {"example", "model", "budget" (float, within the server's limit),
    "present" (bool)}; anything else is dropped."""
    out: dict = {}
    if query.get("example") in examples:
        out["example"] = query["example"]
    if query.get("model") in MODELS:
        out["model"] = query["model"]
    try:
        budget = float(query.get("budget", ""))
        if 0 < budget <= max_seconds:
            out["budget"] = budget
    except ValueError:
        pass
    if query.get("present", "").lower() in ("1", "true", "yes", "on"):
        out["present"] = True
    return out


def make_link(example=None, model=None, budget=None, present=False) -> str:
    """The query string ("?example=…") that opens the page in this state."""
    state = {"example": example, "model": model, "budget": f"{float(budget):g}" if budget else None,
             "present": "1" if present else None}
    return "?" + urlencode({k: v for k, v in state.items() if v})


def link_loader(examples=(), max_seconds: float = 120.0):
    """The page's load handler: updates for (example, model, time budget, presentation mode) from the
    page's URL; a key the link does not set leaves its component as it is."""

    def apply_link(request: gr.Request):
        state = parse(dict(request.query_params) if request is not None else {}, examples, max_seconds)
        return tuple(gr.update(value=state[k]) if k in state else gr.skip() for k in KEYS)

    return apply_link
