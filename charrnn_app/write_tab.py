"""The Write tab: the tab's model writes after a prompt, and its next-character probabilities as a chart.

    build(page, tab) -> WriteTab
    endpoints: /sample (streaming), /next_char_probs

The handlers are `sampling`'s; after a Train run (and a loaded checkpoint: `WriteTab.redraw`) the chart
is redrawn, and an empty prompt becomes one after which the next character is uncertain.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from charrnn.options import SAMPLE_OPTIONS

from . import plots, sampling, texts
from .page import Page

LABEL, TAB_ID = "Write", "write-tab"
QUIET = dict(show_progress="hidden", api_visibility="private")


@dataclass
class WriteTab:
    """The Write tab's components that other tabs drive."""

    prompt: gr.Textbox
    temperature: gr.Slider
    top_k: gr.Slider
    probs_plot: gr.Plot
    probs_text: gr.Markdown
    session: gr.State

    @property
    def probs_inputs(self) -> list:
        return [self.session, self.prompt, self.temperature, self.top_k]

    def redraw(self, event):
        """Chain the next-character chart and its numbers after `event` (the tab's model changed)."""
        return event.then(sampling.next_char_chart, self.probs_inputs, self.probs_plot, **QUIET).then(
            sampling.next_char_text, self.probs_inputs, self.probs_text, **QUIET)


def build(page: Page, tab: gr.Tab) -> WriteTab:
    """The Write tab's layout and wiring."""
    with gr.Row():
        with gr.Column(scale=2, min_width=320):
            prompt = gr.Textbox(label="prompt (the text the model continues; may be empty)", lines=2,
                                elem_id="prompt")
            t = SAMPLE_OPTIONS["temperature"]
            temperature = gr.Slider(t.minimum, t.maximum, value=0.8, step=0.05, label=t.label, elem_id="temperature",
                                    info=t.help)
            with gr.Row():
                length = gr.Slider(10, 2000, value=500, step=10, label="length (characters)", elem_id="length")
                top_k = gr.Slider(0, 100, value=0, step=1, label="top-k (0 = all)", elem_id="top-k")
                seed = gr.Number(-1, minimum=-1, label="seed (-1 = random)", elem_id="seed")
            sample = gr.Button("Sample", variant="primary", elem_id="sample")
            with gr.Accordion("How the model writes", open=False):
                gr.Markdown(texts.SAMPLE)
        with gr.Column(scale=3, min_width=340):
            output = gr.Textbox(label="What the model wrote", lines=10, max_lines=20, interactive=False,
                                elem_id="sample-output", placeholder=sampling.WAITING)
            seed_used = gr.Markdown(elem_id="sample-seed")  # the seed that wrote it: to write it again
            probs_plot = gr.Plot(plots.probs_figure(None), label="next character", show_label=False,
                                 elem_id="next-char-plot")
            probs_text = gr.Markdown(elem_id="next-char-numbers")  # the chart's numbers in words
    w = WriteTab(prompt, temperature, top_k, probs_plot, probs_text, page.session)

    changed = [temperature.change, prompt.change, top_k.change]
    gr.on(changed, sampling.next_char_chart, w.probs_inputs, probs_plot, trigger_mode="always_last",
          show_progress="hidden", queue=False, api_name="next_char_probs")
    gr.on(changed, sampling.next_char_text, w.probs_inputs, probs_text, trigger_mode="always_last", queue=False,
          **QUIET)
    trained = page.train.trained  # an empty prompt: one after which the next character is uncertain
    suggested = trained.then(sampling.suggest_prompt, [page.session, prompt], prompt, **QUIET)
    trained.then(sampling.next_char_chart, w.probs_inputs, probs_plot, **QUIET)
    trained.then(sampling.next_char_text, w.probs_inputs, probs_text, **QUIET)
    # The tab opens (or a run ends) on a model whose text the box does not show yet: a short sample of it
    shown = dict(fn=sampling.preview, inputs=[page.session, output, prompt, temperature, top_k, seed],
                 outputs=[output, seed_used, page.session], concurrency_limit=4, concurrency_id="sample", **QUIET)
    previews = [tab.select(**shown), suggested.then(**shown)]
    gr.on([sample.click, prompt.submit], sampling.sample_text, page.session, [output, page.session],
          inputs_kwargs={"prompt": prompt, "length": length, "temperature": temperature, "top_k": top_k,
                         "seed": seed}, cancels=previews,
          api_name="sample", concurrency_limit=4, concurrency_id="sample", show_progress="minimal"
          ).then(sampling.seed_note, page.session, seed_used, **QUIET)
    return w
