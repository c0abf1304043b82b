"""The live widgets (course_lib.live) checked in headless Chromium against PyTorch, the synth and librosa.

The pages are written to a temporary folder and opened from ``file://``, as a reader opens the book.
The proofs print their measured errors (``pytest -s``) and assert the bounds of issue 28.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from course_lib import live
from course_lib.features import LogMel
from course_lib.models.scan import SCAN
from course_lib.presets import get_preset
from course_lib.recipe import load_logmel_model

PUBLISHED = ("beta_tcvae", "gvae_known_k")


# ----------------------------------------------------------------------------- no browser needed
def test_slider_labels_name_the_factor_each_latent_carries():
    scores = np.array([[0.72, 0.0, 0.05], [0.1, 0.4, 0.02]]).T  # [latents, factors]
    labels = live.latent_labels(scores, ["pitch", "level"])
    assert labels == {0: "pitch (0.72)", 1: "level (0.40)"}
    assert live._slider_names(labels, 3) == ["z0 ~ pitch (0.72)", "z1 ~ level (0.40)", "z2"]
    assert live.factor_words(get_preset("default").factor_space)[:3] == ["pitch", "loudness", "brightness"]
    with pytest.raises(ValueError, match=r"latents are 0\.\.2"):
        live._slider_names({5: "pitch"}, 3)


def test_export_keeps_every_weight_in_float16_and_names_the_output(tiny_vae):
    model = tiny_vae(in_shape=784, z_dim=2, hidden=(16,))
    exported = live.export_decoder(model)
    n_weights = 2 * 16 + 16 + 16 * 784 + 784
    assert len(exported.weights) == 2 * n_weights
    assert exported.shape == (28, 28) and exported.output == {"type": "image"}
    assert [layer["activation"] for layer in exported.layers] == ["relu", "sigmoid"]


def test_export_refuses_a_layer_the_page_cannot_run(tiny_vae):
    model = tiny_vae(in_shape=6, z_dim=2, hidden=(4,), likelihood="gaussian")
    model.decoder.body.append(torch.nn.LayerNorm(4))
    with pytest.raises(ValueError, match="LayerNorm"):
        live.export_decoder(model, shape=(2, 3))


def test_the_weights_count_is_the_inline_base64(tiny_vae):
    model = tiny_vae(in_shape=(4, 3), z_dim=2, hidden=(5,), likelihood="gaussian")
    widget = live.decoder_widget(model)
    raw = len(live.export_decoder(model).weights)
    assert live.weights_bytes(widget) == 4 * -(-raw // 3)
    assert live.weights_bytes(live.synth_widget()) == 0
    assert live.weights_bytes("<html>" + widget.data * 2) == 2 * live.weights_bytes(widget)
    assert live.weights_bytes(live.side_by_side(widget, widget)) == 2 * live.weights_bytes(widget)


# ------------------------------------------------------------------------------- in the browser
@pytest.fixture(scope="module")
def published(one_torch_thread):
    return {name: load_logmel_model(name)[0] for name in PUBLISHED}


@pytest.fixture(scope="module")
def live_page(browser, published, tmp_path_factory, tiny_vae):
    """One page from file:// with the two published decoders, an image decoder and the synthesizer."""
    image_model = tiny_vae(in_shape=784, z_dim=2, hidden=(16,), seed=1)
    sound_model = tiny_vae(in_shape=(64, 32), z_dim=3, hidden=(8,), likelihood="gaussian", seed=2)
    torch.manual_seed(3)
    scan = SCAN(n_words=4, z_dim=3, hidden=8)
    widgets = {
        **{name: live.decoder_widget(model, title=name) for name, model in published.items()},
        "image": live.decoder_widget(image_model, title="digits"),
        "synth": live.synth_widget(),
        "words": live.decoder_widget(sound_model, words=(scan, ["soft", "loud", "bell", "wet"])),
    }
    path = tmp_path_factory.mktemp("live") / "page.html"
    body = "".join(w.data for w in widgets.values())
    path.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>")
    page = browser.new_page()
    messages: list[str] = []
    page.on("console", lambda m: messages.append(f"{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: messages.append(f"pageerror: {e}"))
    page.goto(path.as_uri())
    page.wait_for_function(f"window.CourseLive && Object.keys(CourseLive.widgets).length === {len(widgets)}")
    uids = page.evaluate("Object.keys(CourseLive.widgets)")
    yield {
        "page": page,
        "uids": dict(zip(widgets, uids, strict=True)),
        "errors": messages,
        "image_model": image_model,
        "scan": scan,
    }
    page.close()


def _call(live_page, name: str, method: str, *args):
    uid = live_page["uids"][name]
    return live_page["page"].evaluate(
        f"(args) => {{ const r = CourseLive.widgets['{uid}'].{method}(...args); return Array.from(r); }}",
        list(args),
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", PUBLISHED)
def test_the_page_decodes_like_pytorch(live_page, published, name):
    codes = np.random.default_rng(28).normal(scale=1.5, size=(20, 10)).astype(np.float32)
    page = np.array([_call(live_page, name, "decode", code.tolist()) for code in codes])
    with torch.no_grad():
        reference = published[name].decode(torch.from_numpy(codes)).numpy().reshape(20, -1)
    error = np.abs(page - reference).max()
    print(f"{name}: largest |JS - PyTorch| log-mel difference over 20 codes: {error:.2e}")
    assert error < 1e-2


@pytest.mark.slow
def test_the_page_draws_an_image_decoder_like_pytorch(live_page):
    model = live_page["image_model"]
    codes = np.random.default_rng(2).normal(size=(20, 2)).astype(np.float32)
    page = np.array([_call(live_page, "image", "decode", code.tolist()) for code in codes])
    with torch.no_grad():
        reference = model.mean(model.decode(torch.from_numpy(codes))).numpy().reshape(20, -1)
    assert np.abs(page - reference).max() < 1e-2


@pytest.mark.slow
def test_the_page_encodes_words_like_scan_and_samples_a_code(live_page):
    scan, page, uid = live_page["scan"], live_page["page"], live_page["uids"]["words"]
    phrases = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 1, 1]], dtype=np.float32)
    in_page = np.array([_call(live_page, "words", "encodeWords", p.tolist()) for p in phrases])
    with torch.no_grad():
        mu, logvar = scan.encode(torch.from_numpy(phrases))
    assert np.abs(in_page - torch.cat([mu, logvar], 1).numpy()).max() < 1e-2
    canvas = page.locator(f"#{uid} canvas")
    before = canvas.evaluate("c => c.toDataURL()")
    page.locator(f"#{uid} .cl-word").nth(2).check()
    page.locator(f"#{uid} .cl-sample").click()
    values = page.locator(f"#{uid} input[type=range]").evaluate_all("s => s.map(x => Number(x.value))")
    assert values != [0.0, 0.0, 0.0] and canvas.evaluate("c => c.toDataURL()") != before


