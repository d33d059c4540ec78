"""Benchmark: a class of N students and one hostile client against one real server on 127.0.0.1.

    python benchmarks/classroom.py [--students 30] [--budget 20] [--ttl 60] [--rounds 1] [--port 7971]
                                   [--part tabs|board] [--board-budget 5] [--example weather]
                                   [--max-server-mb 4000]

Starts `python app.py` as its own process (CHARRNN_SESSION_TTL=--ttl, its own GRADIO_TEMP_DIR), then:
- each student, through gradio_client, trains a GRU on a text of their own and samples from it. Every
  student's text uses its own 24 characters, so a sample with a character of another student's text is a
  leak between tabs;
- meanwhile one hostile client sends what a careless or mischievous student would: memory bombs within
  each field's own range, a checkpoint whose 456-byte header describes a 250M-parameter model, NaN and
  Infinity in raw JSON, an out-of-range seed, and Stop while its /train waits in the queue; and (issue 18)
  a crafted checkpoint whose Adam moments have the wrong shape (it crashed the server), the Inside views of
  models over an 8,002-character vocabulary (56 + 141 s of a blocked server), two Trains from one tab at
  once, and 100 raw HTTP calls that never disconnect (each kept 358 KiB).
Bounded: N requests each, every wait has a timeout, the whole run a deadline; it stops by itself.

With `--part board`, the class board instead (`classroom_board.py`): the same students train on one example
alone, then as members of one class with its board streamed to every page and a projector; prints the
board's update latency after each run's end and the server's RSS growth from the board.

Prints: total time against the floor (students' budgets summed / training slots), queue wait
median / p90 / max, how far past its budget each run held its slot, server RSS before / peak / after
(MB) against CHARRNN_MAX_SERVER_MB, whether the server is alive, the RSS growth and seconds of each hostile
request, errors, leaks, and files in the server's temp folders before and after the session TTL has passed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from classroom_board import board_class  # beside this file (python puts a script's folder on sys.path)
from gradio_client import Client, handle_file

ROOT = Path(__file__).resolve().parent.parent
PATIENT = {"timeout": 120}  # a page that waits for a loaded server (httpx's default: 5 s)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def count_files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


def student_text(i: int, n_chars: int = 30_000) -> tuple[str, set[str]]:
    """A text of words over this student's own 24 characters (CJK, disjoint between students)."""
    letters = [chr(0x4E00 + 24 * i + k) for k in range(24)]
    rng = random.Random(i)
    words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 6))) for _ in range(300)]
    text = []
    while sum(map(len, text)) < n_chars:
        text.append(" ".join(rng.choice(words) for _ in range(rng.randint(5, 12))) + "\n")
    return "".join(text), set(letters)


