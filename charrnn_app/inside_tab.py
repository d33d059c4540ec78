"""The Inside tab (issue 13): layout and wiring of the views that look inside the tab's model.

    build(page, tab) -> InsideTab   one text box, then a tab per view, each an API endpoint:
        /predictions /worked_loss /neurons /find_units /saliency /shapes /embedding_map /attention /diagnose

Opening the tab draws every view for the tab's model (no blank panels), once per state of the model:
opening it again with the same model leaves the views as they are (`on_open`).

The handlers live in `inside_text.py` (views over a text) and `inside_model.py` (views of the whole
model); the computations in `charrnn.inspect`. All views share one concurrency group, so at most
`settings.concurrency` of them run forward/backward passes at once on the server.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from charrnn import MODELS

from . import inside_model as m
from . import inside_text as t
from . import texts
from .page import Page

LABEL, TAB_ID = "Inside", "inside-tab"

INTRO = """**Look inside the model you trained.** Every view reads the tab's current model (also while it
trains). Leave the text empty to look at an excerpt of the held-out tenth of your text (text the model
never trained on), or type your own (at most 2,000 characters, only characters the model knows)."""


def _strip(elem_id: str) -> gr.HTML:
    return gr.HTML("", elem_id=elem_id, css_template=t.CSS, js_on_load=t.CLICK_JS)


def _numbers(*elem_ids: str, of: str = "", labels: tuple = ()):
    """One accordion with the numbers a view shows, as the API returns them: a gr.JSON for each of `elem_ids`
    (several: labelled by `labels`), one JSON returned as itself. `of` names the view where a sub-tab has
    two, each with its own numbers (" of the map"): no two accordions of a sub-tab read the same."""
    with gr.Accordion(f"The numbers{of} (JSON, also what the API returns)", open=False):
        boxes = [gr.JSON(elem_id=e, label=label or None, show_label=bool(label))
                 for e, label in zip(elem_ids, [*labels, *[""] * len(elem_ids)], strict=False)]
    return boxes[0] if len(boxes) == 1 else boxes


def fill_text(session, text):
    """Put the excerpt the views look at into the empty text box, so a span of it can be selected."""
    if (text or "").strip():
        return gr.skip()
    try:
        return t.view_text(session, text)
    except gr.Error:
        return gr.skip()


def refresh_layers(session, layer):
    """The Neurons view's layer list for the tab's current model (quietly nothing without a model)."""
    try:
        names = t.layer_choices(session)
    except gr.Error:
        return gr.skip()
    return gr.update(choices=names, value=layer if layer in names else (names[0] if names else None))


def model_key(session):
    """What identifies the state of the tab's model for the views (None: no model yet)."""
    b = getattr(session, "bundle", None)
    return None if b is None else (id(b), b.step)


def on_open(fn, n_outputs: int):
    """`fn` (a view's handler) for the tab opening: drawn for the tab's model unless it already shows this
    state of it (`drawn`: the tab's {view: model_key}); left as it is without a model (the tab's notice
    says why) or where the view needs the user first (a loaded checkpoint holds no text to look at)."""

    def draw(session, drawn, *args):
        key = model_key(session)
        if key is None or drawn.get(fn.__name__) == key:
            return (gr.skip(),) * n_outputs
        try:
            out = fn(session, *args)
        except gr.Error:
            return (gr.skip(),) * n_outputs
        drawn[fn.__name__] = key
        return out

    return draw


def notice(session) -> str:
    """The line at the top of the tab: which model the views show, or that there is none yet."""
    b = getattr(session, "bundle", None)
    if b is None:
        return f"*{texts.NO_MODEL} Every view here draws for it when you open this tab.*"
    source = "" if getattr(session, "val_text", None) else " (loaded from a file: type a text to look at)"
    return (f"The views show the tab's model, **{MODELS[b.model_name].title}** at step {b.step:,}{source}; each "
            "view's button draws it again for the text above.")


@dataclass
class InsideTab:
    text: gr.Textbox  # the text every view looks at
    look: gr.Button


