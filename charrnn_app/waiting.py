"""Where a queued Train stands: its place in the line and when it should start, updated while it waits.
(Races wait in the same line — one concurrency group, "train" — and count in it; `runner.mark_pending` marks
both. The line is read through `server.Server.waiting`.)

Gradio's own display ("queue: 3/5 | 12.1s") gives the place but no start time until it has timed earlier
jobs; this server knows better — every run has a time budget. The estimate plays the queue forward: each
of the `slots` training slots frees when its run's budget is spent, and each run ahead of yours then takes
its own budget (the page's default for a run whose budget is not known, such as an API call's).
"""

from __future__ import annotations

import time

import gradio as gr

from .server import Server
from .session import Registry, Session

POLL_SECONDS = 2.0


def start_estimate(remaining: list[float], ahead: list[float], slots: int) -> float:
    """Seconds until a run that has `ahead` (their budgets) in front of it gets a slot, with `remaining`
    seconds left of the runs now training in `slots` slots (free slots count as 0)."""
    free = sorted(remaining + [0.0] * max(0, slots - len(remaining)))[:max(slots, 1)]
    for budget in ahead:
        free[0] += budget
        free.sort()
    return free[0]


def queue_status(server: Server, registry: Registry, slots: int, default_budget: float):
    """The timer's handler: (status, timer) while this tab's Train waits; stops the timer once it runs."""

    def poll(session, request: gr.Request):
        if not isinstance(session, Session) or session.running or not session.pending or session.stop:
            return gr.skip(), gr.Timer(active=False)  # started, refused, or cancelled: the status says so
        tabs = dict(registry.items())
        cancelled = {h for h, s in tabs.items() if s.pending and s.stop}  # they leave the line when reached
        line = [h for h in server.waiting("train") if h not in cancelled]
        mine = next((i for i, h in enumerate(line) if h == request.session_hash), None)
        if mine is None:  # between the click and the queue, or just started
            return gr.skip(), gr.Timer(active=True)
        now = time.monotonic()
        remaining = [max(0.0, s.run_budget - (now - s.run_started)) for s in tabs.values()
                     if s.running and s.run_budget is not None and s.run_started is not None]
        budget_of = {h: (s.pending_budget or default_budget) for h, s in tabs.items()}
        ahead = [budget_of.get(h, default_budget) for h in line[:mine]]
        seconds = start_estimate(remaining, ahead, slots)
        return (f"**Waiting** for a free training slot: you are **{_ordinal(mine + 1)}** in line "
                f"({len(line)} waiting, {slots} training at a time); your run should start in about "
                f"**{_duration(seconds)}**. It starts by itself; Stop cancels it."), gr.Timer(active=True)

    return poll


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{max(5, 5 * round(seconds / 5)):.0f} s"
    return f"{seconds / 60:.1f} min"
