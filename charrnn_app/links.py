"""One link scheme for the page: its state in the URL's query, so a teacher can share one link.

    ?example=weather&model=gru&budget=60&present=1
    ?lesson=compare&models=ngram,gru,lstm&budget=20&seed=3      (the Compare tab: a lesson or a race)

`apply_link` runs when a page loads and sets the components from the query; `make_link` turns the
page's state back into a query. Unknown or bad values are ignored (a link never breaks the page).
The comparison lessons add their keys here (one scheme, one place): `lesson` (a key of
`charrnn.lessons.LESSONS`; such a link opens the Compare tab and hides the race's own controls),
`models` (registry names, comma-separated) and `seed`.
"""

from urllib.parse import urlencode

import gradio as gr

from charrnn import MODELS
from charrnn.lessons import LESSONS

KEYS = ("example", "model", "budget", "present")
COMPARE_KEYS = ("lesson", "models", "budget", "seed")
MAX_SEED = 2**31 - 1


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
    if query.get("lesson") in LESSONS:
        out["lesson"] = query["lesson"]
    models = [m for m in (query.get("models") or "").split(",") if m in MODELS]
    if models:
        out["models"] = list(dict.fromkeys(models))
    try:
        seed = int(query.get("seed", ""))
        if 0 <= seed <= MAX_SEED:
            out["seed"] = seed
    except ValueError:
        pass
    return out


def make_link(example=None, model=None, budget=None, present=False, lesson=None, models=None, seed=None) -> str:
    """The query string ("?example=…") that opens the page in this state."""
    state = {"example": example, "model": model, "budget": f"{float(budget):g}" if budget else None,
             "present": "1" if present else None, "lesson": lesson,
             "models": ",".join(models) if models else None, "seed": None if seed is None else str(int(seed))}
    return "?" + urlencode({k: v for k, v in state.items() if v}, safe=",")


def link_loader(examples=(), max_seconds: float = 120.0):
    """The page's load handler: updates for (example, model, time budget, presentation mode) from the
    page's URL; a key the link does not set leaves its component as it is."""

    def apply_link(request: gr.Request):
        state = parse(dict(request.query_params) if request is not None else {}, examples, max_seconds)
        if "lesson" in state or "models" in state:  # a race's link: the budget is each model's, not Train's
            state.pop("budget", None)
        return tuple(gr.update(value=state[k]) if k in state else gr.skip() for k in KEYS)

    return apply_link
