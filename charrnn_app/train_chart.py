"""The Train tab's chart: the loss of the tab's model as it trains (nats or bits), and before any training the
levels to beat for the chosen text. A diverged run is drawn as its run showed it, up to the divergence.
"""

from __future__ import annotations

import gradio as gr

from charrnn.bundle import History

from . import plots
from .session import Session, ensure_session


def shown_history(session: Session) -> History | None:
    """The curve the Train chart draws: the tab's model's own, and after a divergence what its run showed up to
    it. The model went back to its last good weights and its History with them (what a checkpoint says), but the
    run's record keeps every step it made (`RunRecord.curve`, what Compare draws), so both charts agree."""
    b = session.bundle
    if b is None or session.stop_reason != "diverged":
        return b.history if b else None
    record = next((r for r in reversed(session.runs) if r.bundle is b), None)
    if record is None or not record.curve.step or (b.history.step and record.curve.step[-1] <= b.history.step[-1]):
        return b.history
    h, c, first = b.history, record.curve, record.curve.step[0]
    shown = History()  # the model's points before the record began (a loaded checkpoint's), then the record's
    for i in range(len(h.step)):
        if h.step[i] < first:
            shown.add(*h.point(i))
    for i in range(len(h.val_step)):
        if h.val_step[i] < first:
            shown.add_val(*h.val_point(i))
    for i in range(len(c.step)):
        shown.add(*c.point(i))
    for i in range(len(c.val_step)):
        shown.add_val(*c.val_point(i))
    return shown


def model_figure(session: Session) -> object:
    """The loss chart of the tab's model (empty before training), in the tab's units; a diverged run's steps
    up to the divergence, marked (`shown_history`)."""
    return plots.loss_figure(shown_history(session), session.uniform, session.unigram, session.units,
                             session.present, session.stop_reason == "diverged")


def corpus_chart(info, session):
    """Before the first training: an empty chart with the levels to beat for the chosen text."""
    if isinstance(session, Session) and session.bundle is not None:
        return gr.skip()  # the tab's model's own chart stays
    info = info or {}
    units, present = (session.units, session.present) if isinstance(session, Session) else ("nats", False)
    return plots.loss_figure(None, info.get("uniform"), info.get("unigram"), units, present)


def change_units(units, session, info=None):
    """Redraw the tab's chart in nats or bits (also while training: the loop reads `session.units`)."""
    session = ensure_session(session)
    session.units = "bits" if units == "bits" else "nats"
    return model_figure(session) if session.bundle is not None else corpus_chart(info, session)
