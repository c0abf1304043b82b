"""Tests of course_lib.diagrams: the three architecture figures and the block-diagram helper."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from course_lib import diagrams

DIAGRAMS = {
    "vae": diagrams.vae_diagram,
    "recurrent": diagrams.recurrent_attention_diagram,
    "scan": diagrams.scan_diagram,
}

EXPECTED_LABELS = {
    "vae": {
        "x": "input",
        "encoder": "encoder\nMLP",
        "posterior": r"$\mu$, $\log\sigma^2$",
        "z": r"$z = \mu + \sigma \odot \varepsilon$",
        "noise": r"\varepsilon \sim \mathcal{N}(0, I)",
        "decoder": "decoder\nMLP",
        "output": r"p_\theta(x \mid z)",
        "kl": "KL to the prior",
    },
    "recurrent": {
        "frames": "frames $x_1 \\dots x_T$",
        "gru": "bidirectional\nGRU",
        "states": "$s_1 \\dots s_T$",
        "attention": "additive attention",
        "posterior": r"$\mu$, $\log\sigma^2$",
        "z": r"$z = \mu + \sigma \odot \varepsilon$",
        "memory": r"$M = \tanh(S + W_z z)$",
        "init": r"$h_0 = \tanh(W_0 z)$",
        "decoder": "attends over $M$",
        "output": "\\hat x_1",
    },
    "scan": {
        "sound_encoder": "β-VAE encoder\n(frozen)",
        "sound_decoder": "β-VAE decoder\n(frozen)",
        "q_sound": r"$q(z_x \mid x)$",
        "q_symbol": r"$q(z_y \mid y)$",
        "ground": r"\|\; q(z_y \mid y))",
        "symbol_encoder": "symbol\nencoder",
        "symbol_decoder": "symbol\ndecoder",
        "op": "AND, IN COMMON, IGNORE",
        "recombine": "recombination network",
        "result": r"$r(z \mid y_1, y_2, \mathrm{op})$",
        "logmel": "log-mel",
    },
}


@pytest.fixture(scope="module", params=sorted(DIAGRAMS))
def drawn(request):
    """(name, figure) for each diagram, drawn once so every extent is final."""
    fig = DIAGRAMS[request.param]()
    fig.canvas.draw()
    yield request.param, fig
    plt.close(fig)


def _parts(fig: Figure, prefix: str) -> dict:
    """Artists of the diagram's axes whose gid starts with ``prefix``, keyed by the rest of the gid."""
    ax = fig.axes[0]
    artists = list(ax.texts) + list(ax.patches)
    return {a.get_gid()[len(prefix) :]: a for a in artists if (a.get_gid() or "").startswith(prefix)}


def test_each_diagram_is_a_figure_with_its_block_labels(drawn):
    name, fig = drawn
    assert isinstance(fig, Figure)
    labels = {key: text.get_text() for key, text in _parts(fig, "block:").items()}
    for block, expected in EXPECTED_LABELS[name].items():
        assert block in labels, f"{name}: no block {block!r}"
        assert expected in labels[block], f"{name}: block {block!r} reads {labels[block]!r}"


def test_each_diagram_is_readable_at_display_size(drawn):
    name, fig = drawn
    width, _ = fig.get_size_inches()
    assert 9 <= width <= 10
    texts = list(fig.axes[0].texts) + list(fig.legends[0].get_texts())
    assert min(t.get_fontsize() for t in texts) >= 9, name


def test_no_two_block_boxes_overlap(drawn):
    name, fig = drawn
    boxes = {key: box.get_window_extent() for key, box in _parts(fig, "box:").items()}
    assert boxes.keys() == _parts(fig, "block:").keys()
    clashes = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes.items(), 2) if ba.overlaps(bb)]
    assert not clashes, f"{name}: overlapping boxes {clashes}"


def test_labels_stay_inside_the_figure_and_off_the_boxes(drawn):
    name, fig = drawn
    figure_box = fig.bbox
    boxes = {key: box.get_window_extent() for key, box in _parts(fig, "box:").items()}
    for key, text in {**_parts(fig, "arrow label:"), **_parts(fig, "group:")}.items():
        extent = text.get_window_extent()
        assert figure_box.x0 <= extent.x0 and extent.x1 <= figure_box.x1, f"{name}: {key!r} clipped"
        assert figure_box.y0 <= extent.y0 and extent.y1 <= figure_box.y1, f"{name}: {key!r} clipped"
        on = [block for block, box in boxes.items() if box.overlaps(extent)]
        assert not on, f"{name}: label {key!r} lies on block(s) {on}"
    for key, box in boxes.items():
        assert figure_box.contains(box.x0, box.y0) and figure_box.contains(box.x1, box.y1), key


def test_recurrent_decoder_reads_z_and_nothing_from_the_encoder():
    fig = diagrams.recurrent_attention_diagram()
    try:
        arrows = [gid.split("->") for gid in _parts(fig, "arrow:")]
    finally:
        plt.close(fig)
    decoder = {"memory", "init", "decoder"}
    into_decoder = {source for source, target in arrows if target in decoder}
    assert into_decoder - decoder == {"z"}


def test_scan_links_the_two_vaes_through_the_latent_space():
    fig = diagrams.scan_diagram()
    try:
        arrows = set(_parts(fig, "arrow:"))
    finally:
        plt.close(fig)
    assert "q_symbol->sound_decoder" in arrows  # symbol -> sound
    assert "q_sound->symbol_decoder" in arrows  # sound -> symbol
    assert {"q_sound->ground", "q_symbol->ground"} <= arrows  # the grounding KL


BLOCKS = [("a", 1.0, 1.0, "A", "data"), ("b", 3.0, 1.0, "B", "network")]


def test_block_diagram_draws_a_small_diagram_with_labels_and_groups():
    fig = diagrams.block_diagram(BLOCKS, [("a", "b", "to b")], [("pair", ["a", "b"], "bottom")], size=(4, 2))
    try:
        assert _parts(fig, "arrow label:")["a->b"].get_text() == "to b"
        assert _parts(fig, "group:")["pair"].get_text() == "pair"
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["data", "network"]
    finally:
        plt.close(fig)


@pytest.mark.parametrize(
    ("blocks", "arrows", "groups", "match"),
    [
        (BLOCKS, [("a", "nowhere")], [], r"unknown: \['nowhere'\]"),
        (BLOCKS + [("a", 2.0, 1.5, "again", "latent")], [], [], "duplicate block name 'a'"),
        ([("a", 1.0, 1.0, "A", "widget")], [], [], "unknown kind 'widget'"),
        ([("a", 9.0, 1.0, "A", "data")], [], [], "outside"),
        ([("a", 1.0, 1.0, "A")], [], [], r"\(name, x, y, label, kind\)"),
        (BLOCKS, [("a", "a")], [], "to itself"),
        (BLOCKS, [], [("g", ["a", "c"])], r"unknown: \['c'\]"),
        (BLOCKS, [], [("g", [])], "must name known blocks"),
        ([], [], [], "at least one block"),
    ],
)
def test_block_diagram_rejects_bad_specs(blocks, arrows, groups, match):
    before = plt.get_fignums()
    with pytest.raises(ValueError, match=match):
        diagrams.block_diagram(blocks, arrows, groups, size=(4, 2))
    assert plt.get_fignums() == before  # checked before any figure is made
