"""One training loop for every chapter: seeded, with a progress bar, a per-epoch history and checkpoints.

Taught in chapters/02_vae_mnist.ipynb; chapters 3-5 call :func:`train` or :func:`fit` with their own
``loss_fn``.

* ``loss_fn(model, batch, epoch) -> (loss, logs)``: ``batch`` is what the loader yields (a tensor or
  an ``(x, y, ...)`` tuple, moved to the device; :func:`course_lib.losses.batch_x` takes x), ``loss``
  a scalar tensor to minimise, ``logs`` a dict of floats (or lists of floats such as ``kl_per_dim``).
  When ``capacity_schedule`` is given, ``loss_fn`` is also passed ``capacity=capacity_schedule(step)``
  (step = optimiser steps taken so far, Burgess et al.'s annealed capacity).
* :class:`History`: one record per epoch, the batch-size-weighted means of the logs, ``val_``-prefixed
  validation logs, ``samples_seen`` and ``time_s``; ``.to_frame()`` gives a pandas DataFrame.
* :func:`fit`: the one "seed -> build the model -> minibatches -> :func:`train`" recipe, used by every
  experiment (``fit(lambda: mlp_vae(...), x, epochs=..., loss_fn=make_vae_loss(beta=4))``).
* Checkpoints: ``train(..., checkpoint=path)`` loads the file if it was written by the same settings
  (model, optimiser, epochs, seed, loss function and its settings such as beta, capacity schedule,
  batching and data), otherwise trains and saves it atomically.
* Published runs: the longest runs the chapters need are committed, in float16, under
  :data:`PUBLISHED_RUNS` (``python -m course_lib.train --publish <checkpoint>``); ``train`` loads the
  published copy of ``checkpoint`` (same file name) when its settings match, so building the book
  does not repeat them.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import math
import os
import time
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from course_lib.config import RESULTS_DIR, seed_everything
from course_lib.files import atomic_path
from course_lib.losses import LossFn, batch_x, make_vae_loss

OptimizerSpec = torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer] | None


class TensorLoader:
    """A fast in-memory batch iterator over tensors (no per-item indexing, unlike ``DataLoader``).

    ``TensorLoader(images, labels, batch_size=100, shuffle=True, transform=torch.bernoulli)`` yields
    ``(x, y)`` tuples (a bare tensor when given one tensor); ``transform`` is applied to x on every
    batch (dynamic binarisation draws fresh pixels each time). Shuffling uses torch's global RNG, so
    :func:`train`'s seed fixes the order.
    """

    def __init__(
        self,
        *tensors: Tensor,
        batch_size: int = 100,
        shuffle: bool = True,
        transform: Callable[[Tensor], Tensor] | None = None,
        drop_last: bool = False,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor.")
        n = len(tensors[0])
        if any(len(t) != n for t in tensors) or n == 0:
            raise ValueError(
                f"tensors must be non-empty and share their first size, got {[len(t) for t in tensors]}."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
        self.tensors, self.batch_size, self.shuffle = tensors, batch_size, shuffle
        self.transform, self.drop_last = transform, drop_last

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Tensor | tuple[Tensor, ...]]:
        n = len(self.tensors[0])
        order = torch.randperm(n) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = [t[idx] for t in self.tensors]
            if self.transform is not None:
                batch[0] = self.transform(batch[0])
            yield batch[0] if len(batch) == 1 else tuple(batch)


class History:
    """Per-epoch training records (dicts of floats; ``kl_per_dim`` entries are lists).

    ``history.to_frame()`` is a DataFrame with one row per epoch (per-dimension KLs spread over
    columns ``kl_dim_0``...); ``history.kl_per_dim()`` is an array [epochs, z_dim].
    """

    def __init__(self, records: Sequence[dict[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.records[index]

    def __repr__(self) -> str:
        last = self.records[-1] if self.records else {}
        shown = {k: round(v, 3) for k, v in last.items() if isinstance(v, float)}
        return f"History({len(self)} epochs; last: {shown})"

    def to_frame(self):
        """A pandas DataFrame, one row per epoch, list-valued logs spread over ``<name>_dim_<j>`` columns."""
        import pandas as pd

        rows = []
        for record in self.records:
            row = {}
            for key, value in record.items():
                if isinstance(value, (list, tuple)):
                    stem = key.removesuffix("_per_dim")
                    row.update({f"{stem}_dim_{j}": v for j, v in enumerate(value)})
                else:
                    row[key] = value
            rows.append(row)
        return pd.DataFrame(rows)

    def kl_per_dim(self, prefix: str = "") -> np.ndarray:
        """KL per latent dimension, [epochs, z_dim]; ``prefix="val_"`` for the validation set."""
        key = f"{prefix}kl_per_dim"
        if not self.records or key not in self.records[0]:
            raise ValueError(f"no {key!r} in the history; loss_fn must log it.")
        return np.array([r[key] for r in self.records], dtype=np.float64)


def _mean_logs(totals: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        k: (np.asarray(v) / n).tolist() if isinstance(v, np.ndarray) else v / n for k, v in totals.items()
    }


def _accumulate(totals: dict[str, Any], logs: dict[str, Any], weight: int) -> None:
    for key, value in logs.items():
        value = (
            np.asarray(value, dtype=np.float64)
            if isinstance(value, (list, tuple, np.ndarray))
            else float(value)
        )
        totals[key] = totals.get(key, 0.0) + weight * value


def _to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch.to(device) if isinstance(batch, Tensor) else batch


def default_device() -> torch.device:
    """A GPU when one is present, else the CPU (the course's default; every chapter runs on a CPU)."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Any,
    loss_fn: LossFn | None = None,
    epoch: int = 0,
    device: Any = None,
    **loss_kwargs: Any,
) -> dict[str, Any]:
    """Batch-size-weighted means of ``loss_fn``'s logs over ``loader``, in eval mode, without gradients.

    ``loss_kwargs`` go to ``loss_fn`` (e.g. ``capacity=``).
    """
    loss_fn = loss_fn or make_vae_loss()
    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    totals: dict[str, Any] = {}
    n = 0
    for batch in loader:
        batch = _to_device(batch, device)
        _, logs = loss_fn(model, batch, epoch, **loss_kwargs)
        size = len(batch_x(batch))
        _accumulate(totals, logs, size)
        n += size
    model.train(was_training)
    if n == 0:
        raise ValueError("the loader yielded no batch.")
    return _mean_logs(totals, n)


