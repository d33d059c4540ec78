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
from .memory import bundle_bytes
from .runner import adopt, snapshot, tab_model
from .session import Session, ensure_session
from .train_chart import model_figure

STREAM_EVERY = 0.1  # seconds between partial updates of a streamed sample
MAX_SAMPLE_LENGTH = 5000
MAX_PROMPT_LENGTH = 2000
PREVIEW_LENGTH = 200  # characters the Write tab writes by itself when it opens (or a run ends) on a new model
WAITING = "Press Sample (or Enter in the prompt) and the model writes here."


def _model_for_sampling(session) -> Bundle:
    return tab_model(session)


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
        temperature, top_k, length, seed = check_sampling(temperature, top_k, length, _random_as_none(seed))
    except SettingError as e:
        raise user_error(str(e)) from None
    length = max(1, min(length or 1, MAX_SAMPLE_LENGTH))
    # "random" draws this request's own seed (never torch's global generator, which runs reseed), and the
    # page shows it (`seed_note`), so that a good sample can be written again
    session.sample_seed = seed = charrnn.resolve_seed(seed)
    model = snapshot(session, bundle).model  # while this tab trains, a copy
    out, last = prompt, time.perf_counter()
    for ch in charrnn.stream(model, bundle.vocab, prompt, length, temperature, top_k, seed):
        out += ch
        if time.perf_counter() - last >= STREAM_EVERY:
            yield out, session
            last = time.perf_counter()
    session.written_by = written_key(bundle)
    yield out, session


def written_key(bundle: Bundle) -> tuple:
    """Which model, at which step, wrote a sample: the Write tab's box shows a newer model's text once it changes."""
    return id(bundle), bundle.step, bundle.chars_seen


def preview(session, shown=None, prompt=None, temperature=TEMPERATURE, top_k=0, seed=None):
    """What the Write tab's box shows when the tab opens or a run ends: (box, seed note, session). With a model
    whose text the box does not show yet, PREVIEW_LENGTH characters written with the tab's prompt, temperature,
    top-k and seed (an empty prompt where the model cannot read it); with none, the box empty and a placeholder
    that says what to do. A sample the model already wrote stays, as does anything when the settings are bad."""
    bundle = session.bundle if isinstance(session, Session) else None
    if bundle is None:
        if shown:  # the model was set aside: its text stays readable
            return gr.skip(), gr.skip(), session
        waiting = getattr(session, "set_aside_because", None) or texts.NO_MODEL
        return gr.update(value="", placeholder=f"{waiting} Then press Sample."), "", session
    if shown and session.written_by == written_key(bundle):
        return gr.skip(), gr.skip(), session
    dropped = False
    try:
        _check_prompt(bundle, prompt or "")
    except gr.Error:
        prompt, dropped = "", True
    try:
        *_, (text, session) = sample_text(session, prompt, PREVIEW_LENGTH, temperature, top_k, seed)
    except gr.Error:  # a setting the Sample button would refuse (it says why when pressed)
        return gr.update(placeholder=WAITING), gr.skip(), session
    untrained = ("**This model has not learned anything yet** (step 0: its starting weights), so this is close "
                 "to random characters. " if bundle.step == 0 and not bundle.model.fitted_by_counting else "")
    return (gr.update(value=text, placeholder=WAITING), f"{untrained}The first {PREVIEW_LENGTH} characters the model "
            f"writes, written when the tab opened: press **Sample** for more (the length above). "
            f"{seed_note(session, PREVIEW_LENGTH, dropped)}",
            session)


def _random_as_none(seed):
    """The page's "random" (-1, or an empty field) as None; any other value as sent, for `check_sampling`."""
    try:
        return None if seed in (None, "") or float(seed) == -1 else seed
    except (TypeError, ValueError, OverflowError):  # not a number (checked next), or past a float's range
        return seed


def seed_note(session, length: int | None = None, empty_prompt: bool = False) -> str:
    """Which seed wrote the last sample, to write it again (the Write tab shows it under the sample). `length`:
    the characters it wrote when that was not the length box's (a preview's PREVIEW_LENGTH); `empty_prompt`:
    written with an empty prompt in place of the box's (a preview, where the model cannot read the box's)."""
    seed = getattr(session, "sample_seed", None)
    if seed is None:
        return ""
    if length is None and not empty_prompt:
        return (f"Written with seed **{seed}**: put {seed} in the seed box (same prompt, length, temperature and "
                "top-k) to write this text again; −1 draws a new seed each time.")
    boxes = [f"{seed} in the seed box"] + ([f"{length} in the length"] if length is not None else [])
    boxes += ["nothing in the prompt"] if empty_prompt else []
    same = "same temperature and top-k" if empty_prompt else "same prompt, temperature and top-k"
    return (f"Written with seed **{seed}**: put {', '.join(boxes[:-1])} and {boxes[-1]} ({same}) and press Sample "
            "to write this text again; −1 draws a new seed each time.")


def _next_char(session, prompt, temperature, top_k):
    """(NextCharChart, temperature) for the tab's model after `prompt`, or (None, note) when impossible."""
    bundle = session.bundle if isinstance(session, Session) else None
    try:
        temperature, top_k, _, _ = check_sampling(temperature or 0, top_k or 0)
    except SettingError as e:
        return None, str(e)
    prompt = (prompt or "")[-MAX_PROMPT_LENGTH:]
    if bundle is None:
        return None, getattr(session, "set_aside_because", None) or texts.NO_MODEL
    unknown = bundle.vocab.unknown(fit_prompt(bundle.vocab, prompt))
    if unknown:
        return None, f"The model never saw {' '.join(plots.shown(c) for c in unknown[:5])}"
    model = snapshot(session, bundle).model
    return inspect.next_char_chart(model, bundle.vocab, prompt, temperature, top_k=top_k or None), None


def next_char_chart(session, prompt=None, temperature=1.0, top_k=0):
    """Bar chart of P(next character | prompt) at this temperature; a note instead if impossible."""
    chart, note = _next_char(session, prompt, temperature, top_k)
    if chart is None:
        return plots.probs_figure(None, 1.0, note=note)
    return plots.next_char_figure(chart, getattr(session, "present", False))


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


def load_checkpoint(file, session, *, max_bytes, max_params=None, max_history_rows=None, max_tab_mb=None) -> list:
    """Replace this tab's model with an uploaded checkpoint. Returns (status, figure, model,
    *field updates, download, session); a bad file, or one that would not fit the tab's (`max_tab_mb`) or
    the server's memory with its loss history, raises gr.Error and changes nothing."""
    session = ensure_session(session)
    if not file:
        return [gr.skip()] * (4 + len(options.option_specs()) + len(options.TRAIN_SPECS)) + [session]
    session.claim(file)  # first: removed with this tab even if refused now
    if session.running:
        raise user_error("This tab is training: press Stop before loading a checkpoint.")
    try:
        bundle = charrnn.load(file, max_bytes=max_bytes, max_params=max_params, max_history_rows=max_history_rows)
    except CheckpointError as e:
        raise user_error(f"{e}. Upload a .safetensors file downloaded from this app (the Keep tab).") from None
    if max_tab_mb is not None:
        try:  # its weights, moments and loss history, counted with what the tab and the server keep
            session.check_room(bundle_bytes(bundle), max_tab_mb)
        except SettingError as e:
            raise user_error(f"{str(e).rstrip('.')}.") from None
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
