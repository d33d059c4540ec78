"""Writing text with a trained model: one character at a time, state carried along.

    generate(model, vocab, prompt, length, temperature, top_k, seed) ─► text
    resolve_seed(None) ─► a fresh seed per request: show it, and the same seed writes the same text again
"""

from __future__ import annotations

import math
import secrets
import unicodedata
from collections.abc import Iterator

import torch

from .corpus import Vocab, normalize_text
from .models.base import CharModel, State
from .threads import at_threads

# What a user is shown unless they choose otherwise — the one home of these defaults (the CLI's `sample`,
# the page's Write tab, the live and final samples of a run, the film strip of the Compare tab):
TEMPERATURE = 0.8  # a little sharper than as learned (1): fewer misspellings, still varied
LIVE_LENGTH = 240  # characters of the sample shown while a model trains and when it is done
LIVE_PROMPT = ""  # the same for every model: an empty prompt is in every vocabulary
LIVE_SEED = 0  # the same seed at every point of a run: samples differ only by what the model learned


def fit_prompt(vocab: Vocab, prompt: str) -> str:
    """The prompt spelled as the vocabulary spells it; call it before checking or encoding a prompt.

    Corpora are read in Unicode NFC (`normalize_text`), so the prompt is normalised the same way:
    "café" typed with a precomposed é (U+00E9) then matches a corpus stored decomposed (e + U+0301).
    A checkpoint trained before corpora were normalised may hold decomposed characters instead; when
    the NFC form has characters the vocabulary lacks, the prompt as given and then its NFD form are
    tried. If none fits, the NFC form is returned, and `vocab.unknown` / `vocab.encode` of it name
    the missing characters. Never raises.
    """
    nfc = normalize_text(prompt)
    for form in (nfc, prompt, unicodedata.normalize("NFD", nfc)):
        if not vocab.unknown(form):
            return form
    return nfc


SEEDS = 2**32  # seeds are 0 … 2^32 - 1 (`charrnn.options.SAMPLE_OPTIONS["seed"]`)


def resolve_seed(seed: int | None) -> int:
    """The seed a sampling request uses: `seed` itself, or for None ("random", the page's -1) a fresh one
    from the operating system's randomness (`secrets`), so that every request is drawn anew whatever
    else in the process seeded torch's global generator (a training run does, for its dropout masks).
    Call it before `generate` / `stream` and show the result: the same seed writes the same text again.
    """
    return secrets.randbelow(SEEDS) if seed is None else seed


def scale_logits(logits: torch.Tensor, temperature: float, top_k: int | None = None) -> torch.Tensor:
    """Logits → the distribution we sample from, as log-probability-like scores (V,).

    Temperature divides the logits before the softmax: below 1 it sharpens the distribution towards
    the likeliest characters (safer, more repetitive text), above 1 it flattens it (more surprising,
    more mistakes). top_k keeps only the k likeliest characters.
    """
    logits = logits.float()
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return logits / max(temperature, 1e-6)


def next_char_probs(model: CharModel, vocab: Vocab, context: str, temperature: float = 1.0,
                    top_k: int | None = None) -> list[tuple[str, float]]:
    """P(next character | context) at this temperature, all V characters, likeliest first.

    The context goes through `fit_prompt` first. Temperature 0 means argmax: all the probability on
    the likeliest character. Raises CorpusError if the context has characters the vocabulary lacks.
    """
    logits, _ = _prime(model, vocab, context)
    if temperature <= 0:
        probs = torch.zeros_like(logits)
        probs[logits.argmax()] = 1.0
    else:
        probs = torch.softmax(scale_logits(logits, temperature, top_k), dim=-1)
    order = torch.argsort(probs, descending=True)
    return [(vocab.chars[i], float(probs[i])) for i in order.tolist()]


