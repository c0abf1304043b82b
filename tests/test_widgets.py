"""Unit tests of the latent explorers (course_lib.widgets)."""

import numpy as np
import pytest

from course_lib import widgets


def _frames(dims=2, steps=3):
    return np.arange(dims * steps * 4 * 5, dtype=float).reshape(dims, steps, 4, 5)


def test_static_explorer_embeds_every_frame_and_sound():
    audio = np.sin(np.linspace(0, 100, 2 * 3 * 800)).reshape(2, 3, 800)
    markup = widgets.static_explorer(_frames(), [-1, 0, 1], ["z0", "z1"], audio=audio, sr=8000).data
    assert markup.count("data:image/png;base64,") == 6 + 1  # the data table plus the initial image
    assert markup.count("data:audio/wav;base64,") == 6 + 1
    assert '<input id="' in markup and 'type="range"' in markup and "<select" in markup


def test_static_explorer_plays_every_sound_at_one_gain():
    from tests.test_audio import _wav_peaks

    tone = np.sin(np.linspace(0, 300, 800))
    levels = np.array([[0.05, 0.1, 0.2], [0.2, 0.4, 0.8]])
    sounds = levels[..., None] * tone
    markup = widgets.static_explorer(_frames(), [-1, 0, 1], ["z0", "z1"], audio=sounds, sr=8000).data
    peaks = np.array(_wav_peaks(markup)[1:])  # skip the initial player, a copy of one of the six
    np.testing.assert_allclose(peaks / peaks.max(), (levels / levels.max()).ravel(), rtol=2e-2)


def test_static_explorer_is_deterministic():
    first = widgets.static_explorer(_frames(), [-1, 0, 1], ["a", "b"]).data
    assert first == widgets.static_explorer(_frames(), [-1, 0, 1], ["a", "b"]).data


@pytest.mark.parametrize(
    ("frames", "values", "labels", "kwargs"),
    [
        (np.zeros((2, 3, 4)), [0, 1, 2], ["a", "b"], {}),
        (_frames(), [0, 1], ["a", "b"], {}),
        (_frames(), [0, 1, 2], ["a"], {}),
        (_frames(), [0, 1, 2], ["a", "b"], {"audio": np.zeros((2, 3, 10))}),
    ],
)
def test_static_explorer_rejects_bad_shapes(frames, values, labels, kwargs):
    with pytest.raises(ValueError):
        widgets.static_explorer(frames, values, labels, **kwargs)


def test_latent_sliders_decode_the_slider_values():
    seen = []

    def decode(z):
        seen.append(z.copy())
        return np.outer(np.arange(4), z[:1] + 1)

    box = widgets.latent_sliders(decode, 3, initial=np.array([0.5, 0.0, -1.0]))
    note, explorer = box.children
    assert "Live in JupyterLab" in note.value, "a static page must say the sliders need a kernel"
    sliders = explorer.children[0].children
    assert len(sliders) == 3
    np.testing.assert_allclose(seen[-1], [0.5, 0.0, -1.0])
    sliders[1].value = 2.0
    np.testing.assert_allclose(seen[-1], [0.5, 2.0, -1.0])


def test_latent_sliders_reject_bad_arguments():
    with pytest.raises(ValueError, match="z_dim"):
        widgets.latent_sliders(lambda z: z, 0)
    with pytest.raises(ValueError, match="sample rate"):
        widgets.latent_sliders(lambda z: z, 2, to_audio=lambda s: s)


def test_grid_explorer_embeds_every_cell_plays_at_one_gain_and_names_its_axes():
    from tests.test_audio import _wav_peaks

    tone = np.sin(np.linspace(0, 300, 800))
    levels = np.array([[0.05, 0.1, 0.2], [0.2, 0.4, 0.8]])
    images = _frames(2, 3)
    markup = widgets.grid_explorer(
        images,
        ["110 Hz", "220 Hz"],
        ["-40", "-28", "-16"],
        "f0",
        "level (dB)",
        audio=levels[..., None] * tone,
        sr=8000,
    ).data
    assert markup.count("data:image/png;base64,") == 6 + 1  # the data table plus the initial image
    peaks = np.array(_wav_peaks(markup)[1:])
    np.testing.assert_allclose(peaks / peaks.max(), (levels / levels.max()).ravel(), rtol=2e-2)
    assert "f0" in markup and "level (dB)" in markup and '"220 Hz"' in markup
    assert markup.count('type="range"') == 2
    silent = widgets.grid_explorer(
        images, ["a", "b"], ["x", "y", "z"], "r", "c", cmap="gray_r", flip=False
    ).data
    assert (
        "<audio" not in silent
        and silent
        == widgets.grid_explorer(
            images, ["a", "b"], ["x", "y", "z"], "r", "c", cmap="gray_r", flip=False
        ).data
    )


@pytest.mark.parametrize(
    ("images", "rows", "cols", "kwargs"),
    [
        (np.zeros((2, 3, 4)), ["a", "b"], ["x", "y", "z"], {}),
        (_frames(2, 3), ["a"], ["x", "y", "z"], {}),
        (_frames(2, 3), ["a", "b"], ["x", "y"], {}),
        (_frames(2, 3), ["a", "b"], ["x", "y", "z"], {"audio": np.zeros((2, 3, 10))}),
    ],
)
def test_grid_explorer_rejects_bad_shapes(images, rows, cols, kwargs):
    with pytest.raises(ValueError, match="images must be|need 2 row values|need|audio must be"):
        widgets.grid_explorer(images, rows, cols, "r", "c", **kwargs)


def test_choice_explorer_has_one_menu_per_axis_and_every_cell():
    axes = [("concept", ["bass", "bell"]), ("space", ["-", "dry", "wet"]), ("loudness", ["soft", "loud"])]
    images = np.arange(2 * 3 * 2 * 4 * 5, dtype=float).reshape(2, 3, 2, 4, 5)
    audio = np.random.default_rng(0).normal(size=(2, 3, 2, 100)) * 0.1
    markup = widgets.choice_explorer(images, axes, audio=audio, sr=8000).data
    assert markup.count("<select") == 3 and markup.count("<option") == 7
    assert markup.count("data:image/png") == 12 + 1 and markup.count("data:audio/wav") == 12 + 1
    assert '"strides": [6, 2, 1]' in markup
    assert markup == widgets.choice_explorer(images, axes, audio=audio, sr=8000).data  # deterministic


def test_choice_explorer_refuses_a_grid_that_does_not_match_its_axes():
    axes = [("concept", ["bass", "bell"]), ("space", ["dry", "wet"])]
    with pytest.raises(ValueError, match="2 concept, 2 space, height, width"):
        widgets.choice_explorer(np.zeros((2, 3, 4, 5)), axes)
    with pytest.raises(ValueError, match="audio"):
        widgets.choice_explorer(np.zeros((2, 2, 4, 5)), axes, audio=np.zeros((2, 2, 10)))
