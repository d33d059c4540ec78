"""One run of a tab — a Train press or a race — from its claim to its last update: the lifecycle both share.

    Runner.run(session, job, request)            a generator of the job's output tuples
      claim    the tab's upload (first: it is the tab's even if the run is then refused or cancelled) and
               the tab's one training slot (one run per tab, below); a Stop pressed while the run waited
               in line cancels it here
      plan     job.plan(session): every setting checked through `charrnn.run.plan_run`, the one door; what
               the user must fix is a gr.Error, shown as "Not started: …", and the tab's model stays as it was
      begin    job.begin(session): the models built (a Train's record added to the tab's runs; a race's
               records join as it trains); its first update, then the `on_start` hooks
      stream   job.events() is the core's generator; each item is recorded (job.observe) and shown about
               three times a second by wall time (UPDATE_EVERY), at once when job.observe says it matters
      stop     Stop sets `session.stop` (`stop_training`); job.ended() sees it, the core keeps what it trained.
               A tab closed mid-run ends quietly: nothing adopted, nothing written, no last update
      end      job.end(session, last): records closed; the model adopted into the tab (`adopt`)
      finish   job.finish(session, last): the last update; `on_finish` hooks

One run per tab. A Train or race is refused with a gr.Error (the tab's run and model untouched) when
    - the tab holds its slot (a run planning, training or finishing): "already training: press Stop first";
    - it was sent while the tab had a run waiting in line or training (a second press while queued,
      Train then Race, two API submits from one client): the first one runs; the later ones are refused
      when they reach the front, never replacing the queued one — a second press never costs a student
      their place in line.
The slot is taken under a lock, so two requests of one tab that reach free slots together cannot both train.

Hooks, for what is built on runs (a class board, a log, a chart of the class): a Runner is one per server
(made by `app.build_demo`, never a module global); `runner.on_start` and `runner.on_finish` are lists of
callables taking a `RunReport`. They run on the run's thread after its first update (start) and after its
last (finish; "stopped" too when Gradio closes the run, e.g. an API client's cancel); a hook that raises is
logged and never spoils the run. A run refused or cancelled before it began, or whose tab closed, reports
no finish.

Reading a model the tab may be training is `snapshot` (the one place that copies a model); making a model
the tab's is `adopt` (Train when its run begins, a race when it ends, a run picked in the Compare tab,
a loaded checkpoint).
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import gradio as gr

from charrnn import Bundle, corpus_stats
from charrnn.record import RunRecord

from . import texts, user_error
from .server import Server, sweep_empty_uploads
from .session import Session

UPDATE_EVERY = 0.35  # seconds between updates of a running run's chart (~3 per second; see GRADIO_NOTES)
BUSY = "This tab is already training (one run per tab): press Stop first."
SENT_WHILE_BUSY = ("This tab was already training or waiting in line when this run was sent, so this one did not "
                   "start (one run per tab; the earlier run kept its place). Press Train or Race again once it has "
                   "ended.")
WAITING = ("**Waiting** for a free training slot: the server trains a few models at a time, each for at most its "
           "time budget. Your run starts by itself; Stop cancels it.")
_CLAIMS = threading.Lock()  # guards each tab's check-and-take of its slot: held for microseconds


class Job(Protocol):
    """What a kind of run (Train: `training.TrainRun`; a race: `racing.RaceRun`) gives the runner.
    Every method returning an update returns the job's whole output tuple (its endpoint's outputs)."""

    kind: str  # "train" or "race": what the hooks are told
    upload: str | None  # the uploaded file the run reads, if any
    budget: float | None  # seconds the run may hold its slot (for the queue's start estimates)
    records: list[RunRecord]  # the runs it writes (after begin)

    def say(self, session: Session, status: str) -> tuple: ...  # only the status line changes
    def plan(self, session: Session) -> None: ...  # gr.Error for anything the user must fix
    def begin(self, session: Session) -> tuple: ...  # build, record; the first update
    def events(self, session: Session) -> Iterator: ...  # the core's generator (TrainEvents, RaceUpdates)
    def observe(self, session: Session, item) -> bool: ...  # record it; True: show it now
    def ended(self, session: Session, item) -> bool: ...  # the last item to read (done, or Stop)
    def show(self, session: Session, item) -> tuple: ...
    def end(self, session: Session, last) -> None: ...  # close records, adopt; runs on every exit
    def finish(self, session: Session, last) -> tuple: ...  # the last update of a run that ended well
    def failed(self, session: Session, error: str) -> tuple: ...  # the last update of a run that failed


@dataclass(frozen=True)
class RunReport:
    """What a hook is told about a run."""

    kind: str  # "train" or "race"
    tab: str | None  # the tab's Gradio session hash; None for a direct call (a test, a script)
    session: Session
    records: tuple[RunRecord, ...]  # one for a Train, one per model for a race (a race's start: none yet)
    outcome: str  # "started" (on_start), then "done", "stopped" or "failed" (on_finish)
    message: str = ""  # why it failed


class Throttle:
    """True about once every `every` seconds by wall time, whatever rate it is asked at; `urgent` is
    always True (and restarts the wait)."""

    def __init__(self, every: float = UPDATE_EVERY):
        self.every, self.last = every, -math.inf

    def __call__(self, urgent: bool = False) -> bool:
        now = time.perf_counter()
        if urgent or now - self.last >= self.every:
            self.last = now
            return True
        return False


class Runner:
    """This server's run lifecycle (see the module docstring): one per app, holding its hooks."""

    def __init__(self, server: Server | None = None):
        self.server = server  # None: direct calls, without Gradio's queue (tests, scripts)
        self.on_start: list[Callable[[RunReport], None]] = []
        self.on_finish: list[Callable[[RunReport], None]] = []

    def run(self, session: Session, job: Job, request: gr.Request | None = None) -> Iterator[tuple]:
        """Drive `job` through claim, plan, begin, stream, end and finish, yielding its updates."""
        tab = getattr(request, "session_hash", None)
        tell(session)  # models set aside while the tab was away: said once, the run goes on
        with self._claim(session, job.upload, request):
            if session.take_queued_stop():
                yield job.say(session, "**Cancelled** while waiting for a free training slot.")
                return
            if session.root:  # Gradio's leftover upload files, in its cache folder above the tabs' own
                sweep_empty_uploads(Path(session.root).parent)
            session.pending = True  # planning: a Stop now still cancels the run
            try:
                job.plan(session)
            except gr.Error as e:  # the status says what is true now, not "Waiting…"; the chart stays
                session.pending = False
                yield job.say(session, f"**Not started:** {e.message} The tab's model is as it was.")
                raise
            if session.take_queued_stop():
                yield job.say(session, "**Cancelled** before it started.")
                return
            session.run_started, session.run_budget = time.monotonic(), job.budget
            first = job.begin(session)
            try:
                last, error = yield from self._stream(session, job, first, tab)
            except GeneratorExit:  # Gradio closed the run (an API client's cancel, a closed tab)
                if not session.closed:
                    self._report(self.on_finish, RunReport(job.kind, tab, session, tuple(job.records), "stopped"))
                raise
            if session.closed:  # nobody reads a closed tab's status; nothing is written into its folder
                return
            outcome = "failed" if error else "stopped" if session.stop else "done"
            try:
                yield job.failed(session, error) if error else job.finish(session, last)
            finally:  # also when Gradio closes the run at its last update
                self._report(self.on_finish, RunReport(job.kind, tab, session, tuple(job.records), outcome,
                                                       error or ""))
        if error:
            raise user_error(error)

    def _stream(self, session: Session, job: Job, first: tuple, tab: str | None):
        """Yield the run's first update, then read the core's generator until it ends, Stop, or an error,
        yielding throttled updates. Returns (the last item, an error message or None). A run that fails
        mid-way keeps its weights; `job.end` runs on every way out."""
        last, error, due = None, None, Throttle()
        events = job.events(session)
        try:
            yield first
            self._report(self.on_start, RunReport(job.kind, tab, session, tuple(job.records), "started"))
            for item in events:
                last, urgent = item, job.observe(session, item)
                if job.ended(session, item):
                    break
                if due(urgent):
                    yield job.show(session, item)
        except Exception as e:  # noqa: BLE001 — any failure of the core: say why, keep the model
            logging.getLogger(__name__).exception("%s failed", job.kind)
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            error = (f"The run stopped with an error: {reason}. What it trained is kept; try smaller settings "
                     "or a lower learning rate.")
        finally:
            events.close()  # the core keeps the optimizer state and the recurrent state for continuing
            job.end(session, last)
        return last, error

    @contextmanager
    def _claim(self, session: Session, upload: str | None, request: gr.Request | None):
        """The tab's upload, then its one training slot (refused: BUSY or SENT_WHILE_BUSY), released on
        every way out of the run (done, refused, cancelled, failed, the generator closed by Gradio)."""
        session.claim(upload)  # first: removed with this tab even if the run is refused or cancelled
        sent = self.server.enqueued_at(request) if self.server is not None else None
        with _CLAIMS:
            if session.running:
                raise user_error(BUSY)
            if sent is not None and session.run_sent is not None and session.run_ended is not None \
                    and session.run_sent <= sent <= session.run_ended:
                raise user_error(SENT_WHILE_BUSY)
            session.running, session.run_sent, session.run_ended = True, sent or time.monotonic(), None
        try:
            yield
        finally:
            session.running, session.run_ended = False, time.monotonic()

    @staticmethod
    def _report(hooks: list, report: RunReport) -> None:
        for hook in list(hooks):
            try:
                hook(report)
            except Exception:  # noqa: BLE001 — a hook never spoils the run
                logging.getLogger(__name__).exception("run hook %r failed", hook)

    def stop_handler(self):
        """The /stop handler: `stop_training`, also for a Train or race of this tab that an API client
        queued (the page marks its own queued runs on click; an API call has no click, so the queue is read)."""

        def stop(session, request: gr.Request):
            hash_ = getattr(request, "session_hash", None)
            queued = self.server is not None and hash_ is not None and hash_ in self.server.waiting("train")
            return stop_training(session, queued=queued)

        stop.__doc__ = stop_training.__doc__
        return stop