@torch.no_grad()
def _prime(model: CharModel, vocab: Vocab, prompt: str) -> tuple[torch.Tensor, State]:
    """Feed the prompt and return the logits for the character after it (V,) and the state.

    An empty prompt starts from a newline when the vocabulary has one (the start of a line is a
    natural beginning), else from a fresh state and the first character.
    """
    model.eval()
    device = model.device
    prompt = fit_prompt(vocab, prompt)
    if not prompt:
        prompt = "\n" if "\n" in vocab.stoi else vocab.chars[0]
    ids = vocab.encode(prompt).to(device)  # (P,)
    if model.recurrent:
        logits, state = model(ids[None], None)  # the whole prompt in one call: fused kernels are fast
        return logits[0, -1], state
    state = None
    for t in range(len(ids)):  # windowed models keep their context in the state
        logits, state = model.step(ids[t:t + 1], state)  # (1, V)
    return logits[0], state


@torch.no_grad()
def stream(model: CharModel, vocab: Vocab, prompt: str = "", length: int = 200, temperature: float = 1.0,
           top_k: int | None = None, seed: int | None = None) -> Iterator[str]:
    """Yield `length` new characters one by one. Same seed, same text; seed None draws a fresh one
    (`resolve_seed`; call it yourself to know which), never from torch's global generator.

    Each step feeds only the last character and the carried state to `model.step` — never the whole
    text so far. The prompt goes through `fit_prompt`; raises CorpusError if it has characters the
    model never saw.
    """
    generator = torch.Generator().manual_seed(resolve_seed(seed))  # this request's own random numbers
    was_training = model.training
    chars, memo = vocab.chars, {} if model.memo_steps else None
    # Batch 1: products too small to split, and beside a busy process two threads wait on each other. Set
    # once for the whole sample (a switch costs ~20 µs): the consumer runs at one thread until it is done.
    with at_threads(1):
        try:
            logits, state = _prime(model, vocab, prompt)  # (V,)
            device = logits.device
            for _ in range(length):
                nxt = _draw(logits, temperature, top_k, generator)  # (1,) long, on the CPU
                yield chars[int(nxt)]
                with torch.no_grad():
                    logits, state = _step(model, nxt.to(device), state, memo)  # (V,)
        finally:
            model.train(was_training)


def _draw(logits: torch.Tensor, temperature: float, top_k: int | None, generator: torch.Generator
          ) -> torch.Tensor:
    """The next id (1,) long on the CPU: the likeliest at temperature 0, else drawn from the tempered softmax.

    The draw is `torch.multinomial(probs, 1, generator=generator)` spelled out as PyTorch computes one
    sample: the argmax of probs / q, q (V,) ~ Exp(1) from the generator (the exponential race, the
    Gumbel-max trick in other clothes) — the same random numbers, so the same id and the same generator
    state after it, without multinomial's four checking reductions (half the cost of a draw at batch 1).
    Raises RuntimeError, as multinomial does, when the probabilities are not numbers (a diverged model).
    """
    if temperature <= 0:
        return logits.argmax().reshape(1).cpu()
    probs = torch.softmax(scale_logits(logits, temperature, top_k), dim=-1).cpu()  # (V,)
    race = torch.div(probs, torch.empty_like(probs).exponential_(generator=generator))  # (V,)
    nxt = race.argmax().reshape(1)  # (1,)
    if math.isnan(race[nxt]):  # softmax of a NaN or an infinity is NaN everywhere
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    return nxt


def _step(model: CharModel, x: torch.Tensor, state: State, memo: dict | None) -> tuple[torch.Tensor, State]:
    """`model.step` on one id (1,), logits (V,); with a memo (models with `memo_steps`), each context once."""
    if memo is None:
        logits, state = model.step(x, state)  # (1, V)
        return logits[0], state
    key = (int(x), None if state is None else tuple(state.flatten().tolist()))
    if key not in memo:
        logits, new_state = model.step(x, state)
        memo[key] = logits[0], new_state
    return memo[key]


def generate(model: CharModel, vocab: Vocab, prompt: str = "", length: int = 200, temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None) -> str:
    """The prompt (as `fit_prompt` spells it) followed by `length` sampled characters; seed None: a fresh
    seed for this call (`resolve_seed`)."""
    prompt = fit_prompt(vocab, prompt)
    return prompt + "".join(stream(model, vocab, prompt, length, temperature, top_k, seed))
