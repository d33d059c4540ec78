"""Every view of the Inside tab, the sampling step and the diagnosis's layers, over every registered model
and over a model registered only here (tests/causal_conv.py).

Nothing here names a model: what a view may refuse follows from what the model says about itself (no
input layer, no probes, no attention, not counted), and each view's numbers are checked against something
independent of it — the sampling step, a model's own forward pass, a text changed where the view says it
does not matter, counted pairs, autograd through a real training step. A model added to the registry runs
through all of it, so it gets every view that applies to it, or a test here fails.
"""

import math
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from causal_conv import CausalConv
from torch.testing import assert_close

from charrnn import Vocab
from charrnn.inspect import (
    InspectError,
    attention_maps,
    batch_shapes,
    bigram_table,
    diagnose,
    embedding_map,
    find_units,
    grad_stats_now,
    layers,
    neuron,
    next_char_chart,
    predictions,
    record_graph,
    saliency,
    saturation,
    snapshot,
)
from charrnn.inspect.common import position_logits
from charrnn.inspect.diagnose import group_norms
from charrnn.inspect.neurons import activations
from charrnn.inspect.shapes import check_shapes
from charrnn.models import MODELS, build_model, make_config
from charrnn.sample import generate, next_char_probs, stream
from charrnn.train import lm_loss

NEW = "causal-conv"
NAMES = [*MODELS, NEW]
SMALL = dict(n_hidden=24, n_layer=2, n_embd=12, n_head=2, block_size=16, context=4, order=3)
TEXT = 'He said "hello (there)" to 3 Cats.\nShe said "no, 42".\nThe cat (a big one) sat.\n' * 6
VOCAB = Vocab.from_text(TEXT)


@pytest.fixture(autouse=True)
def registered(monkeypatch):
    """The new model is in the registry for one test at a time, never in charrnn.models itself."""
    monkeypatch.setitem(MODELS, NEW, CausalConv)


def small(name, seed=0, **options):
    model = build_model(name, len(VOCAB), make_config(name, **{**SMALL, **options}), seed=seed)
    if model.fitted_by_counting:
        model.fit_counts(VOCAB.encode(TEXT))
    return model.eval()


def stepped(model, ids):
    """The sampling path, by the model's own `step`: logits (T, V) and the state after each character."""
    rows, states, state = [], [], None
    with torch.no_grad():
        for t in range(len(ids)):
            logits, state = model.step(ids[t:t + 1], state)  # (1, V)
            rows.append(logits[0])
            states.append(state)
    return torch.stack(rows), states


