"""Looking inside a model (issue 13), each view checked against something independent of it:
the sampling path for per-position predictions, PyTorch's own layers for hidden states, planted
units and hand-built models for "find units" and saliency, our own hooks for the shape listing,
counted pairs for the bigram table, and real short training runs for the diagnosis.
"""

import math
import random
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from charrnn import Bundle, TrainConfig, Vocab, corpus_stats, next_char_probs, split, train
from charrnn.bundle import History
from charrnn.inspect import (
    InspectError,
    attention_maps,
    batch_shapes,
    bigram_table,
    default_prompt,
    diagnose,
    embedding_map,
    find_units,
    grad_stats_now,
    layers,
    neuron,
    next_char_chart,
    param_groups,
    predictions,
    record_graph,
    saliency,
    saturation,
    snapshot,
    text_properties,
    to_dot,
    worked_loss,
)
from charrnn.inspect.common import position_logits
from charrnn.inspect.maps import attention_weights
from charrnn.inspect.neurons import activations
from charrnn.inspect.shapes import check_shapes
from charrnn.models import MODELS, build_model, make_config

SMALL = dict(n_hidden=24, n_layer=2, n_embd=12, n_head=2, block_size=16, context=4, order=3)
TEXT = 'He said "hello (there)" to 3 Cats.\nShe said "no, 42".\nThe cat (a big one) sat.\n' * 6
VOCAB = Vocab.from_text(TEXT)
NEURAL = [n for n in MODELS if not MODELS[n].fitted_by_counting]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def small(name, **options):
    model = build_model(name, len(VOCAB), make_config(name, **{**SMALL, **options}))
    if model.fitted_by_counting:
        model.fit_counts(VOCAB.encode(TEXT))
    return model.eval()


def one_at_a_time(model, ids):
    """The sampling path: feed one character at a time, carrying the state. (T, V)"""
    rows, state = [], None
    with torch.no_grad():
        for t in range(len(ids)):
            logits, state = model(ids[None, t:t + 1], state)
            rows.append(logits[0, -1])
    return torch.stack(rows)


# ---- predictions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_every_position_sees_the_context_it_would_see_when_writing(name):
    model = small(name)
    if name == "transformer":
        model.trained_len.fill_(10)  # trained on 10-character windows: it reads 10, not block_size
    ids = VOCAB.encode(TEXT[:60])  # longer than the transformer's window: the window slides
    assert_close(position_logits(model, ids), one_at_a_time(model, ids), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["ngram", "lstm", "transformer"])
def test_prediction_strip_and_worked_loss(name):
    model = small(name)
    text = TEXT[:80]
    p = predictions(model, VOCAB, text)
    assert [c.position for c in p.chars] == list(range(1, 80)) and not p.truncated
    logits = one_at_a_time(model, VOCAB.encode(text))[:-1]
    ce = F.cross_entropy(logits, VOCAB.encode(text)[1:], reduction="none")
    assert [c.loss for c in p.chars] == pytest.approx(ce.tolist(), rel=1e-4, abs=1e-5)
    assert p.mean_loss == pytest.approx(float(ce.mean()), rel=1e-5)
    assert p.mean_bits == pytest.approx(p.mean_loss / math.log(2))
    c = p.chars[40]
    assert c.char == text[41] and len(c.top) == 5 and c.top[0][1] >= c.top[-1][1]
    assert c.prob == pytest.approx(math.exp(-c.loss), rel=1e-5)

    w = worked_loss(model, VOCAB, text, 41)
    assert w.char == text[41] and w.context == text[:41]
    assert w.loss == pytest.approx(w.cross_entropy, rel=1e-5)  # −log softmax = F.cross_entropy
    assert w.loss == pytest.approx(w.logsumexp - w.logit_true, rel=1e-9)
    assert w.loss == pytest.approx(c.loss, rel=1e-4) and sum(w.probs) == pytest.approx(1.0)


