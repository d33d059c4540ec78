"""What one browser tab keeps between clicks. Lives in `gr.State`, one per tab, never in a global.

The running training and the Stop button share this object: Stop sets `stop`, the training loop
checks it between steps, ends the run cleanly and keeps the model. The run's lifecycle (who may take
the tab's one training slot, when the tab's model changes) is `runner.py`'s; this object only holds it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from charrnn import Bundle, save
from charrnn.copying import CopyIndex
from charrnn.options import SettingError
from charrnn.record import COPY_MIN_LEN, RunRecord
from charrnn.run import Limits

from .memory import ServerMemory, bundle_bytes, curve_bytes
from .server import Uploads, release_memory, sweep_empty_uploads

KEEP_WEIGHTS = 5  # runs whose weights a tab keeps (a whole five-model race); older runs keep curves and numbers


class Session:
    def __init__(self, root: str | None = None, uploads: Uploads | None = None, memory: ServerMemory | None = None,
                 view_limits: Limits | None = None):
        # Where this tab's checkpoint files go: inside Gradio's cache folder, so that offering one for
        # download does not copy it there again (one file per tab, replaced by each run).
        self.root = root
        self.uploads = uploads  # the app's ledger of uploaded files (None: not served by an app)
        self.memory = memory  # what all the server's tabs keep, against its budget (None: not counted)
        self.view_limits = view_limits  # the server's bounds on one Inside view (None: unbounded, as in Python)
        self.last_used = time.monotonic()  # when the tab last trained, sampled or looked inside its model
        self.set_aside_because: str | None = None  # why the tab's models were set aside (the server needed room)
        self.notice: str | None = None  # …said once, as a warning, at the tab's next request
        self.bundle: Bundle | None = None  # the model, its vocabulary and loss history
        self.running = False  # the tab's one training slot is taken: a run is planning, training or finishing
        self.stop = False  # set by Stop; the running loop ends at its next step
        self.pending = False  # Train was clicked and its run has not started yet (queued, or planning)
        self.run_sent: float | None = None  # when the running (or last) run joined the queue (monotonic s)…
        self.run_ended: float | None = None  # …and when it let go of the slot (None while it holds it)
        self.sample_seed: int | None = None  # the seed that wrote the Write tab's last sample (shown there)
        self.written_by: tuple | None = None  # the model (id, step, chars) that wrote the sample the Write tab shows
        self.units = "nats"  # the loss chart's unit, switchable while training
        self.present = False  # presentation mode: the charts' larger type
        self.uniform: float | None = None  # reference levels of the last training text, for the chart
        self.unigram: float | None = None
        self.folder: str | None = None  # this tab's checkpoint files (removed with the session)
        self.run_started: float | None = None  # time.monotonic() when the running run started…
        self.run_budget: float | None = None  # …and its time budget (for the queue's start estimates)
        self.pending_budget: float | None = None  # the budget of a Train that waits in the queue
        self.train_text: str | None = None  # the text the model was last trained on (training part)…
        self.val_text: str | None = None  # …and its held-out end (None after loading a checkpoint)
        self.runs: list[RunRecord] = []  # every run of this tab (a Train press, or one model of a race)
        self.next_run = 1  # the number the next run gets ("run 3" in the legend and the table)
        self.hidden: set[int] = set()  # runs not drawn on the comparison chart
        # the text the comparison chart draws (a RunRecord.text_key, chosen through a run of it) until a newer run
        # starts (run number `chart_since` or later): then the latest run's text again
        self.chart_text: tuple | None = None
        self.chart_since = 0
        self._copy_index: tuple[str, CopyIndex] | None = None  # (training text, its index): built once per text
        self.stop_reason: str | None = None  # why the last run ended ("diverged", "time_budget" …), for the diagnosis
        self.budget_note: str | None = None  # a Train budget typed out of range: the line saying what was used
        self.closed = False  # the tab went away (closed or expired): a run still finishing keeps nothing

    def kept_bytes(self) -> int:
        """What this tab keeps between runs: each kept model's weights and AdamW moments (12 bytes a
        parameter, for continuing exactly) and loss history, the runs' curves, texts and copied-span index."""
        return self.weight_bytes() + sum(curve_bytes(r.curve) for r in self.runs)

    def weight_bytes(self) -> int:
        """What setting the tab's models aside frees: the kept models (with their histories), the texts and
        the copied-span index — all but the runs' curves, numbers and film strips."""
        bundles = {id(b): b for b in [self.bundle, *(r.bundle for r in self.runs)] if b is not None}
        texts = {id(t): t for t in [self.train_text, self.val_text, *(r.text for r in self.runs)] if t}
        index = self._copy_index[1].nbytes if self._copy_index is not None else 0
        return sum(map(bundle_bytes, bundles.values())) + sum(map(len, texts.values())) + index

    def check_room(self, new_bytes: int, limit_mb: float) -> None:
        """SettingError unless what the tab keeps plus `new_bytes` (a new run's model and text, a checkpoint)
        fits `limit_mb` — the tab's memory budget on a shared server (CHARRNN_MAX_TAB_MB) — and the server's
        budget for all tabs, once the oldest idle tabs' models are set aside (`ServerMemory.make_room`)."""
        keeps = (self.kept_bytes() + new_bytes) / 1024**2
        if keeps > limit_mb:
            raise SettingError("n_hidden", f"this tab would keep about {keeps:,.0f} MB (its models, their optimizer "
                               f"state, loss histories and texts); this server allows {limit_mb:,.0f} MB a tab. "
                               "Remove runs in the Compare tab, or use a smaller model or a shorter text")
        if self.memory is not None and self.memory.make_room(self, new_bytes):
            release_memory()  # what the tabs set aside held, back to the system before the new run allocates

    def touch(self) -> None:
        """The tab used its models now (a run, a sample, a view): the last tab the server sets aside."""
        self.last_used = time.monotonic()

    def set_aside(self, notice: str) -> None:
        """Free the tab's models and texts to make room on the server (`ServerMemory.make_room`); the runs'
        curves, numbers and film strips stay, and the tab is told why at its next request (`notice`)."""
        self.bundle = self.train_text = self.val_text = self._copy_index = None
        for record in self.runs:
            record.drop_weights()
        self.set_aside_because = self.notice = notice

    def take_notice(self) -> str | None:
        """The notice the tab has not been shown yet (then cleared)."""
        notice, self.notice = self.notice, None
        return notice

    def claim(self, path: str | None) -> None:
        """Note an uploaded file (a text or a checkpoint) as this tab's: it is removed with the last tab that
        claimed it. Claim it as soon as a handler sees it, even for a run that is then cancelled."""
        if self.uploads is not None and path:
            self.uploads.use(self, path)

    def take_queued_stop(self) -> bool:
        """True if Stop was pressed while this tab's Train waited in the queue (the flags are cleared)."""
        stopped, self.pending = self.pending and self.stop, False
        self.stop = False
        return stopped

    def copy_index(self, train_text: str) -> CopyIndex:
        """The copied-span index of `train_text`, built once and reused while the text stays the same."""
        if self._copy_index is None or self._copy_index[0] != train_text:
            self._copy_index = (train_text, CopyIndex(train_text, COPY_MIN_LEN))
        return self._copy_index[1]

    def record_run(self, plan, bundle: Bundle, corpus: str, checker=None) -> RunRecord:
        """The record a Train press writes into: the continued model's own record, else a new one."""
        for record in self.runs:
            if record.bundle is bundle and plan.continue_from is bundle:
                record.begin_segment(plan, bundle)
                return record
        record = RunRecord.begin(plan, bundle, self.next_run, corpus, self.copy_index(plan.data.train_text),
                                 checker)
        self.add_runs([record])
        return record

    def add_runs(self, records: list[RunRecord], trim: bool = True) -> None:
        """Keep `records` (already numbered); `trim`: drop the weights of all but the last KEEP_WEIGHTS runs
        (a race trims when it ends, so its models keep theirs while they train)."""
        for record in records:
            if all(r is not record for r in self.runs):
                self.runs.append(record)
            self.next_run = max(self.next_run, record.run_id + 1)
        if trim:
            self.trim_weights()

    def trim_weights(self) -> None:
        for record in self.runs[:-KEEP_WEIGHTS]:
            if record.bundle is not self.bundle:  # the model the Write tab samples from stays
                record.drop_weights()

    def run(self, run_id) -> RunRecord | None:
        try:
            return next(r for r in self.runs if r.run_id == int(run_id))
        except (StopIteration, TypeError, ValueError):
            return None

    def write_checkpoint(self) -> Path:
        """The model as a fresh .safetensors file in this tab's folder (the previous file removed).
        Weights, vocabulary, settings and history, without the optimizer moments: a third of the size,
        enough to sample and to train further."""
        assert self.bundle is not None
        folder = self.files()
        for old in folder.glob("*.safetensors"):
            old.unlink(missing_ok=True)
        b = self.bundle
        return save(folder / f"charrnn-{b.model_name}-step{b.step}.safetensors", b, weights_only=True)

    def files(self) -> Path:
        """This tab's folder for the files it offers (checkpoints, exports), made on first use inside the
        server's folder in Gradio's cache; removed with the tab. OSError once the tab is closed."""
        if self.closed:
            raise OSError("this tab was closed")
        if self.folder is None or not Path(self.folder).is_dir():
            if self.root:
                Path(self.root).mkdir(parents=True, exist_ok=True)
            self.folder = tempfile.mkdtemp(prefix="charrnn-session-", dir=self.root)
        return Path(self.folder)

    def close(self) -> None:
        """Stop any training and free the model and files (Gradio calls this for expired sessions)."""
        self.stop = self.closed = True
        had_model = self.bundle is not None
        self.bundle = self.train_text = self.val_text = self._copy_index = None
        self.runs = []
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self.memory is not None:
            self.memory.leave(self)
        if self.uploads is not None:
            self.uploads.release(self)  # this tab's uploads, unless another open tab uses the same file
        if self.root:
            sweep_empty_uploads(Path(self.root).parent)
        if had_model:
            release_memory()


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

    def discard(self, session) -> None:
        """Forget `session` wherever it is registered (Gradio forgot its tab)."""
        for key, value in list(self._sessions.items()):
            if value is session:
                self._sessions.pop(key, None)

    def close(self, request) -> None:
        session = self._sessions.pop(getattr(request, "session_hash", None) or "", None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        while self._sessions:
            self._sessions.popitem()[1].close()

    def __len__(self) -> int:
        return len(self._sessions)

    def __contains__(self, session_hash) -> bool:
        return session_hash in self._sessions
