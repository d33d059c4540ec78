"""What the server's tabs keep between runs, counted together against one budget (issue 18, item 4).

    bundle_bytes(bundle)               a kept model: weights and AdamW moments, and its loss history
    curve_bytes(history)               a run's curves (kept after its weights go)
    ServerMemory(budget_mb)            one per app, shared by every tab's Session: the tabs that keep
                                       something, and the room they leave
        .make_room(session, new_bytes) room for a new run or upload: the oldest idle tabs' weights are set
                                       aside first (each keeps its curves and is told so); SettingError if
                                       the server is still full

A tab's own budget (`CHARRNN_MAX_TAB_MB`) bounds one tab; this bounds them all, so that a class of 60 tabs
cannot hold 60 × 250 MB on a 16 GB machine. The budget for what tabs keep is what the server may use
(`CHARRNN_MAX_SERVER_MB`) less what runs and views may take at once and the server's own footprint
(`Settings.tabs_mb`). Sizes are what the objects take in this process's memory: a parameter 12 bytes (4 for
the weight, 8 for AdamW's two moments, kept for continuing exactly), a row of loss history 131 bytes
(measured: four Python lists of a number each, 1,000,000 rows read from a checkpoint took 131 MB).
"""

from __future__ import annotations

import threading
import time
import weakref

from charrnn import Bundle
from charrnn.bundle import History
from charrnn.options import SettingError

PARAM_BYTES = 12  # weight (4) + AdamW's two moments (8)
HISTORY_ROW_BYTES = 131  # one point of a loss curve: step, characters, loss, seconds as Python objects in lists
IDLE_GRACE = 60.0  # seconds: a tab used more recently than this keeps its weights (it is being read now)
MB = 1024 * 1024


def curve_bytes(history: History | None) -> int:
    """What a loss history takes: its training and validation points."""
    if history is None:
        return 0
    return HISTORY_ROW_BYTES * (len(history.step) + len(history.val_step))


def bundle_bytes(bundle: Bundle | None) -> int:
    """What a kept model takes: its parameters (with AdamW's moments) and its loss history."""
    if bundle is None:
        return 0
    return PARAM_BYTES * bundle.model.num_params() + curve_bytes(bundle.history)


def set_aside_notice(minutes: float, budget_mb: float) -> str:
    return (f"To make room on this shared server, this tab's trained models were set aside after {minutes:.0f} "
            f"minutes without use (the server keeps at most {budget_mb:,.0f} MB of models for all its tabs "
            "together). Their curves, numbers and samples stay in the Compare tab. Press Train to train again, "
            "or load a checkpoint you downloaded in the Keep tab.")


class ServerMemory:
    """The tabs that keep something, and the room they leave under `budget_mb` (None: no bound). One per app;
    deep copies of a Session (Gradio makes one per tab) share it. Tabs are held weakly: a tab Gradio forgets
    without closing is not kept alive by being counted."""

    def __init__(self, budget_mb: float | None = None, idle_grace: float = IDLE_GRACE):
        self.budget_mb = budget_mb
        self.idle_grace = idle_grace
        self._tabs: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()  # two tabs making room at once must not both count the same room

    def __deepcopy__(self, memo):
        return self

    def join(self, session) -> None:
        with self._lock:
            self._tabs.add(session)

    def leave(self, session) -> None:
        with self._lock:
            self._tabs.discard(session)

    def kept_bytes(self) -> int:
        """What every counted tab keeps now."""
        return sum(tab.kept_bytes() for tab in list(self._tabs))

    def make_room(self, session, new_bytes: int, now: float | None = None) -> list:
        """Room for `new_bytes` more kept by `session` (a run about to be kept, a checkpoint loaded), within
        the budget. Where the tabs keep too much, the weights of the tabs idle longest (not training, not
        waiting in line, unused for `idle_grace` seconds) are set aside, oldest first, until it fits; the tabs
        set aside are returned. SettingError, with nothing set aside, if even that would not make room."""
        self.join(session)
        if self.budget_mb is None:
            return []
        now = time.monotonic() if now is None else now
        with self._lock:
            tabs = list(self._tabs)
            total = sum(tab.kept_bytes() for tab in tabs) + new_bytes
            limit = self.budget_mb * MB
            idle = sorted((t for t in tabs if t is not session and _idle_for(t, now) >= self.idle_grace),
                          key=lambda t: -_idle_for(t, now))
            chosen, freed = [], 0
            for tab in idle:
                if total - freed <= limit:
                    break
                weights = tab.weight_bytes()
                if weights:
                    chosen.append(tab)
                    freed += weights
            if total - freed > limit:
                raise SettingError("n_hidden", _full(total, freed, limit, len(tabs)), None)
            for tab in chosen:
                tab.set_aside(set_aside_notice(_idle_for(tab, now) / 60, self.budget_mb))
        return chosen


def _idle_for(tab, now: float) -> float:
    """Seconds since the tab last used its models; 0 while it trains or waits in line (never idle)."""
    if tab.running or tab.pending:
        return 0.0
    return now - tab.last_used


def _full(total: int, freed: int, limit: float, tabs: int) -> str:
    return (f"this server is full: its {tabs} tabs would keep about {(total - freed) / MB:,.0f} MB of models and "
            f"texts with this one, and it keeps at most {limit / MB:,.0f} MB for all tabs together (models idle "
            "for a while are set aside to make room, but the others are in use). Try again in a few minutes, "
            "or use a smaller model or a shorter text")