def save_checkpoint(model: nn.Module, path: str | os.PathLike, *, half: bool = False, **meta: Any) -> Path:
    """Save ``model.state_dict()`` and ``meta`` (plain Python values) atomically; return the path.

    Writes a temporary file in the same folder, then renames it over ``path``: a crash never leaves
    a half-written checkpoint. ``half``: store the weights in float16 (a small file to commit);
    :func:`load_checkpoint` casts them back to the model's dtype.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() for k, v in state.items()}
    with atomic_path(path) as tmp:
        torch.save({"state_dict": state, "meta": meta}, tmp)
    return path


PUBLISHED_RUNS: Path = RESULTS_DIR / "checkpoints" / "runs"
"""Committed float16 copies of long training runs, named like their checkpoints (:func:`publish_run`)."""


def published_copy(checkpoint: str | os.PathLike) -> Path:
    """Where the published copy of ``checkpoint`` lives: :data:`PUBLISHED_RUNS` / its file name."""
    return PUBLISHED_RUNS / Path(checkpoint).name


def copy_half(source: str | os.PathLike, target: str | os.PathLike) -> Path:
    """Copy a :func:`save_checkpoint` file, floating weights in float16, atomically; return ``target``.

    The meta is kept as it is; :func:`load_checkpoint` casts the weights back to the model's dtype.
    """
    payload = torch.load(source, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{source} is not a course checkpoint (no 'state_dict').")
    state = {k: v.half() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    target = Path(target)
    with atomic_path(target) as tmp:
        torch.save({"state_dict": state, "meta": payload.get("meta", {})}, tmp)
    return target


def publish_run(checkpoint: str | os.PathLike, folder: str | os.PathLike = PUBLISHED_RUNS) -> Path:
    """Copy a :func:`train` checkpoint (weights, settings fingerprint, history) to ``folder``, float16."""
    meta = torch.load(checkpoint, map_location="cpu", weights_only=True).get("meta", {})
    if "fingerprint" not in meta:
        raise ValueError(
            f"{checkpoint} was not written by train() (no settings fingerprint): nothing to publish."
        )
    return copy_half(checkpoint, Path(folder) / Path(checkpoint).name)


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> dict[str, Any]:
    """Load a :func:`save_checkpoint` file into ``model`` (``weights_only=True``); return its meta."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}.")
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not a course checkpoint (no 'state_dict').")
    model.load_state_dict(payload["state_dict"])
    return payload.get("meta", {})


