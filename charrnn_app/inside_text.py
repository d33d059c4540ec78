"""The Inside tab's views over a text: predictions, one loss worked out, neurons, find units, saliency.

    text (typed, or an excerpt of the held-out text) ─► charrnn.inspect ─► strip HTML, summary, data

Every handler is a plain function (values in, values out) and an API endpoint; each returns its
picture, a summary in words and numbers (the text alternative of the picture) and its data as JSON.
A view that does not apply to the model (neurons of an n-gram) answers with one plain sentence
instead; text longer than `MAX_CHARS` is refused with a gr.Error (views run forward and backward
passes on a shared server, `concurrency_limit` bounds how many run at once).
"""

from __future__ import annotations

from dataclasses import asdict

import gradio as gr

from charrnn import inspect
from charrnn.inspect import InspectError

from . import inside_figures as figs
from . import user_error
from .inside_budget import within_budget
from .runner import snapshot, tab_model
from .session import Session

MAX_CHARS = inspect.MAX_CHARS  # characters a view analyses at most (the core's bound)
EXCERPT = 400  # characters of the held-out text a view shows when no text is typed
CONCURRENCY = 2  # views computing at once on this server (each a forward, some a backward pass)
CLICK_JS = """element.addEventListener('click', (e) => {
  const s = e.target.closest('[data-pos]');
  if (s) trigger('click', {position: Number(s.dataset.pos)});
});"""
CSS = """.strip { font-family: ui-monospace, monospace; white-space: pre-wrap; line-height: 1.9; font-size: 15px; }
.strip .ch { cursor: pointer; border-radius: 2px; }
.strip-legend { font-size: 13px; margin: 4px 0; }"""


# ---- what every view shares -----------------------------------------------------------------------

def _bundle(session):
    return tab_model(session)


def model_to_read(session):
    """(model, vocab) of the tab's model to look at (`runner.snapshot`: a copy while the tab trains);
    gr.Error if the tab has none yet."""
    bundle = snapshot(session, _bundle(session))
    return bundle.model, bundle.vocab


def excerpt(val_text: str, n: int = EXCERPT) -> str:
    """About `n` characters of the held-out text, from the start of a line and ending at a line's end."""
    start = val_text.find("\n") + 1 if "\n" in val_text[:n] else 0
    piece = val_text[start:start + n]
    end = piece.rfind("\n")
    return piece[:end + 1] if end > n // 2 else piece


def view_text(session, text) -> str:
    """The typed text (at most MAX_CHARS characters), or an excerpt of the model's held-out text."""
    text = text or ""
    if len(text) > MAX_CHARS:
        raise user_error(f"The text has {len(text):,} characters; these views look at {MAX_CHARS:,} at most "
                         "(each runs the model over it on a shared server). Shorten it.")
    if text.strip():
        return text
    if isinstance(session, Session) and session.val_text:
        return excerpt(session.val_text)
    raise user_error("Type a text to look at: this model came from a file, which holds no text.")


def note(message: str) -> str:
    return f"*{figs.escape(message)}*"


def sampled(cut: str) -> str:
    """A view's note that it was computed on a sample (`inside_budget`), as the first line of its summary."""
    return f"⚠️ *{cut}*\n\n" if cut else ""


def md_char(text: str) -> str:
    """Characters as inline code, space/newline/tab made visible (so a newline cannot break the line)."""
    return "`" + "".join(inspect.common.readable(c) for c in text).replace("`", "ˋ") + "`"


# ---- 1. prediction strip and one loss worked out ------------------------------------------------------