class Server:
    def __init__(self, port: int, ttl: float, concurrency: int, temp: Path, max_server_mb: float = 4000):
        self.max_server_mb = max_server_mb
        env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
               "CHARRNN_SESSION_TTL": str(ttl), "CHARRNN_CONCURRENCY": str(concurrency),
               "CHARRNN_MAX_SERVER_MB": str(max_server_mb), "CHARRNN_MAX_RUN_MB": str(max_server_mb / 8),
               "GRADIO_TEMP_DIR": str(temp / "gradio"), "TMPDIR": str(temp / "tmp"), "PYTHONUNBUFFERED": "1",
               "CHARRNN_DB": str(temp / "classes.sqlite3")}
        (temp / "tmp").mkdir(parents=True, exist_ok=True)
        self.url = f"http://127.0.0.1:{port}/"
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                     stderr=open(temp / "server.log", "w"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:  # it refused its settings or failed to start: say why
                log = (temp / "server.log").read_text().strip().splitlines()
                raise SystemExit(f"the server exited: {log[-1] if log else 'no output'}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise SystemExit("the server did not start within 120 s")
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self):
        while not self._stop.is_set():
            self.samples.append(rss_mb(self.proc.pid))
            time.sleep(0.25)

    def rss(self) -> float:
        return rss_mb(self.proc.pid)

    def close(self):
        self._stop.set()
        self.proc.terminate()
        self.proc.wait(timeout=60)


def run_student(i: int, url: str, budget: float, folder: Path, out: dict) -> None:
    text, mine = student_text(i)
    path = folder / f"student{i}.txt"
    path.write_text(text)
    submitted = time.monotonic()
    started = None
    try:
        client = Client(url, verbose=False, httpx_kwargs=PATIENT)
        job = client.submit(corpus=handle_file(str(path)), model="gru", time_budget=budget, api_name="/train")
        for status, *_ in job:
            if started is None and ("Training" in status or "Starting" in status):
                started = time.monotonic()
        final = job.result(timeout=600)  # the last output, or the server's error raised
        ended = time.monotonic()
        sample = client.predict(prompt="", length=300, temperature=1.0, seed=i, api_name="/sample")
        others = set(sample) - mine - {" ", "\n"}
        out.update(wait=(started or ended) - submitted, over=ended - (started or ended) - budget,
                   done="Done" in final[0], leak=bool(others), error=None)
    except Exception as e:  # counted, not raised: the benchmark reports every error
        out.update(error=f"{type(e).__name__}: {str(e)[:200]}")


@functools.cache
def _parameters(url: str, api: str) -> tuple:
    return tuple(httpx.get(url + "gradio_api/info", timeout=120).json()["named_endpoints"][api]["parameters"])


def raw(url: str, api: str, values: dict) -> str:
    info = _parameters(url, api)
    data = [values.get(p["parameter_name"], p.get("parameter_default")) for p in info]
    r = httpx.post(url + "gradio_api/call" + api, content=json.dumps({"data": data}),
                   headers={"content-type": "application/json"}, timeout=30)
    return httpx.get(url + f"gradio_api/call{api}/{r.json()['event_id']}", timeout=120).text


def hostile(url: str, server: Server, folder: Path, results: list) -> None:
    """Each input a careless or mischievous student sends; records (what, answer, RSS growth in MB)."""
    big = folder / "big.txt"
    rng = random.Random(99)
    big.write_text(" ".join("".join(rng.choice("abcdefghij") for _ in range(5)) for _ in range(1_500_000)))
    huge = folder / "huge.safetensors"
    meta = {"format": "charrnn", "format_version": "1", "model_name": "lstm", "vocab": json.dumps("abc"),
            "model_config": json.dumps({"n_hidden": 4000, "n_layer": 2}), "train_config": "null", "step": "0",
            "chars_seen": "0", "seconds": "0", "run_step": "0", "run_seconds": "0", "rnn_state": "none",
            "optim_groups": "null"}
    header = json.dumps({"__metadata__": meta}).encode()
    huge.write_bytes(struct.pack("<Q", len(header)) + header)
    cjk = folder / "cjk.txt"
    cjk.write_text("".join(chr(0x4E00 + rng.randrange(20_000)) for _ in range(100_000)))
    client = Client(url, verbose=False, httpx_kwargs=PATIENT)
    attempts = [
        ("lstm batch 1024 × seq 1024", lambda: client.predict(corpus=handle_file(str(big)), model="lstm",
                                                              batch_size="1024", seq_len="1024", api_name="/train")),
        ("lstm n_hidden 2048", lambda: client.predict(corpus=handle_file(str(big)), model="lstm", n_hidden="2048",
                                                      api_name="/train")),
        ("19,000-character vocabulary, batch 256", lambda: client.predict(
            corpus=handle_file(str(cjk)), model="lstm", batch_size="256", api_name="/train")),
        ("transformer 12 layers", lambda: client.predict(
            corpus=handle_file(str(big)), model="transformer", n_layer="12", n_embd="512", n_head="8",
            block_size="512", seq_len="512", batch_size="64", api_name="/train")),
        ("checkpoint header: a 192M-parameter model", lambda: client.predict(file=handle_file(str(huge)),
                                                                             api_name="/load_checkpoint")),
        ("seed 2**64 on /sample", lambda: (client.predict(text="hello world " * 100, model="ngram",
                                                          api_name="/train"),
                                           client.predict(prompt="h", seed=2**64, api_name="/sample"))),
        ("NaN max_steps (raw JSON)", lambda: raw(url, "/train", {"text": "hello world " * 200,
                                                                 "max_steps": float("nan")})),
        ("Infinity lr (raw JSON)", lambda: raw(url, "/train", {"text": "hello world " * 200, "lr": float("inf")})),
        ("NaN smoothing, n-gram (raw JSON)", lambda: raw(url, "/train", {"text": "hello world " * 200,
                                                                         "model": "ngram", "smoothing": float("nan")})),
    ]
    attempts += issue18_attempts(url, folder)
    for what, attempt in attempts:
        before, t = server.rss(), time.monotonic()
        try:
            answer = str(attempt())[-160:]
        except Exception as e:
            answer = f"{type(e).__name__}: {str(e)[:160]}"
        clear = any(w in answer for w in ("must be", "allows", "Lower", "model", "sample", "damaged", "one run"))
        results.append((what, answer.replace("\n", " "), server.rss() - before, clear, time.monotonic() - t))
        print(f"  hostile: {what} answered in {time.monotonic() - t:.0f} s", flush=True)
    # Stop while its /train waits in the queue: the run never trains.
    stopper = Client(url, verbose=False, httpx_kwargs=PATIENT)
    job = stopper.submit(corpus=handle_file(str(big)), model="gru", time_budget=10, api_name="/train")
    deadline = time.monotonic() + 30
    while job.status().code.name not in ("IN_QUEUE", "PROCESSING") and time.monotonic() < deadline:
        time.sleep(0.05)
    queued = job.status().code.name == "IN_QUEUE"
    answer = stopper.predict(api_name="/stop")
    final = job.result(timeout=600)[0]
    results.append(("Stop while queued" + ("" if queued else " (was not queued)"), final[:80],
                    0.0, "Cancelled" in final or not queued, 0.0))


def crafted_checkpoint(folder: Path) -> Path:
    """A real small GRU's full checkpoint (trained here, two steps) whose first Adam moment has the wrong shape
    (issue 18: it passed /load_checkpoint, and Train then segfaulted the server in the fused AdamW kernel)."""
    sys.path.insert(0, str(ROOT))
    from safetensors.torch import load as load_bytes
    from safetensors.torch import save as save_bytes

    import charrnn

    plan = charrnn.plan_run("hello world " * 200, "gru", {"n_hidden": 16, "n_layer": 1, "threads": 1}, max_steps=2)
    bundle = plan.build()
    for _ in plan.train(bundle):
        pass
    data = charrnn.checkpoint.to_bytes(bundle)
    tensors, meta = load_bytes(data), charrnn.checkpoint._metadata(data)
    first = next(k for k in tensors if k.startswith("optim.") and k.endswith(".exp_avg"))
    tensors[first] = tensors[first].reshape(-1)[:5].clone()
    path = folder / "crafted.safetensors"
    path.write_bytes(save_bytes(tensors, metadata=meta))
    return path


def issue18_attempts(url: str, folder: Path) -> list:
    """The clients issue 18 added: a crafted checkpoint, big-vocabulary views, a double Train, raw calls."""
    rng = random.Random(18)
    chinese = [chr(0x4E00 + i) for i in range(8_002)]
    body = chinese * 3 + chinese[:50] * 200
    rng.shuffle(body)
    wide = folder / "chinese-8002.txt"
    wide.write_text("".join(body))
    crafter, viewer, doubler = (Client(url, verbose=False, httpx_kwargs=PATIENT) for _ in range(3))

    def crafted():
        path = crafted_checkpoint(folder)
        try:
            return crafter.predict(file=handle_file(str(path)), api_name="/load_checkpoint")
        finally:  # refused or not, press Train: the server must survive it
            with contextlib.suppress(Exception):
                crafter.predict(text="hello world " * 200, model="gru", max_steps=2, api_name="/train")

    def views():
        said = []
        for model in ("ngram", "gru"):
            viewer.predict(corpus=handle_file(str(wide)), model=model, max_steps=1, n_hidden="32", n_layer="1",
                           api_name="/train")
            *_, data = viewer.predict(api_name="/embedding_map")
            said.append(f"{model} map: {len(data.get('chars', []))} of {data.get('vocab_size')} characters drawn")
            *_, data = viewer.predict(text="".join(body[:2_000]), api_name="/predictions")
            said.append(f"{model} predictions: {(data.get('sampled') or 'whole text')[:40]}")
        return "; ".join(said)

    def double_train():
        first = doubler.submit(text="hello world " * 400, model="gru", time_budget=5, api_name="/train")
        time.sleep(0.3)
        try:
            return doubler.predict(text="hello world " * 400, model="gru", time_budget=5, api_name="/train")[0]
        finally:
            first.result(timeout=600)

    def never_disconnect():
        for _ in range(100):
            raw(url, "/describe_corpus", {"text": "hello world"})
        return "100 raw calls answered, each a session that never disconnects (benchmarks/raw_sessions.py measures)"

    return [("crafted checkpoint: wrong-shaped Adam moments", crafted),
            ("Inside views, 8,002-character vocabulary", views),
            ("two Trains from one tab at once", double_train),
            ("100 raw calls that never disconnect", never_disconnect)]


def one_class(args, server: Server, folder: Path, floor: float) -> None:
    """The students and the hostile client, all at once; prints the class's figures."""
    folder.mkdir(parents=True, exist_ok=True)
    rss_before, first_sample = server.rss(), len(server.samples)
    outs = [{} for _ in range(args.students)]
    threads = [threading.Thread(target=run_student, args=(i, server.url, args.budget, folder, outs[i]), daemon=True)
               for i in range(args.students)]
    hostile_results: list = []
    t0 = time.monotonic()
    for t in threads:
        t.start()
        time.sleep(0.05)
    evil = threading.Thread(target=hostile, args=(server.url, server, folder, hostile_results), daemon=True)
    evil.start()
    for t in [*threads, evil]:
        t.join(timeout=max(1.0, args.deadline - (time.monotonic() - t0)))
    total = time.monotonic() - t0
    peak = max(x for x in server.samples[first_sample:] if x == x)
    rss_end = server.rss()

    waits = sorted(o["wait"] for o in outs if "wait" in o)
    overs = [o["over"] for o in outs if "over" in o]
    errors = [o["error"] for o in outs if o.get("error")] + [o for o in outs if not o]
    leaks = sum(1 for o in outs if o.get("leak"))
    print(f"\ntotal {total:.0f} s = {total / floor:.3f} × the floor ({floor:.0f} s)")
    if waits:
        p90 = waits[min(len(waits) - 1, math.ceil(0.9 * len(waits)) - 1)]
        print(f"queue wait: median {statistics.median(waits):.1f} s, p90 {p90:.1f} s, max {waits[-1]:.1f} s")
    if overs:
        print(f"past its budget (slot held after the budget): median {statistics.median(overs):.2f} s, "
              f"max {max(overs):.2f} s")
    print(f"students: {sum(1 for o in outs if o.get('done'))}/{args.students} done, {len(errors)} errors, "
          f"{leaks} leaks")
    for e in errors[:5]:
        print("  error:", e)
    print("hostile client (what, answer, RSS growth MB, seconds, clear message):")
    for what, answer, grow, clear, seconds in hostile_results:
        print(f"  {what:44} {grow:+7.0f} MB {seconds:6.1f} s  {'clear' if clear else 'UNCLEAR'}  {answer[-110:]}")
    alive = server.proc.poll() is None
    print(f"server RSS: before {rss_before:.0f} MB, peak {peak:.0f} MB, after the runs {rss_end:.0f} MB; "
          f"CHARRNN_MAX_SERVER_MB {server.max_server_mb:g}: {'within' if peak <= server.max_server_mb else 'OVER'}; "
          f"server {'alive' if alive else 'DEAD (exit ' + str(server.proc.returncode) + ')'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--students", type=int, default=30)
    p.add_argument("--budget", type=float, default=20.0, help="each student's time budget, seconds")
    p.add_argument("--ttl", type=float, default=60.0, help="the server's CHARRNN_SESSION_TTL, seconds")
    p.add_argument("--slots", type=int, default=2, help="CHARRNN_CONCURRENCY")
    p.add_argument("--port", type=int, default=7971)
    p.add_argument("--rounds", type=int, default=1,
                   help="run the class this many times against the same server (is memory left behind one-time?)")
    p.add_argument("--deadline", type=float, default=3600.0, help="give up after this many seconds")
    p.add_argument("--part", choices=("tabs", "board"), default="tabs",
                   help="tabs: the students and the hostile client; board: the class board (its server's session "
                        "TTL is at least an hour: an API client's tab is never kept alive by a page's timer)")
    p.add_argument("--board-budget", type=float, default=5.0, help="each run's budget in the board's rounds, seconds")
    p.add_argument("--example", default="weather", help="the example the board's class trains on")
    p.add_argument("--max-server-mb", type=float, default=4000.0, help="CHARRNN_MAX_SERVER_MB")
    args = p.parse_args(argv)

    temp = Path(tempfile.mkdtemp(prefix="charrnn-classroom-"))
    server = Server(args.port, args.ttl if args.part == "tabs" else max(args.ttl, 3600.0), args.slots, temp,
                    args.max_server_mb)
    time.sleep(10)  # the server's warm-up (a tiny run of each default model) ends after it starts serving
    files_before = count_files(temp / "gradio") + count_files(temp / "tmp")
    rss_before = server.rss()
    floor = args.students * args.budget / args.slots
    tabs = f"; {args.students} students × {args.budget:g} s on {args.slots} slots: floor {floor:.0f} s"
    print(f"server pid {server.proc.pid}, RSS {rss_before:.0f} MB" + (tabs if args.part == "tabs" else ""), flush=True)
    for round_ in range(1, args.rounds + 1 if args.part == "tabs" else 1):
        if args.rounds > 1:
            print(f"\n── class {round_} of {args.rounds} (the same server) ──", flush=True)
        one_class(args, server, temp / f"class{round_}", floor)
        print(f"waiting {args.ttl + 30:.0f} s for the session TTL ({args.ttl:g} s) to pass…", flush=True)
        time.sleep(args.ttl + 30)
        rss_after = server.rss()
        files_after = count_files(temp / "gradio") + count_files(temp / "tmp")
        print(f"after the TTL: RSS {rss_after:.0f} MB ({(rss_after - rss_before) / rss_before:+.0%} of the start), "
              f"temp files {files_before} before, {files_after} after", flush=True)
        left = [p for d in ("gradio", "tmp") if (temp / d).exists() for p in (temp / d).rglob("*") if p.is_file()]
        for p in left[:5]:  # what was not removed, to find out why
            age = time.time() - p.stat().st_mtime
            print(f"  left: {p.relative_to(temp)} ({p.stat().st_size:,} bytes, {age:.0f} s old)", flush=True)
    if args.part == "board":
        board_class(server.url, server.rss, args.students, args.board_budget, args.example, temp / "classes.sqlite3")
    server.close()
    print(f"after shutdown: temp files {count_files(temp / 'gradio') + count_files(temp / 'tmp')} "
          f"(student texts and the log not counted: they are in {temp})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