def test_text_is_bounded_and_checked():
    model = small("gru")
    p = predictions(model, VOCAB, TEXT, max_chars=50)
    assert p.truncated and p.text == TEXT[:50] and len(p.chars) == 49
    with pytest.raises(InspectError, match="never saw"):
        predictions(model, VOCAB, "hello ~")
    with pytest.raises(InspectError, match="at least 2"):
        predictions(model, VOCAB, "H")
    with pytest.raises(InspectError, match="position"):
        worked_loss(model, VOCAB, "Hello", 0)


# ---- neurons ----------------------------------------------------------------------------------------

def test_neurons_for_every_model_and_a_plain_no_for_the_ngram():
    expected = {"mlp": ["hidden 1", "hidden 2"], "rnn": ["layer 1 h", "layer 2 h"],
                "lstm": ["layer 1 h", "layer 1 c", "layer 2 h", "layer 2 c"],
                "lstm-scratch": ["layer 1 h", "layer 1 c", "layer 2 h", "layer 2 c"],
                "transformer": ["block 1 residual", "block 1 mlp", "block 2 residual", "block 2 mlp"]}
    for name in NEURAL:
        model = small(name)
        found = layers(model)
        assert [la.name for la in found] == expected.get(name, ["layer 1 h", "layer 2 h"])
        trace = neuron(model, VOCAB, TEXT, found[-1].name, 3, max_chars=40)
        assert len(trace.values) == 40 and trace.low <= min(trace.values)
    with pytest.raises(InspectError, match="an n-gram has no neurons: it is a table of counts"):
        layers(small("ngram"))


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_every_layer_of_a_fused_rnn_equals_pytorch_layer_by_layer(name):
    """nn.LSTM returns only the top layer: the lower one is checked against a 1-layer nn.LSTM
    with the same weights, the top one against the fused output."""
    model = small(name)
    ids = VOCAB.encode(TEXT[:50])
    acts = activations(model, ids)
    emb = model.input(ids[None])
    one = type(model.rnn)(model.rnn.input_size, model.rnn.hidden_size, 1, batch_first=True)
    with torch.no_grad():
        for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(one, f"{p}_l0").copy_(getattr(model.rnn, f"{p}_l0"))
        lower, _ = one(emb)
        top, _ = model.rnn(emb)
    assert_close(acts["layer 1 h"][1], lower[0], rtol=1e-4, atol=1e-5)
    assert_close(acts["layer 2 h"][1], top[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["rnn-scratch", "lstm-scratch", "transformer", "mlp"])
def test_hooked_activations_agree_with_the_model(name):
    model = small(name)
    ids = VOCAB.encode(TEXT[:40])
    acts = activations(model, ids)
    with torch.no_grad():
        if model.recurrent:  # the state forward returns is every layer's value after the last step
            _, state = model(ids[None], None)
            h = state[0] if isinstance(state, tuple) else state
            for i in range(2):
                assert_close(acts[f"layer {i + 1} h"][1][-1], h[i, 0])
        elif name == "mlp":  # the last hidden layer feeds the head: head(h) must give the logits
            assert_close(model.head(acts["hidden 2"][1]), position_logits(model, ids), rtol=1e-4, atol=1e-5)
        else:  # the last residual stream feeds ln_f and the head, position by position (windows)
            assert_close(model.head(model.ln_f(acts["block 2 residual"][1])), position_logits(model, ids),
                         rtol=1e-4, atol=1e-5)


def quote_and_line_rnn():
    """A hand-built 2-layer relu RNN on one-hot input with two planted units:

    layer 1 unit 2 counts characters since the last newline: h = relu(h + 1 - 1000·[newline]);
    layer 1 units 0, 1 flip-flop on '"' (a = opening quote now, b = still inside), and
    layer 2 unit 5 = relu(a + b) is 1 exactly inside quotes. All other units are random.
    """
    model = build_model("rnn-scratch", len(VOCAB), make_config(
        "rnn-scratch", n_hidden=8, n_layer=2, onehot=True, nonlinearity="relu"), seed=1).eval()
    q, nl = VOCAB.stoi['"'], VOCAB.stoi["\n"]
    c0, c1 = model.cells
    with torch.no_grad():
        for w in (c0.weight_ih, c0.weight_hh, c0.bias_ih, c0.bias_hh):
            w[:3] = 0
        c0.weight_ih[0, q] = 1  # a = relu(q - a - b)
        c0.weight_hh[0, :2] = -1
        c0.weight_ih[1, q] = -1  # b = relu(a + b - q)
        c0.weight_hh[1, :2] = 1
        c0.weight_hh[2, 2] = 1  # col = relu(col + 1 - 1000·newline)
        c0.bias_ih[2] = 1
        c0.weight_ih[2, nl] = -1000
        for w in (c1.weight_ih, c1.weight_hh, c1.bias_ih, c1.bias_hh):
            w[5] = 0
        c1.weight_ih[5, :2] = 1
    return model


def test_find_units_finds_planted_quote_and_line_position_units():
    model = quote_and_line_rnn()
    props = text_properties(TEXT)
    assert neuron(model, VOCAB, TEXT, "layer 2 h", 5).values == props["inside quotes"]
    matches = find_units(model, VOCAB, TEXT, top_k=3)
    best = {m.property: m for m in matches if m is next(x for x in matches if x.property == m.property)}
    assert (best["inside quotes"].layer, best["inside quotes"].unit) == ("layer 2 h", 5)
    assert best["inside quotes"].correlation == pytest.approx(1.0)
    assert (best["position in line"].layer, best["position in line"].unit) == ("layer 1 h", 2)
    assert best["position in line"].correlation == pytest.approx(1.0)
    # spans the user selects: each quotation, from its opening mark to before its closing one
    marks = [k for k, c in enumerate(TEXT) if c == '"']
    top = find_units(model, VOCAB, TEXT, spans=list(zip(marks[::2], marks[1::2], strict=True)), top_k=1)
    assert [(m.layer, m.unit, m.property) for m in top] == [("layer 2 h", 5, "selected span")]
    assert top[0].correlation == pytest.approx(1.0)


def test_saturation_counts_tanh_units_near_one():
    model = small("rnn-scratch", n_layer=1)
    with torch.no_grad():
        model.cells[0].bias_ih.fill_(10.0)  # every unit pinned at tanh(≈10) = 1
    assert saturation(model, VOCAB, TEXT) == {"layer 1 h": 1.0}
    with pytest.raises(InspectError, match="no tanh"):
        saturation(small("transformer"), VOCAB, TEXT)


# ---- saliency ---------------------------------------------------------------------------------------

def previous_char_only(name):
    """A model whose prediction depends only on the character just read."""
    model = small(name, n_layer=1)
    with torch.no_grad():
        if name == "rnn":
            model.rnn.weight_hh_l0.zero_()  # no recurrence: h_t depends on x_t alone
        elif name == "lstm-scratch":
            model.cells[0].weight_hh.zero_()
            model.cells[0].bias_ih[model.config.n_hidden:2 * model.config.n_hidden] = -1e4  # forget all
        elif name == "mlp":
            model.hidden[0].weight[:, :-model.config.n_embd] = 0  # only the newest slot of the window
        elif name == "transformer":
            for block in model.blocks:
                block.attn.proj.weight.zero_()  # attention adds nothing: each position sees itself
                block.attn.proj.bias.zero_()
    return model


@pytest.mark.parametrize("name", ["rnn", "lstm-scratch", "mlp", "transformer"])
def test_saliency_of_a_previous_character_model_highlights_only_that_character(name):
    s = saliency(previous_char_only(name), VOCAB, TEXT, 30, target="true")
    assert len(s.weight) == 31 and s.target == TEXT[31]
    assert s.weight[-1] == 1.0 and max(s.weight[:-1]) < 1e-6


def test_saliency_of_an_lstm_reaches_back_and_is_the_gradient():
    model = small("lstm")
    s = saliency(model, VOCAB, TEXT, 20)
    assert s.weight[-1] > 0 and sum(w > 0.01 for w in s.weight[:-1]) >= 3  # it looks back
    # against the gradient taken by hand on the embedding output
    ids = VOCAB.encode(TEXT[:21])
    emb = model.input(ids[None]).detach().requires_grad_(True)
    out, _ = model.rnn(emb)
    logp = torch.log_softmax(model.head(out)[0, -1], -1)
    logp[VOCAB.stoi[s.target]].backward()
    assert s.raw == pytest.approx(emb.grad[0].norm(dim=-1).tolist(), rel=1e-4, abs=1e-9)
    with pytest.raises(InspectError, match="n-gram has no gradient"):
        saliency(small("ngram"), VOCAB, TEXT, 5)
    with pytest.raises(InspectError, match="no true next"):
        saliency(model, VOCAB, "Hello", 4, target="true")


# ---- shapes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_listed_shapes_are_the_shapes_the_model_produces(name):
    model = small(name)
    r = batch_shapes(model, VOCAB, TEXT)
    check_shapes(r)  # every named-dims string reads back as its sizes
    B, T = r.dims["B"], r.dims["T"]
    assert len({B, T} | {v for k, v in r.dims.items() if k not in "BT"}) == len(r.dims) - _ties(r.dims)
    rows = {(t.module_path, t.name): t for t in r.tensors}
    x = rows[("", "x")]
    assert x.sizes == [B, T] and x.dims == "(B, T)" and x.dtype == "int64"
    # our own hooks, independent of the listing: the first output of every module that ran
    seen, modules = {}, dict(model.named_modules())
    hooks = [m.register_forward_hook(lambda m, i, o, p=p: seen.setdefault(p, o)) for p, m in modules.items() if p]
    xb = torch.stack([VOCAB.encode(TEXT[:T])] * B)
    with torch.no_grad():
        logits, state = model(xb, None)
    for h in hooks:
        h.remove()
    listed = {t.module_path for t in r.tensors if t.module_path and t.module != "attention"}
    assert listed == set(seen)
    for path, out in seen.items():
        first = out if isinstance(out, torch.Tensor) else out[0]
        assert rows[(path, "h" if (path, "h") in rows else "output")].sizes == list(first.shape), path
    assert rows[("", "logits")].sizes == list(logits.shape) and rows[("", "logits")].dims == "(B, T, V)"
    assert rows[("", "targets")].dims == "(B, T)" and rows[("", "cross-entropy")].sizes == []
    states = [state] if isinstance(state, torch.Tensor) else list(state)
    assert [t.sizes for t in r.tensors if t.module == "state"] == [list(s.shape) for s in states]
    if name.endswith("scratch"):
        assert rows[("cells.0", "h" if name == "lstm-scratch" else "output")].calls == T  # one call per step
    if name == "transformer":
        assert rows[("blocks.0.attn", "q")].dims == "(B, heads, T, hd)"
    if model.recurrent:
        assert rows[("", "state h" if "lstm" in name else "state")].dims == "(L, B, H)"


def _ties(dims):
    return len(dims) - len(set(dims.values()))


# ---- maps -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,options", [("lstm", {}), ("rnn-scratch", {"onehot": True}), ("mlp", {}),
                                          ("transformer", {}), ("gru", {"onehot": True})])
