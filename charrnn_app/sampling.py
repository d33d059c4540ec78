"""Steps 4 and 5 of the page: write with the tab's model, show its next-character probabilities, and
load a model from a checkpoint file (downloading is the file a Train run writes: `training.finish`).
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr

import charrnn
from charrnn import MODELS, Bundle, CheckpointError, inspect
from charrnn.options import SettingError, check_sampling
from charrnn.sample import TEMPERATURE, fit_prompt

from . import options, plots, texts, training, user_error
from .corpus_view import chars
from .runner import adopt, snapshot
from .session import Session, ensure_session
from .training import model_figure

STREAM_EVERY = 0.1  # seconds between partial updates of a streamed sample
MAX_SAMPLE_LENGTH = 5000
MAX_PROMPT_LENGTH = 2000


def _model_for_sampling(session) -> Bundle:
    if not isinstance(session, Session) or session.bundle is None:
        raise user_error(texts.NO_MODEL)
    return session.bundle


def _check_prompt(bundle: Bundle, prompt: str) -> None:
    if len(prompt) > MAX_PROMPT_LENGTH:
        raise user_error(f"The prompt has {len(prompt):,} characters; use at most {MAX_PROMPT_LENGTH:,}.")
    unknown = bundle.vocab.unknown(fit_prompt(bundle.vocab, prompt))
    if unknown:
        raise user_error(f"The model never saw these characters of the prompt: {chars(unknown[:10])}. "
                       "Remove them: it can only read and write characters from its training text.")


def sample_text(session, prompt=None, length=500, temperature=TEMPERATURE, top_k=0, seed=None):
    """Stream `length` characters written after `prompt` (the prompt included), then the session."""
    bundle = _model_for_sampling(session)
    prompt = prompt or ""
    _check_prompt(bundle, prompt)
    try:
        seed = None if seed in (None, "") or (_is_number(seed) and float(seed) == -1) else seed  # -1: random
        temperature, top_k, length, seed = check_sampling(temperature, top_k, length, seed)
    except SettingError as e:
        raise user_error(str(e)) from None
    length = max(1, min(length or 1, MAX_SAMPLE_LENGTH))
    model = snapshot(session, bundle).model  # while this tab trains, a copy
    out, last = prompt, time.perf_counter()
    for ch in charrnn.stream(model, bundle.vocab, prompt, length, temperature, top_k, seed):
        out += ch
        if time.perf_counter() - last >= STREAM_EVERY:
            yield out, session
            last = time.perf_counter()
    yield out, session


def _is_number(x) -> bool:
    try:
        float(x)
        return True
    except (TypeError, ValueError):
        return False


def _next_char(session, prompt, temperature, top_k):
    """(NextCharChart, temperature) for the tab's model after `prompt`, or (None, note) when impossible."""
    bundle = session.bundle if isinstance(session, Session) else None
    try:
        temperature, top_k, _, _ = check_sampling(temperature or 0, top_k or 0)
    except SettingError as e:
        return None, str(e)
    prompt = (prompt or "")[-MAX_PROMPT_LENGTH:]
    if bundle is None:
        return None, texts.NO_MODEL
    unknown = bundle.vocab.unknown(fit_prompt(bundle.vocab, prompt))
    if unknown:
        return None, f"The model never saw {' '.join(plots.shown(c) for c in unknown[:5])}"
    model = snapshot(session, bundle).model
    return inspect.next_char_chart(model, bundle.vocab, prompt, temperature, top_k=top_k or None), None


def next_char_chart(session, prompt=None, temperature=1.0, top_k=0):
    """Bar chart of P(next character | prompt) at this temperature; a note instead if impossible."""
    chart, note = _next_char(session, prompt, temperature, top_k)
    return plots.next_char_figure(chart) if chart is not None else plots.probs_figure(None, 1.0, note=note)


def next_char_text(session, prompt=None, temperature=1.0, top_k=0) -> str:
    """The chart's numbers in words (its text alternative): the likeliest next characters and their
    probabilities at this temperature, and at temperature 1."""
    chart, note = _next_char(session, prompt, temperature, top_k)
    if chart is None:
        return note or ""
    top = sorted(zip(chart.names, chart.probs, chart.probs_t1, strict=True), key=lambda t: -t[1])[:8]
    listed = ", ".join(f"{name} {p:.0%}" + (f" ({p1:.0%} at temperature 1)" if chart.temperature != 1 else "")
                       for name, p, p1 in top if p >= 0.005 or p1 >= 0.005)
    return f"Next character at temperature {chart.temperature:g}: {listed}."


def suggest_prompt(session, prompt=None):
    """After a run, an empty prompt becomes one from the run's text after which the next character is
    uncertain (so the temperature visibly changes the chart); a prompt the user typed stays."""
    if (prompt or "").strip() or not isinstance(session, Session) or not session.train_text:
        return gr.skip()
    return inspect.default_prompt(session.train_text)


def load_checkpoint(file, session, *, max_bytes, max_params=None) -> list:
    """Replace this tab's model with an uploaded checkpoint. Returns (status, figure, model,
    *field updates, download, session); a bad file raises gr.Error and changes nothing."""
    session = ensure_session(session)
    if not file:
        return [gr.skip()] * (4 + len(options.option_specs()) + len(options.TRAIN_SPECS)) + [session]
    session.claim(file)  # first: removed with this tab even if refused now
    if session.running:
        raise user_error("This tab is training: press Stop before loading a checkpoint.")
    try:
        bundle = charrnn.load(file, max_bytes=max_bytes, max_params=max_params)
    except CheckpointError as e:
        raise user_error(f"{e}. Upload a .safetensors file downloaded from this app (the Keep tab).") from None
    adopt(session, bundle)  # the file holds no text: no split, no unigram line
    # Train now continues this model: every field is emptied, and empty means "as the checkpoint has it".
    resolved = training.resolve_for_page(bundle.model_name, None, None, None, False, session)
    fields = [{**update, "value": None} for update in training.field_updates(bundle.model_name, resolved)]
    h = bundle.history
    status = (f"**Loaded** {MODELS[bundle.model_name].title} from `{Path(file).name}`: {bundle.step:,} steps, "
              f"{bundle.chars_seen:,} characters seen, a vocabulary of {len(bundle.vocab)}"
              + (f", validation loss {h.val_loss[-1]:.3f} nats/char" if h.val_loss else "")
              + ". Sample from it below, or press Train to continue training it on text that uses the same "
                "characters.")
    return [status, model_figure(session), bundle.model_name, *fields, file, session]
