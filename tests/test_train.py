"""Unit tests of the training loop (course_lib.train): learning, determinism, history, checkpoints."""

from __future__ import annotations

import importlib.util
import inspect
import warnings

import pytest
import torch

from course_lib import losses
from course_lib.losses import make_vae_loss
from course_lib.models.vae import mlp_vae
from course_lib.train import (
    History,
    TensorLoader,
    evaluate,
    fit,
    key_differences,
    load_checkpoint,
    run_key,
    save_checkpoint,
    train,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _data(n: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Two binary prototypes with 5% flipped pixels: easy to learn."""
    gen = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 2, (n,), generator=gen)
    protos = torch.bernoulli(torch.full((2, 24), 0.5), generator=gen)
    flips = torch.bernoulli(torch.full((n, 24), 0.05), generator=gen)
    return (protos[labels] + flips) % 2, labels


SHAPE = (24, 2, (16,))
"""tiny_vae(*SHAPE): 24 binary pixels, 2 latents, 16 hidden units."""


def test_tensor_loader_batches_and_transform():
    x, y = _data(10)
    loader = TensorLoader(x, y, batch_size=4, shuffle=False)
    batches = list(loader)
    assert len(loader) == 3 and [len(b[0]) for b in batches] == [4, 4, 2]
    torch.testing.assert_close(batches[0][0], x[:4])
    assert len(TensorLoader(x, batch_size=4, drop_last=True)) == 2
    only_x = next(iter(TensorLoader(x, batch_size=3, transform=lambda t: t * 0)))
    assert isinstance(only_x, torch.Tensor) and only_x.sum() == 0
    with pytest.raises(ValueError, match="first size"):
        TensorLoader(x, y[:3])
    with pytest.raises(ValueError, match="batch_size"):
        TensorLoader(x, batch_size=0)


def test_training_improves_the_elbo_and_records_history(tiny_vae):
    x, y = _data()
    hist = train(
        tiny_vae(*SHAPE), TensorLoader(x, y, batch_size=32), epochs=8, lr=1e-2,
        val_loader=TensorLoader(x, batch_size=128, shuffle=False), progress=False,
    )  # fmt: skip
    assert isinstance(hist, History) and len(hist) == 8
    assert hist[-1]["elbo"] > hist[0]["elbo"] + 3
    assert hist[-1]["samples_seen"] == 8 * 256 and hist[-1]["steps"] == 8 * 8
    assert hist.kl_per_dim().shape == (8, 2) and hist.kl_per_dim("val_").shape == (8, 2)
    frame = hist.to_frame()
    assert {"epoch", "elbo", "recon", "kl", "kl_dim_0", "kl_dim_1", "val_elbo", "val_kl_dim_1"} <= set(
        frame.columns
    )
    assert frame["kl"].to_numpy() == pytest.approx(
        frame[["kl_dim_0", "kl_dim_1"]].sum(axis=1).to_numpy(), rel=1e-5
    )
    assert "History(8 epochs" in repr(hist)


def test_same_seed_same_history_other_seed_differs(tiny_vae):
    x, _ = _data(128)
    runs = [
        train(tiny_vae(*SHAPE), TensorLoader(x, batch_size=32), epochs=2, seed=s, progress=False)
        for s in (3, 3, 4)
    ]
    assert runs[0][-1]["elbo"] == runs[1][-1]["elbo"]
    assert runs[0][-1]["elbo"] != runs[2][-1]["elbo"]


def test_checkpoint_is_loaded_when_settings_match_and_retrained_otherwise(tiny_vae, tmp_path):
    x, _ = _data(128)
    path = tmp_path / "vae.pt"
    model = tiny_vae(*SHAPE)
    first = train(model, TensorLoader(x, batch_size=32), epochs=2, checkpoint=path, progress=False)
    assert path.is_file() and [p.name for p in tmp_path.iterdir()] == ["vae.pt"]  # no temp file left
    payload = torch.load(path, weights_only=True)  # plain tensors and Python values only
    assert payload["meta"]["history"][-1]["elbo"] == first[-1]["elbo"]

    fresh = tiny_vae(*SHAPE, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loading must not warn
        again = train(fresh, TensorLoader(x, batch_size=32), epochs=2, checkpoint=path, progress=False)
    assert again.records == first.records
    for a, b in zip(model.state_dict().values(), fresh.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)

    with pytest.warns(UserWarning, match="other settings"):
        longer = train(
            tiny_vae(*SHAPE), TensorLoader(x, batch_size=32), epochs=3, checkpoint=path, progress=False
        )
    assert len(longer) == 3 and len(torch.load(path, weights_only=True)["meta"]["history"]) == 3


def _fit_once(
    model, path, *, loss_fn=None, capacity_schedule=None, lr=1e-3, batch_size=32, flip=False
) -> History:
    x, _ = _data(128)
    loader = TensorLoader(1 - x if flip else x, batch_size=batch_size)
    return train(
        model, loader, epochs=1, loss_fn=loss_fn, capacity_schedule=capacity_schedule, lr=lr,
        checkpoint=path, progress=False,
    )  # fmt: skip


def _capacity(gamma: float, capacity: float) -> dict:
    return {"loss_fn": make_vae_loss(gamma=gamma), "capacity_schedule": lambda step: capacity * step}


@pytest.mark.parametrize(
    "first, second",
    [
        ({"loss_fn": make_vae_loss(beta=1.0)}, {"loss_fn": make_vae_loss(beta=4.0)}),
        (_capacity(gamma=10.0, capacity=0.1), _capacity(gamma=100.0, capacity=0.1)),
        (_capacity(gamma=10.0, capacity=0.1), _capacity(gamma=10.0, capacity=0.2)),
        ({}, {"lr": 1e-2}),
        ({}, {"batch_size": 16}),
        ({}, {"flip": True}),
    ],
    ids=["beta", "gamma", "capacity", "lr", "batch_size", "data"],
)
def test_checkpoint_is_retrained_when_a_setting_of_the_weights_changes(tiny_vae, tmp_path, first, second):
    path = tmp_path / "vae.pt"
    _fit_once(tiny_vae(*SHAPE), path, **first)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same settings (a fresh but equal loss_fn): reused
        _fit_once(tiny_vae(*SHAPE), path, **first)
    with pytest.warns(UserWarning, match="other settings"):
        _fit_once(tiny_vae(*SHAPE), path, **second)


def test_save_and_load_checkpoint_round_trip(tiny_vae, tmp_path):
    model = tiny_vae(*SHAPE)
    save_checkpoint(model, tmp_path / "sub" / "m.pt", note="hello", z=2)
    other = tiny_vae(*SHAPE, seed=5)
    meta = load_checkpoint(other, tmp_path / "sub" / "m.pt")
    assert meta == {"note": "hello", "z": 2}
    torch.testing.assert_close(other.encoder.mu.weight, model.encoder.mu.weight)
    with pytest.raises(FileNotFoundError):
        load_checkpoint(model, tmp_path / "missing.pt")


def test_custom_optimizer_capacity_schedule_and_evaluate(tiny_vae):
    x, y = _data(64)
    seen = []

    def schedule(step: int) -> float:
        seen.append(step)
        return 0.1 * step

    hist = train(
        tiny_vae(*SHAPE), TensorLoader(x, y, batch_size=32), epochs=2, loss_fn=make_vae_loss(gamma=10.0),
        optimizer=lambda params: torch.optim.SGD(params, lr=0.01), capacity_schedule=schedule,
        val_loader=TensorLoader(x, batch_size=64), progress=False,
    )  # fmt: skip
    assert seen == [0, 1, 2, 3]
    assert hist[-1]["capacity"] == pytest.approx((0.2 + 0.3) / 2) and hist[-1][
        "val_capacity"
    ] == pytest.approx(0.3)
    logs = evaluate(tiny_vae(*SHAPE), TensorLoader(x, y, batch_size=20))
    assert set(logs) >= {"elbo", "recon", "kl", "kl_per_dim"} and len(logs["kl_per_dim"]) == 2


def test_bad_settings_and_diverging_loss_raise(tiny_vae):
    x, _ = _data(32)
    with pytest.raises(ValueError, match="epochs"):
        train(tiny_vae(*SHAPE), TensorLoader(x), epochs=-1)
    with pytest.raises(ValueError, match="optimizer"):
        train(tiny_vae(*SHAPE), TensorLoader(x), epochs=1, optimizer="adam", progress=False)

    def nan_loss(model, batch, epoch):
        return model(batch).params.sum() * float("nan"), {}

    with pytest.raises(FloatingPointError, match="nan"):
        train(tiny_vae(*SHAPE), TensorLoader(x), epochs=1, loss_fn=nan_loss, progress=False)


def test_fit_seeds_the_model_and_the_batches_like_train():
    x = torch.rand(40, 6).round()
    model, history = fit(
        lambda: mlp_vae(6, 3, (8,), likelihood="bernoulli"), x, epochs=2, seed=0, batch_size=8, progress=False
    )
    # the same run by hand: seed, build, batch, train
    torch.manual_seed(0)
    by_hand = mlp_vae(6, 3, (8,), likelihood="bernoulli")
    expected = train(by_hand, TensorLoader(x, batch_size=8), epochs=2, seed=0, device="cpu", progress=False)
    assert history.records[-1]["loss"] == expected.records[-1]["loss"]
    for a, b in zip(model.parameters(), by_hand.parameters(), strict=True):
        assert torch.equal(a, b)


def _key(*, loss_fn=None, epochs=1, x=None, hidden=(16,), lr=1e-3, transform=None) -> dict:
    """The run key of a tiny run; every argument left out keeps the same run."""
    model = mlp_vae(24, 2, hidden, likelihood="bernoulli")
    x = _data(128)[0] if x is None else x
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loader = TensorLoader(x, batch_size=32, transform=transform)
    return run_key(model, opt, epochs, 0, loader, loss_fn or make_vae_loss())


def _load_as(module_name: str, source: str, namespace: dict | None = None) -> dict:
    """Run ``source`` as the body of a module called ``module_name``; return its namespace."""
    namespace = {**(namespace or {}), "__name__": module_name}
    exec(compile(source, f"<{module_name}>", "exec"), namespace)  # noqa: S102 (sources of this repository)
    return namespace


def test_a_run_key_survives_moving_renaming_and_reimporting_the_loss():
    here = _key(loss_fn=make_vae_loss(beta=4.0))
    assert _key(loss_fn=make_vae_loss(4)) == here  # 4 and 4.0: one number
    # course_lib/losses.py imported a second time, under another module path
    spec = importlib.util.spec_from_file_location("elsewhere.losses", losses.__file__)
    elsewhere = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(elsewhere)
    assert elsewhere.make_vae_loss is not losses.make_vae_loss
    assert _key(loss_fn=elsewhere.make_vae_loss(beta=4.0)) == here
    # the factory moved to another module and renamed, its body edited: the declared name is kept
    source = inspect.getsource(losses.make_vae_loss).replace("def make_vae_loss(", "def beta_objective(")
    source = source.replace("return beta_vae_loss(", "out = beta_vae_loss(").replace(
        "gamma=gamma)\n", "gamma=gamma)\n        return out\n"
    )
    moved = _load_as("course_lib.recipe", source, vars(losses))["beta_objective"]
    assert _key(loss_fn=moved(beta=4.0)) == here
    # a plain function (not declared) keeps its key when moved: named by its name and closure
    plain = "def make(beta):\n    def tcvae(model, batch, epoch):\n        return beta\n    return tcvae\n"
    first, second = _load_as("a.losses", plain)["make"], _load_as("b.other", plain)["make"]
    assert _key(loss_fn=first(2.0)) == _key(loss_fn=second(2.0)) != _key(loss_fn=first(3.0))


def test_a_run_key_changes_with_what_the_run_trains():
    x = _data(128)[0]
    here = _key(x=x)
    last_bit = x.clone()
    last_bit[:5] = torch.nextafter(x[:5], x[:5] + 1)  # another CPU's rounding: the same run
    assert _key(x=last_bit) == here
    assert _key(x=x, transform=torch.bernoulli) == _key(x=x, transform=torch.bernoulli) != here
    changed = {
        "beta": _key(x=x, loss_fn=make_vae_loss(beta=4.0)),
        "loss": _key(x=x, loss_fn=losses.make_iwae_loss(1)),
        "epochs": _key(x=x, epochs=2),
        "data": _key(x=1 - x),
        "row order": _key(x=x.flip(0)),
        "architecture": _key(x=x, hidden=(17,)),
        "lr": _key(x=x, lr=1e-2),
    }
    assert all(key != here for key in changed.values())
    assert key_differences(changed["beta"], here) == ["loss.params.beta: 4 there, 1 here"]
    assert key_differences(changed["epochs"], here) == ["epochs: 2 there, 1 here"]


def test_a_run_key_refuses_what_it_cannot_name(tiny_vae):
    x, _ = _data(32)
    frozen = tiny_vae(*SHAPE)

    def uses_a_model(model, batch, epoch):
        return frozen(batch).params.sum(), {}

    with pytest.raises(TypeError, match="declared"):
        _key(loss_fn=uses_a_model)
    with pytest.raises(TypeError, match="TensorLoader"):
        train(tiny_vae(*SHAPE), [x], epochs=1, checkpoint="never.pt", progress=False)


def test_a_retrained_run_starts_from_fresh_weights_not_from_the_stale_checkpoint(tiny_vae, tmp_path):
    x, _ = _data(128)
    path = tmp_path / "vae.pt"
    train(tiny_vae(*SHAPE), TensorLoader(x, batch_size=32), epochs=1, checkpoint=path, progress=False)
    reference = tiny_vae(*SHAPE)  # the same run trained without any file around
    expected = train(reference, TensorLoader(x, batch_size=32), epochs=2, progress=False)
    with pytest.warns(UserWarning, match="other settings"):
        again = train(
            tiny_vae(*SHAPE), TensorLoader(x, batch_size=32), epochs=2, checkpoint=path, progress=False
        )
    assert again.records[-1]["loss"] == pytest.approx(expected.records[-1]["loss"])


def test_a_published_run_is_found_by_its_key_and_a_stale_one_says_what_differs(
    tiny_vae, tmp_path, monkeypatch
):
    from course_lib import train as train_module

    monkeypatch.setattr(train_module, "PUBLISHED_RUNS", tmp_path / "published")
    x, _ = _data(128)
    first = tmp_path / "data" / "vae.pt"
    model = tiny_vae(*SHAPE)
    history = train(model, TensorLoader(x, batch_size=32), epochs=2, checkpoint=first, progress=False)
    published = train_module.publish_run(first)
    assert published == tmp_path / "published" / "vae.pt"
    assert list(train_module.published_runs()) == ["vae.pt"]
    state = torch.load(published, weights_only=True)["state_dict"]
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    first.unlink()  # a fresh clone: only the committed copy exists
    # found by its key whatever the checkpoint is called: loaded, nothing trained or written
    elsewhere = tmp_path / "data" / "another_name.pt"
    loaded = tiny_vae(*SHAPE, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = train(loaded, TensorLoader(x, batch_size=32), epochs=2, checkpoint=elsewhere, progress=False)
    assert again.records == history.records and not elsewhere.exists()
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-2, rtol=1e-2)
    # the published run of this name holds other settings: the warning names them; trained and saved
    with pytest.warns(
        UserWarning, match=r"vae.pt holds a run with other settings \(epochs: 2 there, 3 here\)"
    ):
        longer = train(
            tiny_vae(*SHAPE), TensorLoader(x, batch_size=32), epochs=3, checkpoint=first, progress=False
        )
    assert len(longer) == 3 and first.exists()
    save_checkpoint(model, tmp_path / "plain.pt")
    with pytest.raises(ValueError, match="no run key"):
        train_module.publish_run(tmp_path / "plain.pt")
