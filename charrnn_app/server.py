"""The one boundary around what Gradio, glibc and Gradio's cache folder keep to themselves.

Nothing else in the app names Gradio's private queue or its store of session state, calls into libc, or
removes files from Gradio's cache: it calls this module (tests/test_structure.py fails otherwise). When
Gradio changes, this is the file to read again; every function degrades to "nothing known" (an empty
list, None, False) rather than failing a user's request.

    Server(demo)                      one per app: what Gradio's queue and state store say about tabs
        .waiting(concurrency_id)      session hashes waiting in line for a concurrency group, in order
        .enqueued_at(request)         when a running request joined the queue (time.monotonic())
        .forget(session_hash)         drop Gradio's own copy of a session's state; its values
        .cache / .session_root()      Gradio's cache folder, and this server's folder for tab files
    cache_sweep(ttl)                  Blocks(delete_cache=…): Gradio's own sweep of its cache, a backstop
    Uploads                           which tabs use which uploaded files; the last one out removes it
    sweep_empty_uploads(cache)        the empty `tmp…` files Gradio's upload route leaves behind
    keep_sweeping_empty_uploads(…)    the same, every minute, on a daemon thread
    release_memory()                  gc + glibc malloc_trim: freed memory back to the system
    limit_malloc_arenas(n)            glibc M_ARENA_MAX, before the server starts its threads
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import threading
import time
from pathlib import Path

import gradio as gr


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
        state = data.pop(session_hash, None)
        return list(getattr(state, "state_data", {}).values()) if state is not None else []

    @property
    def cache(self) -> Path:
        """Gradio's cache folder: uploads land here, and files handed to the page are served from here."""
        return Path(self._demo.GRADIO_CACHE)

    def session_root(self) -> str:
        """This server's folder for the tabs' files (checkpoints, exports), inside Gradio's cache so that
        offering one for download copies nothing; removed at shutdown."""
        return str(self.cache / f"charrnn-{os.getpid()}")


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
    stop = threading.Event()

    def sweep() -> None:
        while not stop.wait(every):
            sweep_empty_uploads(cache)

    threading.Thread(target=sweep, name="charrnn-sweep-uploads", daemon=True).start()
    return stop


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
