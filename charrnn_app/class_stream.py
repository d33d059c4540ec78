"""The live board: Gradio's own streaming (an async generator per page that shows a class), about one update
a second, and only when something changed.

    BoardStream(classroom, server).page(watch, session)   the page's stream: (counts, leaderboard, overlay,
                                                          samples, who you are, the teacher's run picker)
    BoardStream(…).api(code)                              /class_watch: the board as data, on every change

No page polls the server: each page that shows a class holds one open stream (started when it joins,
opens or loads a class; ended when it shows another class or closes). The stream waits on the event
loop (no thread is held while nothing happens), wakes every POLL seconds to compare two numbers — the
class's version (bumped by every join, report and moderation) and its counts — and yields at most once
every EVERY seconds, only when they changed and the Class tab is the one shown. The board and its
pictures are built once per class and version (`BoardPictures`), off the event loop, whoever watches.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict

import gradio as gr

from . import board_view
from .class_actions import Watch, you_markdown
from .class_board import Board
from .classroom import Classroom, Counts
from .server import Server, frozen_plot

EVERY = 1.0  # seconds between two updates of one page's board (a projector need not flicker more)
POLL = 0.25  # seconds between two looks at the class's version
REREAD = 30.0  # seconds after which the board is read again anyway (expiry, a class closed elsewhere)


class BoardPictures:
    """The board's pictures per (class, version, projector), the JSON of its figure made once: thirty
    watchers of one class cost one rendering per change. Keeps the newest `size`."""

    def __init__(self, size: int = 32):
        self.size = size
        self._cache: OrderedDict[tuple, tuple] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, board: Board, projector: bool) -> tuple:
        """(leaderboard HTML, overlay as gr.Plot's payload, samples HTML)."""
        key = (board.code, board.version, board.made, projector)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        pictures = (board_view.leaderboard_html(board, projector),
                    frozen_plot(board_view.overlay_figure(board, projector)), board_view.samples_html(board))
        with self._lock:
            self._cache[key] = pictures
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return pictures


class BoardStream:
    """The live board's generators for one server."""

    def __init__(self, classroom: Classroom, server: Server | None):
        self.classroom, self.server = classroom, server
        self.pictures = BoardPictures()

    def counts(self, board: Board) -> Counts:
        waiting = self.server.waiting("train") if self.server is not None else []
        return self.classroom.counts(board, waiting)

    async def _board(self, code: str, board: Board | None) -> Board | None:
        """The class's board: `board` itself while nothing changed, else read again (off the event loop)."""
        if (board is not None and board.code == code and board.version == self.classroom.version(code)
                and time.time() - board.made < REREAD and time.time() < board.expires):
            return board
        return await asyncio.to_thread(self.classroom.board, code)

    async def page(self, watch, session):
        """The Class tab's stream, while this page shows `watch.code` (a newer stream of the page ends it)."""
        if not isinstance(watch, Watch) or not watch.code:
            return
        watch.gen += 1
        gen, shown, last, board = watch.gen, None, -1e9, None
        while watch.gen == gen and watch.code:
            board = await self._board(watch.code, board)
            binding = self.classroom.binding(session)
            if board is None:  # expired, or deleted after closing
                yield ("This class has ended.", board_view.leaderboard_html(None), gr.skip(), "",
                       you_markdown(None, Watch()), gr.skip())
                return
            counts = self.counts(board)
            state = (board.version, board.made, counts, binding.note if binding else "", watch.projector)
            if watch.visible and state != shown and time.monotonic() - last >= EVERY:
                leaderboard, overlay, samples = await asyncio.to_thread(self.pictures.get, board, watch.projector)
                picker = gr.update(choices=board_view.run_choices(board.all_runs)) if watch.key else gr.skip()
                yield (board_view.counts_markdown(board, counts), leaderboard, overlay, samples,
                       you_markdown(binding, watch), picker)
                shown, last = state, time.monotonic()
            await asyncio.sleep(POLL)

    def api(self, data):
        """/class_watch: `data(code, request)` (the board as data, or gr.Error) now, then on every change of
        the class's version or counts, at most once every EVERY seconds, until the class ends."""

        async def watch_board(code, request: gr.Request):
            first = await asyncio.to_thread(data, code, request)  # the code checked (and counted) once
            code, shown = first["code"], None
            board = None
            while True:
                board = await self._board(code, board)
                if board is None:
                    return
                state = (board.version, board.made, self.counts(board))
                if state != shown:
                    counts = state[2]
                    yield {**first, "closed": board.closed, "joined": counts.joined, "training": counts.training,
                           "queued": counts.queued, "runs": board.runs, "version": board.version,
                           "entries": board.rows()}
                    shown = state
                    await asyncio.sleep(EVERY)
                await asyncio.sleep(POLL)

        return watch_board
