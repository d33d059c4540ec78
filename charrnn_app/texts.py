"""What the page says: the short explanations beside each panel (Markdown)."""

from charrnn.sample import TEMPERATURE

INTRO = """\
# charrnn — watch a language model learn to write
A **character-level language model** reads text one character at a time and learns to guess the next
one. Pick a text and a model, press **Train** and watch its guesses improve; then let it **Write**.
Your model lives in this browser tab until you close it — **Keep** it by downloading it."""

CORPUS = """\
Upload a plain-text file (`.txt`, UTF-8), paste text, or pick an example. If you give more than one,
the upload is used first, then the pasted text, then the example. A few hundred kilobytes is plenty;
with very little text the model soon learns it by heart. The model's vocabulary is the set of
distinct characters in the text (V of them)."""

CHART = """\
**What the chart shows.** The *loss* is the **cross-entropy**: −log of the probability the model gave
to the character that really came next, averaged over many characters (in nats per character; in
bits, 1 nat = 1.44 bits). Lower is better; 0 would mean always certain and always right.
- **uniform guess ln(V)** — a model that knows nothing gives each of the V characters the same
  probability 1/V and scores ln V. Every run starts about here.
- **letter frequencies (unigram)** — the best possible score for a model that only knows how common
  each character is, ignoring what came before (the *unigram entropy* of the text). Below this line
  the model has learned something about order: spelling, words, punctuation.
- **train** is the loss on the batch just learned from; **validation** on the last 10% of the text,
  which the model never trains on. If validation stops falling while train keeps falling, the model
  is memorising its training text rather than learning the language."""

LIVE_SAMPLE = f"""\
**What the model writes now**: every few seconds the model writes a few lines on its own
(temperature {TEMPERATURE:g}). Watch random characters turn into letter-like soup, then words, then phrases."""

SAMPLE = """\
The model writes one character at a time: it gives every possible next character a probability, one
is drawn at random, and fed back in as the next input. **Temperature** reshapes the probabilities
before the draw: below 1 the likeliest characters get even likelier (safer, more repetitive text),
above 1 they even out (more surprising text, more mistakes), and 0 always takes the likeliest one.
**Top-k** allows only the k likeliest characters (0 = all). The same **seed** gives the same text.
The bar chart shows the probabilities for the character right after your prompt at the current
temperature — move the slider and watch them sharpen or flatten."""

CHECKPOINT = """\
**Download** saves the trained model as one `.safetensors` file: weights, vocabulary, settings and
loss history (a safe format: opening it runs no code). **Upload** one to write with it again or to
continue training it — on text that uses only characters it knows."""

NO_MODEL = "No model yet: train one in the Train tab, or upload a checkpoint in the Keep tab."


def takeaway(checkpoint_name: str | None, server_url: str | None) -> str:
    """Markdown: two copy-paste snippets that use a downloaded model outside this page — with the
    `charrnn` package, and by calling this server with `gradio_client`. Tested by running them."""
    name = checkpoint_name or "model.safetensors"
    url = server_url or "http://127.0.0.1:7860/"
    return f"""\
**Use the downloaded model outside this page.** With this project's `charrnn` package (in the `.venv` that
`bash scripts/start.sh` makes in a copy of the repository; it works from any folder):

```python
from charrnn import generate, load
bundle = load("{name}")  # weights, vocabulary and settings: all in the one file
print(generate(bundle.model, bundle.vocab, "The ", 300, temperature={TEMPERATURE:g}, seed=0))
```

Or let this server write with it, from any Python with `pip install gradio_client`:

```python
from gradio_client import Client, handle_file
client = Client("{url}", verbose=False)  # one Client is one tab, with its own model
client.predict(file=handle_file("{name}"), api_name="/load_checkpoint")
print(client.predict(prompt="The ", length=300, temperature={TEMPERATURE:g}, seed=0, api_name="/sample"))
```"""
