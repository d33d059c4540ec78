"""Issue 18, items 5 and 6 on the page: a value a field cannot read is answered with a message naming the
field (Gradio's own answer is a bare "Error"), a checkpoint claiming 10^400 characters and /find_units with
a list are clear refusals, and "random" (seed −1) is drawn anew for every sample and shown, so that a good
sample can be written again.
"""

from __future__ import annotations

import json

import httpx
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from safetensors import safe_open
from safetensors.torch import save_file

from charrnn_app import sampling


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from charrnn_app.settings import Settings

    examples = tmp_path_factory.mktemp("examples")
    (examples / "tiny.txt").write_text("the cat sat on the mat. " * 40)
    return Settings(concurrency=2, queue_size=16, max_seconds=20, max_upload_mb=1, max_params=1_000_000,
                    examples_dir=examples)


@pytest.fixture(scope="module")
def trained(server):
    """A client whose tab holds a small GRU, and the checkpoint it downloaded."""
    client = Client(server, verbose=False)
    out = client.predict(example="tiny", model="gru", max_steps=3, n_hidden=8, n_layer=1, batch_size=2, seq_len=8,
                         api_name="/train")
    return client, out[3]


def raw_call(url: str, client: Client, api: str, values: dict) -> str | None:
    """Call `api` as a script would, with raw JSON (what gradio_client would refuse to send) in the client's
    tab; the error message the server answers with (None: a bare "Error"), or "" if it succeeded."""
    params = httpx.get(url + "gradio_api/info").json()["named_endpoints"][api]["parameters"]
    data = [values.get(p["parameter_name"], p.get("parameter_default")) for p in params]
    r = httpx.post(url + "gradio_api/call" + api, timeout=30, headers={"content-type": "application/json"},
                   content=json.dumps({"data": data, "session_hash": client.session_hash}))
    stream = httpx.get(url + f"gradio_api/call{api}/{r.json()['event_id']}", timeout=60).text
    if "event: error" not in stream:
        return ""
    return json.loads(stream.split("event: error", 1)[1].split("data:", 1)[1].splitlines()[0])["error"]


@pytest.mark.server
@pytest.mark.parametrize("api, values, field", [
    ("/sample", {"prompt": "the", "temperature": ["a", "b"]}, "temperature"),
    ("/sample", {"prompt": "the", "length": None}, "length"),
    ("/sample", {"prompt": "the", "top_k": "NaN"}, "top-k"),
    ("/next_char_probs", {"prompt": "the", "temperature": {"x": 1}}, "temperature"),
    ("/worked_loss", {"text": "the cat", "position": [[1]]}, "position"),
    ("/saliency", {"text": "the cat", "position": "NaN"}, "position"),
    ("/neurons", {"text": "the cat", "unit": ["a"]}, "unit"),
])
def test_a_value_a_field_cannot_read_gets_a_message_naming_the_field(server, trained, api, values, field):
    client, _ = trained
    message = raw_call(server, client, api, values)
    assert message, f"{api} answered a bare Error"  # None: Gradio's bare "Error"
    assert field in message and "it takes a" in message