def test_embedding_map_is_the_pca_of_the_character_vectors(name, options):
    model = small(name, **options)
    m = embedding_map(model, VOCAB)
    assert m.chars == list(VOCAB.chars) and len(m.x) == len(VOCAB) and "␣" in m.labels
    # independent: the top eigenvectors of the covariance matrix give the same variances
    pts = torch.tensor([m.x, m.y], dtype=torch.float64).T
    from charrnn.inspect.maps import character_vectors
    X = character_vectors(model)[0].detach().double()
    X = X - X.mean(0)
    eig = torch.linalg.eigvalsh(X.T @ X).flip(0)
    assert pts.pow(2).sum(0).tolist() == pytest.approx(eig[:2].tolist(), rel=1e-6)
    assert m.explained == pytest.approx((eig[:2] / eig.sum()).tolist(), rel=1e-6)
    with pytest.raises(InspectError, match="no embedding"):
        embedding_map(small("ngram"), VOCAB)


@pytest.mark.parametrize("order,interpolate", [(2, True), (3, True), (4, False)])
def test_bigram_table_counts_the_pairs_of_the_text(order, interpolate):
    model = small("ngram", order=order, interpolate=interpolate)
    table = bigram_table(model, VOCAB)
    pairs = Counter(zip(TEXT, TEXT[1:], strict=False))
    expected = [[pairs[(a, b)] for b in VOCAB.chars] for a in VOCAB.chars]
    assert table.counts == expected and table.total == len(TEXT) - 1
    with pytest.raises(InspectError, match="1-gram"):
        bigram_table(small("ngram", order=1), VOCAB)


