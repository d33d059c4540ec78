"""Steps 2 and 3 of the page: the model's settings and card, and training it while the chart moves.

    Train ─► train_handler: a TrainRun through the run lifecycle (`runner.Runner.run`: claim, plan,
             stream, stop, adopt, finish), planned by `plan_for_page` (charrnn.run.plan_run, the door the
             CLI uses too); updates about three times a second, whatever the step rate.

Handlers are plain functions: values in, values out. A failure a user can cause is a `gr.Error` that
says what to do, and never replaces or damages the model the tab has already trained.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

import gradio as gr

import charrnn
from charrnn import MODELS, Bundle, CorpusError, run
from charrnn.checkers import CHECKERS
from charrnn.options import SettingError
from charrnn.run import RunPlan
from charrnn.sample import LIVE_LENGTH

from . import inside_model, options, plots, texts, user_error
from .corpus_view import corpus_name, instead_of_upload, load_corpus
from .memory import PARAM_BYTES
from .runner import Runner, adopt
from .session import Session, ensure_session
from .settings import PAGE_TIME_BUDGET, Settings
from .train_chart import model_figure

SAMPLE_EVERY = 3.0  # seconds between "what the model writes now" samples
LIVE_SAMPLE_LENGTH = LIVE_LENGTH  # one home: charrnn.sample
TYPICAL_CHARS = 100_000  # corpus size assumed for the preview before any text is chosen
SKIP = gr.skip()


class TrainUpdate(NamedTuple):
    """One update of the training section; `SKIP` leaves an output as it is."""

    status: str
    figure: object = SKIP
    live_sample: object = SKIP
    checkpoint: object = SKIP
    reset: object = SKIP


def page_budget(time_budget, max_steps) -> tuple[float | None, int | None]:
    """The page's budget: the slider's seconds (None = the page's default) and a step limit where
    0 or empty means none (a cleared gr.Number sends 0)."""
    steps = None if max_steps in (None, "", 0, 0.0) else max_steps
    return (PAGE_TIME_BUDGET if time_budget in (None, "") else time_budget), steps


def page_choices(values: dict) -> dict:
    """The settings the user chose on the page or in the API call: empty fields (None or "") are unset."""
    return {k: v for k, v in values.items() if v is not None and not (isinstance(v, str) and not v.strip())}


def _unit(units: str) -> tuple[float, str]:
    return (plots.BITS_PER_NAT, "bits/char") if units == "bits" else (1.0, "nats/char")


def _loss_text(bundle: Bundle, units: str) -> str:
    k, unit = _unit(units)
    h = bundle.history
    parts = []
    if h.train_loss:
        parts.append(f"train loss {h.train_loss[-1] * k:.3f}")
    if bundle.val_loss is not None:
        parts.append(f"validation loss **{bundle.val_loss * k:.3f}** {unit}")
    return " · ".join(parts)


def status_line(ev: charrnn.TrainEvent, bundle: Bundle, units: str, label: str = "Training") -> str:
    if label == "Training" and ev.phase != "training":
        label = f"Measuring the validation loss ({ev.phase.split()[-1]} done)"
    parts = [f"**{label}** {MODELS[bundle.model_name].title}", f"step {ev.step:,}",
             f"{ev.chars_per_sec:,.0f} chars/s", f"{ev.elapsed:.1f} s elapsed"]
    if ev.remaining is not None and label == "Training":
        parts.append(f"{ev.remaining:.0f} s left")
    parts.append(_loss_text(bundle, units))
    return " · ".join(p for p in parts if p)


def reference_text(session: Session) -> str:
    """The chart's reference lines in words (its text alternative, with the losses in the status line)."""
    k, unit = _unit(session.units)
    refs = [f"a uniform guess scores {session.uniform * k:.2f}" if session.uniform is not None else "",
            f"letter frequencies alone {session.unigram * k:.2f}" if session.unigram is not None else ""]
    refs = [r for r in refs if r]
    return f" (for comparison: {' and '.join(refs)} {unit})" if refs else ""


def _continuing(session, model, reset) -> Bundle | None:
    b = session.bundle if isinstance(session, Session) else None
    return b if b is not None and not reset and b.model_name == model else None


def resolve_for_page(model, info, time_budget, max_steps, reset, session, values: dict | None = None
                     ) -> run.Resolved:
    """What Train would use for these fields (empty ones filled from the preset for this text and
    budget, or from the tab's trained model when continuing it). Raises ValueError for a bad value."""
    info = info or {}
    budget, steps = page_budget(time_budget, max_steps)
    return run.resolve(model, info.get("n_chars") or TYPICAL_CHARS, info.get("vocab_size") or 65,
                       page_choices(values or {}), time_budget=budget, max_steps=steps,
                       continue_from=_continuing(session, model, reset), default_time_budget=PAGE_TIME_BUDGET)


def field_updates(name: str, resolved: run.Resolved | None) -> list:
    """One update per option input (shown if `name`'s Config has it) and per training input (hidden for
    models fitted by counting), in the order of `options.option_specs()` then `options.TRAIN_SPECS`.
    Values are left as the user typed them; the placeholder (or, for a choice, the help line) says what
    an empty field means."""
    have = options.model_fields(name)
    counted = MODELS[name].fitted_by_counting
    values = {**resolved.model_options, **asdict(resolved.train_config)} if resolved else {}
    model_specs = options.option_specs()
    out = []
    for spec in [*model_specs, *options.TRAIN_SPECS]:
        visible = spec.name in have if spec in model_specs else not counted
        hint = {}
        if spec.name in values:
            empty = f"{options.shown_value(values[spec.name])} ({resolved.sources.get(spec.name, 'preset')})"
            hint = ({"info": f"empty = {empty}" + (f" · {spec.help}" if spec.help else "")}
                    if options.is_choice(spec) else {"placeholder": empty})
        out.append(gr.update(visible=visible, **hint))
    return out


def model_selected(name, info, time_budget, max_steps=None, reset=False, session=None) -> list:
    """The chosen model's inputs, with what an empty field means for this text and budget."""
    if name not in MODELS:
        raise user_error(f"unknown model {name!r}")
    try:
        resolved = resolve_for_page(name, info, time_budget, max_steps, reset, session)
    except ValueError:
        resolved = None
    return field_updates(name, resolved)


def plan_summary(model, info, time_budget=None, max_steps=None, reset=False, session=None, **values
                 ) -> tuple[str, str]:
    """(model card, the line under the settings: what Train will use and where each value comes from)."""
    if model not in MODELS:
        return f"Unknown model {model!r}.", ""
    try:
        r = resolve_for_page(model, info, time_budget, max_steps, reset, session, values)
    except ValueError as e:
        return options.model_card(model, {}, (info or {}).get("vocab_size")), f"⚠️ {e}"
    card = options.model_card(model, r.model_options, (info or {}).get("vocab_size"))
    counted = MODELS[model].fitted_by_counting
    shown = [s for s in options.option_specs() if s.name in r.model_options]
    shown += [] if counted else list(options.TRAIN_SPECS)
    values = {**r.model_options, **asdict(r.train_config)}
    parts = [(f"**{s.label} {options.shown_value(values[s.name])}**" if r.sources.get(s.name) == "you"
              else f"{s.label} {options.shown_value(values[s.name])}")
             + (f" ({r.reasons[s.name]})" if s.name in r.reasons else "") for s in shown]  # why the plan changed it
    budget = r.train_config.time_budget
    kept = _continuing(session, model, reset)
    if kept is not None and getattr(session, "stop_reason", None) == "diverged" and kept.step == 0:
        where = "the diverged model's settings, continuing its untrained starting weights"  # not "trained"
    elif kept is not None:
        where = "the trained model's settings, continuing it"
    else:
        where = (f"the preset for {'this text' if info else 'a typical text'} and "
                 + ("this step limit" if budget is None else f"{budget:g} s"))
    return card, f"**Train will use** ({where}; **bold** = yours): " + " · ".join(parts)


def plan_for_page(session: Session, fields: dict, choices: dict, *, settings: Settings, examples
                  ) -> tuple[RunPlan, str]:
    """(the run plan, where the text came from) for a Train press, or gr.Error with what to do. `fields`:
    the page's corpus, text, example, ascii_fold, latin1, model, time_budget, max_steps and reset;
    `choices`: the settings' fields by name (empty = the preset's)."""
    f = fields
    # Another model than the tab's starts a new run (the earlier one stays in the runs table); the same model
    # continues unless "Start a new model" is ticked.
    continuing = _continuing(session, f["model"] or None, f["reset"])
    try:
        corpus_text, source = load_corpus(f["corpus"], f["text"], f["example"], bool(f["ascii_fold"]),
                                          examples=examples, max_bytes=settings.max_upload_bytes, latin1=f["latin1"])
        budget, steps = page_budget(f["time_budget"], f["max_steps"])
        plan = run.plan_run(corpus_text, f["model"] or None, page_choices(choices), time_budget=budget,
                            max_steps=steps, continue_from=continuing, limits=settings.limits,
                            default_time_budget=PAGE_TIME_BUDGET)
        if plan.continue_from is None:
            session.check_room(PARAM_BYTES * plan.n_params + len(corpus_text), settings.max_tab_mb)
        return plan, source
    except ValueError as e:  # SettingError, TrainingError, CorpusError, UnknownModel: the user's to fix
        way_out = (" To train a new model instead, tick “Start a new model” (download the current one first if "
                   "you want to keep it)." if continuing is not None and not isinstance(e, SettingError) else "")
        if isinstance(e, CorpusError):  # the upload's text cannot be trained on: the example is one × away
            way_out = instead_of_upload(f["corpus"], f["text"], f["example"]) + way_out
        raise user_error(f"{str(e).rstrip('.')}.{way_out}") from None


class TrainRun:
    """A Train press as a job of the run lifecycle (`runner.Job`): the page's fields planned through
    `plan_for_page`, one model built (or the tab's continued) and adopted into the tab as it begins, its
    record in the runs table, TrainUpdates as Gradio's output tuple (…, session)."""

    kind = "train"

    def __init__(self, fields: dict, choices: dict, *, settings: Settings, examples):
        self.fields, self.choices, self.settings, self.examples = fields, choices, settings, examples
        self.upload = fields["corpus"]
        self.run_plan: RunPlan | None = None
        self.source, self.bundle, self.budget, self.records = None, None, None, []
        self.note = ""  # a budget typed out of range: the line saying what was used (`page.note_budget`)

    def say(self, session, status: str) -> tuple:
        return (*TrainUpdate(status), session)

    def plan(self, session) -> None:
        plan, self.source = plan_for_page(session, self.fields, self.choices, settings=self.settings,
                                          examples=self.examples)
        plan.train_config = replace(plan.train_config, sample_every=SAMPLE_EVERY, sample_length=LIVE_SAMPLE_LENGTH)
        self.run_plan, self.budget = plan, plan.train_config.time_budget
        note, session.budget_note = getattr(session, "budget_note", None), None
        used = note is not None and self.budget is not None and note.endswith(f"used {self.budget:g} s")
        self.note = f"\n\n{note}." if used else ""

    def begin(self, session) -> tuple:
        plan = self.run_plan
        self.bundle = plan.build()
        # Everything checked: from here on the tab's model is this bundle (the Write tab samples it as it learns).
        adopt(session, self.bundle, text=plan.data.text, train_text=plan.data.train_text, val_text=plan.data.val_text)
        f = self.fields
        checker = corpus_checker(f["corpus"], f["text"], f["example"])
        self.records = [session.record_run(plan, self.bundle, corpus_name(self.source), checker)]  # the runs table
        verb = "Continuing" if plan.continue_from is not None else "Starting"
        return (*TrainUpdate(f"**{verb}** {MODELS[plan.model_name].title} on {self.source} ({len(plan.data.text):,} "
                             f"characters)…{self.note}", model_figure(session), reset=False), session)

    def events(self, session):
        return self.run_plan.train(self.bundle)

    def observe(self, session, ev) -> bool:
        self.records[0].observe(ev)
        return ev.sample is not None  # a live sample is shown at once

    def ended(self, session, ev) -> bool:
        return ev.done or session.stop

    def show(self, session, ev) -> tuple:
        return (*TrainUpdate(status_line(ev, self.bundle, session.units) + self.note, model_figure(session),
                             ev.sample if ev.sample is not None else SKIP), session)

    def end(self, session, ev) -> None:
        if self.records:
            self.records[0].close(stopped=ev is None or not ev.done)

    def finish(self, session, ev) -> tuple:
        covered = self.run_plan.val_coverage(final=ev is not None and ev.done)
        update = finish(session, ev, self.records[0].sample, covered)
        return (update.status + self.note, *update[1:], session)

    def failed(self, session, error: str) -> tuple:
        return (*TrainUpdate(f"**Stopped.** {error}", model_figure(session)), session)


def corpus_checker(corpus, text, example):
    """The example's own checker (`charrnn.checkers`) when the text is that example, else None."""
    return None if corpus or (text and text.strip()) else CHECKERS.get(example)


def finish(session: Session, ev, latest: str, covered: str = "") -> TrainUpdate:
    """The last update of a run: what happened, the final chart and sample (`latest`: the run record's last
    film frame, the same prompt, length, temperature and seed), the checkpoint to download. covered: the
    held-out text the validation loss was measured on (`RunPlan.val_coverage`)."""
    bundle = session.bundle
    if ev is None or session.stop:
        label, note = "Stopped", (" The model is kept as it is." if ev is not None else "")
    else:
        label = {"diverged": "Stopped: the loss diverged", "exhausted": "Done: all the text was used",
                 "max_steps": "Done: step limit reached"}.get(ev.stop_reason, "Done: time budget used")
        note = f" {ev.message}" if ev.message else ""
        if ev.message:
            gr.Warning(ev.message)
    if ev is not None and not session.stop and ev.stop_reason == "diverged":  # the same settings would diverge again
        note += " Type the learning rate suggested above, then press Train."
    else:
        note += " Let it write in the Write tab, download it in the Keep tab, or press Train to continue."
    status = (status_line(ev, bundle, session.units, label) if ev else f"**{label}**")
    status += (f" on {covered}" if covered and bundle.val_loss is not None else "") + reference_text(session)
    status += "." + note
    session.stop_reason = None if ev is None or session.stop else ev.stop_reason
    status = inside_model.after_run(session, status)  # why the loss is flat or wild, with what to try
    try:
        checkpoint = str(session.write_checkpoint())
    except OSError as e:  # e.g. a full disk: the model itself is fine, only the download is missing
        gr.Warning(f"The model could not be saved for download: {e}")
        checkpoint = SKIP
    return TrainUpdate(status, model_figure(session), latest, checkpoint, False)


def train_handler(settings, examples, runner: Runner | None = None):
    """The /train handler for this server: a `TrainRun` through `runner` (its hooks; a plain Runner when
    none is given), yielding Gradio's output tuple (status, figure, live sample, checkpoint, reset,
    session), with one explicit keyword parameter per setting (default None = the preset's value), so
    that the API lists every option by name and marks it optional."""
    runner = runner or Runner()

    def train(session, request: gr.Request = None, corpus=None, text=None, example=None, ascii_fold=False,
              latin1=False, model=None, time_budget=None, max_steps=None, reset=False, **choices):
        """Train (or continue training) this tab's model: plan, stream, finish. Yields updates about three
        times a second, whatever the step rate; Stop sets a flag the loop checks each step."""
        fields = dict(corpus=corpus, text=text, example=example, ascii_fold=ascii_fold, latin1=latin1,
                      model=model, time_budget=time_budget, max_steps=max_steps, reset=reset)
        session = ensure_session(session)
        yield from runner.run(session, TrainRun(fields, choices, settings=settings, examples=examples), request)

    sig = inspect.signature(train)
    params = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    params += [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=None)
               for s in [*options.option_specs(), *options.TRAIN_SPECS]]
    train.__signature__ = sig.replace(parameters=params)
    return train


def show_takeaway(checkpoint, request: gr.Request):
    """The Keep tab's snippets, naming the file just offered for download and this server's address."""
    name = Path(checkpoint).name if isinstance(checkpoint, str) and checkpoint else None
    url = str(request.base_url) if request is not None and getattr(request, "base_url", None) else None
    return texts.takeaway(name, url)
