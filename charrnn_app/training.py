"""Steps 2 and 3 of the page: the model's settings and card, and training it while the chart moves.

    Train ─► train_model(...) ─ yields (status, loss figure, live sample, checkpoint, reset, session)
             about three times a second, whatever the step rate; Stop sets a flag it checks each step.

Handlers are plain functions: values in, values out. A failure a user can cause is a `gr.Error` that
says what to do, and never replaces or damages the model the tab has already trained.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from dataclasses import fields, replace

import gradio as gr

import charrnn
from charrnn import MODELS, Bundle, CorpusError, TrainingError, Vocab
from charrnn.presets import preset
from charrnn.train import check_config

from . import options, plots, user_error
from .corpus_view import VAL_FRACTION, chars, load_corpus
from .session import Session, ensure_session

UPDATE_EVERY = 0.35  # seconds between chart updates while training (~3 per second)
SAMPLE_EVERY = 3.0  # seconds between "what the model writes now" samples
LIVE_SAMPLE_LENGTH = 240
TYPICAL_CHARS = 100_000  # corpus size assumed for defaults before any text is chosen


def field_updates(name: str, values: dict) -> list:
    """One update per option input (shown if `name`'s Config has it, with its value) and per
    training input, in the order of `options.option_specs()` then `options.TRAIN_SPECS`."""
    have = options.model_fields(name)
    out = [gr.update(visible=s.name in have, **({"value": values[s.name]} if s.name in values else {}))
           for s in options.option_specs()]
    out += [gr.update(value=values[s.name]) if s.name in values else gr.skip() for s in options.TRAIN_SPECS]
    return out


def model_selected(name, info, time_budget) -> list:
    """The chosen model's inputs, filled with its defaults for this corpus and time budget."""
    if name not in MODELS:
        raise user_error(f"unknown model {name!r}")
    n_chars = (info or {}).get("n_chars") or TYPICAL_CHARS
    return field_updates(name, options.defaults(name, n_chars, float(time_budget or 30)))


def update_card(model, info, **values) -> str:
    if model not in MODELS:
        return f"Unknown model {model!r}."
    specs = {s.name: s for s in options.option_specs()}
    have = options.model_fields(model)
    opts = {}
    for k, v in values.items():
        if k in have and k in specs:
            try:
                opts[k] = options.coerce(specs[k], v)
            except ValueError:
                pass
    return options.model_card(model, opts, (info or {}).get("vocab_size"))


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
    parts = [f"**{label}** {MODELS[bundle.model_name].title}", f"step {ev.step:,}",
             f"{ev.chars_per_sec:,.0f} chars/s", f"{ev.elapsed:.1f} s elapsed"]
    if ev.remaining is not None and label == "Training":
        parts.append(f"{ev.remaining:.0f} s left")
    parts.append(_loss_text(bundle, units))
    return " · ".join(p for p in parts if p)


def continue_problem(bundle: Bundle, name: str, config, text: str) -> str | None:
    """Why the tab's trained model cannot simply be trained further with these settings, or None."""
    old = f"{MODELS[bundle.model_name].title} (`{bundle.model_name}`)"
    if bundle.model_name != name:
        return f"This tab's trained model is {old}, but {MODELS[name].title} (`{name}`) is selected."
    if bundle.model.config != config:
        changed = [f"{f.name} {getattr(bundle.model.config, f.name)} → {getattr(config, f.name)}"
                   for f in fields(config) if getattr(bundle.model.config, f.name) != getattr(config, f.name)]
        return f"The settings differ from those of the trained model ({', '.join(changed)})."
    unknown = bundle.vocab.unknown(text)
    if unknown:
        return (f"The text has characters the trained model has never seen: {chars(unknown[:10])}"
                + (" …" if len(unknown) > 10 else "") + ".")
    return None


def model_figure(session: Session) -> object:
    """The loss chart of the tab's model (empty before training), in the tab's units."""
    b = session.bundle
    return plots.loss_figure(b.history if b else None, session.uniform, session.unigram, session.units)


def train_model(session, corpus=None, text=None, example=None, ascii_fold=False, latin1=False, model=None,
                time_budget=30.0, max_steps=None, lr=None, batch_size=None, seq_len=None, weight_decay=None,
                reset=False, *, settings, examples, **model_options):
    """Train (or continue training) this tab's model, streaming
    (status, loss figure, live sample, download, reset box, session) about three times a second."""
    session = ensure_session(session)
    if session.running:
        raise user_error("This tab is already training: press Stop first.")
    stopped_in_queue, session.pending = session.pending and session.stop, False
    session.stop = False
    if stopped_in_queue:
        yield "**Cancelled** while waiting for a free training slot.", gr.skip(), gr.skip(), gr.skip(), gr.skip(), \
            session
        return
    model = model or options.default_model()
    if model not in MODELS:
        raise user_error(f"unknown model {model!r}; choose one of: {', '.join(MODELS)}")
    try:
        corpus_text, source = load_corpus(corpus, text, example, bool(ascii_fold), examples=examples,
                                          max_bytes=settings.max_upload_bytes, latin1=latin1)
        stats = charrnn.corpus_stats(corpus_text)
        budget = max(1.0, min(float(time_budget or settings.max_seconds), settings.max_seconds))
        steps = int(max_steps) if max_steps and float(max_steps) > 0 else None
        model_opts, train_config = preset(model, stats.n_chars, budget, steps)
        specs = {s.name: s for s in options.option_specs()}
        for k in options.model_fields(model) & set(model_options) & set(specs):
            v = options.coerce(specs[k], model_options[k])
            if v is not None:
                model_opts[k] = v
        given = dict(zip([s.name for s in options.TRAIN_SPECS], (lr, batch_size, seq_len, weight_decay),
                         strict=True))
        tuned = {s.name: options.coerce(s, given[s.name]) for s in options.TRAIN_SPECS}
        train_config = replace(train_config, **{k: v for k, v in tuned.items() if v is not None},
                               time_budget=budget, max_steps=steps, sample_every=SAMPLE_EVERY,
                               sample_length=LIVE_SAMPLE_LENGTH)
        config = charrnn.make_config(model, **model_opts)
    except (CorpusError, ValueError) as e:
        raise user_error(str(e)) from None

    bundle = session.bundle
    continuing = bundle is not None and not reset
    if continuing:
        problem = continue_problem(bundle, model, config, corpus_text)
        if problem:
            raise user_error(problem + " To train a new model instead, tick “Start a new model” (download the "
                           "current one first if you want to keep it); to continue the trained one, select "
                           "its model and settings again (they are shown after uploading its checkpoint).")
    else:
        vocab = Vocab.from_text(corpus_text)
        try:
            n_params = options.count_params(model, len(vocab), model_opts)
            if n_params > settings.max_params:
                raise user_error(f"This model would have {n_params:,} parameters; this server allows at most "
                               f"{settings.max_params:,}. Use a smaller hidden size or fewer layers.")
            bundle = Bundle(charrnn.build_model(model, len(vocab), config, seed=train_config.seed), vocab, model)
        except gr.Error:
            raise
        except Exception as e:  # any invalid combination of sizes, said plainly
            raise user_error(f"These settings cannot build a {MODELS[model].title}: "
                           f"{str(e).splitlines()[0]}") from None
    try:
        train_ids, val_ids = charrnn.split(bundle.vocab.encode(corpus_text), VAL_FRACTION,
                                           seq_len=train_config.seq_len)
        check_config(train_config, bundle.model, len(train_ids), len(val_ids))
    except (CorpusError, TrainingError) as e:
        raise user_error(str(e)) from None

    # Everything checked: from here on the tab's model is this bundle.
    session.bundle, session.running, session.stop = bundle, True, False
    session.uniform, session.unigram = math.log(len(bundle.vocab)), stats.unigram_entropy
    verb = "Continuing" if continuing else "Starting"
    yield (f"**{verb}** {MODELS[model].title} on {source} ({stats.n_chars:,} characters)…",
           model_figure(session), gr.skip(), gr.skip(), False, session)

    events = charrnn.train(bundle, train_ids, val_ids, train_config)
    last, ev, latest, error = 0.0, None, "", None
    try:
        for ev in events:
            if session.stop or ev.done:
                break
            now = time.perf_counter()
            if now - last >= UPDATE_EVERY or ev.sample is not None:  # throttled: ~3 chart updates a second
                latest = ev.sample or latest
                live = ev.sample if ev.sample is not None else gr.skip()
                yield status_line(ev, bundle, session.units), model_figure(session), live, gr.skip(), gr.skip(), session
                last = now
    except Exception as e:  # a model that fails mid-run: keep the weights, say why (and log it)
        logging.getLogger(__name__).exception("training failed")
        error = (f"Training stopped with an error: {str(e).splitlines()[0]}. The model keeps the weights it "
                 "had; try smaller settings or a lower learning rate.")
    finally:
        events.close()  # the core keeps the optimizer state and the recurrent state for continuing
        session.running = False
    if error:
        yield f"**Stopped.** {error}", model_figure(session), gr.skip(), gr.skip(), gr.skip(), session
        raise user_error(error)

    if ev is None:
        label, note = "Stopped", ""
    elif session.stop:
        label, note = "Stopped", " The model is kept as it is."
    else:
        label = {"diverged": "Stopped: the loss diverged", "exhausted": "Done: all the text was used",
                 "max_steps": "Done: step limit reached"}.get(ev.stop_reason, "Done: time budget used")
        note = ""
        if ev.message:
            gr.Warning(ev.message)
            note = f" {ev.message}"
    note += " Sample from it below, download it in step 5, or press Train to continue."
    status = (status_line(ev, bundle, session.units, label) if ev else f"**{label}**") + "." + note
    latest = charrnn.generate(bundle.model, bundle.vocab, "", LIVE_SAMPLE_LENGTH, 0.8, seed=0)
    try:
        checkpoint = str(session.write_checkpoint())
    except OSError as e:  # e.g. a full disk: the model itself is fine, only the download is missing
        gr.Warning(f"The model could not be saved for download: {e}")
        checkpoint = gr.skip()
    yield status, model_figure(session), latest, checkpoint, False, session


def train_handler(settings, examples):
    """The /train handler for this server: `train_model` with the settings bound and one explicit
    keyword parameter per model option (default None = the preset's value), so that the API lists
    every option by name and marks it optional."""

    def train(*args, **kwargs):
        yield from train_model(*args, settings=settings, examples=examples, **kwargs)

    sig = inspect.signature(train_model)
    params = [p for p in sig.parameters.values() if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    params += [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, default=None)
               for s in options.option_specs()]
    train.__signature__ = sig.replace(parameters=params)
    train.__doc__ = train_model.__doc__
    return train


def mark_pending(session):
    """Train was clicked (answered at once, before the queue): a Stop from now on applies to this run,
    even while it waits for a free training slot. Returns the status to show while it waits."""
    if not isinstance(session, Session) or session.running:
        return gr.skip()
    session.pending, session.stop = True, False
    return ("**Waiting** for a free training slot: the server trains a few models at a time, each for at "
            "most its time budget. Your run starts by itself; Stop cancels it.")


def stop_training(session) -> None:
    """Ask this tab's running training to stop after its current step; the model is kept."""
    if isinstance(session, Session):
        session.stop = True


def corpus_chart(info, session):
    """Before the first training: an empty chart with the levels to beat for the chosen text."""
    if isinstance(session, Session) and session.bundle is not None:
        return gr.skip()  # the tab's model's own chart stays
    info = info or {}
    units = session.units if isinstance(session, Session) else "nats"
    return plots.loss_figure(None, info.get("uniform"), info.get("unigram"), units)


def change_units(units, session, info=None):
    """Redraw the tab's chart in nats or bits (also while training: the loop reads `session.units`)."""
    session = ensure_session(session)
    session.units = "bits" if units == "bits" else "nats"
    return model_figure(session) if session.bundle is not None else corpus_chart(info, session)
