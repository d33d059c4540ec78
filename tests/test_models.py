"""The model zoo: every registered model against the one contract, hand-written cells against PyTorch's.

Parametrised over `MODELS`, so a model added to the registry is tested without touching this file.
"""

import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.testing import assert_close

from charrnn import Bundle, TrainConfig, Vocab, generate, split, train
from charrnn.checkpoint import load, to_bytes
from charrnn.models import MODELS, build_model, make_config
from charrnn.models.rnn_scratch import ElmanCell, GRUCell, LSTMCell
from charrnn.options import SettingError

CURRICULUM = ["ngram", "mlp", "rnn-scratch", "gru-scratch", "lstm-scratch", "rnn", "gru", "lstm", "transformer"]
# Small sizes so every model trains in about a second; options a model does not have are ignored.
SMALL = dict(n_hidden=32, n_layer=2, n_embd=16, n_head=2, block_size=16, context=4, order=3)
SEQ = 16  # = SMALL block_size: a transformer must be trained on windows as long as it will see


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny models run faster on one thread, and a busy machine makes two threads spin-wait.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def small_model(name: str, vocab_size: int, **options):
    model = build_model(name, vocab_size, make_config(name, **{**SMALL, **options}))
    if model.fitted_by_counting:  # give the counts something to say
        model.fit_counts(torch.randint(0, vocab_size, (500,), generator=torch.Generator().manual_seed(1)))
    return model.eval()


# ---- the registry --------------------------------------------------------------------------------

def test_registry_lists_the_curriculum_in_order():
    assert list(MODELS) == CURRICULUM


@pytest.mark.parametrize("name", list(MODELS))
def test_defaults_build_and_describe_themselves(name):
    cls = MODELS[name]
    model = build_model(name, 65)
    assert cls.title and len(cls.description) > 100
    assert re.search(r"(19|20)\d\d", cls.description)  # cites its paper
    assert isinstance(model.config, cls.Config)
    assert make_config(name, **model.config.to_dict(), unknown_option=3) == model.config
    assert model.recurrent == (model.context is None)
    assert model.num_params() < 2_000_000  # small: the UI trains them live on a CPU
    logits, _ = model.eval()(torch.randint(0, 65, (2, 8)), None)
    assert logits.shape == (2, 8, 65)


# ---- the call signature and its state ------------------------------------------------------------

