"""The Keep tab: download the tab's model, upload a checkpoint, and use a downloaded model outside the page.

    build(page, tab) -> KeepTab
    endpoints: /load_checkpoint

The download button is the Train tab's run output (made there, rendered here); loading a checkpoint is
`sampling.load_checkpoint`, which adopts it into the tab (`runner.adopt`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import gradio as gr

from . import sampling, texts, training
from .page import Page

LABEL, TAB_ID = "Keep", "keep-tab"


@dataclass
class KeepTab:
    download: gr.DownloadButton
    checkpoint_file: gr.File
    checkpoint_status: gr.Markdown
    takeaway: gr.Markdown


def build(page: Page, tab: gr.Tab) -> KeepTab:
    """The Keep tab's layout and wiring."""
    s, train = page.settings, page.train
    gr.Markdown(texts.CHECKPOINT)
    with gr.Row():
        train.download.render()
        checkpoint_file = gr.File(label=f"Upload a checkpoint (.safetensors, up to {s.max_checkpoint_text})",
                                  file_types=[".safetensors"], type="filepath", elem_id="checkpoint-file", height=100)
    checkpoint_status = gr.Markdown(elem_id="checkpoint-status")
    takeaway = gr.Markdown(texts.takeaway(None, None), elem_id="takeaway")

    quiet = dict(show_progress="hidden", api_visibility="private")
    train.trained.then(training.show_takeaway, train.download, takeaway, **quiet)
    loaded = checkpoint_file.upload(
        functools.partial(sampling.load_checkpoint, max_bytes=s.max_checkpoint_bytes, max_params=s.max_params),
        [checkpoint_file, page.session],
        [checkpoint_status, train.loss_plot, train.model, *train.fields, train.download, page.session],
        api_name="load_checkpoint",
        show_progress_on=checkpoint_status,  # a refused file marks only this message, not the chart
    ).then(lambda text: text, checkpoint_status, train.status, **quiet)
    page.write.redraw(loaded)
    return KeepTab(train.download, checkpoint_file, checkpoint_status, takeaway)
