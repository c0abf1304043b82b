"""Chapter 5 (course_lib.scan): pairs generator, SCAN fitting, factor classifier, scores, baselines."""

import numpy as np
import pytest
import torch

from course_lib.checks.ch05 import small_vocabulary
from course_lib.experiments import scan_eval
from course_lib.models.vae import mlp_vae
from course_lib.scan import baselines, fitting, scoring
from course_lib.scan.classifier import FactorClassifier
from course_lib.scan.pairs import grid_rows, labelled_rows, make_pairs, symbols_up_to
from course_lib.scan.symbols import Symbol

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def vocab():
    return small_vocabulary()  # register low/mid/high, brightness dark/bright, noisiness noisy/tonal


def test_symbols_up_to(vocab):
    one_two = symbols_up_to(vocab, 2)
    assert len(one_two) == 7 + (3 * 2 + 3 * 2 + 2 * 2)
    low = vocab.symbol("low")
    assert low not in symbols_up_to(vocab, 2, exclude=[low])
    assert len(symbols_up_to(vocab, 0, min_words=0)) == 1
    with pytest.raises(ValueError, match="max_words"):
        symbols_up_to(vocab, 0)


def test_make_pairs_rows_admit_their_symbols(vocab):
    space = vocab.factor_space
    symbols = symbols_up_to(vocab, 2)
    pairs = make_pairs(symbols, vocab, 500, np.random.default_rng(0))
    classes = space.index_to_classes(pairs.rows)
    for i in range(len(pairs)):
        symbol = symbols[pairs.which[i]]
        assert vocab.satisfies(symbol, classes[i]).all()
        assert np.array_equal(pairs.khot[i], vocab.encode(symbol))
    assert len(pairs) == 500 and pairs.khot.dtype == np.float32


def test_few_labels_reuse_a_fixed_pool(vocab):
    symbols = [vocab.symbol("low"), vocab.symbol("bright")]
    pairs = make_pairs(symbols, vocab, 300, np.random.default_rng(0), labels_per_symbol=2)
    for position in range(2):
        assert len(np.unique(pairs.rows[pairs.which == position])) <= 2
    assert len(labelled_rows(pairs)) <= 4
    free = make_pairs(symbols, vocab, 300, np.random.default_rng(0))
    assert len(np.unique(free.rows[free.which == 0])) > 2
    with pytest.raises(ValueError, match="labels_per_symbol"):
        make_pairs(symbols, vocab, 10, np.random.default_rng(0), labels_per_symbol=0)


def test_grid_rows_needs_the_full_grid(vocab):
    space = vocab.factor_space
    assert grid_rows(space, np.array([[2, 1, 1]]), space.n_combinations).tolist() == [11]
    with pytest.raises(ValueError, match="full grid"):
        grid_rows(space, np.array([[0, 0, 0]]), 5)


def test_symbol_scores_known_values(vocab):
    symbol = vocab.symbol("low")
    # four generated sounds: register right 3 times; brightness always dark; noisiness half and half
    predicted = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0], [2, 0, 1]])
    scores = scoring.symbol_scores(vocab, symbol, predicted)
    assert scores["accuracy"] == pytest.approx(0.75)
    assert scores["diversity"] == pytest.approx((0.0 + 1.0) / 2)
    full = scoring.symbol_scores(vocab, vocab.symbol("low", "dark", "noisy"), predicted)
    assert np.isnan(full["diversity"]) and full["accuracy"] == pytest.approx(9 / 12)
    assert np.isnan(scoring.symbol_scores(vocab, Symbol(), predicted)["accuracy"])


def test_accuracy_chance_and_labels(vocab):
    assert scoring.attribute_accuracy(np.array([[0, 1], [1, 1]]), np.array([[0, 1], [0, 1]])).tolist() == [
        0.5,
        1,
    ]
    with pytest.raises(ValueError, match=r"\[N, A\]"):
        scoring.attribute_accuracy(np.zeros(3), np.zeros(3))
    assert scoring.majority_chance(vocab).tolist() == pytest.approx([1 / 3, 1 / 2, 1 / 2])
    symbols = [vocab.symbol("high"), vocab.symbol("dark", "tonal")]
    assert baselines.symbol_labels(vocab, symbols, np.array([1, 0])).tolist() == [[-1, 0, 1], [2, -1, -1]]