@pytest.mark.server
@pytest.mark.parametrize("api, values, words", [
    ("/train", {"example": "tiny", "time_budget": 2}, "“time budget (seconds)” cannot be 2: it takes a number "
                                                      "from 5 to 20"),
    ("/train", {"example": "tiny", "time_budget": 500}, "“time budget (seconds)” cannot be 500: it takes a number "
                                                        "from 5 to 20"),
    ("/sample", {"prompt": "the", "length": 5}, "“length (characters)” cannot be 5: it takes a number from 10 to 2000"),
    ("/sample", {"prompt": "the", "temperature": 3}, "“temperature” cannot be 3: it takes a number from 0 to 2"),
    ("/sample", {"prompt": "the", "seed": -5}, "“seed (-1 = random)” cannot be -5: it takes a number -1 or more"),
    ("/race", {"example": "tiny", "models": ["ngram"], "time_budget": 0}, "“budget per model (seconds of its own "
                                                                         "training)” cannot be 0"),
])
def test_a_number_outside_its_fields_range_is_refused_naming_the_field_and_no_traceback(
        server, trained, server_tracebacks, api, values, words):
    """Gradio refuses a number outside a slider's (or a number field's) range before any handler runs, with
    "Value 2 is less than minimum value 5." and a traceback in the server's log (a tester typed 2 into the
    time budget): a request (Train, Sample, Race; a script's call) is answered with the field's name and its
    range, as the user's error, and nothing is logged."""
    client, _ = trained
    before = len(server_tracebacks.seen)
    message = raw_call(server, client, api, values)
    assert message and words in message, message
    assert server_tracebacks.seen[before:] == []


@pytest.mark.server
def test_a_seed_past_a_floats_range_is_a_clear_refusal(trained):
    client, _ = trained
    with pytest.raises(AppError, match="seed must be a whole number .* digits"):
        client.predict(prompt="the", seed=10**400, api_name="/sample")


@pytest.mark.server
@pytest.mark.parametrize("prop, span", [(["all", "digit"], ""), ("selected span", ["1", "4"]), ({"a": 1}, "")])
def test_find_units_with_a_list_is_a_clear_message(server, trained, prop, span):
    client, _ = trained
    message = raw_call(server, client, "/find_units", {"text": "the cat sat", "prop": prop, "span": span})
    assert message is not None  # a clear refusal ("…not in the list of choices…"), or a note in the view
    if message:
        assert "property" in message or "choices" in message


@pytest.mark.server
@pytest.mark.parametrize("key, value", [("chars_seen", "1" + "0" * 400), ("chars_seen", "1e400"),
                                        ("step", "1" + "0" * 400), ("seconds", "1e400")])
def test_a_checkpoint_claiming_ten_to_the_400_is_refused_saying_which_count(trained, tmp_path, key, value):
    client, path = trained
    with safe_open(path, "pt") as f:
        meta, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    lie = tmp_path / "lie.safetensors"
    save_file(tensors, str(lie), metadata={**meta, key: value})
    with pytest.raises(AppError, match=f"its {key} is"):
        client.predict(file=handle_file(str(lie)), api_name="/load_checkpoint")
    assert set(client.predict(prompt="the", length=20, api_name="/sample")) <= set("the cat sat on mt.")


# ---- seed −1: random for every request, and shown --------------------------------------------------------

def test_random_is_drawn_for_every_sample_and_the_seed_shown_writes_it_again():
    from charrnn import Bundle, TrainConfig, Vocab, build_model, make_config, split, train
    from charrnn_app.session import Session

    text = "the cat sat on the mat. the dog sat on the log. " * 30
    vocab = Vocab.from_text(text)
    bundle = Bundle(build_model("gru", len(vocab), make_config("gru", n_hidden=16, n_layer=1)), vocab, "gru")
    tr, va = split(vocab.encode(text), seq_len=8)
    for _ in train(bundle, tr, va, TrainConfig(max_steps=5, time_budget=None, batch_size=4, seq_len=8)):
        pass
    session = Session()
    session.bundle = bundle
    texts, seeds = [], []
    for _ in range(3):
        torch.manual_seed(0)  # what a run starting in another tab does to torch's global generator
        texts.append(list(sampling.sample_text(session, "the ", 120, 1.0, 0, -1))[-1][0])
        seeds.append(session.sample_seed)
        assert str(seeds[-1]) in sampling.seed_note(session)
    assert len(set(texts)) == 3 and len(set(seeds)) == 3  # not the seed-0 text every time
    again = list(sampling.sample_text(session, "the ", 120, 1.0, 0, seeds[1]))[-1][0]
    assert again == texts[1] and session.sample_seed == seeds[1]