def _make_optimizer(optimizer: OptimizerSpec, model: nn.Module, lr: float) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=lr)
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if callable(optimizer):
        return optimizer(model.parameters())
    raise ValueError(f"optimizer must be None, an Optimizer or a callable(params), got {optimizer!r}.")


def _describe(obj: Any) -> Any:
    """A stable, plain-Python description of a loss function (or any setting) for the fingerprint.

    A function is described by its qualified name, a hash of its code, its defaults and the values it
    closes over (``make_vae_loss(beta=4)`` closes over ``beta=4``); a :class:`functools.partial` by its
    function and arguments; a tensor by its shape, dtype and sum. Anything else by its ``repr``
    (one holding a memory address never matches, so such a checkpoint is always retrained).
    """
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [_describe(o) for o in obj]
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, functools.partial):
        return {"partial": _describe(obj.func), "args": _describe(obj.args), "kw": _describe(obj.keywords)}
    if isinstance(obj, Tensor):
        return _describe_tensor(obj)
    if inspect.isfunction(obj):
        code = obj.__code__
        cells = [c.cell_contents for c in obj.__closure__ or ()]
        return {
            "function": f"{obj.__module__}.{obj.__qualname__}",
            "code": _code_digest(code),
            "defaults": _describe(obj.__defaults__),
            "kwdefaults": _describe(obj.__kwdefaults__),
            "closure": {name: _describe(v) for name, v in zip(code.co_freevars, cells, strict=True)},
        }
    return repr(obj)