def test_probe_and_regression_baselines():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3))
    labels = np.stack([(x[:, 0] > 0).astype(int), np.where(rng.random(200) < 0.5, -1, 0)], axis=1)
    probes = baselines.fit_probe(x, labels)
    predicted = baselines.probe_predict(probes, x)
    assert (predicted[:, 0] == (x[:, 0] > 0)).mean() > 0.95
    assert (predicted[:, 1] == 0).all()  # one labelled word only: a constant predictor
    ridge = baselines.fit_symbol_regression(np.eye(3), np.eye(3) * 2, alpha=1e-6)
    assert np.allclose(ridge.predict(np.eye(3)), np.eye(3) * 2, atol=1e-4)


@pytest.mark.slow
def test_fit_scan_and_read_symbols_back(vocab):
    """On sounds whose posterior is one narrow latent per attribute, SCAN learns to read the words."""
    rng = np.random.default_rng(0)
    symbols = symbols_up_to(vocab, 2)
    pairs = make_pairs(symbols, vocab, 3000, rng)
    classes = vocab.factor_space.index_to_classes(pairs.rows)
    mu = torch.tensor(classes - classes.mean(0), dtype=torch.float32) * 2.0  # latent k = factor k
    logvar = torch.full_like(mu, -4.0)
    scan, history = fitting.fit_scan(pairs.khot, mu, logvar, epochs=15, hidden=32, progress=False)
    assert history[-1]["kl_ground"] < history[0]["kl_ground"]
    predicted = scoring.sound_to_symbol(scan, vocab, mu[:300])
    truth = vocab.attribute_values(classes[:300])
    assert scoring.attribute_accuracy(predicted, truth).min() > 0.9
    with pytest.raises(ValueError, match="same pairs"):
        fitting.fit_scan(pairs.khot[:10], mu, logvar, epochs=1)


def test_factor_classifier_and_decoding_shapes():
    classifier = FactorClassifier((4, 3), (2, 5), hidden=8)
    x = torch.rand(6, 4, 3)
    logits = classifier(x)
    assert [tuple(t.shape) for t in logits] == [(6, 2), (6, 5)]
    assert classifier.predict(x).shape == (6, 2)
    vae = mlp_vae((4, 3), 2, (8,), activation="relu", scale=0.1)
    out = fitting.decode_samples(vae, torch.zeros(3, 2), torch.zeros(3, 2), n_samples=5)
    assert out.shape == (5, 3, 4, 3) and out.min() >= 0 and out.max() <= 1


def test_fit_recombination_trains_on_balanced_operators(vocab):
    from course_lib.models.scan import SCAN
    from course_lib.scan.symbols import recombination_triples

    space = vocab.factor_space
    classes = space.all_classes()
    mu = torch.tensor(classes - classes.mean(0), dtype=torch.float32)
    logvar = torch.full_like(mu, -3.0)
    scan = SCAN(vocab.size, mu.shape[1], hidden=8)
    triples = recombination_triples(symbols_up_to(vocab, 1))
    operator, history = fitting.fit_recombination(
        scan, vocab, triples, mu, logvar, np.random.default_rng(0), n=400, epochs=2, progress=False
    )
    assert len(history) == 2 and history[-1]["loss"] < history[0]["loss"]
    out = operator(mu[:3], logvar[:3], mu[:3], logvar[:3], "AND")
    assert out[0].shape == (3, space.n_factors)
    with pytest.raises(ValueError, match="at least one"):
        fitting.fit_recombination(scan, vocab, [], mu, logvar, np.random.default_rng(0), n=10, epochs=1)


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_scan_eval_command_writes_a_tidy_table(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))  # dataset and checkpoints: not data/
    out = tmp_path / "scan_eval.csv"
    args = ["--fast", "--labels", "5", "--seeds", "1", "--epochs", "1", "--pairs", "500", "--out", str(out)]
    assert scan_eval.main(args) == 0
    frame = pd.read_csv(out)
    assert set(frame["preset"]) == {"static"} and set(frame["labels_per_symbol"]) == {5}
    assert {"SCAN", "chance", "probe on latent means", "ridge symbol->latent"} <= set(frame["method"])
    assert frame["value"].notna().any()
    assert (tmp_path / "ch05_classifier_static_beta_tcvae_s0.pt").exists()  # the sound model is only loaded
    assert not list(tmp_path.glob("ch05_vae_*"))
