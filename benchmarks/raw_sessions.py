"""Benchmark: sessions that never disconnect (issue 18 item 4). A script's raw HTTP calls each open a Gradio
session and never close it; on the server of the issue, 3,000 of them kept +1,050 MiB (358 KiB each) for good.

    python benchmarks/raw_sessions.py [--calls 1000] [--threads 4] [--ttl 600] [--port 7972]

Starts `python app.py` (benchmarks/classroom.py's Server), makes `--calls` raw /sample calls (POST, then
read the answer; no client, no disconnect), and prints the server's RSS before, right after the calls, and
after the empty sessions' expiry (page.EMPTY_SESSION_SECONDS, swept every EXPIRE_EVERY seconds) has passed:
KiB per call kept, during and after. The session TTL (--ttl) is long on purpose: the calls must go because
they keep nothing, not because the TTL passed.
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
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--ttl", type=float, default=600.0, help="CHARRNN_SESSION_TTL, seconds")
    p.add_argument("--port", type=int, default=7972)
    args = p.parse_args(argv)
    server = Server(args.port, args.ttl, 2, Path(tempfile.mkdtemp(prefix="charrnn-raw-")))
    try:
        time.sleep(10)  # the warm-up runs after the server starts answering
        before = server.rss()
        left = iter(range(args.calls))
        lock = threading.Lock()

        def caller():
            while True:
                with lock:
                    if next(left, None) is None:
                        return
                raw(server.url, "/sample", {"prompt": "the", "length": 10})

        t0 = time.monotonic()
        threads = [threading.Thread(target=caller) for _ in range(args.threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.monotonic() - t0
        during = server.rss()
        wait = EMPTY_SESSION_SECONDS + EXPIRE_EVERY + 10
        print(f"{args.calls} raw /sample calls in {took:.0f} s; waiting {wait:.0f} s for empty sessions to expire…",
              flush=True)
        time.sleep(wait)
        after = server.rss()
        per = 1024 / args.calls
        print(f"server RSS: before {before:.0f} MB, after the calls {during:.0f} MB "
              f"({(during - before) * per:+.0f} KiB a call), after expiry {after:.0f} MB "
              f"({(after - before) * per:+.0f} KiB a call kept); alive: {server.proc.poll() is None}")
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
