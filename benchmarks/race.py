"""Benchmark: the comparison lesson's race (n-gram, hand-written RNN, nn.RNN, GRU, LSTM) on a corpus.

    python benchmarks/race.py ../shared/data/tinyshakespeare.txt [--budget S] [--lesson compare] [--max-chars N]
    python benchmarks/race.py ../shared/data/tinyshakespeare.txt --browser   # the page, in headless Chromium

Core mode runs `charrnn.race.race` (what the page's /race runs) with one torch thread, as the app gives each
training, and prints the table a learner gets — validation loss, chars/s, parameters, copied share — and the
time from the start of the race to the first point of every curve. `--browser` serves the app with the
corpus as its only example, opens it in headless Chromium (/usr/bin/chromium), presses the lesson's button
and measures the time until every model's curve has its first point on `#compare-plot`, then presses Stop.
Core mode also prints the lesson's verdicts: each claim it makes, judged on this race (held or not, and the
words the learner reads for that outcome).
The machine's load (/proc/loadavg) is printed before and after: the figures depend on it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from charrnn import read_text  # noqa: E402
from charrnn.checkers import CHECKERS  # noqa: E402
from charrnn.lessons import LESSONS  # noqa: E402
from charrnn.race import plan_race, race  # noqa: E402


def loadavg() -> str:
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:
        return "n/a"


def app_warm_up() -> None:
    torch.optim.AdamW([torch.zeros(1, requires_grad=True)])  # as app.warm_up, without importing the app


def core(text: str, lesson_key: str, budget: float, seed: int) -> None:
    lesson = LESSONS[lesson_key]
    # A server has paid PyTorch's one-time costs before anyone races (the page plans on the "meta" device
    # at load, and app.warm_up builds an optimizer): pay them here too, outside the timing (~1-2 s).
    app_warm_up()
    plan_race(text[:5000], list(lesson.entrants), time_budget=budget, seed=seed, shared=lesson.shared)
    start = time.perf_counter()
    first: dict[int, float] = {}
    checker = CHECKERS.get(lesson.checker) if lesson.checker else None
    for update in race(text, list(lesson.entrants), time_budget=budget, seed=seed, shared=lesson.shared,
                       corpus="tinyshakespeare", checker=checker):
        for r in update.records:
            if r.curve.step and r.run_id not in first:
                first[r.run_id] = time.perf_counter() - start
    total = time.perf_counter() - start
    print(f"{'model':<34} {'params':>8} {'steps':>6} {'chars seen':>11} {'s':>5} {'chars/s':>8} "
          f"{'final val':>9} {'best val':>8} {'copied':>6} {'1st pt s':>8}")
    for r in update.records:
        print(f"{r.label:<34} {r.n_params:>8,} {r.steps:>6,} {r.chars_seen:>11,} {r.seconds:>5.1f} "
              f"{r.chars_per_sec:>8,.0f} {r.final_val:>9.3f} {r.best_val:>8.3f} {r.copied_share:>6.1%} "
              f"{first.get(r.run_id, float('nan')):>8.2f}")
    print(f"race wall time {total:.1f} s for {len(update.records)} × {budget:g} s budgets "
          "(losses in nats/char; copied: share of the 240-char sample in spans of ≥ 12 chars found in the "
          "training text)")
    print("what the lesson concludes from this race (Lesson.verdicts):")
    for v in lesson.verdicts(update.records):
        mark = {True: "held    ", False: "NOT HELD", None: "undecided"}[v.held]
        print(f"  {mark} {v.statement}\n           {v.text}")
    print("last frame of each film strip:")
    for r in update.records:
        print(f"--- {r.name}\n{r.sample[:160]}")


def browser(corpus: Path, lesson_key: str) -> None:
    from playwright.sync_api import sync_playwright

    import app
    from charrnn_app.settings import Settings

    examples = Path(tempfile.mkdtemp(prefix="charrnn-bench-"))
    shutil.copy(corpus, examples / corpus.name)
    settings = Settings(examples_dir=examples)
    torch.set_num_threads(1)
    app.warm_up()
    demo = app.build_demo(settings)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True,
                            **app.launch_options(settings))
    n = len(LESSONS[lesson_key].entrants)
    curves = """(n) => { const p = document.querySelector('#compare-plot .js-plotly-plot');
        if (!p || !p.data) return false;
        const runs = p.data.filter(t => (t.name || '').endsWith(' · train') && t.x.length > 0);
        return runs.length >= n; }"""
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-dev-shm-usage"])
            page = b.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            page.goto(url + f"?example={corpus.stem}")
            page.wait_for_function("document.querySelector('#corpus-stats')?.innerText.includes('characters')")
            page.get_by_role("tab", name="Compare").click()
            page.click(f"#lesson-{lesson_key}")
            pressed = time.perf_counter()
            page.wait_for_function(curves, arg=n, polling=50)
            print(f"lesson pressed → first point of all {n} curves on #compare-plot: "
                  f"{time.perf_counter() - pressed:.2f} s")
            page.click("#race-stop")
            page.wait_for_function("document.querySelector('#race-status').innerText.includes('Stopped')")
            b.close()
    finally:
        demo.close()
        shutil.rmtree(examples, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", type=Path)
    ap.add_argument("--budget", type=float, default=None, help="seconds per model (default: the lesson's own)")
    ap.add_argument("--lesson", default="compare", choices=list(LESSONS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--browser", action="store_true", help="measure lesson → first points in the page")
    ap.add_argument("--max-chars", type=int, default=None, help="only the corpus's first N characters (default: "
                    "the lesson's own bound, if it has one)")
    args = ap.parse_args()
    print(f"load before: {loadavg()}  (cores: {torch.get_num_threads()} torch threads available)")
    if args.browser:
        browser(args.corpus, args.lesson)
    else:
        torch.set_num_threads(1)
        text = read_text(args.corpus)
        lesson = LESSONS[args.lesson]
        core(text[:args.max_chars or lesson.max_chars or len(text)], args.lesson, args.budget or lesson.time_budget,
             args.seed)
    print(f"load after:  {loadavg()}")


if __name__ == "__main__":
    main()
