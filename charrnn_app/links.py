"""One link scheme for the page: its state in the URL's query, so a teacher can share one link.

    ?example=weather&model=gru&budget=60&present=1
    ?lesson=compare&models=ngram,gru,lstm&budget=20&seed=3      (the Compare tab: a lesson or a race)
    ?text=the+cat+sat…&lesson=compare                          (a short text of the user's own, carried along)

`apply_link` runs when a page loads and sets the components from the query; `make_link` turns the
page's state back into a query. Unknown or bad values are ignored (a link never breaks the page).
The comparison lessons add their keys here (one scheme, one place): `lesson` (a key of
`charrnn.lessons.LESSONS`; such a link opens the Compare tab and hides the race's own controls),
`models` (registry names, comma-separated) and `seed`. A text of the user's own (uploaded or pasted) travels
as `text` while it is short enough for a link (`MAX_TEXT` characters, `MAX_QUERY` characters of query); a
link opens with it in the pasted-text box. A longer text cannot travel: the page says the link leaves it out.
"""

from urllib.parse import urlencode

import gradio as gr

from charrnn import MODELS
from charrnn.lessons import LESSONS

KEYS = ("example", "model", "budget", "present", "text")
COMPARE_KEYS = ("lesson", "models", "budget", "seed")
MAX_SEED = 2**31 - 1
MAX_TEXT = 2_000  # characters of the user's own text a link may carry
MAX_QUERY = 6_000  # characters of the whole query (URL-encoded): well within what browsers and servers take


def parse(query: dict[str, str], examples=(), max_seconds: float = 120.0) -> dict:
    """The valid part of a query: {"example", "model", "budget" (float, within the server's limit),
    "present" (bool), "text" (at most MAX_TEXT characters), "lesson", "models", "seed"}; anything else is
    dropped."""
    out: dict = {}
    text = query.get("text")
    if isinstance(text, str) and text.strip() and len(text) <= MAX_TEXT:
        out["text"] = text
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


def make_link(example=None, model=None, budget=None, present=False, lesson=None, models=None, seed=None,
              text=None) -> str:
    """The query string ("?example=…") that opens the page in this state. `text`: the user's own text, which
    must fit (`fits`)."""
    state = {"example": example, "model": model, "budget": f"{float(budget):g}" if budget else None,
             "present": "1" if present else None, "lesson": lesson,
             "models": ",".join(models) if models else None, "seed": None if seed is None else str(int(seed)),
             "text": text}
    return "?" + urlencode({k: v for k, v in state.items() if v}, safe=",")


def fits(text: str) -> bool:
    """Whether a link can carry `text` (MAX_TEXT characters, and its query at most MAX_QUERY characters)."""
    return len(text) <= MAX_TEXT and len(urlencode({"text": text})) <= MAX_QUERY


def link_loader(examples=(), max_seconds: float = 120.0, least_seconds: float = 0.0):
    """The page's load handler: updates for (example, model, time budget, presentation mode, pasted text)
    from the page's URL; a key the link does not set leaves its component as it is. A budget below the Train
    field's least (`least_seconds`; a race's budget may be shorter) opens the page at that least."""

    def apply_link(request: gr.Request):
        state = parse(dict(request.query_params) if request is not None else {}, examples, max_seconds)
        if "lesson" in state or "models" in state:  # a race's link: the budget is each model's, not Train's
            state.pop("budget", None)
        elif "budget" in state:
            state["budget"] = max(state["budget"], least_seconds)
        return tuple(gr.update(value=state[k]) if k in state else gr.skip() for k in KEYS)

    return apply_link