@pytest.mark.parametrize("name", list(MODELS))
def test_forward_shapes_and_state_continuation(name):
    V = 11
    model = small_model(name, V)
    x = torch.randint(0, V, (3, 12))  # 12 ≤ block_size: the transformer sees all of it either way
    with torch.no_grad():
        whole, _ = model(x, None)
        first, state = model(x[:, :5], None)
        second, _ = model(x[:, 5:], state)
        one_by_one, state = [], None
        for t in range(x.shape[1]):  # the sampling path: one character at a time
            logits, state = model(x[:, t:t + 1], state)
            one_by_one.append(logits)
    assert whole.shape == (3, 12, V) and whole.dtype == torch.float32
    assert_close(torch.cat([first, second], dim=1), whole, rtol=1e-5, atol=1e-5)
    assert_close(torch.cat(one_by_one, dim=1), whole, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_initial_loss_is_near_a_uniform_guess(name):
    V = 30
    model = build_model(name, V).eval()  # the defaults, as a user gets them
    x, y = torch.randint(0, V, (2, 4, 32))
    with torch.no_grad():
        logits, _ = model(x, None)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    assert abs(float(loss) - math.log(V)) < 0.25


# ---- training, sampling, checkpoints: one trained model per registry entry -----------------------

TINY = "abcd" * 200  # after any one character the next is certain: every model should learn it


@pytest.fixture(scope="module", params=list(MODELS))
def trained(request):
    name = request.param
    torch.set_num_threads(1)
    vocab = Vocab.from_text(TINY)
    train_ids, val_ids = split(vocab.encode(TINY), seq_len=SEQ)
    bundle = Bundle(build_model(name, len(vocab), make_config(name, **SMALL)), vocab, name)
    config = TrainConfig(max_steps=60, time_budget=None, batch_size=8, seq_len=SEQ, lr=1e-2, warmup_steps=5,
                         threads=1)
    events = list(train(bundle, train_ids, val_ids, config))
    return bundle, events


def test_overfits_a_tiny_corpus(trained):
    bundle, events = trained
    final = events[-1]
    assert final.done and final.val_loss is not None
    assert math.isfinite(final.val_loss)
    uniform = math.log(len(bundle.vocab))
    if bundle.model.fitted_by_counting:
        assert final.stop_reason == "exhausted"  # counted the whole text
        assert final.val_loss < 0.01  # order ≥ 2: the next character is certain
    else:
        assert abs(events[0].train_loss - uniform) < 0.25  # starts near a uniform guess
        assert final.val_loss < 0.1 * uniform, [e.train_loss for e in events[::10]]
    assert generate(bundle.model, bundle.vocab, "a", 12, temperature=0) == "abcdabcdabcda"


def test_sampling_with_a_seed_is_repeatable(trained):
    bundle, _ = trained
    model, vocab = bundle.model, bundle.vocab
    a = generate(model, vocab, "ab", 3 * SEQ, temperature=1.5, seed=7)  # longer than the context
    b = generate(model, vocab, "ab", 3 * SEQ, temperature=1.5, seed=7)
    assert a == b and len(a) == 2 + 3 * SEQ and set(a) <= set(vocab.chars)
    assert generate(model, vocab, "", 10, temperature=1.0, top_k=1, seed=1) == \
        generate(model, vocab, "", 10, temperature=0)  # top-1 sampling is argmax


def test_checkpoint_roundtrip_gives_identical_logits(trained):
    bundle, _ = trained
    x = torch.randint(0, len(bundle.vocab), (2, SEQ))
    for weights_only in (False, True):
        loaded = load(to_bytes(bundle, weights_only=weights_only))
        assert loaded.model_name == bundle.model_name and loaded.vocab == bundle.vocab
        with torch.no_grad():
            before, state = bundle.model.eval()(x, None)
            after, loaded_state = loaded.model.eval()(x, None)
            assert torch.equal(before, after)
            assert torch.equal(bundle.model(x, state)[0], loaded.model(x, loaded_state)[0])
        assert generate(bundle.model, bundle.vocab, "ab", 20, seed=3) == \
            generate(loaded.model, loaded.vocab, "ab", 20, seed=3)


# ---- hand-written cells equal PyTorch's ----------------------------------------------------------

def _outputs_and_grads(cell, x, state, weights):
    """Run `cell` on fresh copies of the inputs; return its outputs and the gradients of a random
    weighted sum of them with respect to the inputs and to every parameter, in a fixed order."""
    x = x.clone().requires_grad_()
    state = tuple(s.clone().requires_grad_() for s in state)
    out = cell(x, state if len(state) > 1 else state[0])
    out = out if isinstance(out, tuple) else (out,)
    loss = sum((o * w).sum() for o, w in zip(out, weights, strict=True))
    inputs = [x, *state]
    grads = torch.autograd.grad(loss, inputs + list(cell.parameters()))
    return out, grads[:len(inputs)], dict(zip([n for n, _ in cell.named_parameters()], grads[len(inputs):],
                                              strict=True))


CELL_PAIRS = [
    ("tanh", lambda I, H: ElmanCell(I, H, "tanh"), lambda I, H: nn.RNNCell(I, H, nonlinearity="tanh"), 1),
    ("relu", lambda I, H: ElmanCell(I, H, "relu"), lambda I, H: nn.RNNCell(I, H, nonlinearity="relu"), 1),
    ("gru", GRUCell, nn.GRUCell, 1),
    ("lstm", LSTMCell, nn.LSTMCell, 2),
]


@pytest.mark.parametrize("kind, ours, reference, n_state", CELL_PAIRS, ids=[p[0] for p in CELL_PAIRS])
def test_hand_written_cell_equals_pytorch(kind, ours, reference, n_state):
    torch.manual_seed(0)
    I, H, B = 5, 7, 4
    mine, ref = ours(I, H), reference(I, H)
    ref.load_state_dict(mine.state_dict())  # same names, same gate order: the weights copy over
    x, state = torch.randn(B, I), tuple(torch.randn(B, H) for _ in range(n_state))
    weights = [torch.randn(B, H) for _ in range(n_state)]
    out, input_grads, param_grads = _outputs_and_grads(mine, x, state, weights)
    ref_out, ref_input_grads, ref_param_grads = _outputs_and_grads(ref, x, state, weights)
    assert_close(out, ref_out)
    assert_close(input_grads, ref_input_grads)
    assert param_grads.keys() == ref_param_grads.keys()
    assert_close(param_grads, ref_param_grads)


def test_concat_cell_equals_add_cell_with_split_matrix():
    """W [x; h] + b is W_ih x + W_hh h + b with W = [W_ih W_hh]: the same cell written two ways."""
    torch.manual_seed(0)
    I, H, B = 5, 7, 4
    cat = ElmanCell(I, H, combine="concat")
    ref = nn.RNNCell(I, H)
    with torch.no_grad():
        ref.weight_ih.copy_(cat.weight[:, :I])
        ref.weight_hh.copy_(cat.weight[:, I:])
        ref.bias_ih.copy_(cat.bias)
        ref.bias_hh.zero_()
    x, h, w = torch.randn(B, I), torch.randn(B, H), torch.randn(B, H)
    out, input_grads, grads = _outputs_and_grads(cat, x, (h,), [w])
    ref_out, ref_input_grads, ref_grads = _outputs_and_grads(ref, x, (h,), [w])
    assert_close(out, ref_out)
    assert_close(input_grads, ref_input_grads)
    assert_close(grads["weight"], torch.cat([ref_grads["weight_ih"], ref_grads["weight_hh"]], dim=1))
    assert_close(grads["bias"], ref_grads["bias_ih"])


@pytest.mark.parametrize("scratch, fused", [("rnn-scratch", "rnn"), ("gru-scratch", "gru"),
                                            ("lstm-scratch", "lstm")])
def test_unrolled_model_equals_pytorch_layer(scratch, fused):
    """The whole Python-loop model, two layers deep, against nn.RNN/GRU/LSTM with the same weights."""
    V = 9
    mine = build_model(scratch, V, make_config(scratch, **SMALL))
    ref = build_model(fused, V, make_config(fused, **SMALL))
    renamed = {}
    for key, value in mine.state_dict().items():  # cells.1.weight_ih → rnn.weight_ih_l1
        if key.startswith("cells."):
            _, layer, param = key.split(".")
            key = f"rnn.{param}_l{layer}"
        renamed[key] = value
    ref.load_state_dict(renamed)
    x = torch.randint(0, V, (3, 10))
    logits, state = mine(x, None)
    ref_logits, ref_state = ref(x, None)
    assert_close(logits, ref_logits)
    assert_close(state, ref_state)


# ---- the Elman options -----------------------------------------------------------------------------

@pytest.mark.parametrize("combine", ["add", "concat"])
def test_identity_init_sets_the_hidden_matrix_to_the_identity(combine):
    model = build_model("rnn-scratch", 10, make_config("rnn-scratch", n_hidden=12, identity_init=True,
                                                       combine=combine))
    cell = model.cells[0]
    assert torch.equal(cell.w_hh(), torch.eye(12))
    assert all(not b.any() for n, b in cell.named_parameters() if n.startswith("bias"))
    plain = build_model("rnn-scratch", 10, make_config("rnn-scratch", n_hidden=12, combine=combine))
    assert not torch.equal(plain.cells[0].w_hh(), torch.eye(12))


def test_identity_relu_rnn_carries_its_state_unchanged():
    """Le, Jaitly & Hinton 2015: with W_hh = I and no input, a relu RNN copies its state forward."""
    cell = ElmanCell(3, 6, "relu", identity_init=True)
    with torch.no_grad():
        cell.weight_ih.zero_()
    h0 = h = torch.rand(2, 6)
    for _ in range(50):
        h = cell(torch.randn(2, 3), h)
    assert torch.equal(h, h0)


@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("combine", ["add", "concat"])
@pytest.mark.parametrize("identity_init", [False, True])
@pytest.mark.parametrize("onehot", [False, True])
def test_elman_variants_run_forward_and_backward(nonlinearity, combine, identity_init, onehot):
    V = 7
    config = make_config("rnn-scratch", n_hidden=16, nonlinearity=nonlinearity, combine=combine,
                         identity_init=identity_init, onehot=onehot)
    model = build_model("rnn-scratch", V, config)
    x, y = torch.randint(0, V, (2, 3, 12))
    logits, _ = model(x, None)
    loss = F.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
    loss.backward()
    assert math.isfinite(float(loss.detach()))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.input.size == (V if onehot else config.n_embd)


def test_unknown_elman_options_are_refused():
    with pytest.raises(ValueError, match="nonlinearity"):
        build_model("rnn-scratch", 5, make_config("rnn-scratch", nonlinearity="sigmoid"))
    with pytest.raises(ValueError, match="combine"):
        build_model("rnn-scratch", 5, make_config("rnn-scratch", combine="multiply"))


# ---- the counted n-gram --------------------------------------------------------------------------

def _markov_text(V: int, n: int, seed: int = 0) -> torch.Tensor:
    """n ids from a random first-order Markov chain where every transition is possible."""
    g = torch.Generator().manual_seed(seed)
    transitions = torch.softmax(2 * torch.randn(V, V, generator=g), dim=1)
    ids = [0]
    for _ in range(n - 1):
        ids.append(int(torch.multinomial(transitions[ids[-1]], 1, generator=g)))
    return torch.tensor(ids)


def test_counted_bigram_equals_gradient_trained_bigram():
    """Maximum likelihood two ways: counting and normalising, or gradient descent on a table of
    logits (makemore part 1). At convergence the probabilities agree."""
    V = 6
    ids = _markov_text(V, 3000)
    counted = build_model("ngram", V, make_config("ngram", order=2, smoothing=0.0))
    counted.fit_counts(ids)
    with torch.no_grad():
        p_counted = counted(torch.arange(V)[:, None], None)[0][:, 0].exp()  # (V, V): row = previous char

    table = torch.zeros(V, V, requires_grad=True)  # logits[previous, next]
    opt = torch.optim.Adam([table], lr=0.1)
    for _ in range(500):
        loss = F.cross_entropy(table[ids[:-1]], ids[1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    p_trained = torch.softmax(table.detach(), dim=1)
    assert_close(p_counted, p_trained, atol=2e-3, rtol=0)


def test_ngram_counted_in_chunks_by_train_equals_counted_at_once():
    V = 5
    ids = _markov_text(V, 3000)
    vocab = Vocab("abcde")
    train_ids, val_ids = split(ids, seq_len=8)
    for order in (1, 2, 4):
        config = make_config("ngram", order=order)
        bundle = Bundle(build_model("ngram", V, config), vocab, "ngram")
        events = list(train(bundle, train_ids, val_ids, TrainConfig(max_steps=None, time_budget=60, batch_size=1,
                                                                    seq_len=8, threads=1)))
        assert len(events) > 10  # many chunks
        at_once = build_model("ngram", V, config)
        at_once.fit_counts(train_ids)
        assert torch.equal(bundle.model.keys, at_once.keys) and torch.equal(bundle.model.counts, at_once.counts)


def test_ngram_smoothing_and_interpolation():
    V = 4
    ids = torch.tensor([0, 1, 2, 3] * 10)
    plain = build_model("ngram", V, make_config("ngram", order=2, smoothing=1.0, interpolate=False))
    plain.fit_counts(ids)  # "0 → 1" 10 times, nothing else after a 0
    with torch.no_grad():
        p = plain(torch.tensor([[0]]), None)[0][0, 0].exp()
    assert_close(p, torch.tensor([1, 11, 1, 1]) / 14.0)  # add-one: (count + 1) / (total + V)
    mle = build_model("ngram", V, make_config("ngram", order=3, smoothing=0.0))
    mle.fit_counts(ids)
    with torch.no_grad():
        unseen, _ = mle(torch.tensor([[3, 2]]), None)  # "3 2" never occurs: back off to "2"
    assert_close(unseen[0, 1].exp(), torch.tensor([0.0, 0.0, 0.0, 1.0]))
    assert torch.isneginf(unseen[0, 1, 0])  # no smoothing: probability 0 and log 0


def test_ngram_stays_sparse_for_high_orders():
    V = 65
    model = build_model("ngram", V, make_config("ngram", order=8))  # a dense table: 65^8 ≈ 3.2e14 cells
    text = torch.randint(0, V, (2000,))
    model.fit_counts(text)
    assert model.num_ngrams() <= 8 * 2000 and model.num_params() == 0
    logits, state = model(text[None, :20], None)
    assert logits.shape == (1, 20, V) and state.shape == (1, 7)
    with pytest.raises(SettingError, match="order must be a whole number from 1 to 10"):
        make_config("ngram", order=12)
    with pytest.raises(SettingError, match="order 10 is too high for a vocabulary of 200"):
        build_model("ngram", 200, make_config("ngram", order=10))


def test_transformer_refuses_windows_longer_than_its_block():
    model = build_model("transformer", 5, make_config("transformer", block_size=8))
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.long), None)


def test_transformer_looks_back_no_further_than_it_was_trained():
    """Position embeddings beyond the training windows are untrained noise: never use them."""
    model = build_model("transformer", 5, make_config("transformer", block_size=16))
    model.train()
    model(torch.zeros(2, 8, dtype=torch.long), None)  # trained on 8-character windows
    assert int(model.trained_len) == 8
    model.eval()
    x = torch.randint(0, 5, (1, 12))
    with torch.no_grad():
        _, state = model(x[:, :11], None)
        last, _ = model(x[:, 11:], state)
        alone, _ = model(x[:, 4:], None)  # the last 8 characters and nothing before
    assert_close(last[0, -1], alone[0, -1])
    fresh = build_model("transformer", 5, make_config("transformer", block_size=16))
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert int(fresh.trained_len) == 8  # saved with the weights
