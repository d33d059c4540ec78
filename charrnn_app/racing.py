"""Races and lessons: several models on the same text, split and seed, taking turns, every curve growing at once.

    Race / a lesson ─► race_handler: a RaceRun through the run lifecycle (`runner.Runner.run`: claim,
                       plan every model with `charrnn.race.plan_race` before any trains, stream the turns,
                       stop, adopt the race's best model into the tab, finish)

The pictures and the runs table it streams are `compare_view`'s; the layout and wiring `compare_tab`'s.
"""

from __future__ import annotations

import math

import gradio as gr

from charrnn import MODELS, CorpusError, corpus_stats
from charrnn.checkers import CHECKERS
from charrnn.lessons import LESSONS, Lesson
from charrnn.race import DEFAULT_ENTRANTS, Entrant, RaceUpdate, plan_race, race

from . import compare_view as view
from . import user_error
from .corpus_view import corpus_name, instead_of_upload, load_corpus
from .memory import PARAM_BYTES
from .runner import Runner, adopt
from .session import Session, ensure_session
from .training import corpus_checker

DEFAULT_MODELS = [name for name in DEFAULT_ENTRANTS if name in MODELS]  # a default race, from counting to gating
DEFAULT_BUDGET = 20.0  # seconds per model of a race


def race_entrants(models, lesson: Lesson | None) -> tuple[list[Entrant], dict]:
    """(the race's entrants, the settings they share): the lesson's, else one Entrant per chosen model."""
    if lesson is not None:
        return list(lesson.entrants), dict(lesson.shared)
    unknown = [m for m in models or [] if m not in MODELS]
    if unknown:
        raise user_error(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")
    return [Entrant(m) for m in models or []], {}


def lesson_budget(lesson: Lesson, settings, typed=None) -> tuple[float, str]:
    """(seconds per model, where that comes from) for a lesson's race: the budget the page has typed (or a
    link set) when there is one, else the lesson's own — within this server's limits (one run, and the
    race's total) either way. The source is said beside the lesson: "the budget on the page", typed or set by
    a link (`?lesson=ladder&budget=3`: a tester read "the budget you typed" for a number nobody typed)."""
    cap = max(1.0, min(settings.max_seconds, math.floor(settings.max_race_seconds / len(lesson.entrants))))
    mine = typed is not None and typed not in ("", 0) and float(typed) > 0
    wanted, source = (float(typed), "the budget on the page") if mine else (lesson.time_budget, "the lesson's own")
    if wanted > cap:
        return cap, f"{source} ({wanted:g} s) cut to this server's limit"
    return max(1.0, wanted), source


def budget_words(lesson: Lesson, settings, typed=None) -> str:
    """The lesson's budget line: seconds per model, which budget that is, and the whole race's training time."""
    seconds, source = lesson_budget(lesson, settings, typed)
    n = len(lesson.entrants)
    own = (f"; the lesson's own is {min(lesson.time_budget, settings.max_seconds):g} s" if typed else
           "; type a budget per model below (or use a link's) to race it for longer or shorter")
    return f"**Budget:** {seconds:g} s per model ({source}{own}) — {n} models, about {seconds * n:g} s of training."


def choose_lesson(key: str, settings, typed=None):
    """A lesson button: its key, its models and budget in the race's fields, what to look for and which
    budget it races with (`typed`: the budget the page has typed, or None)."""
    lesson = LESSONS[key]
    models = list(dict.fromkeys(e.model for e in lesson.entrants))
    seconds, _ = lesson_budget(lesson, settings, typed)
    return key, models, seconds, f"### {lesson.title}\n{lesson.look_for}\n\n{budget_words(lesson, settings, typed)}"


def queued_budget(models, time_budget, lesson_key=None, settings=None) -> float | None:
    """The seconds a race will hold its training slot (for the queue's start estimate): its budget per
    model times its models (a lesson's entrants)."""
    lesson = LESSONS.get(lesson_key) if lesson_key else None
    if lesson is not None and settings is not None:
        return lesson_budget(lesson, settings, time_budget)[0] * len(lesson.entrants)
    try:
        return float(time_budget) * max(1, len(models or []))
    except (TypeError, ValueError):
        return None


class RaceRun:
    """A race (or a lesson) as a job of the run lifecycle (`runner.Job`). Outputs: (status, chart, runs
    table, film strips with their styles, run picker, session)."""

    kind = "race"

    def __init__(self, fields: dict, *, settings, examples):
        self.fields, self.settings, self.examples = fields, settings, examples
        self.upload = fields["corpus"]
        self.lesson = LESSONS.get(fields["lesson"]) if fields["lesson"] else None
        self.plans, self.records, self.budget, self.all_started = [], [], None, False

    def outputs(self, session, status, with_views: bool = True) -> tuple:
        if not with_views:
            return (status, gr.skip(), gr.skip(), gr.skip(), gr.skip(), session)
        chart, table, strip, picker = view.views(session, self.fields["x_axis"])
        return (status, chart, table, view.CSS + strip, picker, session)

    def say(self, session, status: str) -> tuple:
        return self.outputs(session, status)

    def plan(self, session) -> None:
        f, lesson, settings = self.fields, self.lesson, self.settings
        self.entrants, self.shared = race_entrants(f["models"], lesson)
        if lesson is not None:  # the budget typed on the page (or the API's), else the lesson's own; within limits
            self.per_model, self.budget_source = lesson_budget(lesson, settings, f["time_budget"])
        else:
            typed = f["time_budget"] not in (None, "", 0)
            self.per_model = float(f["time_budget"]) if typed else min(DEFAULT_BUDGET, settings.max_seconds)
            self.budget_source = "your budget" if typed else "the default"
        self.seed = 0 if f["seed"] in (None, "") else int(f["seed"])
        corpus, text, example = f["corpus"], f["text"], f["example"]
        try:
            if lesson is not None and lesson.example is not None:
                if lesson.example not in self.examples:
                    raise ValueError(f"this server has no example {lesson.example!r} for the lesson")
                corpus, text, example = None, None, lesson.example
            self.text, self.source = load_corpus(corpus, text, example, bool(f["ascii_fold"]), examples=self.examples,
                                                 max_bytes=settings.max_upload_bytes, latin1=f["latin1"])
            if lesson is not None and lesson.max_chars:
                self.text = self.text[:lesson.max_chars]
                self.source += f" (its first {lesson.max_chars:,} characters)"
            self.plans = plan_race(self.text, self.entrants, time_budget=self.per_model, seed=self.seed,
                                   shared=self.shared, limits=settings.limits, max_seconds=settings.max_race_seconds)
            session.check_room(sum(PARAM_BYTES * p.n_params for p in self.plans) + len(self.text), settings.max_tab_mb)
        except ValueError as e:
            way_out = instead_of_upload(corpus, text, example) if isinstance(e, CorpusError) else ""
            raise user_error(f"{str(e).rstrip('.')}.{way_out}") from None
        # A lesson's own checker, else the example's, as a Train press on it: a tester saw score 0 for the Train run
        # and a blank for the race's on the same text (`corpus_checker` gives the checker itself, not its name:
        # looked up again in CHECKERS it was None, so only a lesson naming its checker ever scored a race).
        own = CHECKERS.get(lesson.checker) if lesson is not None and lesson.checker else None
        self.checker = own or corpus_checker(corpus, text, example)
        self.budget = self.per_model * len(self.plans)

    def begin(self, session) -> tuple:
        session.uniform = math.log(len(self.plans[0].vocab))  # the chart's levels to beat, for this text
        session.unigram = corpus_stats(self.text).unigram_entropy
        names = ", ".join(MODELS[p.model_name].title for p in self.plans)
        return self.outputs(session, f"**Starting a race** of {len(self.plans)} models ({names}) on {self.source} "
                                     f"({len(self.text):,} characters), {self.per_model:g} s each "
                                     f"({self.budget_source}), seed {self.seed}…" + self.warnings(),
                            with_views=False)

    def warnings(self) -> str:
        """A lesson's warnings that its budget is too short for what it claims (`Lesson.budget_warnings`: at the
        plans' estimated step time, then at each run's own step rate), as paragraphs after the status."""
        if self.lesson is None:
            return ""
        return "".join(f"\n\n{w}" for w in self.lesson.budget_warnings(self.per_model, self.plans, self.records))

    def events(self, session):
        corpus = corpus_name(self.source)
        return race(self.text, self.entrants, time_budget=self.per_model, seed=self.seed, shared=self.shared,
                    limits=self.settings.limits, max_seconds=self.settings.max_race_seconds, corpus=corpus,
                    first_run_id=session.next_run, checker=self.checker, stop=lambda: session.stop, plans=self.plans)

    def observe(self, session, update: RaceUpdate) -> bool:
        session.add_runs(update.records, trim=False)  # the table shows them as they train
        self.records = list(update.records)
        started = not self.all_started and all(r.curve.step for r in update.records)
        self.all_started = self.all_started or started
        return started  # the moment every model has its first point is shown at once, not throttled

    def ended(self, session, update: RaceUpdate) -> bool:
        return update.done  # Stop reaches the core (`stop=`), which closes every run and says so

    def show(self, session, update: RaceUpdate) -> tuple:
        return self.outputs(session, race_status(update, session) + self.warnings())

    def end(self, session, last) -> None:
        trained = [r for r in self.records if r.bundle is not None and r.final_val is not None and not r.diverged]
        if trained and not session.closed:  # the Write tab samples the race's best model; Train continues it
            best = min(trained, key=lambda r: r.final_val)
            adopt(session, best.bundle, text=best.text, train_text=best.train_text, val_text=best.val_text,
                  stop_reason=best.stop_reason)
        session.trim_weights()

    def finish(self, session, last) -> tuple:
        if last is None:
            return self.say(session, "**Stopped.**")
        status = race_status(last, session)
        if self.lesson is not None and self.lesson.claims and last.done and not last.stopped:
            # the lesson's words chosen from this race's outcome (`Lesson.conclusions`), never written in advance
            status += "\n\n**What this race showed:**\n\n" + self.lesson.conclusions(self.records)
        return self.outputs(session, status)

    def failed(self, session, error: str) -> tuple:
        return self.say(session, f"**Stopped.** {error}")


def race_handler(settings, examples, runner: Runner | None = None):
    """The /race handler for this server: a RaceRun through `runner` (its hooks; a plain Runner when none
    is given)."""
    runner = runner or Runner()

    def race_models(session, request: gr.Request = None, corpus=None, text=None, example=None, ascii_fold=False,
                    latin1=False, models=None, time_budget=None, seed=0, lesson=None, x_axis="step"):
        """Race `models` (or the `lesson`'s) for `time_budget` seconds each on the same text, split and seed.
        Yields (status, chart, runs table, film strips, run picker, session) about three times a second."""
        fields = dict(corpus=corpus, text=text, example=example, ascii_fold=ascii_fold, latin1=latin1,
                      models=models, time_budget=time_budget, seed=seed, lesson=lesson, x_axis=x_axis)
        session = ensure_session(session)
        yield from runner.run(session, RaceRun(fields, settings=settings, examples=examples), request)

    return race_models


def race_status(update: RaceUpdate, session: Session) -> str:
    """The race's status line: who is training and where, or how it ended and which model is best. A run
    that diverged is never counted as done: a race with one ends "Finished, but … diverged", not "Done"."""
    k, unit = view.loss_unit(session)
    failed = [r for r in update.records if r.diverged]
    warning = (f"⚠️ **{len(failed)} diverged** (the loss exploded and training stopped; "
               f"their numbers are not results): {', '.join(r.name for r in failed)}.") if failed else ""
    if update.done:
        best = min((r for r in update.records if r.final_val is not None and not r.diverged), key=lambda r: r.final_val,
                   default=None)
        head = ("**Stopped.** The models are kept as they are." if update.stopped
                else "**Finished, but not every run trained.**" if failed else "**Done.**")
        tail = (f" Lowest validation loss: **{best.name}** ({best.final_val * k:.3f} {unit}) — the Write tab now "
                "samples from it; pick another run below to sample from or continue it." if best else "")
        return " ".join(filter(None, [head, warning, f"{len(update.records)} runs in {update.seconds:.0f} s.{tail}"]))
    r = update.records[update.active]
    val = f", validation {r.curve.val_loss[-1] * k:.3f} {unit}" if r.curve.val_loss else ""
    trained = sum(rec.final_val is not None and not rec.diverged for rec in update.records)
    return (f"**Racing** ({update.seconds:.0f} s): {r.name} at step {r.steps:,}{val} · "
            f"{trained} of {len(update.records)} done" + (f" · ⚠️ {len(failed)} diverged" if failed else ""))
