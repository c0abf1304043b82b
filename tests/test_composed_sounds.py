"""Tests of course_lib.composed_sounds: the symbolic hierarchy, parses, sounds and the dataset file."""

import json

import numpy as np
import pytest

from course_lib import composed_sounds as comp
from course_lib import effects

EFFECTS = ("dark", "steady", "dry", "loud")


def test_the_hierarchy_is_consistent_data():
    for name, concept in comp.CONCEPTS.items():
        assert set(concept) == {a.name for a in comp.SOURCE_ATTRIBUTES}, name
        for attribute, word in concept.items():
            assert word in comp.ATTRIBUTES[attribute].words
        register = comp.ATTRIBUTES["register"].values[concept["register"]]["f0"]
        assert comp.PITCHES[name] in register
    for a, b in [(a, b) for a in comp.CONCEPTS for b in comp.CONCEPTS if a < b]:
        differ = sum(comp.CONCEPTS[a][k] != comp.CONCEPTS[b][k] for k in comp.CONCEPTS[a])
        assert differ >= 2, (a, b)
    assert len(set(comp.WORDS)) == len(comp.WORDS) == 22
    assert {a.name for a in comp.EFFECT_ATTRIBUTES} == {"brightness", "loudness", "space", "motion"}
    assert all(len(a.words) == 2 for a in comp.ATTRIBUTES.values())


def test_a_parse_orders_its_effects_and_carries_its_words():
    p = comp.Parse(("bass", "bell"), "THEN", ("wet", "soft", "bright", "wobbling"))
    assert p.effects == ("bright", "wobbling", "wet", "soft")
    assert str(p) == "bright wobbling wet soft (bass THEN bell)"
    assert p.to_dict() == {"effects": list(p.effects), "op": "THEN", "args": ["bass", "bell"]}
    words = comp.decode(comp.encode(p))
    assert set(words) == {"bass", "bell", "THEN", "bright", "wobbling", "wet", "soft"} | {
        "low", "high", "harmonic", "inharmonic", "gradual", "abrupt", "clean"
    }  # fmt: skip
    assert "PLUS" not in words and "breathy" not in words


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((("trumpet",), None, EFFECTS), "unknown concept 'trumpet'; the concepts are"),
        ((("bass", "bell"), "OR", EFFECTS), "unknown operator 'OR'; the sound operators are"),
        ((("bass",), "PLUS", EFFECTS), "operator PLUS joins two concepts"),
        ((("bass", "bell"), None, EFFECTS), "a sound without an operator has one concept"),
        ((("bass",), None, ("dark", "bright", "dry", "loud", "steady")), "at most one word per effect"),
        ((("bass",), None, ("dark", "dry", "loud")), r"missing \['motion'\]"),
        (
            (("bass",), None, ("shiny", "steady", "dry", "loud")),
            "unknown effect word 'shiny'; the effect words",
        ),
    ],
)
def test_bad_symbols_and_operators_are_refused_clearly(args, message):
    with pytest.raises(ValueError, match=message):
        comp.Parse(*args)


def test_the_grid_enumerates_every_structure_and_effect_once():
    fs = comp.factor_space()
    assert fs.n_combinations == 22 * 3 * 16
    parses = {str(comp.parse_of(row)) + str(row[1]) for row in fs.all_classes()}
    assert len(parses) == fs.n_combinations
    with pytest.raises(ValueError, match="class out of range for factor 'structure'"):
        comp.parse_of([22, 0, 0, 0, 0, 0])


def test_notes_are_one_note_long_and_at_the_reference_level():
    notes = comp.render_notes()
    n = int(comp.NOTE * comp.SR)
    for x in notes.values():
        assert np.all(x[n:] == 0) and np.any(x[n - 200 : n] != 0)
        assert 20 * np.log10(np.sqrt(np.mean(x[:n] ** 2))) == pytest.approx(comp.REF_LEVEL, abs=0.01)


def test_succession_on_the_waveform_second_part_starts_where_the_first_ends():
    notes = comp.render_notes()
    out = effects.compose("THEN", notes["bass"], notes["bell"], comp.SR, comp.NOTE)
    n = int(round(comp.NOTE * comp.SR))
    assert np.array_equal(out[:n], notes["bass"][:n])
    assert np.array_equal(out[n:], notes["bell"][: len(out) - n])
    sound = comp.render_parse(comp.Parse(("bass", "bell"), "THEN", EFFECTS), notes)
    quiet_until = np.flatnonzero(np.abs(sound) > 1e-3 * np.abs(sound).max())[-1]
    assert 2 * n - 0.01 * comp.SR < quiet_until < 2 * n + 0.02 * comp.SR  # dry: silent after two notes


def test_mixing_on_the_waveform_is_the_sum_of_the_two_parts():
    notes = comp.render_notes()
    mixed = effects.compose("PLUS", notes["bass"], notes["bell"], comp.SR, comp.NOTE)
    assert np.array_equal(mixed, notes["bass"] + notes["bell"])
    # dark steady dry loud is a filter and a gain (linear): the mix is the sum of the filtered parts.
    both = comp.render_parse(comp.Parse(("bass", "bell"), "PLUS", EFFECTS), notes)
    parts = [effects.tilt_filter(notes[c], comp.SR, -6.0, keep_rms=False) for c in ("bass", "bell")]
    summed = parts[0] + parts[1]
    scale = np.dot(both, summed) / np.dot(summed, summed)
    assert np.allclose(both, scale * summed, atol=1e-9)


