"""The presets of the toy dataset (course_lib.presets): grids, rendering, invalid settings."""

import numpy as np
import pytest

from course_lib import presets


def test_presets_exist_with_the_promised_grid_sizes():
    assert set(presets.PRESETS) == {"static", "default", "envelope", "modulation", "sequence"}
    assert presets.get_preset("default").factor_space.n_combinations >= 50_000
    assert len(presets.get_preset("default").factor_space.names) >= 6
    for name in ("static", "envelope", "modulation", "sequence"):
        assert 1_000 <= presets.get_preset(name).factor_space.n_combinations <= 20_000
    x = presets.get_preset("envelope").render_classes(np.zeros((2, 5), dtype=int))
    assert x.shape == (2, 16000) and x.dtype == np.float32


def test_invalid_presets_raise_a_clear_value_error():
    preset = presets.get_preset("static")
    with pytest.raises(ValueError, match="unknown preset"):
        presets.get_preset("nope")
    with pytest.raises(ValueError, match=r"\[N, 5\]"):
        preset.render(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="both factors and constants"):
        presets.Preset("bad", "", preset.factor_space, {"f0": 100.0})
