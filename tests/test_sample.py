"""Sampling: seeded, temperature and top-k do what they say, recurrent models step one char at a time."""

import math

import pytest
import torch

from charrnn import CorpusError, Vocab, build_model, generate, make_config, next_char_probs, stream
from charrnn.sample import scale_logits

VOCAB = Vocab.from_text("abcdefgh \n")


@pytest.fixture(scope="module")
def model():
    return build_model("lstm", len(VOCAB), make_config("lstm", n_hidden=16, n_layer=2), seed=1)


def test_same_seed_same_text_other_seed_other_text(model):
    a = generate(model, VOCAB, "ab", 60, temperature=1.0, seed=5)
    assert a == generate(model, VOCAB, "ab", 60, temperature=1.0, seed=5)
    assert a != generate(model, VOCAB, "ab", 60, temperature=1.0, seed=6)
    assert a.startswith("ab") and len(a) == 62


def test_temperature_zero_is_argmax_whatever_the_seed(model):
    assert generate(model, VOCAB, "a", 30, 0, seed=1) == generate(model, VOCAB, "a", 30, 0, seed=2)


def test_stream_yields_one_character_at_a_time(model):
    chars = list(stream(model, VOCAB, "", 25, 0.7, seed=0))
    assert len(chars) == 25 and all(len(c) == 1 for c in chars)


def test_probabilities_sharpen_with_low_temperature(model):
    hot = next_char_probs(model, VOCAB, "abc", temperature=2.0)
    cold = next_char_probs(model, VOCAB, "abc", temperature=0.3)
    assert sum(p for _, p in hot) == pytest.approx(1.0)
    assert [c for c, _ in hot] == [c for c, _ in cold]  # the same ranking...
    assert cold[0][1] > hot[0][1]  # ...more of the mass on the favourite
    argmax = next_char_probs(model, VOCAB, "abc", temperature=0)
    assert argmax[0] == (cold[0][0], 1.0)
    top2 = next_char_probs(model, VOCAB, "abc", temperature=1.0, top_k=2)
    assert sum(p for _, p in top2[:2]) == pytest.approx(1.0) and top2[2][1] == 0


def test_scale_logits():
    logits = torch.tensor([1.0, 2.0, 3.0])
    assert torch.equal(scale_logits(logits, 0.5), logits * 2)
    assert math.isinf(scale_logits(logits, 1.0, top_k=1)[0])


def test_unknown_prompt_characters_are_a_clear_error(model):
    with pytest.raises(CorpusError, match="never saw"):
        generate(model, VOCAB, "xyz", 5)


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_one_step_path_equals_the_fused_layer(name):
    """Sampling steps with plain matmuls on the layer's weights; they must give nn.RNN/GRU/LSTM's numbers."""
    m = build_model(name, len(VOCAB), make_config(name, n_hidden=12, n_layer=2), seed=0).eval()
    x = VOCAB.encode("abc defg\nha")[None]
    with torch.no_grad():
        whole, _ = m(x)  # the fused layer over the whole sequence
        state, steps = None, []
        for t in range(x.shape[1]):
            out, state = m(x[:, t:t + 1], state)  # the hand-written one-step path
            steps.append(out)
    torch.testing.assert_close(torch.cat(steps, 1), whole, atol=1e-5, rtol=1e-5)


# Written by the sampler before models had a `step` (commit 745ceaf): a model's sampling step must not
# change a seeded sample by a single character.
BEFORE_STEP = {
    'ngram': ('the mcat.\nthe san to the san the dog rat', 'the cat.\nthe sun.\nthe cat.\nthe cat sun.\nthe s'),
    'mlp': ('s\na.mcaocroahrsangcgs\nrgh omecmdtutam.gt', 'the ca\ngeme.s.t dadnua.scug\necdusscegc.\ng.sgs'),
    'rnn-scratch': ('s\nd.rcaocroahrsangcgs\nrgh onecmdtutam.g ', 'the crn\nrnnrnnrrrsnnchn trrnnchn \ndn\nhh\nsrosa'),
    'gru-scratch': ('s\na.mcaocromhosangcgs\nrgh omecmdtuham.g ', 'the cgom  oas mosm   ag omoooo os o s hmmhs  '),
    'lstm-scratch': ('s\na..caocroahrsangcgs\nrgh onecmdtutam.gt', 'the c.anann.n.ch.a.n.acahnhnn..cncn.cc..a.ana'),
    'rnn': ('s\nd.rcaocroahrsangcgs\nrgh onecmdtutam.g ', 'the crn\nrnnrnnrrrsnnchn trrnnchn \ndn\nhh\nsrosa'),
    'gru': ('s\na.mcaocromhosangcgs\nrgh omecmdtuham.g ', 'the cgom  oas mosm   ag omoooo os o s hmmhs  '),
    'lstm': ('s\na..caocroahrsangcgs\nrgh onecmdtutam.gt', 'the c.anann.n.ch.a.n.acahnhnn..cncn.cc..a.ana'),
    'transformer': ('s\na.ucaocroahrsangcgs\nrgh omecmdtutam.g ', 'the c.\n\n  t.a.oomeuauacohuuht.cuscoesc.st.sru'),
}
GOLDEN_TEXT = "the cat sat on the mat.\nthe dog ran to the sun.\n" * 4


@pytest.mark.parametrize("name", list(BEFORE_STEP))
def test_seeded_samples_are_what_they_were_before_models_had_a_step(name):
    vocab = Vocab.from_text(GOLDEN_TEXT)
    m = build_model(name, len(vocab), make_config(name, n_hidden=16, n_layer=2, n_embd=8, n_head=2, block_size=16,
                                                  context=4, order=3), seed=11)
    if m.fitted_by_counting:
        m.fit_counts(vocab.encode(GOLDEN_TEXT))
    assert (generate(m, vocab, "", 40, 1.0, None, 7), generate(m, vocab, "the c", 40, 0.8, 5, 8)) == BEFORE_STEP[name]


@pytest.mark.parametrize("name", ["rnn", "gru", "lstm"])
def test_step_is_the_fused_layer_one_character_at_a_time(name):
    """`step` (plain matmuls on the layer's weights, what sampling calls) against nn.RNN/GRU/LSTM."""
    m = build_model(name, len(VOCAB), make_config(name, n_hidden=12, n_layer=2), seed=0).eval()
    x = VOCAB.encode("abc defg\nha")
    with torch.no_grad():
        whole, _ = m(x[None])
        state, steps = None, []
        for t in range(len(x)):
            logits, state = m.step(x[t:t + 1], state)  # (1, V)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, 1), whole, atol=1e-5, rtol=1e-5)


def test_an_ngram_counted_further_after_sampling_samples_what_a_fresh_count_would():
    """The n-gram keeps rows of counts it looked up while sampling; more counting must not leave stale rows."""
    first, more = "the cat sat on the mat. " * 20, "a dog ran to a log; the dog sat. " * 20
    vocab = Vocab.from_text(first + more)

    def counted(texts):
        model = build_model("ngram", len(vocab), make_config("ngram", order=4), seed=0)
        for text in texts:
            model.fit_counts(torch.tensor(vocab.encode(text)), skip=-1)
        return model

    model = counted([first])
    before = generate(model, vocab, "the ", 300, 1.0, None, 3)  # fills the rows kept for sampling
    model.fit_counts(torch.tensor(vocab.encode(more)), skip=-1)
    assert generate(model, vocab, "the ", 300, 1.0, None, 3) == generate(counted([first, more]), vocab, "the ", 300,
                                                                       1.0, None, 3)
    assert before == generate(counted([first]), vocab, "the ", 300, 1.0, None, 3)