def build(page: Page, tab: gr.Tab) -> InsideTab:
    """The text box, then one sub-tab per view, each laid out and wired by its own function below. Every
    view is also an API endpoint returning its data, in the "inspect" concurrency group; opening the tab
    draws each view for the tab's model (each view function returns its handler, inputs and outputs)."""
    gr.Markdown(INTRO, elem_id="inside-intro")
    shown = gr.Markdown(elem_id="inside-notice")
    text = gr.Textbox(label="text to look at (empty = an excerpt of the held-out text)", lines=3, max_lines=8,
                      max_length=t.MAX_CHARS, elem_id="inside-text")
    look = gr.Button("Look", variant="primary", elem_id="inside-look")
    look.click(fill_text, [page.session, text], text, queue=False, show_progress="hidden", api_visibility="private")
    limits = dict(concurrency_limit=page.settings.concurrency, concurrency_id="inspect", show_progress="minimal")
    draws = []
    with gr.Tabs(elem_id="inside-views"):
        for view in (predictions, neurons, saliency, shapes, maps, diagnosis):
            draws += view(page.session, text, look, limits)
    drawn = gr.State({})  # {view: the model state it shows}
    tab.select(notice, page.session, shown, queue=False, show_progress="hidden", api_visibility="private")
    for fn, inputs, outputs in draws:
        tab.select(on_open(fn, len(outputs)), [page.session, drawn, *inputs[1:]], outputs, api_visibility="private",
                   **limits)
    return InsideTab(text, look)


def predictions(session, text, look, limits) -> None:
    with gr.Tab("Predictions", elem_id="inside-predictions"):
        gr.Markdown("Each character coloured by how surprised the model was (−ln p, the loss). Hover for its "
                    "top 5 guesses; click a character to see its loss worked out.")
        strip = _strip("pred-strip")
        summary = gr.Markdown(elem_id="pred-summary")
        position = gr.Number(1, precision=0, minimum=1, label="position (or click a character)",
                             elem_id="pred-position")
        worked = gr.Markdown(elem_id="worked-loss")
        data, worked_data = _numbers("pred-data", "worked-data",
                                     labels=("the coloured text (/predictions)", "the worked loss (/worked_loss)"))
    look.click(t.predictions_view, [session, text], [strip, summary, data], api_name="predictions", **limits)
    position.submit(t.worked_loss_view, [session, text, position], [worked, worked_data], api_name="worked_loss",
                    **limits)
    strip.click(t.strip_clicked, [session, text], [position, worked, worked_data], api_visibility="private",
                **limits)
    return [(t.predictions_view, [session, text], [strip, summary, data])]


def neurons(session, text, look, limits) -> None:
    with gr.Tab("Neurons", elem_id="inside-neurons") as tab:
        with gr.Row():
            layer = gr.Dropdown([], label="layer", elem_id="neuron-layer", allow_custom_value=True)
            unit = gr.Number(0, precision=0, minimum=0, label="unit", elem_id="neuron-unit")
            show = gr.Button("Show this unit", elem_id="neuron-show")
        strip = _strip("neuron-strip")
        summary = gr.Markdown(elem_id="neuron-summary")
        data = _numbers("neuron-data", of=" of this unit")
        gr.Markdown("**Find units** that track a property of the text — or select a span in the text box "
                    "above and choose “selected span”.")
        with gr.Row():
            prop = gr.Dropdown(["all", *t.PROPERTIES, "selected span"], value="all", label="property",
                               elem_id="find-property")
            span = gr.Textbox(label="selected span (start-end)", elem_id="find-span", max_lines=1)
            find = gr.Button("Find units", elem_id="find-units")
        units_table = gr.HTML(elem_id="units-table", css_template=t.UNITS_CSS, js_on_load=t.UNIT_CLICK_JS)
        units_data = _numbers("units-data", of=" of the units found")
    tab.select(refresh_layers, [session, layer], layer, show_progress="hidden", api_visibility="private")
    gr.on([show.click, unit.submit], t.neuron_view, [session, text, layer, unit], [layer, strip, summary, data],
          api_name="neurons", **limits)
    text.select(t.span_selected, None, span, queue=False, show_progress="hidden", api_visibility="private")
    find.click(t.find_units_rows, [session, text, prop, span], [units_table, units_data], api_name="find_units",
               **limits)
    units_table.click(t.unit_clicked, [session, text], [layer, unit, strip, summary, data], api_visibility="private",
                      **limits)  # a row of the table: that unit over the text
    return [(t.neuron_view, [session, text, layer, unit], [layer, strip, summary, data])]