def predictions_view(session, text=None):
    """(strip HTML, summary, data): each character coloured by −ln p, its top-5 guesses on hover.
    A text over the server's view budget is cut to what fits, and the view says so (`inside_budget`)."""
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "predictions", view_text(session, text))
    try:
        p = inspect.predictions(model, vocab, text)
    except InspectError as e:
        return note(str(e)), str(e), {"note": str(e)}
    full = p.uniform_loss  # as surprised as a uniform guess: full colour
    alphas, titles = [None], ["the model starts reading here: no prediction"]
    for c in p.chars:
        alphas.append(c.surprise)
        guesses = ", ".join(f"{inspect.common.char_name(g)} {q:.0%}" for g, q in c.top)
        titles.append(f"{inspect.common.char_name(c.char)}: p = {c.prob:.3f}, −ln p = {c.loss:.2f} nats · "
                      f"guesses: {guesses}")
    strip = figs.legend([(figs.rgba(figs.ORANGE, 1), f"−ln p ≥ ln V = {full:.2f} (no better than guessing)"),
                         (figs.rgba(figs.ORANGE, 0.3), "somewhat surprised"), ("#FFFFFF", "expected")]) \
        + figs.strip(p.text, alphas, titles)
    hardest = sorted(p.chars, key=lambda c: -c.loss)[:5]
    summary = (sampled(cut) + f"Loss over these {len(p.chars):,} predictions: **{p.mean_loss:.3f} nats** "
               f"({p.mean_bits:.3f} bits) per character"
               + (f" (the text was cut to its first {MAX_CHARS:,} characters)" if p.truncated else "")
               + ". Hardest: " + ", ".join(f"{md_char(c.char)} at {c.position} ({c.loss:.2f})" for c in hardest)
               + ". Hover over a character for the model's top 5 guesses; click one to see its loss worked out.")
    return strip, summary, {"text": p.text, "truncated": p.truncated, "sampled": cut or None,
                            "mean_loss": p.mean_loss, "mean_bits": p.mean_bits, "chars": [asdict(c) for c in p.chars]}


def worked_loss_view(session, text=None, position=1):
    """(explanation, data): the loss at `position` by hand — −ln softmax — and by F.cross_entropy."""
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "worked_loss", view_text(session, text))
    try:
        w = inspect.worked_loss(model, vocab, text, int(position or 1))
    except InspectError as e:
        return note(str(e)), {"note": str(e)}
    z = sorted(zip(w.chars, w.logits, w.probs, strict=True), key=lambda r: -r[1])[:5]
    rows = "\n".join(f"| {md_char(c)} | {lg:+.3f} | {pr:.3f} |" for c, lg, pr in z)
    context = w.context[-30:]
    md = (sampled(cut) + f"**Position {w.position}:** after …{md_char(context) if context else '(nothing)'} the next "
          f"character was {md_char(w.char)}.\n\n"
          f"| the model's top scores | logit z | softmax p |\n|---|---|---|\n{rows}\n\n"
          f"1. its score for {md_char(w.char)}: z = **{w.logit_true:+.3f}**\n"
          f"2. ln Σ exp(z) over all {len(w.chars)} characters = **{w.logsumexp:.3f}**\n"
          f"3. loss = −ln p = ln Σ exp(z) − z = {w.logsumexp:.3f} − ({w.logit_true:+.3f}) = "
          f"**{w.loss:.4f} nats** ({w.bits:.3f} bits); p = e^−loss = {w.prob_true:.4f}\n"
          f"4. `F.cross_entropy(logits, target)` (log-softmax, then negative log-likelihood) gives "
          f"**{w.cross_entropy:.4f}**: the same number, the one training averages over every position.")
    return md, {**asdict(w), "sampled": cut or None}


def strip_clicked(session, text, evt: gr.EventData):
    """A click on the prediction strip: (the clicked position, its worked-out loss, data)."""
    position = int(getattr(evt, "position", 1) or 1)
    return position, *worked_loss_view(session, text, position)


# ---- 2. neurons over text, and units that track a property -----------------------------------------

def layer_choices(session) -> list[str]:
    model, _ = model_to_read(session)
    try:
        return [f"{layer.name}" for layer in inspect.layers(model)]
    except InspectError:
        return []


def neuron_view(session, text=None, layer=None, unit=0):
    """(layer dropdown update, strip HTML, summary, data): the text coloured by one unit's activation."""
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "neurons", view_text(session, text))
    names: list[str] = []
    try:
        infos = inspect.layers(model)
        names = [i.name for i in infos]
        layer = layer if layer in names else names[0]
        t = inspect.neuron(model, vocab, text, layer, int(unit or 0))
    except InspectError as e:  # an n-gram (no layers), a unit out of range, a character never seen
        return (gr.update(choices=names, value=layer if names else None), note(str(e)), str(e),
                {"note": str(e)})
    scale = max(abs(t.low), abs(t.high)) or 1.0
    alphas = [abs(v) / scale for v in t.values]
    colors = [figs.BLUE if v >= 0 else figs.ORANGE for v in t.values]
    titles = [f"{inspect.common.char_name(c)}: {v:+.3f}" for c, v in zip(t.text, t.values, strict=True)]
    strip = figs.legend([(figs.BLUE, f"positive (up to {t.high:+.2f})"),
                         (figs.ORANGE, f"negative (down to {t.low:+.2f})")])
    strip += figs.strip(t.text, alphas, titles, colors)
    size = next(i.size for i in infos if i.name == layer)
    summary = (sampled(cut) + f"Unit {t.unit} of {layer} ({size} units) after each character: from {t.low:+.3f} "
               f"to {t.high:+.3f}. "
               "Hover for the value; use **Find units** to rank the units by what they track.")
    return (gr.update(choices=names, value=layer), strip, summary,
            {"layer": layer, "unit": t.unit, "text": t.text, "values": t.values, "low": t.low, "high": t.high,
             "sampled": cut or None})


