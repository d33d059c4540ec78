"""The page around the tabs: its styles, its header, each browser tab's Session, and what every tab's
builder is given (`Page`).

    Page.open(demo, settings, examples)   the services (Server, Runner), the tab's State, the header
    <tab module>.build(page, tab)          each tab's layout and wiring, in page order (see app.TABS);
                                           what it returns is kept on the page for the tabs after it
    page.serve()                           sessions registered, freed when their tab closes, kept alive
    page.expire_idle()                     sessions unused for the TTL forgotten (app.main: every minute)

A tab's builder reads the handles of the tabs built before it (`page.train.loss_plot`); the one output
that lives in a later tab (the Keep tab's download button, which a Train run fills) is made unrendered
by the Train tab and rendered by the Keep tab.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import gradio as gr

from . import compare_view, texts, train_chart
from .memory import ServerMemory
from .runner import Runner
from .server import Server, Uploads, sweep_empty_uploads
from .session import Registry, Session, delete_session
from .settings import Settings

if TYPE_CHECKING:
    from .classroom_tab import ClassroomTab
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
#compare-plot .js-plotly-plot { height: 440px; }
#next-char-plot .js-plotly-plot { height: 320px; }
#corpus-file { min-height: 130px; }
@media (max-width: 640px) {  /* a phone: the header stacks, the intro shrinks to its title, the charts fit */
  #header { flex-direction: column; }
  #intro p { display: none; }
  #loss-plot .js-plotly-plot { height: 340px; }
  /* the legend's rows (a race's runs, one a row at this width) stand under the axis: the plot keeps ~250 px */
  #compare-plot .js-plotly-plot { height: 540px; }
  /* the tool bar stood over the plot's right strip; on a phone fingers zoom, and a double tap resets */
  #loss-plot .modebar-container, #compare-plot .modebar-container { display: none !important; }
}
#intro p { margin: 0.2em 0 0; }
/* Presentation mode (a projector at the back of a classroom): larger type, taller charts, less chrome. */
body.present { font-size: 20px; }
body.present .prose, body.present label span, body.present textarea, body.present input,
body.present button, body.present .tab-nav button { font-size: 20px !important; }
body.present #intro p, body.present #chart-help, body.present #text-details, body.present #corpus-file,
body.present #present .info-text, body.present #controls .info-text, body.present #units,
body.present #compare-intro, body.present #x-axis .info-text, body.present #race-settings .info-text { display: none; }
body.present #intro h1 { font-size: 1.1em; }
body.present #header { margin-bottom: -12px; }
body.present #loss-plot .js-plotly-plot { height: 50vh !important; }
body.present #compare-plot .js-plotly-plot { height: 57vh !important; }
body.present #next-char-plot .js-plotly-plot { height: 50vh !important; }
body.present #compare-row { flex-direction: column; }  /* the chart the whole width, the lesson under it */
body.present #compare-row > .column { width: 100%; }
body.present #live-sample textarea { height: 3.4em !important; }
body.present #status { min-height: 0; max-height: 6.5em; overflow-y: auto; }  /* a finished run's words and
   a warning grew to 425 px and pushed the chart off a projector's first screen: they scroll instead */
"""


def show_on_phone(elem_id: str) -> str:
    """Browser code for a click: on a phone-sized screen, scroll `elem_id` (a status above its chart, or the
    column of a chart and its status) to the top, so that pressing Train or Race visibly starts something."""
    return (f"() => {{ if (window.innerWidth <= 640) document.getElementById('{elem_id}')"
            "?.scrollIntoView({block: 'start'}); }")


# Runs in the browser: the checkbox's value puts the page in presentation mode or takes it out.
PRESENT_JS = """(on) => { document.body.classList.toggle('present', !!on);
  window.dispatchEvent(new Event('resize')); }"""  # Plotly redraws its charts at their new CSS size