def _random_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Factor values drawn over each factor's range (pitch and attack log-uniform), default preset."""
    space = get_preset("default").factor_space
    columns = []
    for factor in space.factors:
        low, high = factor.values[0], factor.values[-1]
        if factor.name in ("f0", "attack"):
            columns.append(np.exp(rng.uniform(np.log(low), np.log(high), n)))
        else:
            columns.append(rng.uniform(low, high, n))
    return np.stack(columns, axis=1)


@pytest.mark.slow
def test_the_page_synthesizes_like_course_synth(live_page):
    preset, features = get_preset("default"), LogMel()
    rng = np.random.default_rng(1)
    values = _random_factors(rng, 20)
    ids = rng.integers(0, 50_000, 20)
    reference_db = features.to_db(features(preset.render(values, ids=ids)))
    names = preset.factor_space.names
    errors = []
    for row, clip_id in zip(values, ids, strict=True):
        params = {**dict(zip(names, row.tolist(), strict=True)), "release": 30.0}
        uid = live_page["uids"]["synth"]
        page = live_page["page"].evaluate(
            f"""([p, id]) => {{
                const w = CourseLive.widgets['{uid}'];
                return Array.from(w.logmel(CourseLive.synth.render(p, 0, id, 1)));
            }}""",
            [params, int(clip_id)],
        )
        errors.append(np.asarray(page).reshape(64, -1))
    page_db = features.to_db(np.stack(errors))
    above = reference_db > features.floor_db + 1e-6
    rms = [np.sqrt(np.mean((p[a] - r[a]) ** 2)) for p, r, a in zip(page_db, reference_db, above, strict=True)]
    print(f"synth: RMS log-mel difference per clip (dB): median {np.median(rms):.2e}, worst {max(rms):.2e}")
    assert max(rms) < 1.5


