"""A race: several models trained on the same text, taking turns, so that every curve grows at once.

    for update in race(text, [Entrant("gru"), Entrant("lstm")], time_budget=30, seed=0):
        update.records     # one RunRecord per model (charrnn.record), growing as the race goes
        update.active      # the index of the model whose turn just ended (None once the race is over)

Every model's run is planned through `charrnn.run.plan_run`, the one door, before any of them trains
(a bad setting fails the race before it starts). They share:
    the text, and so the split (the held-out tenth at the end is the same for any model);
    the seed (initial weights and the batches drawn);
    `shared` settings — a lesson passes one batch_size and seq_len, so models with the same kind of
    batcher (random windows, or TBPTT streams for recurrent models) read the same characters in the
    same order;
    the clock: each run uses clock="own", so its budget and its seconds axis count only its own compute,
    not the time the others take their turn.

Turns: at first every model takes a single step (every curve gets its first point at once); then each
trains for about `turn` seconds of its own time in turn. `max_seconds` bounds the race's total wall time
(planning refuses budgets that add up to more; the wall-time guard also covers evaluation and samples);
`stop()` is checked after every step: when it returns True every run is closed and kept as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from .copying import CopyIndex
from .options import SettingError
from .record import COPY_MIN_LEN, RunRecord
from .run import Limits, plan_run
from .train import evaluate

DEFAULT_ENTRANTS = ("ngram", "rnn-scratch", "rnn", "gru", "lstm")  # a race from counting to gating
TURN_SECONDS = 0.3  # each model trains this long (its own clock) before the next takes its turn
NO_LIMITS = Limits()


@dataclass
class Entrant:
    """One model of a race: its registry name and the settings that are its own (None = preset)."""

    model: str
    settings: dict = field(default_factory=dict)


@dataclass
class RaceUpdate:
    records: list[RunRecord]
    active: int | None  # whose turn just ended; None when the race is over
    done: bool = False
    stopped: bool = False
    seconds: float = 0.0  # wall time since the race started


def plan_race(text: str, entrants: list[Entrant], *, time_budget: float, seed: int = 0,
              shared: Mapping | None = None, limits: Limits = NO_LIMITS, max_seconds: float | None = None):
    """The checked plans of a race (one per entrant, all through `plan_run`). Raises SettingError,
    TrainingError, CorpusError (ValueErrors with a message for the user)."""
    if not entrants:
        raise SettingError("models", "choose at least one model for the race")
    if max_seconds is not None and time_budget * len(entrants) > max_seconds:
        most = max_seconds / len(entrants)
        raise SettingError("time_budget", f"{len(entrants)} models × {time_budget:g} s is over this server's "
                           f"race limit of {max_seconds:g} s; give each at most {most:g} s or race fewer models",
                           time_budget)
    plans = []
    for e in entrants:
        settings = {**(shared or {}), **e.settings, "clock": "own", "seed": seed}
        plans.append(plan_run(text, e.model, settings, time_budget=time_budget, limits=limits,
                              same_text=plans[0].data if plans else None))  # encoded once for all
    if limits.max_run_mb is not None:  # the models live side by side; one at a time takes its step
        held = sum(p.cost.param_bytes for p in plans) + max(p.cost.total_bytes - p.cost.param_bytes for p in plans)
        if held / 1024**2 > limits.max_run_mb:
            raise SettingError("models", f"these {len(plans)} models together would need about {held / 1024**2:,.0f} "
                               f"MB; this server allows {limits.max_run_mb:,.0f} MB for one race. Race fewer or "
                               "smaller models", None)
    return plans


def race(text: str, entrants: list[Entrant], *, time_budget: float, seed: int = 0, shared: Mapping | None = None,
         limits: Limits = NO_LIMITS, max_seconds: float | None = None, corpus: str = "the text",
         first_run_id: int = 1, checker: Callable[[str], float] | None = None, turn: float = TURN_SECONDS,
         stop: Callable[[], bool] = lambda: False, plans=None) -> Iterator[RaceUpdate]:
    """Train every entrant for `time_budget` seconds of its own compute, in turns; yields a RaceUpdate after
    every turn and a last one with done=True. `plans` (from `plan_race`) skips planning again."""
    plans = plans or plan_race(text, entrants, time_budget=time_budget, seed=seed, shared=shared, limits=limits,
                               max_seconds=max_seconds)
    index = CopyIndex(plans[0].data.train_text, COPY_MIN_LEN)  # one text, one index for every model's samples
    bundles = [p.build() for p in plans]
    records = [RunRecord.begin(p, b, first_run_id + i, corpus, index, checker)
               for i, (p, b) in enumerate(zip(plans, bundles, strict=True))]
    runs = [p.train(b) for p, b in zip(plans, bundles, strict=True)]
    live = list(range(len(runs)))
    start, stopped = time.perf_counter(), False
    wall_limit = max_seconds * 1.25 + 10 if max_seconds is not None else None  # evaluation and samples
    first_round = True
    try:
        while live and not stopped:
            for i in list(live):
                turn_start = None
                for ev in runs[i]:
                    records[i].observe(ev)
                    if ev.done:
                        live.remove(i)
                        records[i].close()
                        break
                    if stop() or (wall_limit and time.perf_counter() - start > wall_limit):
                        stopped = True
                        break
                    turn_start = ev.elapsed if turn_start is None else turn_start
                    if first_round or ev.elapsed - turn_start >= turn:
                        break
                else:  # the generator ended without a done event (should not happen): count it as done
                    if i in live:
                        live.remove(i)
                        records[i].close()
                yield RaceUpdate(records, i, seconds=time.perf_counter() - start)
                if stopped:
                    break
            first_round = False
    finally:
        for i in live:  # stopped (or the consumer left): keep every model as it is, with a quick validation loss
            runs[i].close()
            config = plans[i].train_config
            records[i].close(stopped=True, val_loss=evaluate(bundles[i].model, plans[i].data.val, config.seq_len,
                                                             config.eval_chars, fresh=config.stateless))
    yield RaceUpdate(records, None, done=True, stopped=stopped, seconds=time.perf_counter() - start)