PROPERTIES = ["inside quotes", "inside brackets", "position in line", "start of word", "upper case", "digit"]


def find_units_view(session, text=None, prop="all", span=""):
    """(table, data): the units that best track `prop` (or every property, or the selected `span`)."""
    if prop is not None and not isinstance(prop, str):  # the dropdown lets a script send several choices
        raise user_error(f"Find units looks for one property at a time (or “all”), not {_shown(prop)}: choose "
                         f"one of {', '.join(['all', *PROPERTIES, 'selected span'])}.")
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "find_units", view_text(session, text))
    spans = _parse_span(span) if prop == "selected span" else None
    try:
        if prop == "selected span" and not spans:
            raise InspectError("select part of the text in the box above first (drag over it), then press Find")
        props = None if prop in (None, "", "all", "selected span") else [prop]
        matches = inspect.find_units(model, vocab, text, properties=[] if spans else props, spans=spans)
    except InspectError as e:
        return note(str(e)), {"note": str(e)}
    if not matches:
        return note("none of these properties changes over this text (e.g. no quotes in it): "
                     "type a text that has them"), {"matches": []}
    rows = "\n".join(f"| {m.property} | {m.layer} | {m.unit} | {m.correlation:+.2f} |" for m in matches)
    md = (sampled(cut) + "| property | layer | unit | correlation r |\n|---|---|---|---|\n" + rows +
          "\n\nr = +1: the unit is high exactly where the property holds; −1: low there; 0: unrelated. "
          "Pick a layer and unit above to see it over the text.")
    return md, {"matches": [asdict(m) for m in matches], "sampled": cut or None}