def test_effects_change_what_they_name_in_generated_sounds():
    notes = comp.render_notes()

    def sound(*words):
        return comp.render_parse(comp.Parse(("flute",), None, words), notes)

    def level(x):
        return 20 * np.log10(np.sqrt(np.mean(x**2)))

    assert level(sound("dark", "steady", "dry", "loud")) == pytest.approx(comp.REF_LEVEL + 8.0)
    assert level(sound("dark", "steady", "dry", "soft")) == pytest.approx(comp.REF_LEVEL - 8.0)
    tail = slice(int(0.4 * comp.SR), int(0.6 * comp.SR))
    assert (
        level(sound("dark", "steady", "wet", "loud")[tail])
        > level(sound("dark", "steady", "dry", "loud")[tail]) + 40
    )


def test_render_phrase_from_words():
    x = comp.render_phrase(["bass", "bell"], ["dark", "soft", "wet", "steady"], "THEN")
    assert x.dtype == np.float32 and x.shape == (int(comp.DURATION * comp.SR),)
    assert np.abs(x).max() < 1.0


def test_dataset_file_same_seed_same_bytes_and_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    path = comp.build_composed_sounds(seed=0, progress=False)
    assert path.parent == tmp_path and path.name.startswith("composed_sounds_seed0_")
    first = path.read_bytes()
    again = comp.build_composed_sounds(seed=0, path=tmp_path / "again.npz", progress=False)
    assert again.read_bytes() == first
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    ds = comp.ComposedSounds.from_file(path)
    data = {k: getattr(ds, k) for k in ("features", "latents_classes", "latents_values", "symbols", "parses")}
    meta = ds.metadata
    assert comp.load_composed_sounds(0).path == path and len(ds) == 1056
    x, y = ds[3]
    assert x.shape == (64, 32) and np.array_equal(y.numpy(), ds.symbols[3].astype(np.float32))
    assert ds.parse(700) == comp.parse_of(ds.latents_classes[700])
    fs = comp.factor_space()
    assert meta["n_examples"] == len(data["features"]) == fs.n_combinations == 1056
    assert data["features"].dtype == np.float16 and data["features"].shape[1:] == (64, 32)
    assert np.array_equal(data["latents_classes"], fs.all_classes())
    assert np.allclose(data["latents_values"], fs.classes_to_values(fs.all_classes()))
    assert meta["words"] == list(comp.WORDS) and meta["factor_names"] == list(fs.names)
    for i in (0, 500, 1055):
        parse = comp.parse_of(data["latents_classes"][i])
        assert json.loads(str(data["parses"][i])) == parse.to_dict()
        assert np.array_equal(data["symbols"][i], comp.encode(parse))


def test_missing_or_foreign_dataset_file_is_reported(tmp_path):
    with pytest.raises(ValueError, match="no composed-sounds file at"):
        comp.ComposedSounds.from_file(tmp_path / "none.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="is not a composed-sounds file: it lacks"):
        comp.ComposedSounds.from_file(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        comp.dataset_metadata(-1)


def test_metadata_is_strict_json():
    meta = comp.dataset_metadata(0)
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta  # infinite values are written "inf"


@pytest.mark.slow
def test_command_line_builds_the_file(tmp_path, capsys):
    assert comp.main(["--seed", "1", "--path", str(tmp_path / "c.npz")]) == 0
    assert "1056 sounds" in capsys.readouterr().out
    assert comp.ComposedSounds.from_file(tmp_path / "c.npz").metadata["seed"] == 1


def test_symbol_operators_act_on_word_sets():
    a = comp.phrase(["bell", "wet", "soft"])
    b = comp.phrase(["soft", "dark"])
    assert comp.words_of(comp.and_(a, b)) == comp.words_of(comp.phrase(["bell", "wet", "soft", "dark"]))
    assert comp.words_of(comp.in_common(a, b)) == ["soft"]
    assert comp.words_of(comp.ignore(a, comp.phrase(["wet"]))) == comp.words_of(comp.phrase(["bell", "soft"]))
    assert comp.words_of(comp.apply_symbol_operator("IN_COMMON", a, comp.phrase(["dark"]))) == []
    with pytest.raises(ValueError, match="admits no sound"):
        comp.and_(comp.phrase(["dark"]), comp.phrase(["bright"]))
    with pytest.raises(ValueError, match="admits no sound"):
        comp.and_(comp.phrase(["PLUS"]), comp.phrase(["THEN"]))
    with pytest.raises(ValueError, match="IGNORE only drops"):
        comp.ignore(a, comp.phrase(["loud"]))
    with pytest.raises(ValueError, match="symbol operators"):
        comp.apply_symbol_operator("PLUS", a, b)
    assert comp.SYMBOL_OPERATORS == ("AND", "IN_COMMON", "IGNORE")
    assert not set(comp.SYMBOL_OPERATORS) & set(comp.SOUND_OPERATORS)  # one meaning per operator name


def test_admits_and_partial_symbols():
    full = np.stack([comp.encode(comp.parse_of(row)) for row in comp.factor_space().all_classes()[:300]])
    assert comp.admits(full, comp.phrase([])).all()
    wet = comp.admits(full, comp.phrase(["wet"]))
    assert (wet == full[:, comp.WORDS.index("wet")].astype(bool)).all()
    partial = comp.partial_symbols(full, np.random.default_rng(0), rho=0.5)
    assert ((partial == 1) <= (full == 1)).all() and 0.4 < partial.sum() / full.sum() < 0.6
    with pytest.raises(ValueError, match="rho"):
        comp.partial_symbols(full, np.random.default_rng(0), rho=0.0)