def saliency(session, text, look, limits) -> None:
    with gr.Tab("What it looked at", elem_id="inside-saliency"):
        gr.Markdown("How much the prediction after one position depends on each earlier character (the "
                    "gradient of its log-probability with respect to each input). Click a character to "
                    "look from there; try an RNN and an LSTM on the same text.")
        with gr.Row():
            position = gr.Number(-1, precision=0, minimum=-1, label="position (-1 = the last character)",
                                 elem_id="sal-position")
            show = gr.Button("Show", elem_id="sal-show")
        strip = _strip("sal-strip")
        summary = gr.Markdown(elem_id="sal-summary")
        data = _numbers("sal-data")
    gr.on([show.click, position.submit], t.saliency_view, [session, text, position], [strip, summary, data],
          api_name="saliency", **limits)
    strip.click(t.saliency_clicked, [session, text], [position, strip, summary, data], api_visibility="private",
                **limits)
    return [(t.saliency_view, [session, text, position], [strip, summary, data])]


def shapes(session, text, look, limits) -> None:
    with gr.Tab("Shapes", elem_id="inside-shapes"):
        show = gr.Button("Run one batch through the model", elem_id="shapes-show")
        summary = gr.Markdown(elem_id="shapes-summary")
        table = gr.Dataframe(headers=m.SHAPE_HEADERS, interactive=False, wrap=True, elem_id="shapes-table")
        graph = gr.Plot(label="the graph of one forward pass", show_label=False, elem_id="graph-plot")
        with gr.Accordion("The graph as text (Graphviz)", open=False):
            dot = gr.Code(language=None, elem_id="graph-dot")
        data = _numbers("shapes-data")
    show.click(m.shapes_view, [session, text], [table, summary, graph, dot, data], api_name="shapes", **limits)
    return [(m.shapes_view, [session, text], [table, summary, graph, dot, data])]


def maps(session, text, look, limits) -> None:
    with gr.Tab("Maps", elem_id="inside-maps"):
        show = gr.Button("Show the maps", elem_id="maps-show")
        map_plot = gr.Plot(show_label=False, elem_id="map-plot")
        map_summary = gr.Markdown(elem_id="map-summary")
        map_data = _numbers("map-data", of=" of the map")
        attention_plot = gr.Plot(show_label=False, elem_id="attention-plot")
        attention_summary = gr.Markdown(elem_id="attention-summary")
        attention_data = _numbers("attention-data", of=" of the attention")
    show.click(m.map_view, session, [map_plot, map_summary, map_data], api_name="embedding_map", **limits)
    show.click(m.attention_view, [session, text], [attention_plot, attention_summary, attention_data],
               api_name="attention", **limits)
    return [(m.map_view, [session], [map_plot, map_summary, map_data]),
            (m.attention_view, [session, text], [attention_plot, attention_summary, attention_data])]


def diagnosis(session, text, look, limits) -> None:
    with gr.Tab("Why is my loss flat?", elem_id="inside-diagnosis"):
        diagnose = gr.Button("Diagnose this model's training", elem_id="diagnose")
        findings = gr.Markdown(elem_id="findings")
        with gr.Row():
            grad_plot = gr.Plot(show_label=False, elem_id="grad-plot")
            ratio_plot = gr.Plot(show_label=False, elem_id="ratio-plot")
        summary = gr.Markdown(elem_id="grad-summary")
        data = _numbers("diag-data")
    diagnose.click(m.diagnosis_view, session, [findings, grad_plot, ratio_plot, summary, data], api_name="diagnose",
                   **limits)
    return [(m.diagnosis_view, [session], [findings, grad_plot, ratio_plot, summary, data])]