def _shown(value, most: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= most else text[:most - 3] + "..."


def _parse_span(span) -> list[tuple[int, int]]:
    try:
        start, end = (int(v) for v in str(span).replace("–", "-").split("-"))
    except ValueError:
        return []
    return [(start, end)] if end > start else []


def span_selected(evt: gr.SelectData) -> str:
    """The text box's selection → "start-end" (characters)."""
    index = evt.index if isinstance(evt.index, (list, tuple)) else [evt.index, evt.index]
    return f"{index[0]}-{index[1]}"


# ---- 3. what it looked at ---------------------------------------------------------------------------

def saliency_view(session, text=None, position=-1):
    """(strip HTML, summary, data): how much the prediction after `position` depends on each earlier
    character (−1: the last character)."""
    model, vocab = model_to_read(session)
    text, cut = within_budget(session, "saliency", view_text(session, text))
    position = int(position if position not in (None, "") else -1)
    n = min(len(text), MAX_CHARS)
    position = n - 1 if position < 0 else position
    try:
        s = inspect.saliency(model, vocab, text, position)
    except InspectError as e:
        return note(str(e)), str(e), {"note": str(e)}
    shown = s.text[:position + 2]  # up to the character being predicted
    alphas = s.weight + [None] * (len(shown) - len(s.weight))
    titles = [f"{inspect.common.char_name(c)}: {w:.0%} of the strongest"
              for c, w in zip(s.text, s.weight, strict=False)]
    titles += ["the character predicted here"] * (len(shown) - len(titles))
    strip = figs.legend([(figs.GREEN, "the prediction depends on it strongly"), ("#FFFFFF", "not at all")]) \
        + figs.strip(shown, alphas, titles, [figs.GREEN] * len(shown), marked=position)
    far = [k for k, w in enumerate(reversed(s.weight)) if w >= 0.1]
    summary = (sampled(cut) + f"After reading up to position {position} ({md_char(s.text[position])}) the model "
               "guesses "
               f"{md_char(s.target)} (p = {s.target_prob:.2f}). It depends on characters up to "
               f"{max(far) if far else 0} back by at least 10 % of the strongest. "
               "Click a character to look from there.")
    data = asdict(s)
    others = compared_saliency(session, text, position)  # the tab's other models, same text
    for name, o in others:
        o_far = [k for k, w in enumerate(reversed(o.weight)) if w >= 0.1]
        o_shown = o.text[:position + 2]
        strip += (f"<p><b>{figs.escape(name)}</b>: guesses {figs.escape(repr(o.target))} "
                  f"(p = {o.target_prob:.2f}), reaches {max(o_far) if o_far else 0} back</p>"
                  + figs.strip(o_shown, o.weight + [None] * (len(o_shown) - len(o.weight)), [""] * len(o_shown),
                               [figs.GREEN] * len(o_shown), marked=position))
        summary += f" {name}: up to {max(o_far) if o_far else 0} back."
    data["compared"] = [{"run": name, "weight": o.weight, "target": o.target} for name, o in others]
    data["sampled"] = cut or None
    return strip, summary, data


def compared_saliency(session, text: str, position: int, most: int = 4) -> list:
    """What each of the tab's other kept models (the Compare tab's runs with weights, e.g. an RNN and an
    LSTM from one lesson) looked at for the same position of the same text: [(run name, Saliency)]. A model
    for which this text is over the view budget is left out."""
    out = []
    current = session.bundle if isinstance(session, Session) else None
    for record in reversed(getattr(session, "runs", []) or []):
        b = record.bundle
        if b is None or b is current or len(out) >= most or b.vocab.unknown(text) \
                or within_budget(session, "saliency", text, bundle=b)[1]:
            continue
        try:
            out.append((record.name, inspect.saliency(snapshot(session, b).model, b.vocab, text, position)))
        except InspectError:  # a model without inputs to differentiate (the n-gram): nothing to compare
            continue
    return out


def saliency_clicked(session, text, evt: gr.EventData):
    position = int(getattr(evt, "position", -1))
    return position, *saliency_view(session, text, position)


# ---- find units, as rows to click ---------------------------------------------------------------------

UNIT_CLICK_JS = """element.addEventListener('click', (e) => {
  const r = e.target.closest('[data-unit]');
  if (r) trigger('click', {layer: r.dataset.layer, unit: Number(r.dataset.unit)});
});"""
UNITS_CSS = """.units { border-collapse: collapse; } .units td, .units th { padding: 2px 10px; text-align: left; }
.units tr[data-unit] { cursor: pointer; } .units tr[data-unit]:hover { background: #eef4fb; }"""


def find_units_rows(session, text=None, prop="all", span=""):
    """(table HTML, data): `find_units_view`'s units as rows to click (a row shows its unit over the text)."""
    table, data = find_units_view(session, text, prop, span)
    matches = data.get("matches")
    if not matches:  # why there is none, in words (`note` escaped it and set it in italics)
        return f"<p><i>{table.strip('*')}</i></p>", data
    cut = f"<p><i>⚠️ {figs.escape(data['sampled'])}</i></p>" if data.get("sampled") else ""  # as the other views say
    rows = "".join(f'<tr data-layer="{figs.escape(m["layer"])}" data-unit="{int(m["unit"])}"><td>'
                   f'{figs.escape(m["property"])}</td><td>{figs.escape(m["layer"])}</td><td>{int(m["unit"])}</td>'
                   f'<td>{m["correlation"]:+.2f}</td></tr>' for m in matches)
    return (f'{cut}<table class="units"><tr><th>property</th><th>layer</th><th>unit</th><th>correlation r</th></tr>'
            f"{rows}</table><p>r = +1: the unit is high exactly where the property holds; −1: low there; 0: "
            "unrelated. <b>Click a row</b> to see that unit over the text.</p>"), data


def unit_clicked(session, text, evt: gr.EventData):
    """A row of the find-units table: (layer, unit, and that unit's view: strip, summary, data)."""
    layer, unit = getattr(evt, "layer", None), int(getattr(evt, "unit", 0) or 0)
    layer_update, strip, summary, data = neuron_view(session, text, layer, unit)
    return layer_update, unit, strip, summary, data
