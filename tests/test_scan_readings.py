"""Tests of SCAN on composed sounds (course_lib.scan.readings, course_lib.experiments.scan_compositional)."""

import numpy as np
import pandas as pd
import pytest
import torch

from course_lib import composed_sounds as cs
from course_lib.composed_sounds import Parse, encode
from course_lib.config import RESULTS_DIR
from course_lib.experiments import scan_compositional as experiment
from course_lib.scan import readings as composed

WORDS = cs.WORDS


def khot(concepts, effects, operator=None):
    return encode(Parse(tuple(concepts), operator, tuple(effects)))


def all_symbols():
    classes = cs.factor_space().all_classes()
    return np.stack([encode(cs.parse_of(row)) for row in classes])


def test_true_readings_of_known_sounds():
    rows = np.stack(
        [
            khot(["bell"], ["dark", "soft", "wet", "steady"]),
            khot(["bass", "bell"], ["bright", "loud", "dry", "wobbling"], "THEN"),
            khot(["flute", "gong"], ["dark", "loud", "dry", "steady"], "PLUS"),
        ]
    )
    table = composed.true_readings(rows)
    assert list(table.columns) == list(composed.READINGS)
    assert list(table["structure"]) == ["solo", "THEN", "PLUS"]
    assert list(table["brightness"]) == ["dark", "bright", "dark"]
    assert list(table["space"]) == ["wet", "dry", "dry"]
    assert list(table["bell"]) == ["yes", "yes", "no"] and list(table["gong"]) == ["no", "no", "yes"]


def test_read_words_names_a_word_above_half_of_rho():
    p = np.full((3, len(WORDS)), 0.05)
    i = {w: j for j, w in enumerate(WORDS)}
    p[:, i["bright"]], p[:, i["dark"]] = 0.3, 0.1  # the likelier effect word wins, however small
    p[0, i["bell"]] = 0.3  # above rho / 2 = 0.25: named
    p[1, i["bell"]] = 0.2  # below: not named
    p[1, i["PLUS"]], p[1, i["THEN"]] = 0.4, 0.3  # both above: the likelier sound operator
    p[2, i["THEN"]] = 0.26
    table = composed.read_words(p, rho=0.5)
    assert list(table["brightness"]) == ["bright"] * 3
    assert list(table["bell"]) == ["yes", "no", "no"]
    assert list(table["structure"]) == ["solo", "PLUS", "THEN"]
    with pytest.raises(ValueError, match="rho"):
        composed.read_words(p, rho=0.0)


def test_partial_symbols_only_drop_words():
    full = all_symbols()[:200]
    rng = np.random.default_rng(0)
    partial = cs.partial_symbols(full, rng, rho=0.5)
    assert partial.dtype == np.uint8 and partial.shape == full.shape
    assert not (partial & ~full.astype(bool)).any()  # never a word the sound does not carry
    assert 0.4 < partial.sum() / full.sum() < 0.6
    assert (cs.partial_symbols(full, rng, rho=1.0) == full).all()
    with pytest.raises(ValueError, match="rho"):
        cs.partial_symbols(full, rng, rho=1.5)
    with pytest.raises(ValueError, match="k-hot"):
        cs.partial_symbols(full[:, :5], rng, rho=0.5)


def test_phrases_words_and_what_a_judge_is_asked():
    p = cs.phrase(["soft", "bell", "wet", "THEN", "bass"])
    assert cs.words_of(p) == [w for w in WORDS if w in {"soft", "bell", "wet", "THEN", "bass"}]
    assert composed.wanted(p) == {"loudness": "soft", "space": "wet", "structure": "THEN"}
    assert composed.wanted(cs.phrase(["bell"])) == {}
    with pytest.raises(ValueError, match="unknown words \\['shiny'\\]"):
        cs.phrase(["shiny"])


def test_judged_scores_accuracy_and_diversity():
    judged = pd.DataFrame(
        {
            "brightness": ["dark", "dark", "bright", "dark"],
            "loudness": ["soft", "loud", "soft", "loud"],  # open: a fair coin, diversity 1
            "space": ["dry"] * 4,  # open: always the same, diversity 0
            "motion": ["steady"] * 4,
            "structure": ["solo"] * 4,
        }
    )
    scores = composed.judged_scores(judged, {"brightness": "dark", "motion": "steady"})
    assert scores["accuracy"] == pytest.approx((3 + 4) / 8)
    assert scores["diversity"] == pytest.approx(0.5)
    assert np.isnan(composed.judged_scores(judged, {})["accuracy"])


