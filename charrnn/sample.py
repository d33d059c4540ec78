"""Writing text with a trained model: one character at a time, state carried along.

    generate(model, vocab, prompt, length, temperature, top_k, seed) ─► text
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from .corpus import Vocab
from .models.base import CharModel, State


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

    Temperature 0 means argmax: all the probability on the likeliest character.
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
    if not prompt:
        prompt = "\n" if "\n" in vocab.stoi else vocab.chars[0]
    ids = vocab.encode(prompt).to(device)[None]  # (1, P)
    state = None
    if model.recurrent:
        logits, state = model(ids, state)  # the whole prompt in one call: fused kernels are fast
    else:
        for t in range(ids.shape[1]):  # windowed models keep their context in the state
            logits, state = model(ids[:, t:t + 1], state)
    return logits[0, -1], state


@torch.no_grad()
def stream(model: CharModel, vocab: Vocab, prompt: str = "", length: int = 200, temperature: float = 1.0,
           top_k: int | None = None, seed: int | None = None) -> Iterator[str]:
    """Yield `length` new characters one by one. Same seed, same text.

    Each step feeds only the last character and the carried state — never the whole text so far.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    was_training = model.training
    logits, state = _prime(model, vocab, prompt)
    device = logits.device
    try:
        for _ in range(length):
            if temperature <= 0:
                i = int(logits.argmax())
            else:
                probs = torch.softmax(scale_logits(logits, temperature, top_k), dim=-1).cpu()
                i = int(torch.multinomial(probs, 1, generator=generator))
            yield vocab.chars[i]
            with torch.no_grad():
                logits, state = model(torch.tensor([[i]], device=device), state)
            logits = logits[0, -1]
    finally:
        model.train(was_training)


def generate(model: CharModel, vocab: Vocab, prompt: str = "", length: int = 200, temperature: float = 1.0,
             top_k: int | None = None, seed: int | None = None) -> str:
    """The prompt followed by `length` sampled characters."""
    return prompt + "".join(stream(model, vocab, prompt, length, temperature, top_k, seed))