def _pitch_and_level(clip: np.ndarray, sr: int) -> tuple[float, float, float]:
    """pYIN's median pitch over voiced frames (Hz, NaN if none), the voiced fraction, the RMS level (dB)."""
    f0, voiced, _ = librosa.pyin(clip, fmin=60, fmax=1000, sr=sr, frame_length=1024)
    pitch = float(np.median(f0[voiced])) if voiced.any() else float("nan")
    return pitch, float(voiced.mean()), float(10 * np.log10(np.mean(clip**2)))


@pytest.mark.slow
def test_the_page_griffin_lim_sounds_like_librosa(live_page):
    """Eight random sounds of the grid: log-mel -> audio in the page and by librosa (LogMel.invert)."""
    preset, features = get_preset("default"), LogMel()
    space = preset.factor_space
    ids = np.random.default_rng(5).choice(space.n_combinations, 8, replace=False)
    clips = preset.render_classes(space.index_to_classes(ids))
    logmels = features(clips)
    length = (logmels.shape[-1] - 1) * features.hop_length
    for clip, logmel in zip(clips, logmels, strict=True):
        frames = logmel.shape[1]
        page = np.asarray(_call(live_page, "synth", "toAudio", logmel.ravel().tolist(), frames, length))
        reference = features.invert(logmel, n_iter=32, length=length)
        (f_page, v_page, l_page), (f_ref, v_ref, l_ref) = (
            _pitch_and_level(a, 16000) for a in (page, reference)
        )
        f_true = _pitch_and_level(clip, 16000)[0]
        print(
            f"Griffin-Lim, page vs librosa: pitch {f_page:.1f} vs {f_ref:.1f} Hz (voiced {v_page:.2f} vs "
            f"{v_ref:.2f}; the clip: {f_true:.1f} Hz), level {l_page:.2f} vs {l_ref:.2f} dB"
        )
        assert abs(l_page - l_ref) < 1.0
        if v_ref > 0.5:
            assert 1200 * abs(np.log2(f_page / f_ref)) < 50
        elif v_page > 0.5:  # librosa's NNLS lost the pitch (noisy clips): the page must keep the clip's
            assert 1200 * abs(np.log2(f_page / f_true)) < 50


@pytest.mark.slow
def test_moving_a_slider_changes_the_picture_and_the_sound(live_page):
    page = live_page["page"]
    assert page.url.startswith("file://")
    for name in ("beta_tcvae", "synth"):
        uid = live_page["uids"][name]
        canvas = page.locator(f"#{uid} canvas")
        before = canvas.evaluate("c => c.toDataURL()")
        sound = page.evaluate(f"Array.from(CourseLive.widgets['{uid}'].state.audio.slice(4000, 4400))")
        slider = page.locator(f"#{uid} input[type=range]").first
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)  # a real gesture
        page.wait_for_timeout(100)
        assert canvas.evaluate("c => c.toDataURL()") != before
        after = page.evaluate(f"Array.from(CourseLive.widgets['{uid}'].state.audio.slice(4000, 4400))")
        assert not np.allclose(sound, after)
        page.locator(f"#{uid} .cl-reset").click()
        assert canvas.evaluate("c => c.toDataURL()") == before
    assert page.evaluate("CourseLive.audioContext !== null")
    assert not live_page["errors"], live_page["errors"]