def test_held_out_sounds_are_wet_bells_and_flute_with_gong():
    symbols = all_symbols()
    held = experiment.held_out(symbols)
    readings = composed.true_readings(symbols)
    wet_bell = (readings["bell"] == "yes") & (readings["space"] == "wet")
    flute_gong = (readings["flute"] == "yes") & (readings["gong"] == "yes")
    assert (held == (wet_bell | flute_gong).to_numpy()).all()
    assert held.sum() == 384  # 10 structures with a bell x 24 wet sounds + 3 structures x 48


def test_labelled_rows_cover_every_word_of_the_pool():
    symbols = all_symbols()
    pool = np.flatnonzero(~experiment.held_out(symbols))
    rng = np.random.default_rng(0)
    rows = experiment.labelled_rows(symbols, pool, 2, rng)
    assert set(rows) <= set(pool)
    carried = symbols[rows].sum(axis=0)
    in_pool = symbols[pool].sum(axis=0)
    assert (carried >= np.minimum(2, in_pool)).all()
    assert (experiment.labelled_rows(symbols, pool, 0, rng) == pool).all()
    with pytest.raises(ValueError, match=">= 0"):
        experiment.labelled_rows(symbols, pool, -1, rng)


def test_committed_models_load_and_run():
    vae, meta = experiment.load_sound_model()
    assert meta["beta"] == experiment.RECIPE_BETA and meta["epochs"] == experiment.FULL.vae_epochs
    scan, words_meta = experiment.load_words_model()
    assert words_meta.get("rho", words_meta.get("keep")) == experiment.FULL.rho  # "keep": its older name
    with torch.no_grad():
        mu, _ = scan.encode(torch.from_numpy(cs.phrase(["bell", "wet"])[None].astype(np.float32)))
        assert vae.decode(mu).shape == (1, 64 * 32 + 1)
    with pytest.raises(FileNotFoundError, match="scan_compositional"):
        experiment.load_sound_model(RESULTS_DIR / "no_such_model.pt")


def test_committed_results_hold_every_trial_of_the_full_settings():
    frame = pd.read_csv(RESULTS_DIR / "scan_compositional.csv")
    scan = frame[frame["method"] == "SCAN"]
    trials = set(zip(scan["labels_per_word"].astype(int), scan["seed"], strict=True))
    assert trials == {(n, s) for n in experiment.FULL.labels for s in experiment.FULL.seeds}
    methods = set(frame["method"])
    assert {"SCAN", "probe (same labels)", "supervised MLP (whole pool)", "chance"} <= methods
    assert {"prior samples", "real sounds"} <= methods
    assert frame["value"].between(0, 1).all()


@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_command_writes_a_tidy_table(tmp_path):
    out = tmp_path / "scan_compositional.csv"
    assert experiment.main(["--fast", "--out", str(out)]) == 0
    frame = pd.read_csv(out)
    assert set(frame["direction"]) == {"sound->words", "words->sound"}
    assert set(frame["split"]) == {"seen", "novel"}
    assert set(frame["labels_per_word"].dropna().astype(int)) == set(experiment.FAST.labels)
    operators = pd.read_csv(tmp_path / "scan_compositional_operators.csv")
    assert {"learned AND", "product of experts"} == set(operators["route"])
    assert operators["value"].between(0, 1).all()


def test_run_and_prepare_never_publish_by_default():
    import inspect

    defaults = inspect.signature(experiment.run).parameters
    assert defaults["retrain"].default is False and defaults["publish"].default is False
    assert inspect.signature(experiment.prepare).parameters["publish"].default is False
    with pytest.raises(ValueError, match="retrain=True"):
        experiment.prepare(experiment.FAST, progress=False, publish=True)
    with pytest.raises(SystemExit):
        experiment.main(["--fast", "--publish"])


@pytest.mark.usefixtures("one_torch_thread")
def test_operator_examples_hold_results_the_target_admits():
    setup = experiment.prepare(experiment.FULL, progress=False)
    scan, _ = experiment.load_words_model()
    rng = np.random.default_rng(0)
    (mu1, lv1, mu2, lv2), ops, mu_x, logvar_x = experiment.operator_examples(setup, scan, 60, rng)
    assert mu1.shape == mu2.shape == mu_x.shape == (60, setup.mu.shape[1])
    assert set(ops.tolist()) <= {0, 1, 2} and len(set(ops.tolist())) == 3
    model = experiment.fit_operators(setup, scan, n=200, epochs=1)
    with torch.no_grad():
        mu, logvar = model(mu1, lv1, mu2, lv2, ops)
    assert mu.shape == logvar.shape == mu1.shape