def mark_pending(session, time_budget=None):
    """Train or Race was clicked (answered at once, before the queue): a Stop from now on applies to this
    run, even while it waits for a free training slot. Returns the status to show while it waits and
    starts the timer that keeps its place in line up to date (`waiting.py`)."""
    if not isinstance(session, Session) or session.running:
        return gr.skip(), gr.skip()
    session.pending, session.stop = True, False
    session.pending_budget = float(time_budget) if isinstance(time_budget, int | float) and time_budget > 0 else None
    return WAITING, gr.Timer(active=True)


def not_started(session):
    """A Train or Race that failed (`.failure`): if it was refused before its handler ran — a number outside
    its field's range, which the page's message names — the tab no longer waits for it. Returns (status, the
    place-in-line timer); a run that did start has said how it ended, so nothing changes then."""
    if not isinstance(session, Session) or session.running or not session.pending:
        return gr.skip(), gr.skip()
    session.pending = False
    return "**Not started:** a setting cannot be used as it is — the message says which.", gr.Timer(active=False)


def stop_training(session, queued: bool = False):
    """Ask this tab's run to stop after its current step (the model is kept), or, if it has not started
    (waiting in the queue — `queued`, or marked by the page's click — or planning), to be cancelled.
    Returns the status to show now."""
    if not isinstance(session, Session):
        return gr.skip()
    session.stop = True
    if session.pending or (queued and not session.running):
        session.pending = True
        return "**Cancelled** while waiting for a free training slot."
    if session.running:
        return "**Stopping** after the current step…"
    return gr.skip()