def _code_digest(code: types.CodeType) -> str:
    """A hash of a function's bytecode and constants, the same in every process.

    Nested code objects (a generator expression, a lambda, an inner function) are hashed in turn:
    their ``repr`` holds a memory address, which would make the checkpoint of such a loss never match.
    """
    consts = tuple(_code_digest(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return hashlib.sha1(code.co_code + repr(consts).encode()).hexdigest()


def _describe_tensor(t: Tensor) -> dict[str, Any]:
    total = float(t.detach().sum(dtype=torch.float64)) if t.numel() else 0.0
    return {"shape": list(t.shape), "dtype": str(t.dtype), "sum": f"{total:.6g}"}


def _fingerprint(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    epochs: int,
    seed: int,
    loader: Any,
    loss_fn: LossFn,
    capacity_schedule: Callable[[int], float] | None,
) -> dict[str, Any]:
    """Every setting that changes the trained weights: a checkpoint is reused only when all match.

    Model architecture, optimiser and its hyperparameters, epochs, seed, the loss function with its
    settings (beta, gamma, ...), the capacity at every step, the loader's batching and transform and
    the shape, dtype and sum of its tensors.
    """
    hyper = {k: _describe(v) for k, v in opt.param_groups[0].items() if k != "params"}
    batches = len(loader) if hasattr(loader, "__len__") else None
    schedule = None
    if capacity_schedule is not None and batches is not None:
        values = [float(capacity_schedule(step)) for step in range(epochs * batches)]
        schedule = hashlib.sha1(np.asarray(values, dtype=np.float64).tobytes()).hexdigest()
    data = None
    if isinstance(loader, TensorLoader):
        data = {
            "batch_size": loader.batch_size,
            "shuffle": loader.shuffle,
            "drop_last": loader.drop_last,
            "transform": _describe(loader.transform),
            "tensors": [_describe_tensor(t) for t in loader.tensors],
        }
    return {
        "model": repr(model),
        "optimizer": type(opt).__name__,
        "hyperparameters": hyper,
        "epochs": int(epochs),
        "seed": int(seed),
        "batches_per_epoch": batches,
        "loss_fn": _describe(loss_fn),
        "capacity_schedule": schedule,
        "data": data,
    }


def _load_same_run(model: nn.Module, paths: Sequence[Path], fingerprint: dict[str, Any]) -> History | None:
    """Load the first of ``paths`` written by the same run into ``model``; None (weights untouched) if none.

    A file written with other settings is reported and skipped; the model keeps its initial weights.
    """
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    for path in paths:
        if not path.is_file():
            continue
        try:
            meta = load_checkpoint(model, path)
        except (RuntimeError, ValueError) as error:  # another architecture
            meta = {"fingerprint": None, "error": str(error)}
        if meta.get("fingerprint") == fingerprint:
            return History(meta.get("history", []))
        model.load_state_dict(initial)
        warnings.warn(f"{path} was written with other settings; not using it.", stacklevel=3)
    return None


def train(
    model: nn.Module,
    loader: Any,
    *,
    epochs: int,
    loss_fn: LossFn | None = None,
    optimizer: OptimizerSpec = None,
    lr: float = 1e-3,
    val_loader: Any = None,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    device: Any = None,
    progress: bool = True,
    capacity_schedule: Callable[[int], float] | None = None,
) -> History:
    """Train ``model`` for ``epochs`` passes over ``loader`` and return its :class:`History`.

    ``loss_fn`` defaults to the negative ELBO (:func:`course_lib.losses.make_vae_loss`);
    ``optimizer`` is None (Adam at ``lr``), an optimiser, or a callable ``params -> optimiser``.
    ``checkpoint``: load it when it matches these settings, else train and save it there.
    ``device``: None picks a GPU when present, else the CPU.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}.")
    loss_fn = loss_fn or make_vae_loss()
    device = torch.device(device) if device is not None else default_device()
    seed_everything(seed)
    model.to(device)
    opt = _make_optimizer(optimizer, model, lr)
    fingerprint = None
    if checkpoint is not None:
        fingerprint = _fingerprint(model, opt, epochs, seed, loader, loss_fn, capacity_schedule)
        history = _load_same_run(model, [Path(checkpoint), published_copy(checkpoint)], fingerprint)
        if history is not None:
            model.to(device).eval()
            return history
        seed_everything(seed)
        model.to(device)
    history, step, seen = History(), 0, 0
    bar = tqdm(range(1, epochs + 1), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        start, totals, n = time.perf_counter(), {}, 0
        for batch in loader:
            batch = _to_device(batch, device)
            extra = {"capacity": capacity_schedule(step)} if capacity_schedule is not None else {}
            loss, logs = loss_fn(model, batch, epoch, **extra)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss became {loss.item()} at epoch {epoch}, step {step}.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            size = len(batch_x(batch))
            _accumulate(totals, logs, size)
            n, step, seen = n + size, step + 1, seen + size
        if n == 0:
            raise ValueError("the training loader yielded no batch.")
        record = {"epoch": epoch, **_mean_logs(totals, n), "samples_seen": seen, "steps": step}
        record["time_s"] = time.perf_counter() - start
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, epoch, device, **extra)
            record.update({f"val_{k}": v for k, v in val.items()})
        history.records.append(record)
        bar.set_postfix({k: f"{record[k]:.2f}" for k in ("elbo", "val_elbo", "loss") if k in record})
    model.eval()
    if checkpoint is not None:
        save_checkpoint(model, checkpoint, fingerprint=fingerprint, history=history.records)
    return history


def fit(
    build: Callable[[], nn.Module],
    *tensors: Tensor,
    epochs: int,
    seed: int = 0,
    batch_size: int = 128,
    shuffle: bool = True,
    transform: Callable[[Tensor], Tensor] | None = None,
    loss_fn: LossFn | None = None,
    lr: float = 1e-3,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
    capacity_schedule: Callable[[int], float] | None = None,
) -> tuple[nn.Module, History]:
    """Seed, build a model with ``build()``, train it on ``tensors`` on the CPU; return ``(model, history)``.

    The one "seed -> model -> minibatches -> :func:`train`" recipe of the course: the seed fixes the
    initial weights as well as the shuffles, the tensors are batched by a :class:`TensorLoader`, and
    ``loss_fn`` defaults to the negative ELBO (``losses.make_vae_loss(beta=...)`` for a beta-VAE).
    ``checkpoint``: load it when it holds this very run, else train and save it there.
    """
    seed_everything(seed)
    model = build()
    loader = TensorLoader(*tensors, batch_size=batch_size, shuffle=shuffle, transform=transform)
    history = train(
        model,
        loader,
        epochs=epochs,
        loss_fn=loss_fn,
        lr=lr,
        seed=seed,
        checkpoint=checkpoint,
        device="cpu",
        progress=progress,
        capacity_schedule=capacity_schedule,
    )
    return model, history


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.train --publish CHECKPOINT...``: commit-sized copies of finished runs."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.train", description=main.__doc__)
    parser.add_argument(
        "--publish", nargs="+", required=True, metavar="CHECKPOINT", help="train() checkpoints"
    )
    args = parser.parse_args(argv)
    for checkpoint in args.publish:
        print(f"wrote {publish_run(checkpoint)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
