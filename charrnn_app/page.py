"""The page around the tabs: its styles, its header, each browser tab's Session, and what every tab's
builder is given (`Page`).

    Page.open(demo, settings, examples)   the services (Server, Runner), the tab's State, the header
    <tab module>.build(page, tab)          each tab's layout and wiring, in page order (see app.TABS);
                                           what it returns is kept on the page for the tabs after it
    page.serve()                           sessions registered, freed when their tab closes, kept alive

A tab's builder reads the handles of the tabs built before it (`page.train.loss_plot`); the one output
that lives in a later tab (the Keep tab's download button, which a Train run fills) is made unrendered
by the Train tab and rendered by the Keep tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from . import texts
from .runner import Runner
from .server import Server, Uploads, sweep_empty_uploads
from .session import Registry, Session, delete_session
from .settings import Settings

if TYPE_CHECKING:
    from .compare_tab import CompareTab
    from .inside_tab import InsideTab
    from .keep_tab import KeepTab
    from .train_tab import TrainTab
    from .write_tab import WriteTab

TITLE = "charrnn — watch a language model learn"
CSS = """
#live-sample textarea, #sample-output textarea, #corpus-preview textarea { font-family: ui-monospace, monospace; }
#status { min-height: 2.5em; }
#model-options .form > * { min-width: 150px !important; }
#intro h1 { margin: 0; font-size: 1.6em; }
#loss-plot .js-plotly-plot { height: 420px; }
#next-char-plot .js-plotly-plot { height: 320px; }
#corpus-file { min-height: 130px; }
@media (max-width: 640px) {  /* a phone: the header stacks, the intro shrinks to its title */
  #header { flex-direction: column; }
  #intro p { display: none; }
}
#intro p { margin: 0.2em 0 0; }
/* Presentation mode (a projector at the back of a classroom): larger type, less chrome. */
body.present { font-size: 20px; }
body.present .prose, body.present label span, body.present textarea, body.present input,
body.present button, body.present .tab-nav button { font-size: 20px !important; }
body.present #intro p, body.present #chart-help, body.present #text-details, body.present #corpus-file,
body.present #present .info-text, body.present #controls .info-text, body.present #units { display: none; }
body.present #intro h1 { font-size: 1.1em; }
body.present #header { margin-bottom: -12px; }
body.present #loss-plot .js-plotly-plot { height: 290px !important; }
body.present #live-sample textarea { height: 3.4em !important; }
body.present #status { min-height: 0; }
"""
# Runs in the browser: the checkbox's value puts the page in presentation mode or takes it out.
PRESENT_JS = """(on) => { document.body.classList.toggle('present', !!on);
  window.dispatchEvent(new Event('resize')); }"""  # Plotly redraws its charts at their new CSS size


@dataclass
class Page:
    """What every tab's builder gets: the server's settings and services, the tab's State, and the handles
    of the tabs built before it (None until built)."""

    demo: gr.Blocks
    settings: Settings
    examples: dict[str, Path]
    server: Server  # the one door to Gradio's internals
    runner: Runner  # the run lifecycle Train and Race share, with its hooks
    session: gr.State  # the tab's Session: its model, its runs, the Stop flag
    corpus_info: gr.State  # {n_chars, vocab_size, uniform, unigram} of the chosen text, or None
    present: gr.Checkbox  # presentation mode (the header's)
    tabs: gr.Tabs | None = None
    train: TrainTab | None = None
    write: WriteTab | None = None
    compare: CompareTab | None = None
    inside: InsideTab | None = None
    keep: KeepTab | None = None

    @classmethod
    def open(cls, demo: gr.Blocks, settings: Settings, examples: dict[str, Path]) -> Page:
        """The page's services, the tab's State and the header, inside `demo`'s context (before the tabs)."""
        server = Server(demo)
        # One Session per tab (deep-copied from this empty one): its model, the Stop flag, chart units.
        session = gr.State(Session(server.session_root(), Uploads()), time_to_live=settings.session_ttl,
                           delete_callback=delete_session)
        demo.sessions = Registry()  # this app's open tabs, freed when a tab closes (see Registry)
        with gr.Row(elem_id="header", equal_height=True):
            gr.Markdown(texts.INTRO, elem_id="intro")
            present = gr.Checkbox(label="Presentation mode", elem_id="present", scale=0, min_width=180,
                                  info="larger type for a projector (link: ?present=1)")
        page = cls(demo, settings, examples, server, Runner(server), session, gr.State(None), present)
        demo.load(page.register, session, None, api_visibility="private")
        return page

    def serve(self) -> None:
        """The page's own events, after every tab: a tab (or API client) going away frees what it kept; an
        open tab keeps its model past the TTL; the presentation toggle."""
        self.demo.unload(self.close)
        # Gradio's TTL counts from the State's last write, and uploads, samples and views only read it: an
        # open tab would lose its model after the TTL without a Train. A timer writes it back, so the TTL
        # frees only tabs that went away without the unload event (a closed tab is freed at once).
        gr.Timer(keep_alive_seconds(self.settings.session_ttl)).tick(
            lambda s: s, self.session, self.session, queue=False, show_progress="hidden", api_visibility="private")
        self.present.change(None, self.present, None, js=PRESENT_JS, queue=False, api_visibility="private")

    def register(self, session, request: gr.Request) -> None:
        """The load handler: the tab joins the registry (so that closing it frees it at once)."""
        self.demo.sessions.add(session, request)
        sweep_empty_uploads(self.server.cache)

    def close(self, request: gr.Request) -> None:
        """The unload handler: a tab (or an API client) went away. Its model and files are freed now — Gradio
        would keep a closed session's State for an hour. API clients never load the page, so besides this
        app's registry the Session is looked up in Gradio's own store of that session's state."""
        self.demo.sessions.close(request)
        for value in self.server.forget(getattr(request, "session_hash", None)):
            if isinstance(value, Session):
                value.close()
        sweep_empty_uploads(self.server.cache)


def keep_alive_seconds(ttl: float) -> float:
    """How often an open tab writes its State back (a third of the TTL, at most every 10 minutes)."""
    return max(1.0, min(ttl / 3, 600.0))