def test_attention_weights_recomputed_reproduce_the_fused_attention():
    model = small("transformer")
    maps = attention_maps(model, VOCAB, TEXT)
    assert maps.truncated and len(maps.labels) == 16  # cut to the window
    W = torch.tensor(maps.weights)  # (n_layer, n_head, T, T)
    assert W.shape == (2, 2, 16, 16)
    assert_close(W.sum(-1), torch.ones(2, 2, 16))
    assert float(W.triu(1).abs().max()) == 0.0  # causal: nothing from the future
    got = {}
    attn = model.blocks[1].attn
    h = attn.register_forward_hook(lambda m, i, o: got.update(x=i[0], y=o))
    with torch.no_grad():
        model(VOCAB.encode(TEXT[:16])[None])
        h.remove()
        x = got["x"]
        B, T, C = x.shape
        v = attn.qkv(x)[..., 2 * C:].view(B, T, 2, C // 2).transpose(1, 2)  # (B, nh, T, hd)
        y = attn.proj((attention_weights(attn, x) @ v).transpose(1, 2).reshape(B, T, C))
    assert_close(y, got["y"], rtol=1e-4, atol=1e-6)
    with pytest.raises(InspectError, match="only the transformer has attention"):
        attention_maps(small("lstm"), VOCAB, TEXT)


# ---- next-character chart -----------------------------------------------------------------------

def test_next_char_chart_drops_empty_bars_and_keeps_the_t1_background():
    model = small("gru")
    cold = next_char_chart(model, VOCAB, "He sa", 0.0)
    assert sorted(cold.probs)[-1] == 1.0 and sum(cold.probs) == pytest.approx(1.0)
    assert all(p >= 1e-3 or q >= 1e-3 for p, q in zip(cold.probs, cold.probs_t1, strict=True))
    assert cold.probs_t1 == sorted(cold.probs_t1, reverse=True)
    assert all(len(label) == 1 for label in cold.labels)  # ␣ ⏎ ⇥: one symbol, no overlap
    assert "space" in cold.names and "␣" in cold.labels
    hot = next_char_chart(model, VOCAB, "He sa", 2.0, top_k=3)
    assert sum(p > 0 for p in hot.probs) == 3 and hot.probs_t1 == cold.probs_t1


def test_default_prompt_ends_mid_word_where_the_next_character_is_uncertain():
    text = ("the cat sat on the mat and the dog ran to the sun.\n"
            "she saw some small stones by the sea, so she sang.\n") * 20
    prompt = default_prompt(text)
    assert prompt and prompt in text and not prompt.endswith("\n") and "\n" not in prompt
    i = text.index(prompt) + len(prompt)
    follow = Counter(text[j + len(prompt.split()[-1])] for j in range(len(text))
                     if text.startswith(" " + prompt.split()[-1], j - 1))
    assert len(follow) >= 3 and text[i] != "\n"  # several characters are plausible next
    assert default_prompt("") == "" and default_prompt("12+3=15\n4+5=9\n" * 10).strip()


# ---- diagnosis ----------------------------------------------------------------------------------------

UNIFORM, UNIGRAM = math.log(30), 2.9


def history(train_loss, val_loss=(), every=10):
    h = History()
    h.step = list(range(1, len(train_loss) + 1))
    h.chars, h.train_loss = [s * 100 for s in h.step], list(train_loss)
    h.val_step = [every * (i + 1) for i in range(len(val_loss))]
    h.val_chars, h.val_loss = [s * 100 for s in h.val_step], list(val_loss)
    return h


def kinds(findings):
    return [f.kind for f in findings]


def test_diagnose_crafted_histories():
    noisy = [0.01 * math.sin(i) for i in range(200)]
    flat_uniform = history([UNIFORM + n for n in noisy])
    found = diagnose(flat_uniform, uniform=UNIFORM, unigram=UNIGRAM, lr=1e-7)
    assert kinds(found) == ["stuck_uniform"] and "learning rate" in found[0].message
    assert found[0].evidence["recent_loss"] == pytest.approx(UNIFORM, abs=0.02)

    dead = [{"step": 10, "grad_norm": {"head.weight": 0.0}, "update_ratio": {}}]
    found = diagnose(flat_uniform, uniform=UNIFORM, unigram=UNIGRAM, grad_stats=dead)
    assert kinds(found) == ["stuck_uniform"] and "No gradient" in found[0].message

    above = history([UNIFORM + 0.8 + n for n in noisy])
    assert kinds(diagnose(above, uniform=UNIFORM, unigram=UNIGRAM)) == ["worse_than_uniform"]

    unigram = history([UNIFORM - (UNIFORM - UNIGRAM) * min(1, i / 30) + n for i, n in enumerate(noisy)])
    assert kinds(diagnose(unigram, uniform=UNIFORM, unigram=UNIGRAM)) == ["stuck_unigram"]

    learning = [UNIFORM * math.exp(-i / 60) + 0.5 for i in range(200)]
    assert diagnose(history(learning, [x + 0.1 for x in learning[9::10]]), uniform=UNIFORM, unigram=UNIGRAM) == []

    val = [2.5, 2.0, 1.6, 1.5, 1.6, 1.8, 2.0]  # best at step 40, then rising while training falls
    found = diagnose(history(learning[:70], val), uniform=UNIFORM, unigram=UNIGRAM)
    assert kinds(found) == ["memorising"] and found[0].evidence["best_step"] == 40

    found = diagnose(history(learning[:50] + [float("nan")]), uniform=UNIFORM, unigram=UNIGRAM, lr=0.3)
    assert kinds(found)[0] == "diverged" and "0.3" in found[0].message
    assert kinds(diagnose(history(learning[:60]), uniform=UNIFORM, unigram=UNIGRAM,
                          stop_reason="diverged")) == ["diverged"]
    assert kinds(diagnose(history(learning[:10]), uniform=UNIFORM, unigram=UNIGRAM)) == ["too_early"]


def test_diagnose_gradient_findings():
    ok = history([UNIFORM * math.exp(-i / 60) + 0.5 for i in range(200)])
    vanishing = [{"step": s, "grad_norm": {"cells.0.weight_hh": 1e-6, "cells.1.weight_hh": 1e-5,
                                           "cells.2.weight_hh": 0.1, "head.weight": 0.5},
                  "update_ratio": {"cells.0.weight_hh": 1e-3},
                  "layer": {"cells.0.weight_hh": "layer 1", "cells.1.weight_hh": "layer 2",  # the model's grouping
                            "cells.2.weight_hh": "layer 3", "head.weight": "output"}} for s in (10, 20, 30)]
    found = diagnose(ok, uniform=UNIFORM, unigram=UNIGRAM, grad_stats=vanishing)
    assert kinds(found) == ["vanishing_gradients"] and "layer 1" in found[0].message
    profile = [1.0] + [0.5 ** k for k in range(1, 30)]
    assert kinds(diagnose(ok, uniform=UNIFORM, unigram=UNIGRAM, time_profile=profile)) == ["vanishing_gradients"]
    # Saturated tanh units explain a loss that does not fall; on a run that learns they are no fault
    # (trained tanh networks hold up to 70 % of their units at ±1 on the example texts: issue 17).
    shares = {"layer 1 h": 0.6, "layer 2 h": 0.01}
    assert diagnose(ok, uniform=UNIFORM, unigram=UNIGRAM, saturation=shares) == []
    stuck = history([UNIFORM + 0.01 * math.sin(i) for i in range(200)])
    found = diagnose(stuck, uniform=UNIFORM, unigram=UNIGRAM, saturation=shares)
    assert kinds(found) == ["stuck_uniform", "saturated"] and "layer 1 h" in found[1].message
    assert found[0].advice == found[1].advice and "smaller weights" in found[1].advice
    big = [{"step": 1, "grad_norm": {"head.weight": 1.0}, "update_ratio": {"head.weight": 0.5}}]
    assert kinds(diagnose(ok, uniform=UNIFORM, unigram=UNIGRAM, grad_stats=big)) == ["updates_too_large"]


def test_grad_stats_now_measures_what_it_says():
    model = small("lstm")
    for name in MODELS:  # every parameter of every model has a group, bottom to top
        m = small(name)
        groups = param_groups([n for n, _ in m.named_parameters()], m.param_layers())
        assert "other" not in groups.values(), name
    assert param_groups(["rnn.weight_ih_l0", "rnn.weight_ih_l1", "input.embedding.weight", "head.bias"],
                        model.param_layers()) == {
        "rnn.weight_ih_l0": "layer 1", "rnn.weight_ih_l1": "layer 2", "input.embedding.weight": "input",
        "head.bias": "output"}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    ids = VOCAB.encode(TEXT[:33])
    logits, _ = model.train()(ids[None, :-1])
    F.cross_entropy(logits[0], ids[1:]).backward()
    before = snapshot(model)
    opt.step()
    stats = grad_stats_now(model, before, step=7)
    assert stats["step"] == 7 and set(stats["grad_norm"]) == {n for n, _ in model.named_parameters()}
    w = model.head.weight
    assert stats["grad_norm"]["head.weight"] == pytest.approx(float(w.grad.norm()), rel=1e-5)
    assert stats["update_ratio"]["head.weight"] == pytest.approx(
        float((0.1 * w.grad).norm() / before["head.weight"].norm()), rel=1e-4)
    assert grad_stats_now(model)["update_ratio"] == {}


def test_real_run_at_a_tiny_learning_rate_is_diagnosed_as_stuck():
    bundle = Bundle(small("lstm"), VOCAB, "lstm")
    tr, va = split(VOCAB.encode(TEXT), seq_len=16)
    stats = []
    events = train(bundle, tr, va, TrainConfig(max_steps=40, time_budget=None, batch_size=4, seq_len=16,
                                               lr=1e-7, eval_every=1e9))
    before = snapshot(bundle.model)
    for ev in events:  # sampled after steps, as the trainer will: here every 10th
        if ev.step % 10 == 0 and not ev.done:
            stats.append(grad_stats_now(bundle.model, before, step=ev.step))
        before = snapshot(bundle.model)
    found = diagnose(bundle.history, uniform=math.log(len(VOCAB)), unigram=corpus_stats(TEXT).unigram_entropy,
                     grad_stats=stats, lr=1e-7)
    assert kinds(found) == ["stuck_uniform"]
    assert "learning rate" in found[0].message and found[0].evidence["update_ratio"] < 1e-5


def test_real_run_of_a_big_model_on_a_tiny_text_is_diagnosed_as_memorising():
    rng = random.Random(0)
    words = ["".join(rng.choice("abcdefghij") for _ in range(rng.randint(2, 6))) for _ in range(40)]
    text = " ".join(rng.choice(words) for _ in range(120))  # ~600 characters of made-up words
    vocab = Vocab.from_text(text)
    tr, va = split(vocab.encode(text), seq_len=16)
    bundle = Bundle(build_model("lstm", len(vocab), make_config("lstm", n_hidden=192, n_layer=1)), vocab, "lstm")
    for _ in train(bundle, tr, va, TrainConfig(max_steps=120, time_budget=None, batch_size=8, seq_len=16, lr=1e-2,
                                               warmup_steps=5, min_lr_ratio=1.0, eval_every=0.0)):
        pass
    found = diagnose(bundle.history, uniform=math.log(len(vocab)), unigram=corpus_stats(text).unigram_entropy)
    assert "memorising" in kinds(found)


def test_views_leave_the_model_as_they_found_it():
    model = small("lstm").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    predictions(model, VOCAB, TEXT[:50])
    saliency(model, VOCAB, TEXT[:50], 20)
    batch_shapes(model, VOCAB, TEXT)
    find_units(model, VOCAB, TEXT[:50])
    assert model.training and all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])