# ---- the sampling step ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_step_is_forward_one_character_at_a_time(name):
    model = small(name)
    ids = VOCAB.encode(TEXT[:40])
    with torch.no_grad():
        whole, _ = model(ids[None, :model.max_seq_len or 40], None)
    steps, _ = stepped(model, ids)
    n = whole.shape[1]
    assert_close(steps[:n], whole[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_stream_samples_what_one_forward_call_per_character_samples(name):
    """The sampler before models had `step`: one forward call on a (1, 1) batch per character. Same seed,
    same characters, exactly."""
    model = small(name, seed=3)
    for prompt, temperature, top_k, seed in (("", 1.0, None, 0), ("He said", 0.7, 3, 5), ("H", 0.0, None, 1)):
        ids = VOCAB.encode(prompt or "\n")
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            if model.recurrent:
                logits, state = model(ids[None], None)
            else:
                state = None
                for t in range(len(ids)):
                    logits, state = model(ids[None, t:t + 1], state)
            logits, expected = logits[0, -1], []
            for _ in range(60):
                if temperature <= 0:
                    i = int(logits.argmax())
                else:
                    z = logits.float()
                    if top_k:
                        z = z.masked_fill(z < torch.topk(z, top_k).values[-1], float("-inf"))
                    i = int(torch.multinomial(torch.softmax(z / temperature, -1), 1, generator=g))
                expected.append(VOCAB.chars[i])
                logits, state = model(torch.tensor([[i]]), state)
                logits = logits[0, -1]
        assert "".join(stream(model, VOCAB, prompt, 60, temperature, top_k, seed)) == "".join(expected)


# ---- predictions --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_predictions_are_what_the_sampling_path_predicts(name):
    model = small(name)
    text = TEXT[:60]
    ids = VOCAB.encode(text)
    logits, _ = stepped(model, ids)
    assert_close(position_logits(model, ids), logits, rtol=1e-4, atol=1e-4)
    p = predictions(model, VOCAB, text)
    ce = F.cross_entropy(logits[:-1], ids[1:])
    assert p.mean_loss == pytest.approx(float(ce), rel=1e-4)
    chart = next_char_chart(model, VOCAB, text, 1.0, min_prob=0.0, max_bars=len(VOCAB))
    probs = dict(next_char_probs(model, VOCAB, text, 1.0))
    assert chart.probs == pytest.approx([probs[c] for c in chart.chars], rel=1e-5)


# ---- neurons -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_neurons_of_every_layer_the_model_names(name):
    model = small(name)
    if not model.probes():
        assert model.fitted_by_counting, "a gradient-trained model must name its hidden activations (probes)"
        with pytest.raises(InspectError, match="has no neurons"):
            layers(model)
        return
    found = layers(model)
    assert [la.name for la in found] == [p.name for p in model.probes()]
    assert len({la.name for la in found}) == len(found)
    ids = VOCAB.encode(TEXT[:50])
    acts = activations(model, ids)
    head = activations(model, ids[:20])
    for la in found:
        assert acts[la.name][1].shape == (50, la.size)
        # row t is read from text[:t+1] alone: the first 20 rows do not depend on what comes after
        assert_close(head[la.name][1], acts[la.name][1][:20], rtol=1e-4, atol=1e-5)
    trace = neuron(model, VOCAB, TEXT, found[-1].name, 0, max_chars=30)
    assert trace.values == pytest.approx(acts[found[-1].name][1][:30, 0].tolist(), rel=1e-4, abs=1e-5)
    assert find_units(model, VOCAB, TEXT[:80], top_k=2)
    bounded = [la.name for la in found if la.bounded]
    if bounded:
        shares = saturation(model, VOCAB, TEXT[:80])
        assert list(shares) == bounded and all(0 <= v <= 1 for v in shares.values())
        assert all(float(acts[n][1].abs().max()) <= 1 for n in bounded)  # bounded means |a| ≤ 1
    else:
        with pytest.raises(InspectError, match="no tanh"):
            saturation(model, VOCAB, TEXT[:80])


# ---- saliency and the embedding map: the input layer -----------------------------------------------

@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_saliency_is_zero_exactly_where_a_changed_character_changes_nothing(name, onehot):
    model = small(name, onehot=onehot)
    if onehot and (model.input_layer() is None or model.input_layer().kind != "onehot"):
        pytest.skip("this model has no one-hot input")
    if model.input_layer() is None:
        assert model.fitted_by_counting, "a gradient-trained model must say how characters enter it"
        with pytest.raises(InspectError, match="has no gradient"):
            saliency(model, VOCAB, TEXT, 5)
        return
    t = 30
    s = saliency(model, VOCAB, TEXT, t, target="true")
    assert len(s.raw) == t + 1 and min(s.raw) >= 0 and max(s.weight) == 1.0 and s.raw[t] > 0
    if model.context:  # characters out of its sight get exactly nothing
        assert all(r == 0 for r in s.raw[:t + 1 - model.context])
    before = next_char_probs(model, VOCAB, TEXT[:t + 1], 1.0)

    def moved(k):  # how far the prediction moves when character k is another one
        changed = TEXT[:k] + ("a" if TEXT[k] != "a" else "e") + TEXT[k + 1:t + 1]
        after = dict(next_char_probs(model, VOCAB, changed, 1.0))
        return max(abs(p - after[c]) for c, p in before)

    assert moved(t) > 0  # the character just read matters, as its saliency says
    for k in (t, t - 1, t - 3):  # the norm of the gradient, by central differences instead of autograd
        assert finite_difference_norm(model, s.target, t, k) == pytest.approx(s.raw[k], rel=2e-2, abs=1e-4), k
    unseen = [k for k, r in enumerate(s.raw) if r == 0]
    for k in unseen[:1] + unseen[-1:]:  # a saliency of exactly 0: changing it changes nothing
        assert moved(k) == 0, k


def finite_difference_norm(model, target, t, k, eps=1e-2):
    """‖∂ log p(target | text[:t+1]) / ∂ v_k‖₂ from 2·D extra forward passes, nudging the vector the model
    reads for character k (the input module's output) along each axis."""
    spec = model.input_layer()
    W = model.window_len(1)
    first = 0 if W is None else max(0, t + 1 - W)
    x = VOCAB.encode(TEXT[first:t + 1])[None]

    def logp(nudge):
        def add(_m, _i, out):
            out = out.clone()
            if spec.kind == "window":  # the last position's window: slot j holds character t - C + 1 + j
                out[0, -1, k - (t + 1 - out.shape[2])] += nudge
            else:
                out[0, k - first] += nudge
            return out
        handle = spec.module.register_forward_hook(add)
        try:
            with torch.no_grad():
                return float(torch.log_softmax(model(x, None)[0][0, -1].double(), -1)[VOCAB.stoi[target]])
        finally:
            handle.remove()

    D = model.vocab_size if spec.kind == "onehot" else spec.table.shape[1]  # the size of one input vector
    grad = [(logp(eps * e) - logp(-eps * e)) / (2 * eps) for e in torch.eye(D)]
    return math.sqrt(sum(g * g for g in grad))


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_embedding_map_is_the_pca_of_the_vectors_the_model_reads(name, onehot):
    model = small(name, onehot=onehot)
    if onehot and (model.input_layer() is None or model.input_layer().kind != "onehot"):
        pytest.skip("this model has no one-hot input")
    spec = model.input_layer()
    if spec is None:
        with pytest.raises(InspectError, match="no embedding"):
            embedding_map(model, VOCAB)
        return
    m = embedding_map(model, VOCAB)
    assert m.source == spec.source and len(m.x) == len(VOCAB)
    # the table really is what the input module gives for each character (one-hot: through the first matrix)
    with torch.no_grad():
        read = spec.module(torch.arange(len(VOCAB))[None])[0]  # (V, D): the vector read for each character
    if spec.kind == "onehot":
        assert torch.equal(read, torch.eye(len(VOCAB)))
    else:
        assert torch.equal(read, spec.table.detach())
    X = spec.table.detach().double()
    X = X - X.mean(0)
    eig = torch.linalg.eigvalsh(X.T @ X).flip(0)
    assert (torch.tensor([m.x, m.y]) ** 2).sum(1).tolist() == pytest.approx(eig[:2].tolist(), rel=1e-5)


# ---- maps: attention and counts -----------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_attention_maps_of_every_attention_layer(name):
    model = small(name)
    if not model.attention_layers():
        with pytest.raises(InspectError, match="attention"):
            attention_maps(model, VOCAB, TEXT)
        return
    maps = attention_maps(model, VOCAB, TEXT)
    W = torch.tensor(maps.weights)  # (n_layer, n_head, T, T)
    assert W.shape[0] == len(model.attention_layers()) and W.shape[-1] == len(maps.labels)
    assert_close(W.sum(-1), torch.ones(W.shape[:-1]))
    assert float(W.triu(1).abs().max()) == 0.0  # causal: nothing from the future


@pytest.mark.parametrize("name", NAMES)
def test_bigram_table_only_for_a_counted_model_and_then_the_pairs_of_the_text(name):
    model = small(name)
    if not model.fitted_by_counting:
        with pytest.raises(InspectError, match="count table"):
            bigram_table(model, VOCAB)
        return
    pairs = Counter(zip(TEXT, TEXT[1:], strict=False))
    assert bigram_table(model, VOCAB).counts == [[pairs[(a, b)] for b in VOCAB.chars] for a in VOCAB.chars]


# ---- shapes and the graph -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_shapes_and_graph_of_a_real_batch(name):
    model = small(name)
    r = batch_shapes(model, VOCAB, TEXT)
    check_shapes(r)  # every named-dims string reads back as its sizes
    assert set(model.named_sizes()) <= set(r.dims)
    seen = {}
    hooks = [m.register_forward_hook(lambda m, i, o, p=p: seen.setdefault(p, o))
             for p, m in model.named_modules() if p]
    with torch.no_grad():
        logits, _ = model(torch.stack([VOCAB.encode(TEXT[:r.dims["T"]])] * r.dims["B"]), None)
    for h in hooks:
        h.remove()
    assert {t.module_path for t in r.tensors if t.module_path and t.module != "attention"} == set(seen)
    assert [t for t in r.tensors if t.name == "logits"][0].sizes == list(logits.shape)
    g = record_graph(model, VOCAB, TEXT, steps=2)
    outputs = [n for n in g.nodes if n.kind == "output"]
    assert outputs[0].label == "logits" and outputs[0].dims == "(B, T, V)"
    assert {e.src for e in g.edges} | {n.id for n in outputs} == {n.id for n in g.nodes}


# ---- gradient statistics and the diagnosis --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_gradient_statistics_are_grouped_by_the_models_own_layers(name):
    model = small(name).train()
    groups = model.param_layers()
    assert set(groups) == {n for n, _ in model.named_parameters()}  # every weight belongs somewhere
    if not groups:
        assert model.fitted_by_counting
        return
    spec = model.input_layer()
    assert all(groups[n] == "input" for n, p in model.named_parameters()
               if any(p is q for q in spec.module.parameters()))
    labels = set(groups.values())
    k = sorted(int(g.split()[1]) for g in labels if g.startswith("layer "))
    assert labels <= {"input", "output", *(f"layer {i}" for i in k)} and k == list(range(1, len(k) + 1))
    assert "output" in labels and k, "a model has layers and an output that feeds the logits"
    # a real step: the sample carries the grouping, and group_norms reads every layer's gradient
    ids = VOCAB.encode(TEXT[:65])
    x, y = ids[None, :-1], ids[None, 1:]
    if model.max_seq_len:
        x, y = x[:, :model.max_seq_len], y[:, :model.max_seq_len]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    lm_loss(model(x, None)[0], y).backward()
    before = snapshot(model)
    opt.step()
    sample = grad_stats_now(model, before, step=1)
    norms = group_norms(sample)
    assert set(norms) == labels and all(v > 0 for v in norms.values())
    # the diagnosis finds vanishing gradients in any model with two layers or more, from its own grouping
    if len(k) >= 2:
        vanishing = {**sample, "grad_norm": {n: g * (1e-4 if groups[n] == "layer 1" else 1.0)
                                             for n, g in sample["grad_norm"].items()}}
        h = _learning_history()
        found = diagnose(h, uniform=math.log(len(VOCAB)), unigram=2.9, grad_stats=[vanishing] * 3)
        assert any(f.kind == "vanishing_gradients" and "layer 1" in f.message for f in found), found


def _learning_history():
    from charrnn.bundle import History

    h = History()
    h.step = list(range(1, 201))
    h.chars = [s * 100 for s in h.step]
    h.train_loss = [math.log(len(VOCAB)) * math.exp(-i / 60) + 0.5 for i in range(200)]
    return h


def test_the_new_model_is_not_in_the_registry_outside_these_tests(monkeypatch):
    monkeypatch.delitem(MODELS, NEW)
    from charrnn import models

    assert NEW not in models.MODELS and CausalConv not in models.MODELS.values()
    assert generate(small("lstm"), VOCAB, "He", 5, seed=0)  # and the registry still works without it