def adopt(session: Session, bundle: Bundle, *, text: str | None = None, train_text: str | None = None,
          val_text: str | None = None, stop_reason: str | None = None) -> None:
    """Make `bundle` the tab's model: the Write tab samples it, Train continues it, the Inside tab reads it.
    `text` is what it was trained on (the chart's reference levels: ln V and the unigram entropy);
    `train_text` / `val_text` its split, for the views (None for a checkpoint: the file holds no text);
    `stop_reason` how its last run ended (None: not ended, or not known)."""
    session.bundle, session.train_text, session.val_text = bundle, train_text, val_text
    session.stop_reason = stop_reason
    session.set_aside_because = None
    session.touch()
    session.uniform = math.log(len(bundle.vocab))
    session.unigram = corpus_stats(text).unigram_entropy if text else None


def tab_model(session) -> Bundle:
    """The tab's model, or a gr.Error saying why it has none: never trained, or set aside to make room on the
    server (`memory.ServerMemory`). A notice the tab has not seen yet is shown first (`tell`)."""
    if not isinstance(session, Session) or session.bundle is None:
        reason = getattr(session, "set_aside_because", None)
        if reason:
            session.take_notice()  # said now, in the error
        raise user_error(reason or texts.NO_MODEL)
    tell(session)
    return session.bundle


def tell(session) -> None:
    """Show the tab's pending notice (its models were set aside to make room) once, as a warning: the request
    goes on."""
    notice = session.take_notice() if isinstance(session, Session) else None
    if notice:
        gr.Warning(notice)


def snapshot(session, bundle: Bundle | None) -> Bundle | None:
    """The model to read (sample from, look inside): `bundle` itself, or, while this tab runs, a copy whose
    weights and gradient statistics the training thread cannot change under the reader (a view also
    switches it to eval mode). `bundle` may be the tab's model or one of its runs' (a race trains those).
    Reading is using: the tab is the last the server sets aside (`Session.touch`)."""
    if isinstance(session, Session):
        session.touch()
    if bundle is None or not getattr(session, "running", False):
        return bundle
    return replace(bundle, model=copy.deepcopy(bundle.model), grad_stats=list(bundle.grad_stats))
