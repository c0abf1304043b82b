"""Fixtures shared by the tests."""

import shutil
from collections.abc import Callable, Sequence

import pytest
import torch

from course_lib.models.vae import VAE, mlp_vae


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread: small models are fastest so, and leave a core free."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_vae() -> Callable[..., VAE]:
    """Make a small seeded MLP VAE: ``tiny_vae(in_shape=6, z_dim=3, hidden=(8,), likelihood=..., seed=0)``.

    The course's one builder (:func:`course_lib.models.vae.mlp_vae`) with sizes a test trains in
    milliseconds; the same arguments give the same weights.
    """

    def make(
        in_shape: int | Sequence[int] = 6,
        z_dim: int = 3,
        hidden: Sequence[int] = (8,),
        *,
        likelihood: str = "bernoulli",
        seed: int = 0,
        **kwargs,
    ) -> VAE:
        torch.manual_seed(seed)
        return mlp_vae(in_shape, z_dim, hidden, likelihood=likelihood, **kwargs)

    return make


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser():
    """One headless Debian Chromium (playwright) for the whole session: the built book and JupyterLab.

    Playwright's sync API runs an event loop of its own, so a second ``sync_playwright()`` in the same
    session fails; every browser test shares this one.
    """
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(
            "Debian's chromium is needed for the browser tests: "
            "`make test` installs it (apt-get install chromium)."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()
