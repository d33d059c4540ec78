"""The one boundary around what Gradio, glibc and Gradio's cache folder keep to themselves.

Nothing else in the app names Gradio's private queue or its store of session state, calls into libc, or
removes files from Gradio's cache: it calls this module (tests/test_structure.py fails otherwise). When
Gradio changes, this is the file to read again; every function degrades to "nothing known" (an empty
list, None, False) rather than failing a user's request.

    Server(demo)                      one per app: what Gradio's queue and state store say about tabs
        .waiting(concurrency_id)      session hashes waiting in line for a concurrency group, in order
        .enqueued_at(request)         when a running request joined the queue (time.monotonic())
        .forget(session_hash)         drop Gradio's own copy of a session's state; its values
        .expire_idle(ttl, free)       forget the sessions unused for the TTL (a script's calls never disconnect)
        .explain_unreadable_inputs()  a value a field cannot read, or outside its range: a gr.Error naming
                                      it, not a bare "Error" or a traceback in the server's log
        .cache / .session_root()      Gradio's cache folder, and this server's folder for tab files
    cache_sweep(ttl)                  Blocks(delete_cache=…): Gradio's own sweep of its cache, a backstop
    Uploads                           which tabs use which uploaded files; the last one out removes it
    sweep_empty_uploads(cache)        the empty `tmp…` files Gradio's upload route leaves behind
    keep_sweeping_empty_uploads(…)    the same, every minute, on a daemon thread
    repeat(every, task, name)         a housekeeping task on a daemon thread
    release_memory()                  gc + glibc malloc_trim: freed memory back to the system
    frozen_plot(figure)               a Plotly figure serialized once, for many viewers of one chart
    limit_malloc_arenas(n)            glibc M_ARENA_MAX, before the server starts its threads
    map_large_blocks(n)               glibc M_MMAP_THRESHOLD: blocks of n bytes or more go back when freed
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import gc
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
from gradio.exceptions import ComponentProcessingError


class Server:
    """This app's view of one Gradio server's internals (verified on Gradio 6.31). Built with the Blocks
    before it is launched; every read happens when a handler asks, on a copy (the event loop changes
    the queue while a handler's thread reads it)."""

    def __init__(self, demo: gr.Blocks):
        self._demo = demo

    def _queue(self):
        return getattr(self._demo, "_queue", None)

    def waiting(self, concurrency_id: str) -> list[str]:
        """The session hashes of the requests waiting in line for `concurrency_id`, first in line first
        (a tab appears once per request). [] where Gradio's queue cannot be read."""
        per_id = getattr(self._queue(), "event_queue_per_concurrency_id", None) or {}
        line = per_id.get(concurrency_id)
        return [e.session_hash for e in list(getattr(line, "queue", None) or [])]

    def enqueued_at(self, request: gr.Request | None) -> float | None:
        """When the request a handler is running for joined Gradio's queue (`time.monotonic()` seconds),
        or None where that is not known (a direct call, a request outside the queue)."""
        raw = getattr(request, "request", None) if request is not None else None
        if raw is None:
            return None
        for job in list(getattr(self._queue(), "active_jobs", None) or []):
            for event in list(job or []):
                if getattr(event, "request", None) is raw:
                    return getattr(event, "enqueue_time", None)
        return None

    def forget(self, session_hash: str | None) -> list:
        """Drop Gradio's own store of a session's component values (Gradio keeps a closed session's for
        an hour; an API client's never loads the page, so this is the only place its State is found).
        Returns the values it held, for the caller to free."""
        holder = getattr(getattr(self._demo, "server_app", None), "state_holder", None)
        data = getattr(holder, "session_data", None)
        if data is None or not session_hash:
            return []
        with getattr(holder, "lock", None) or contextlib.nullcontext():
            state = data.pop(session_hash, None)
            getattr(holder, "time_last_used", {}).pop(session_hash, None)
        return list(getattr(state, "state_data", {}).values()) if state is not None else []

    def busy(self) -> set[str]:
        """The session hashes with a request waiting in any line or running now."""
        hashes = set()
        for line in list((getattr(self._queue(), "event_queue_per_concurrency_id", None) or {}).values()):
            hashes.update(e.session_hash for e in list(getattr(line, "queue", None) or []))
        for job in list(getattr(self._queue(), "active_jobs", None) or []):
            hashes.update(getattr(e, "session_hash", None) for e in list(job or []))
        return hashes

    def expire_idle(self, ttl: float, free: Callable[[list], None], *, early: float | None = None,
                    holds_nothing: Callable[[str, list], bool] | None = None) -> int:
        """Forget every session Gradio's store has not used for `ttl` seconds — or for `early` seconds, where
        `holds_nothing(session hash, its State values)` — and that has nothing waiting or running; `free` gets
        each one's State values. Returns how many were forgotten.

        Gradio frees only the values of a session's States on their TTL, never the session: its copy of the
        page's configuration (~370 KB) stays until 10,000 sessions push it out. A script's calls that never
        disconnect (raw HTTP, each its own session) kept 3,000 × 370 KB = 1 GB that way. An open page's
        sessions are used at least every third of the TTL (the page's keep-alive timer), so they stay.
        Gradio's message queue of each forgotten session goes too, and the freed memory back to the system
        (`release_memory`). What a flood of calls leaves after that is Python's small-object allocator at
        its high-water mark (its 1 MiB arenas are returned only when wholly empty): reused by the next
        calls, not kept per call (measured: benchmarks/raw_sessions.py --rounds)."""
        holder = getattr(getattr(self._demo, "server_app", None), "state_holder", None)
        used = getattr(holder, "time_last_used", None)
        if used is None or getattr(holder, "session_data", None) is None:
            return 0
        now, busy, data = datetime.datetime.now(), self.busy(), holder.session_data
        late = now - datetime.timedelta(seconds=ttl)
        soon = now - datetime.timedelta(seconds=min(ttl, early)) if early is not None and holds_nothing else late
        forgotten = 0
        for session_hash, last in list(used.items()):
            if last >= soon or session_hash in busy:
                continue
            values = list(getattr(data.get(session_hash), "state_data", {}).values())
            if last < late or holds_nothing(session_hash, values):
                if used.get(session_hash, now) == last:  # not used again meanwhile
                    free(self.forget(session_hash))
                    self._forget_messages(session_hash)
                    forgotten += 1
        if forgotten:
            release_memory()
        return forgotten

    def _forget_messages(self, session_hash: str) -> None:
        """Drop Gradio's message queue and event-id set of an expired session (nothing waiting or running):
        Gradio removes them only when the client disconnects from its stream, which a raw call that read its
        answer never does (an asyncio.Queue, its deques and Event, ~2.5 KB each, up to 2,000 of them)."""
        queue = self._queue()
        with contextlib.suppress(AttributeError, KeyError):
            queue.pending_messages_per_session.pop(session_hash, None)
        with contextlib.suppress(AttributeError):
            if not queue.pending_event_ids_session.get(session_hash, True):  # only an empty set: none pending
                queue.pending_event_ids_session.pop(session_hash, None)

    def explain_unreadable_inputs(self) -> None:
        """A value an input field cannot read (a list or "NaN" for a number, null for a slider) is answered
        with a gr.Error naming the field and what it takes. Gradio's components fail on such a value before
        any handler runs (a TypeError in `preprocess`), which the page and the API only show as a bare
        "Error". Gradio wraps that failure in a ComponentProcessingError saying which input it was.
        A number outside a slider's or a number field's range (2 s in a time budget from 5 s) is refused in
        `preprocess` too, with a gr.Error that names no field and that Gradio logs with a traceback. Where a
        user (or a script) asks for something — a click, a submit — it is refused with the field's name and
        range, as the user's error. Where a field is being typed (its change, or a chain after it), the
        event reads the nearest number in range: typing 25 sends 2 first, which is no mistake, and a slider
        takes that nearest number itself when it loses the focus (`page.note_clamped` says so)."""
        preprocess = getattr(self._demo, "preprocess_data", None)
        if preprocess is None:
            return

        async def explained(block_fn, inputs, *args, **kwargs):
            if not asked(block_fn):
                inputs = in_range(block_fn, inputs)
            try:
                return await preprocess(block_fn, inputs, *args, **kwargs)
            except ComponentProcessingError as e:
                raise gr.Error(unreadable_input(block_fn, inputs, str(e)), print_exception=False) from None
            except gr.Error as e:
                outside = out_of_range(block_fn, inputs, e.message)
                if outside is None:
                    raise
                raise gr.Error(outside, print_exception=False) from None

        self._demo.preprocess_data = explained

    @property
    def cache(self) -> Path:
        """Gradio's cache folder: uploads land here, and files handed to the page are served from here."""
        return Path(self._demo.GRADIO_CACHE)

    def session_root(self) -> str:
        """This server's folder for the tabs' files (checkpoints, exports), inside Gradio's cache so that
        offering one for download copies nothing; removed at shutdown."""
        return str(self.cache / f"charrnn-{os.getpid()}")


def unreadable_input(block_fn, inputs: list, message: str) -> str:
    """What to tell the sender of a value an input field could not read: the field (its label), the value
    (shortened) and the kind of value it takes. `message` is Gradio's, which names the input's index."""
    found = re.search(r"input component at index (\d+)", message)
    fields = list(getattr(block_fn, "inputs", None) or [])
    if found is None or int(found.group(1)) >= len(fields):
        return "A value sent is not of the kind its field takes (a number, a text, or one of its choices)."
    i = int(found.group(1))
    block, value = fields[i], inputs[i] if i < len(inputs) else None
    name = getattr(block, "label", None) or getattr(block, "elem_id", None) or f"input {i + 1}"
    try:
        info = block.api_info() or {}
    except Exception:  # noqa: BLE001 — only for the wording
        info = {}
    takes = {"number": "a number", "integer": "a whole number", "string": "a text", "boolean": "true or false"}
    kind = takes.get(info.get("type") if isinstance(info.get("type"), str) else "", "a value of its kind")
    if isinstance(info.get("description"), str):  # a slider's range: "numeric value between 0 and 2"
        kind += f" ({info['description']})"
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return f"“{name}” cannot be {shown}: it takes {kind}."


ASKING = {"click", "submit"}  # events by which a user asks for something: a number out of range is refused


def asked(block_fn) -> bool:
    """Whether an event is a request (a click, a submit), not the page following a field being typed."""
    return any(isinstance(t, (tuple, list)) and len(t) > 1 and t[1] in ASKING
               for t in getattr(block_fn, "targets", None) or [])


def in_range(block_fn, inputs: list) -> list:
    """`inputs` with each number that lies outside its field's range (a Slider's or a Number's minimum and
    maximum) moved to the nearest end of it."""
    out = list(inputs)
    for i, (block, sent) in enumerate(zip(getattr(block_fn, "inputs", None) or [], inputs, strict=False)):
        if isinstance(sent, bool) or not isinstance(sent, (int, float)):
            continue
        low, high = getattr(block, "minimum", None), getattr(block, "maximum", None)
        if isinstance(low, (int, float)) and sent < low:
            out[i] = low
        elif isinstance(high, (int, float)) and sent > high:
            out[i] = high
    return out


# Gradio's words for a number outside a field's range (`Number.raise_if_out_of_bounds`, Slider's too)
OUT_OF_RANGE = re.compile(r"Value (\S+) is (less|greater) than (minimum|maximum) value (\S+)\.")


def out_of_range(block_fn, inputs: list, message: str) -> str | None:
    """What to tell the sender of a number outside its field's range: the field (its label), the number and
    the range, or None when `message` is not Gradio's out-of-range refusal. Gradio's message names no field:
    the field is the first input whose value is that number and lies beyond that bound."""
    found = OUT_OF_RANGE.fullmatch(str(message).strip())
    if found is None:
        return None
    value, low = float(found.group(1)), found.group(2) == "less"
    bound = float(found.group(4))
    for block, sent in zip(getattr(block_fn, "inputs", None) or [], inputs, strict=False):
        if isinstance(sent, bool) or not isinstance(sent, (int, float)) or sent != value:
            continue
        if (sent < bound) if low else (sent > bound):
            name = getattr(block, "label", None) or getattr(block, "elem_id", None) or "a number field"
            lo, hi = getattr(block, "minimum", None), getattr(block, "maximum", None)
            lo, hi = (bound, hi) if low else (lo, bound)
            takes = (f"from {lo:g} to {hi:g}" if lo is not None and hi is not None else
                     f"{lo:g} or more" if lo is not None else f"at most {hi:g}")
            return f"“{name}” cannot be {value:g}: it takes a number {takes}."
    return f"{value:g} is {'below' if low else 'above'} the {found.group(3)} its field takes, {bound:g}."


def cache_sweep(ttl: float) -> tuple[int, int]:
    """`Blocks(delete_cache=…)`: every 10 minutes, Gradio removes cache files older than an hour or the
    session TTL if longer — never a file a queued run is about to read. Only a backstop: a tab's uploads
    go with the tab (`Uploads`), its checkpoint files with its session."""
    return 600, max(3600, int(ttl))


class Uploads:
    """Which tabs use which uploaded files (Gradio keeps one file per content, shared by every tab that
    uploads the same bytes): a file is removed when the last tab that used it closes or expires. One per
    app; deep copies of a Session (Gradio makes one per tab) share it.

    Another tab may upload the same bytes before it tells the ledger (its upload event, or its Train, comes
    after the file is written): Gradio then renames a fresh file over the same path. So the ledger notes
    which file (inode and change time) its tabs used, and leaves a file that has been uploaded again since —
    its new owner registers it, or Gradio's own cache cleanup takes it."""

    def __init__(self):
        self._users: dict[str, set[int]] = {}
        self._seen: dict[str, tuple[int, int, int]] = {}  # path → the file its users registered
        self._lock = threading.Lock()  # tabs close on several threads at once (unload handlers, expiry)

    def __deepcopy__(self, memo):
        return self

    def use(self, owner, path: str | None) -> None:
        """Note `path` as used by `owner` (a tab's Session)."""
        if not path:
            return
        with self._lock:
            self._users.setdefault(str(path), set()).add(id(owner))
            if (ident := _identity(path)) is not None:
                self._seen[str(path)] = ident

    def release(self, owner) -> None:
        """`owner` is gone: remove the files nobody else uses (and Gradio's folder for each)."""
        with self._lock:
            gone = []
            for path, users in list(self._users.items()):
                users.discard(id(owner))
                if not users:
                    del self._users[path]
                    if _identity(path) == self._seen.pop(path, None):  # not uploaded again since
                        gone.append(path)
        for path in gone:
            Path(path).unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # Gradio's folder for it (named by the content's hash)
                Path(path).parent.rmdir()


def _identity(path: str) -> tuple[int, int, int] | None:
    """(device, inode, change time in ns) of the file at `path`; None if there is none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def sweep_empty_uploads(cache: str | Path, age: float = 60.0) -> int:
    """Remove the empty `tmp…` files Gradio 6.31's upload route leaves in its cache folder (one per upload:
    the multipart parser's temporary file, emptied when the upload is moved into place), older than `age`
    seconds. Returns how many were removed."""
    removed, now = 0, time.time()
    try:
        entries = list(Path(cache).iterdir())
    except OSError:
        return 0
    for p in entries:
        try:
            if p.name.startswith("tmp") and p.is_file() and p.stat().st_size == 0 and now - p.stat().st_mtime > age:
                p.unlink()
                removed += 1
        except OSError:
            pass
    return removed


def keep_sweeping_empty_uploads(cache: str | Path, every: float = 60.0) -> threading.Event:
    """Run `sweep_empty_uploads(cache)` every `every` seconds on a daemon thread, until the returned Event
    is set. The sweeps on tab events (load, close, Train) miss the leftover of an upload made in the last
    minute before the class's last tab goes; this one does not."""
    return repeat(every, lambda: sweep_empty_uploads(cache), "charrnn-sweep-uploads")


def repeat(every: float, task: Callable[[], object], name: str) -> threading.Event:
    """Run `task` every `every` seconds on a daemon thread until the returned Event is set; a task that
    raises is logged and run again next time."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every):
            try:
                task()
            except Exception:  # noqa: BLE001 — a housekeeping task must not die with its thread
                logging.getLogger(__name__).exception("%s failed", name)

    threading.Thread(target=loop, name=name, daemon=True).start()
    return stop


def frozen_plot(figure):
    """`figure` as gr.Plot's own payload (Gradio's PlotData, which gr.Plot passes through untouched): the
    JSON is made once, however many pages the figure is sent to (a class board goes to every watcher)."""
    from gradio.components.plot import PlotData

    return PlotData(type="plotly", plot=figure.to_json())


def release_memory() -> None:
    """Give freed memory back to the operating system: glibc keeps freed blocks for reuse, so without
    this a shared server's memory stays at its peak after the tabs that used it are gone (Linux only)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Ask glibc for at most `arenas` malloc arenas (M_ARENA_MAX, as MALLOC_ARENA_MAX=2 would). Gradio runs
    handlers on up to 40 worker threads and glibc gives threads their own arenas (up to 8 a core): freed
    memory scattered over many arenas stays resident after the tabs that used it are gone. Call before
    the server starts its threads. Returns False where this is not glibc."""
    try:
        return ctypes.CDLL("libc.so.6").mallopt(-8, arenas) == 1  # M_ARENA_MAX is -8 in malloc.h
    except (OSError, AttributeError):
        return False


def map_large_blocks(threshold: int = 1 << 20) -> bool:
    """Ask glibc to give every block of `threshold` bytes or more its own mapping, returned to the system
    the moment it is freed (M_MMAP_THRESHOLD, as MALLOC_MMAP_THRESHOLD_ would; fixing it also stops glibc
    raising it to 32 MB after the first large free). Without this, a view that makes a few hundred 16 MB
    score tensors in turn fragments the heap: a transformer's Predictions over an 8,002-character vocabulary
    left the process 840 MB larger for 180 MB of tensors alive at once (measured, issue 18). Returns False
    where this is not glibc."""
    try:
        return ctypes.CDLL("libc.so.6").mallopt(-3, threshold) == 1  # M_MMAP_THRESHOLD is -3 in malloc.h
    except (OSError, AttributeError):
        return False
