"""The class board's part of `classroom.py`: what a live board costs a server with a class of N students.

Against the server `classroom.py` started (its own CHARRNN_DB in its temp folder), the same N gradio_client
students (one session each) train on one example text three times:

1. alone — no class, twice: the baseline, so that what the runs themselves keep (each tab's runs) is not
   counted as the board's;
2. in a class — a teacher opens a class on that example with a budget equal to the runs' own, every
   student joins it, and N + 1 watchers hold the board's stream open (/class_watch, Gradio's streaming:
   one per student's page and the projector's) while every student trains again.

Each run's end is the moment its client had the run's answer (the run lifecycle's `on_finish` hook reports
the run to the class as its last update goes out, so 0 s means the board had it first). The board's update
latency of the k-th run to end is the time from its end to the projector's first update counting k runs
(runs are reported in the order they end).
RSS growth from the board: a tab keeps its finished runs, so every round adds to the server's RSS with or
without a class; each RSS is read once a round's runs ended and the server had 5 s to settle, and the
board's growth is what the class round added beyond what the second round alone added over the first:
(in the class − alone again) − (alone again − alone).
"""

from __future__ import annotations

import math
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gradio_client import Client

MODELS = ("gru", "lstm", "rnn", "mlp")  # four families on one board, as a class would mix them
SETTLE = 5.0  # seconds for the server to finish its epilogues (reports, memory released) before RSS is read


class Watcher:
    """One open /class_watch stream: the arrival time (time.time()) and run count of every update."""

    def __init__(self, url: str, code: str):
        self.updates: list[tuple[float, int]] = []
        self.error: str | None = None
        self.job = Client(url, verbose=False).submit(code=code, api_name="/class_watch")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for data in self.job:
                self.updates.append((time.time(), int(data["runs"])))
        except Exception as e:  # reported, not raised: a benchmark counts its failures
            self.error = f"{type(e).__name__}: {str(e)[:160]}"

    def close(self) -> None:
        self.job.cancel()


def train_all(clients: list[Client], example: str, budget: float, workers: int) -> list[dict]:
    """Every client trains once (a new model, its family by its index); each answer's end time and status."""

    def one(i: int) -> dict:
        try:
            final = clients[i].predict(example=example, model=MODELS[i % len(MODELS)], time_budget=budget,
                                       reset=True, api_name="/train")
            done = "Done" in final[0]
            return {"ended": time.time(), "done": done, **({} if done else {"error": final[0][:160]})}
        except Exception as e:
            return {"ended": time.time(), "done": False, "error": f"{type(e).__name__}: {str(e)[:160]}"}

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(one, range(len(clients))))


def latencies(ends: list[float], updates: list[tuple[float, int]], before: int) -> list[float]:
    """Seconds from the k-th run's end to the first update counting `before` + k runs (inf if none did)."""
    out = []
    for k, ended in enumerate(sorted(ends), start=1):
        seen = next((t for t, runs in updates if runs >= before + k), math.inf)
        out.append(max(0.0, seen - ended))
    return out


def board_class(url: str, rss, students: int, budget: float, example: str, db: Path) -> dict:
    """The two rounds (see the module docstring); prints and returns the board's figures. `rss()`: the
    server's resident memory in MB now."""
    clients = [Client(url, verbose=False) for _ in range(students)]
    workers = min(students, 16)  # the queue holds the rest: 2 slots train, as in a classroom
    rss_rounds = []
    for _ in range(2):  # twice: what a round leaves without a class (the second) is the figure's noise
        alone = train_all(clients, example, budget, workers)
        time.sleep(SETTLE)
        rss_rounds.append(rss())
    rss_alone = rss_rounds[-1]
    teacher = Client(url, verbose=False)
    _, info = teacher.predict(example=example, models=list(MODELS), budget=budget, api_name="/class_open")
    code = info["code"]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda ic: ic[1].predict(code=code, nickname=f"Student {ic[0]:02d}", api_name="/class_join"),
                      enumerate(clients)))
    watchers = [Watcher(url, code) for _ in range(students + 1)]
    projector = watchers[-1]
    deadline = time.monotonic() + 30
    while not projector.updates and time.monotonic() < deadline:
        time.sleep(0.05)
    start = time.time()
    together = train_all(clients, example, budget, workers)
    end = time.time()
    time.sleep(SETTLE)
    rss_class = rss()
    lat = latencies([r["ended"] for r in together if r["done"]], projector.updates, 0)
    rate = sum(start <= t <= end for t, _ in projector.updates) / max(end - start, 1e-9)
    for w in watchers:
        w.close()
    figures = {"students": students, "budget": budget, "example": example, "done_alone": sum(r["done"] for r in alone),
               "done_class": sum(r["done"] for r in together), "runs_on_board": projector.updates[-1][1],
               "watchers": len(watchers), "watch_errors": sum(w.error is not None for w in watchers),
               "latency": lat, "updates_per_s": rate, "rss_first": rss_rounds[0], "rss_alone": rss_alone,
               "rss_class": rss_class,
               "db_bytes": sum(p.stat().st_size for p in (db, Path(f"{db}-wal")) if p.exists()),
               "errors": [r["error"] for r in alone + together if r.get("error")][:5]}
    print_figures(figures)
    return figures


def print_figures(f: dict) -> None:
    lat = sorted(f["latency"])
    print(f"\n── the class board: {f['students']} students × {f['budget']:g} s runs on '{f['example']}', "
          f"{f['watchers']} board streams open ──")
    print(f"runs done: {f['done_alone']}/{f['students']} alone, {f['done_class']}/{f['students']} in the class; "
          f"{f['runs_on_board']} on the board; {f['watch_errors']} stream errors")
    if lat:
        p90 = lat[min(len(lat) - 1, math.ceil(0.9 * len(lat)) - 1)]
        print(f"board update latency after a run's end: median {statistics.median(lat):.2f} s, p90 {p90:.2f} s, "
              f"max {lat[-1]:.2f} s (target ≤ 2 s)")
    print(f"projector's board updates while the class trained: {f['updates_per_s']:.2f} a second")
    per_round = f["rss_alone"] - f["rss_first"]  # what a round adds without a class (each tab keeps its runs)
    board = f["rss_class"] - f["rss_alone"] - per_round
    print(f"server RSS after each round: alone {f['rss_first']:.0f} MB, alone again {f['rss_alone']:.0f} MB "
          f"({per_round:+.0f} MB), in the class {f['rss_class']:.0f} MB ({f['rss_class'] - f['rss_alone']:+.0f} MB): "
          f"growth from the board {board:+.0f} MB (target ≤ 50 MB)")
    print(f"database on disk: {f['db_bytes'] / 1024:.0f} KB")
    for e in f["errors"]:
        print("  error:", e)
