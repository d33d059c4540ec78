"""What one browser tab keeps between clicks. Lives in `gr.State`, one per tab, never in a global.

The running training and the Stop button share this object: Stop sets `stop`, the training loop
checks it between steps, ends the run cleanly and keeps the model.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
from pathlib import Path

from charrnn import Bundle, corpus_stats, save


class Session:
    def __init__(self, root: str | None = None):
        # Where this tab's checkpoint files go: inside Gradio's cache folder, so that offering one for
        # download does not copy it there again (one file per tab, replaced by each run).
        self.root = root
        self.bundle: Bundle | None = None  # the model, its vocabulary and loss history
        self.running = False  # a training run of this tab is under way
        self.stop = False  # set by Stop; the running loop ends at its next step
        self.pending = False  # Train was clicked and its run has not started yet (queued)
        self.units = "nats"  # the loss chart's unit, switchable while training
        self.uniform: float | None = None  # reference levels of the last training text, for the chart
        self.unigram: float | None = None
        self.folder: str | None = None  # this tab's checkpoint files (removed with the session)
        self.run_started: float | None = None  # time.monotonic() when the running run started…
        self.run_budget: float | None = None  # …and its time budget (for the queue's start estimates)
        self.pending_budget: float | None = None  # the budget of a Train that waits in the queue
        self.train_text: str | None = None  # the text the model was last trained on (training part)…
        self.val_text: str | None = None  # …and its held-out end (None after loading a checkpoint)
        self.stop_reason: str | None = None  # why the last run ended ("diverged", "time_budget" …), for the diagnosis

    def take_queued_stop(self) -> bool:
        """True if Stop was pressed while this tab's Train waited in the queue (the flags are cleared)."""
        stopped, self.pending = self.pending and self.stop, False
        self.stop = False
        return stopped

    def start(self, bundle: Bundle, plan) -> None:
        """A checked run begins: the tab's model is now `bundle`; reference levels from the plan's text."""
        self.bundle, self.running, self.stop = bundle, True, False
        self.run_started, self.run_budget = time.monotonic(), plan.train_config.time_budget
        self.uniform = math.log(len(bundle.vocab))
        self.unigram = corpus_stats(plan.data.text).unigram_entropy
        # The run's text, kept with its model for the views that read it (prediction strip, copied spans)
        self.train_text, self.val_text = plan.data.train_text, plan.data.val_text

    def write_checkpoint(self) -> Path:
        """The model as a fresh .safetensors file in this tab's folder (the previous file removed).
        Weights, vocabulary, settings and history, without the optimizer moments: a third of the size,
        enough to sample and to train further."""
        assert self.bundle is not None
        if self.folder is None or not Path(self.folder).is_dir():
            if self.root:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            self.folder = tempfile.mkdtemp(prefix="charrnn-session-", dir=self.root)
        for old in Path(self.folder).glob("*.safetensors"):
            old.unlink(missing_ok=True)
        b = self.bundle
        return save(Path(self.folder) / f"charrnn-{b.model_name}-step{b.step}.safetensors", b, weights_only=True)

    def close(self) -> None:
        """Stop any training and free the model and files (Gradio calls this for expired sessions)."""
        self.stop = True
        self.bundle = self.train_text = self.val_text = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def ensure_session(session) -> Session:
    """The tab's Session (a fresh one if a caller passed none)."""
    return session if isinstance(session, Session) else Session()


def delete_session(session) -> None:
    if isinstance(session, Session):
        session.close()


class Registry:
    """The open tabs' Sessions by Gradio's session hash, so that closing a tab (the page's unload event)
    frees its model and files at once — Gradio keeps a closed tab's State for about an hour on its own.
    One per app (built in `app.build_demo`), never a module global."""

    def __init__(self):
        self._sessions: dict[str, Session] = {}

    def sessions(self) -> list[Session]:
        return list(self._sessions.values())

    def items(self) -> list[tuple[str, Session]]:
        return list(self._sessions.items())

    def add(self, session, request) -> None:
        if isinstance(session, Session) and request is not None and request.session_hash:
            self._sessions[request.session_hash] = session

    def close(self, request) -> None:
        session = self._sessions.pop(getattr(request, "session_hash", None) or "", None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        while self._sessions:
            self._sessions.popitem()[1].close()

    def __len__(self) -> int:
        return len(self._sessions)
