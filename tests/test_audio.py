"""Unit tests of course_lib.audio: players and grids of players."""

import base64
import io
import re
import wave

import numpy as np
import pytest

from course_lib import audio

SR = 8000


def _decode_first_wav(html: str) -> tuple[int, int]:
    """Return (sample rate, number of frames) of the first embedded WAV of an HTML snippet."""
    payload = re.search(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)", html).group(1)
    with wave.open(io.BytesIO(base64.b64decode(payload))) as wav:
        return wav.getframerate(), wav.getnframes()


def test_play_embeds_the_clip_at_its_rate():
    clip = np.sin(2 * np.pi * 440 * np.arange(SR // 2) / SR)
    rate, frames = _decode_first_wav(audio.play(clip, SR)._repr_html_())
    assert (rate, frames) == (SR, SR // 2)


def test_play_cuts_long_clips():
    rate, frames = _decode_first_wav(audio.play(np.zeros(10 * SR), SR, max_seconds=1.0)._repr_html_())
    assert frames == SR


@pytest.mark.parametrize(
    ("signal", "sr", "message"),
    [
        (np.zeros((2, 10)), SR, "1-D"),
        (np.array([]), SR, "at least one sample"),
        (np.array([0.0, np.nan]), SR, "finite"),
        (np.zeros(10), 0, "positive integer"),
        (np.zeros(10), 44.1, "positive integer"),
    ],
)
def test_play_rejects_bad_input(signal, sr, message):
    with pytest.raises(ValueError, match=message):
        audio.play(signal, sr)


def test_play_without_normalisation_needs_samples_in_range():
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        audio.play(np.full(10, 2.0), SR, normalize=False)


def test_player_grid_has_one_player_per_clip_and_labels():
    clips = np.zeros((2, 3, 100))
    html = audio.player_grid(clips, SR, row_labels=["a", "b"], col_labels=["x", "y", "z"], title="T<1>").data
    assert html.count("<audio") == 6
    assert "<caption" in html and "T&lt;1&gt;" in html
    assert all(f"<th>{label}</th>" in html for label in "xyz")


def test_player_grid_accepts_ragged_nested_lists():
    html = audio.player_grid([[np.zeros(10)], [np.zeros(10), np.zeros(20)]], SR).data
    assert html.count("<audio") == 3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"row_labels": ["only one"]}, "row_labels"), ({"col_labels": ["a", "b", "c"]}, "col_labels")],
)
def test_player_grid_rejects_mismatched_labels(kwargs, message):
    with pytest.raises(ValueError, match=message):
        audio.player_grid(np.zeros((2, 2, 10)), SR, **kwargs)


@pytest.mark.parametrize("signals", [[], [[]], np.zeros((1, 1, 1, 1))])
def test_player_grid_rejects_bad_layouts(signals):
    with pytest.raises(ValueError):
        audio.player_grid(signals, SR)


def _wav_peaks(html: str) -> list[float]:
    """Peak |sample| (full scale = 1) of every embedded WAV of an HTML snippet, in order."""
    peaks = []
    for payload in re.findall(r"data:audio/wav;base64,([A-Za-z0-9+/=]+)", html):
        with wave.open(io.BytesIO(base64.b64decode(payload))) as wav:
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        peaks.append(np.abs(samples).max() / 32767)
    return peaks


def test_player_grid_plays_every_clip_at_one_gain():
    tone = np.sin(2 * np.pi * 440 * np.arange(SR // 4) / SR)
    # two clips 12 dB apart: a per-clip peak normalisation would make them equally loud
    peaks = _wav_peaks(audio.player_grid([[0.1 * tone, 0.4 * tone]], SR).data)
    assert peaks[1] == pytest.approx(audio.PEAK, abs=1e-3)
    assert peaks[1] / peaks[0] == pytest.approx(4.0, rel=1e-2)
    as_is = _wav_peaks(audio.player_grid([[0.1 * tone, 0.4 * tone]], SR, gain=1.0).data)
    assert as_is == pytest.approx([0.1, 0.4], abs=1e-3)


def test_player_grid_rejects_a_gain_that_would_clip():
    with pytest.raises(ValueError, match="gain"):
        audio.player_grid([[np.full(10, 0.5)]], SR, gain=4.0)
    with pytest.raises(ValueError, match="gain"):
        audio.player_grid([[np.full(10, 0.5)]], SR, gain=-1.0)


def test_common_gain_keeps_silence_and_checks_peak():
    assert audio.common_gain([np.zeros(5), np.zeros(3)]) == 1.0
    assert audio.common_gain([np.full(4, -0.5), np.full(2, 0.25)], peak=0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="peak"):
        audio.common_gain([np.ones(3)], peak=1.5)


def test_for_the_page_resamples_and_cuts():
    sr = 16000
    t = np.arange(sr) / sr
    clips = np.stack([np.sin(2 * np.pi * 440 * t)] * 2)[None]  # [1, 2, 16000]
    short = audio.for_the_page(clips, sr, target_sr=8000, seconds=0.5)
    assert short.shape == (1, 2, 4000)
    spectrum = np.abs(np.fft.rfft(short[0, 0]))
    assert abs(np.argmax(spectrum) * 8000 / 4000 - 440) <= 2
    with pytest.raises(ValueError, match="positive"):
        audio.for_the_page(clips, sr, seconds=0)
