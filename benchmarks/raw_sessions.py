"""Benchmark: sessions that never disconnect (issue 18 item 4). A script's raw HTTP calls each open a Gradio
session and never close it; on the server of the issue, 3,000 of them kept +1,050 MiB (358 KiB each) for good.

    python benchmarks/raw_sessions.py [--calls 1000] [--rounds 3] [--threads 4] [--ttl 600] [--port 7972]

Starts `python app.py` (benchmarks/classroom.py's Server), makes `--calls` raw /sample calls (POST, then
read the answer; no client, no disconnect), and prints the server's RSS before, right after the calls, and
after the empty sessions' expiry (page.EMPTY_SESSION_SECONDS, swept every EXPIRE_EVERY seconds) has passed:
KiB per call kept, during and after. The session TTL (--ttl) is long on purpose: the calls must go because
they keep nothing, not because the TTL passed. The server gives freed memory back (gc + malloc_trim) after
each expiry.

With --rounds R the calls are made R times, each after the last round's sessions expired. The first round
raises Python's small-object allocator to its high-water mark (the sessions alive at once, ~370 KB each;
its 1 MiB arenas go back only when wholly empty); later rounds reuse that room. What each call really
keeps is the growth per call from round 1's expiry to the last round's (printed as "kept per call").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from classroom import Server, raw  # noqa: E402

from charrnn_app.page import EMPTY_SESSION_SECONDS, EXPIRE_EVERY  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3, help="rounds of --calls, each after the last expired")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--ttl", type=float, default=600.0, help="CHARRNN_SESSION_TTL, seconds")
    p.add_argument("--port", type=int, default=7972)
    args = p.parse_args(argv)
    server = Server(args.port, args.ttl, 2, Path(tempfile.mkdtemp(prefix="charrnn-raw-")))
    try:
        time.sleep(10)  # the warm-up runs after the server starts answering
        before = server.rss()
        after = []
        for k in range(args.rounds):
            took, during = one_round(server, args.calls, args.threads)
            wait = EMPTY_SESSION_SECONDS + EXPIRE_EVERY + 10
            print(f"round {k + 1}: {args.calls} raw /sample calls in {took:.0f} s; waiting {wait:.0f} s for empty "
                  "sessions to expire…", flush=True)
            time.sleep(wait)
            after.append(server.rss())
            print(f"  server RSS: before {before:.0f} MB, after the calls {during:.0f} MB "
                  f"({(during - before) * 1024 / args.calls:+.0f} KiB a call), after expiry {after[-1]:.0f} MB "
                  f"({(after[-1] - before) * 1024 / (args.calls * (k + 1)):+.0f} KiB a call over "
                  f"{k + 1} round(s))", flush=True)
        if args.rounds > 1:
            kept = (after[-1] - after[0]) * 1024 / (args.calls * (args.rounds - 1))
            print(f"kept per call (after expiry, rounds 2–{args.rounds} against round 1): {kept:+.1f} KiB; "
                  f"allocator high-water mark after round 1: {after[0] - before:+.0f} MB")
        print(f"alive: {server.proc.poll() is None}")
    finally:
        server.close()
    return 0


def one_round(server: Server, calls: int, threads: int) -> tuple[float, float]:
    """`calls` raw /sample calls on `threads` threads; (seconds taken, server RSS in MB right after)."""
    left = iter(range(calls))
    lock = threading.Lock()

    def caller():
        while True:
            with lock:
                if next(left, None) is None:
                    return
            raw(server.url, "/sample", {"prompt": "the", "length": 10})

    t0 = time.monotonic()
    workers = [threading.Thread(target=caller) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return time.monotonic() - t0, server.rss()


if __name__ == "__main__":
    sys.exit(main())