# A session that keeps nothing and is no open page (a script's call: each raw HTTP call is a session of its
# own, ~370 KB in Gradio's store) is forgotten after this long unused; one that keeps a model, after the TTL.
EMPTY_SESSION_SECONDS = 60.0
EXPIRE_EVERY = 15.0  # seconds between sweeps: a flood of calls holds at most ~75 s of them


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
    browser: gr.BrowserState  # this browser's memory across reloads and restarts (localStorage), a dict by feature
    tabs: gr.Tabs | None = None
    train: TrainTab | None = None
    write: WriteTab | None = None
    compare: CompareTab | None = None
    inside: InsideTab | None = None
    keep: KeepTab | None = None
    classroom: ClassroomTab | None = None

    @classmethod
    def open(cls, demo: gr.Blocks, settings: Settings, examples: dict[str, Path]) -> Page:
        """The page's services, the tab's State and the header, inside `demo`'s context (before the tabs)."""
        server = Server(demo)
        server.explain_unreadable_inputs()  # a list or "NaN" for a number: a message naming the field
        # One Session per tab (deep-copied from this empty one): its model, the Stop flag, chart units.
        # All of them count what they keep against the server's budget for its tabs (memory.ServerMemory).
        session = gr.State(Session(server.session_root(), Uploads(), ServerMemory(settings.tabs_mb), settings.limits),
                           time_to_live=settings.session_ttl, delete_callback=delete_session)
        demo.sessions = Registry()  # this app's open tabs, freed when a tab closes (see Registry)
        with gr.Row(elem_id="header", equal_height=True):
            gr.Markdown(texts.INTRO, elem_id="intro")
            present = gr.Checkbox(label="Presentation mode", elem_id="present", scale=0, min_width=180,
                                  info="larger type for a projector (link: ?present=1)")
        # Outside the tabs: a BrowserState is read when it mounts, and a hidden tab's children mount too late
        # for the page's load event. Its "secret" travels to the browser in the page's config (it only
        # obscures), and stays the same across restarts so that a reload after one still reads it.
        browser = gr.BrowserState({}, storage_key="charrnn", secret="charrnn-browser-1")
        page = cls(demo, settings, examples, server, Runner(server), session, gr.State(None), present, browser)
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
        for block in list(self.demo.blocks.values()):  # a number typed outside a slider's range: say what it took
            if isinstance(block, gr.Slider):
                block.release(note_clamped(block), None, None, show_progress="hidden",
                              api_visibility="private")
        if self.train is not None and self.compare is not None:  # the charts' type follows (drawn on the server)
            self.present.change(present_charts, [self.present, self.session, self.corpus_info, self.compare.x_axis],
                                [self.train.loss_plot, self.compare.chart], queue=False, show_progress="hidden",
                                api_visibility="private")

    def register(self, session, request: gr.Request) -> None:
        """The load handler: the tab joins the registry (so that closing it frees it at once)."""
        self.demo.sessions.add(session, request)
        sweep_empty_uploads(self.server.cache)

    def close(self, request: gr.Request) -> None:
        """The unload handler: a tab (or an API client) went away. Its model and files are freed now — Gradio
        would keep a closed session's State for an hour. API clients never load the page, so besides this
        app's registry the Session is looked up in Gradio's own store of that session's state."""
        self.demo.sessions.close(request)
        self.free(self.server.forget(getattr(request, "session_hash", None)))
        sweep_empty_uploads(self.server.cache)

    def expire_idle(self) -> int:
        """Forget the sessions unused for the session TTL (`Server.expire_idle`) — chiefly a script's calls,
        which never disconnect — and free their tabs; a session that keeps nothing and is no open page goes
        after EMPTY_SESSION_SECONDS. `app.main` runs it every EXPIRE_EVERY seconds. Returns how many."""
        return self.server.expire_idle(self.settings.session_ttl, self.free, early=EMPTY_SESSION_SECONDS,
                                       holds_nothing=self.holds_nothing)

    def holds_nothing(self, session_hash: str, values: list) -> bool:
        """A session that is no open page and whose tab keeps nothing (no model, no runs, no run under way)."""
        return session_hash not in self.demo.sessions and all(
            not isinstance(v, Session) or not (v.kept_bytes() or v.runs or v.running or v.pending) for v in values)

    def free(self, values: list) -> None:
        """Close the tabs among a forgotten session's State values (their models, files and uploads)."""
        for value in values:
            if isinstance(value, Session):
                self.demo.sessions.discard(value)
                value.close()


def present_charts(on, session, info, x_axis):
    """Presentation mode switched: the tab remembers it (every chart drawn from now on, also while training,
    uses its larger type) and its two live charts are drawn again: (the Train tab's, the Compare tab's)."""
    if not isinstance(session, Session):
        return gr.skip(), gr.skip()
    session.present = bool(on)
    chart = train_chart.model_figure(session) if session.bundle is not None else train_chart.corpus_chart(info, session)
    return chart, compare_view.compare_figure(session, x_axis)


class ReleaseData(gr.EventData):
    """A slider's release event: `value`, the number it held when released (a typed one, before Gradio's slider
    takes it into its range; the event's inputs carry the number after that)."""

    def __init__(self, target, data):
        super().__init__(target, data)
        self.value = data


def note_clamped(slider: gr.Slider):
    """The release handler of `slider`: a number typed outside its range is taken to the nearest end of it when
    the field loses the focus (by Gradio's slider, silently); the page says so. Its events read that nearest
    number while the field is typed (`Server.explain_unreadable_inputs`)."""

    def note(released: ReleaseData) -> None:
        value, low, high = released.value, slider.minimum, slider.maximum
        if isinstance(value, bool) or not isinstance(value, (int, float)) or low <= value <= high:
            return
        gr.Warning(f"“{slider.label}” takes a number from {low:g} to {high:g}: "
                   f"{value:g} became {min(max(value, low), high):g}.")

    return note


def clamped_note(slider: gr.Slider, value) -> str | None:
    """The one line that says a typed number outside `slider`'s range was not used as typed: "time budget: least
    is 5 s — used 5 s" (None for a number in range, or no number)."""
    low, high = slider.minimum, slider.maximum
    if isinstance(value, bool) or not isinstance(value, (int, float)) or low <= value <= high:
        return None
    name = slider.label.split(" (")[0]
    end, used = ("least", low) if value < low else ("most", high)
    return f"{name}: {end} is {used:g} s — used {used:g} s"


def note_budget(slider: gr.Slider):
    """The Train budget's release handler: a number typed outside its range (2 in a budget from 5 s) stays said
    under the Train button and in the next run's status (`Session.budget_note`), not only in a toast that fades: a
    tester typed 2, pressed Train, and saw the run use 5 s with nothing on the page saying so."""

    def note(released: ReleaseData, session):
        line = clamped_note(slider, released.value)
        if isinstance(session, Session):
            session.budget_note = line
        return gr.update(value=line or "", visible=line is not None)

    return note


def keep_alive_seconds(ttl: float) -> float:
    """How often an open tab writes its State back (a third of the TTL, at most every 10 minutes)."""
    return max(1.0, min(ttl / 3, 600.0))