def test_chart_of_a_long_prompt_feeds_only_what_the_model_can_see():
    model = small("transformer")
    chart = next_char_chart(model, VOCAB, TEXT, 1.0, min_prob=0.0, max_bars=100)
    full = dict(next_char_probs(model, VOCAB, TEXT, 1.0))  # the whole text, one character at a time
    assert chart.probs == pytest.approx([full[c] for c in chart.chars], rel=1e-5)


# ---- the graph of a real forward pass -----------------------------------------------------------------

def test_graph_unrolls_the_hand_written_cells_and_keeps_fused_layers_whole():
    steps = 3
    g = record_graph(small("lstm-scratch", n_layer=1), VOCAB, TEXT, steps=steps)
    ops = Counter(n.label for n in g.nodes if n.kind == "op")
    assert ops["sigmoid"] == 3 * steps and ops["matmul"] == 2 * steps  # 3 gates; W_ih x and W_hh h per step
    # the loop: each step's new h (the last mul) feeds the next step's W_hh matmul
    by_id = {n.id: n for n in g.nodes}
    loop = [e for e in g.edges if by_id[e.src].label == "mul" and by_id[e.dst].label == "matmul"]
    assert len(loop) == steps - 1 and all(e.dims == "(B, H)" for e in loop)
    assert {n.dims for n in g.nodes if n.label == "sigmoid"} == {"(B, H)"}
    assert any(n.dims == "(B, 4H)" for n in g.nodes if n.label == "matmul")

    fused = record_graph(small("lstm"), VOCAB, TEXT)
    assert [n.label for n in fused.nodes if n.kind == "op"].count("lstm") == 1
    attn = record_graph(small("transformer"), VOCAB, TEXT)
    assert [n.label for n in attn.nodes].count("scaled_dot_product_attention") == SMALL["n_layer"]
    for graph in (g, fused, attn):  # every node leads to an output, every edge joins two nodes
        assert {e.src for e in graph.edges} | {n.id for n in graph.nodes if n.kind == "output"} == \
            {n.id for n in graph.nodes}
    dot = to_dot(g)
    assert dot.startswith('digraph "ScratchLSTM"') and 'label="cells.0"' in dot and "(B, 4H)" in dot
