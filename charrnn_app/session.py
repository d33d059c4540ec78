"""What one browser tab keeps between clicks. Lives in `gr.State`, one per tab, never in a global.

The running training and the Stop button share this object: Stop sets `stop`, the training loop
checks it between steps, ends the run cleanly and keeps the model.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from pathlib import Path

from charrnn import Bundle, corpus_stats, save


class Session:
    def __init__(self):
        self.bundle: Bundle | None = None  # the model, its vocabulary and loss history
        self.running = False  # a training run of this tab is under way
        self.stop = False  # set by Stop; the running loop ends at its next step
        self.pending = False  # Train was clicked and its run has not started yet (queued)
        self.units = "nats"  # the loss chart's unit, switchable while training
        self.uniform: float | None = None  # reference levels of the last training text, for the chart
        self.unigram: float | None = None
        self.folder: str | None = None  # this tab's checkpoint files (removed with the session)
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
            self.folder = tempfile.mkdtemp(prefix="charrnn-session-")
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
