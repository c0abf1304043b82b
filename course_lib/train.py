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
* Run keys: :func:`run_key` says what a run trains, as plain data: the model's architecture, the
  optimiser and its settings, epochs, seed, batching, the loss's *name and parameters*
  (:func:`course_lib.losses.declared_loss`), the capacity schedule and a digest of the data. No
  module path, ``repr`` or bytecode enters it, so moving or renaming code keeps it.
* Checkpoints: ``train(..., checkpoint=path)`` loads the file when its run key is this run's,
  otherwise trains and saves it atomically with its key.
* Published runs: the longest runs the chapters need are committed, in float16, under
  :data:`PUBLISHED_RUNS` (``python -m course_lib.train --publish <checkpoint>``). ``train`` finds
  one by its key, whatever the file is called, so building the book does not repeat them; when a
  published run with the checkpoint's file name holds other settings, a warning says which differ.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import time
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
"""Committed float16 copies of long training runs, each holding its run key (:func:`publish_run`)."""


# ---------------------------------------------------------------------------------------- run keys
def _number(value: float) -> int | float:
    """One spelling per number: 4, 4.0 and ``np.float32(4)`` are all ``4``; 0.5 stays ``0.5``."""
    value = float(value)
    return int(value) if value.is_integer() else value


def _plain(value: Any) -> Any:
    """``value`` as plain JSON-able data for a run key (``TypeError`` for what cannot be declared)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float, np.integer, np.floating)):
        return _number(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (Tensor, np.ndarray)):
        return _tensor_key(torch.as_tensor(value))
    if callable(value):
        return _callable_key(value)
    raise TypeError(
        f"a run key holds numbers, strings, tensors and declared functions, not {type(value).__name__}; "
        "declare the loss with course_lib.losses.declared_loss and plain parameters."
    )


def _callable_key(fn: Callable[..., Any]) -> dict[str, Any]:
    """A loss function or transform by its name and parameters, never its module path or its code.

    A declared loss (:class:`~course_lib.losses.Loss`, or anything with a ``name`` and a dict of
    ``params``) has both. A plain function is named by its ``__name__``; its parameters are its
    argument defaults and the values it closes over (``make_loss(beta)``'s inner function closes
    over ``beta``).
    """
    declared_name, declared_params = getattr(fn, "name", None), getattr(fn, "params", None)
    if isinstance(declared_name, str) and isinstance(declared_params, dict):
        return {"name": declared_name, "params": _plain(declared_params)}
    name = getattr(fn, "__name__", None)
    if name is None:
        raise TypeError(f"cannot name {fn!r} in a run key: pass a function or a declared loss.")
    params: dict[str, Any] = {}
    code = getattr(fn, "__code__", None)
    if code is not None:
        positional = code.co_varnames[: code.co_argcount]
        defaults = fn.__defaults__ or ()
        params.update(zip(positional[len(positional) - len(defaults) :], defaults, strict=True))
        params.update(fn.__kwdefaults__ or {})
        cells = [cell.cell_contents for cell in fn.__closure__ or ()]
        params.update(zip(code.co_freevars, cells, strict=True))
    return {"name": name, "params": _plain(params)}


def _tensor_key(t: Tensor) -> dict[str, Any]:
    """Shape, dtype and a digest of a tensor's values.

    Integer and boolean tensors: a SHA-256 of their bytes. Floating tensors: float64 sums of
    ``|x|`` and of ``x^2`` (six significant digits), and, as shares of the sum of ``|x|`` (six
    decimals), the sum of ``x`` and the sum of the row sums weighted by their position in
    (0, 1). So a change of the last bit (another CPU, another thread count) keeps the key, while
    other values or another order of the rows change it.
    """
    t = t.detach().cpu()
    key: dict[str, Any] = {"shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
    if not t.is_floating_point():
        key["sha256"] = hashlib.sha256(t.contiguous().numpy().tobytes()).hexdigest()
        return key
    rows = t.reshape(len(t), -1) if t.ndim else t.reshape(1, 1)
    n = max(len(rows), 1)
    abs_sum = square_sum = total = weighted = 0.0
    for start in range(0, len(rows), 4096):
        chunk = rows[start : start + 4096].double()
        row_sums = chunk.sum(1)
        position = (torch.arange(start, start + len(chunk), dtype=torch.float64) + 0.5) / n
        abs_sum += float(chunk.abs().sum())
        square_sum += float(chunk.square().sum())
        total += float(row_sums.sum())
        weighted += float((row_sums * position).sum())
    scale = abs_sum or 1.0
    key.update(
        abs_sum=f"{abs_sum:.6g}",
        square_sum=f"{square_sum:.6g}",
        signed_share=f"{total / scale:.6f}",
        row_order=f"{weighted / scale:.6f}",
    )
    return key


def _settings(obj: Any) -> dict[str, Any]:
    """The public plain attributes of an object (what torch modules keep of their constructor's arguments)."""

    def plain(v: Any) -> bool:
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        return v is None or isinstance(v, (bool, int, float, str))

    return {k: _plain(v) for k, v in sorted(vars(obj).items()) if not k.startswith("_") and plain(v)}


def _model_key(model: nn.Module) -> dict[str, Any]:
    """The architecture: each submodule's settings, every parameter's shape and dtype, every buffer.

    A submodule's settings are its plain attributes (``in_features``, ``likelihood``, ``z_dim``...),
    with the class name of torch's own modules (``Linear``, ``Tanh``, ``GRU``) but not of ours, so
    moving or renaming a course class keeps the key. Buffers (a fixed decoder scale) are keyed by value.
    """
    modules = {}
    for name, module in model.named_modules():
        settings = _settings(module)
        settings.pop("training", None)
        if type(module).__module__.startswith("torch."):
            settings["class"] = type(module).__name__
        modules[name or "."] = settings
    return {
        "modules": modules,
        "parameters": {
            n: [list(p.shape), str(p.dtype).removeprefix("torch.")] for n, p in model.named_parameters()
        },
        "buffers": {n: _tensor_key(b) for n, b in model.named_buffers()},
    }


def _optimizer_key(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimiser's class and its settings that differ from the class's defaults, per parameter group."""
    signature = inspect.signature(type(opt)).parameters
    defaults = {
        k: _plain(p.default) for k, p in signature.items() if p.default is not inspect.Parameter.empty
    }
    groups = []
    for group in opt.param_groups:
        values = {k: _plain(v) for k, v in group.items() if k != "params"}
        groups.append({k: v for k, v in sorted(values.items()) if k not in defaults or defaults[k] != v})
    return {"name": type(opt).__name__, "settings": groups}


def run_key(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    epochs: int,
    seed: int,
    loader: TensorLoader,
    loss_fn: LossFn,
    capacity_schedule: Callable[[int], float] | None = None,
) -> dict[str, Any]:
    """What a run trains, as plain data: two runs with the same key give the same weights.

    The model's architecture, the optimiser and its settings, epochs, seed, the batching (size,
    shuffle, transform), the loss's name and parameters, the capacity at every step and a digest
    of every training tensor. No module path, ``repr`` or bytecode: moving or renaming code keeps
    the key; changing beta, the epochs or the data changes it.
    """
    if not isinstance(loader, TensorLoader):
        raise TypeError(
            f"a run with a checkpoint needs a TensorLoader (its data are part of its key), got {loader!r}."
        )
    schedule = None
    if capacity_schedule is not None:
        values = [float(capacity_schedule(step)) for step in range(epochs * len(loader))]
        schedule = hashlib.sha256(np.asarray(values, dtype=np.float64).tobytes()).hexdigest()
    return {
        "model": _model_key(model),
        "optimizer": _optimizer_key(opt),
        "epochs": int(epochs),
        "seed": int(seed),
        "batching": {
            "batch_size": loader.batch_size,
            "shuffle": loader.shuffle,
            "drop_last": loader.drop_last,
            "batches_per_epoch": len(loader),
            "transform": None if loader.transform is None else _callable_key(loader.transform),
        },
        "loss": _callable_key(loss_fn),
        "capacity_schedule": schedule,
        "data": [_tensor_key(t) for t in loader.tensors],
    }


def key_digest(key: dict[str, Any]) -> str:
    """A short hex digest of a run key (its canonical JSON)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def key_differences(there: Any, here: Any, path: str = "") -> list[str]:
    """Every setting where two run keys differ, as ``"loss.params.beta: 32 there, 4 here"`` lines."""
    if isinstance(there, dict) and isinstance(here, dict):
        return [
            line
            for k in sorted(set(there) | set(here))
            for line in key_differences(there.get(k), here.get(k), f"{path}.{k}" if path else k)
        ]
    if isinstance(there, list) and isinstance(here, list) and len(there) == len(here):
        return [
            line
            for i, (a, b) in enumerate(zip(there, here, strict=True))
            for line in key_differences(a, b, f"{path}[{i}]")
        ]
    if json.dumps(there, sort_keys=True) == json.dumps(here, sort_keys=True):
        return []
    return [f"{path or 'the key'}: {there!r} there, {here!r} here"]


# --------------------------------------------------------------------------------- published runs
def _read_meta(path: Path) -> dict[str, Any]:
    """The meta of a checkpoint file, its weights left on disk (memory-mapped)."""
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    if not isinstance(payload, dict) or "state_dict" not in payload:
        raise ValueError(f"{path} is not a course checkpoint (no 'state_dict').")
    return payload.get("meta", {})


def _stored_key(path: Path) -> dict[str, Any] | None:
    """The run key inside the checkpoint at ``path``; None when there is none (or no readable file)."""
    try:
        return _read_meta(path).get("run_key") if path.is_file() else None
    except (RuntimeError, ValueError, EOFError):  # not a checkpoint of ours
        return None


def published_runs(folder: str | os.PathLike | None = None) -> dict[str, dict[str, Any] | None]:
    """The run key of every published run in ``folder`` (default :data:`PUBLISHED_RUNS`), by file name.

    The file name is only a label: :func:`find_published` looks runs up by their keys.
    """
    folder = Path(folder or PUBLISHED_RUNS)
    return {path.name: _stored_key(path) for path in sorted(folder.glob("*.pt"))}


def find_published(key: dict[str, Any], folder: str | os.PathLike | None = None) -> Path | None:
    """The published run trained with exactly ``key``, whatever its file name; None if there is none."""
    digest = key_digest(key)
    for name, stored in published_runs(folder).items():
        if stored is not None and key_digest(stored) == digest:
            return Path(folder or PUBLISHED_RUNS) / name
    return None


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


def publish_run(checkpoint: str | os.PathLike, folder: str | os.PathLike | None = None) -> Path:
    """Copy a :func:`train` checkpoint (weights, run key, history) to ``folder``, in float16.

    ``folder`` defaults to :data:`PUBLISHED_RUNS`. The copy keeps the checkpoint's file name as a
    label; :func:`train` finds it by its key.
    """
    if "run_key" not in _read_meta(Path(checkpoint)):
        raise ValueError(f"{checkpoint} was not written by train() (no run key): nothing to publish.")
    return copy_half(checkpoint, Path(folder or PUBLISHED_RUNS) / Path(checkpoint).name)


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


def _load_run(model: nn.Module, checkpoint: Path, key: dict[str, Any]) -> History | None:
    """Load run ``key`` into ``model`` from ``checkpoint`` or else a published run; None if neither has it.

    When ``checkpoint``, or the published run of the same file name, holds another run, a warning
    says which settings differ (the model keeps its initial weights, to be trained).
    """
    stored = _stored_key(checkpoint)
    found = (
        checkpoint if stored is not None and key_digest(stored) == key_digest(key) else find_published(key)
    )
    if found is not None:
        return History(load_checkpoint(model, found).get("history", []))
    for path in dict.fromkeys([checkpoint, PUBLISHED_RUNS / checkpoint.name]):
        if path.is_file():
            other = _stored_key(path)
            why = "; ".join(key_differences(other, key)[:6]) if other else "it holds no run key"
            warnings.warn(f"{path} holds a run with other settings ({why}): training this one.", stacklevel=3)
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
    key = None
    if checkpoint is not None:
        key = run_key(model, opt, epochs, seed, loader, loss_fn, capacity_schedule)
        history = _load_run(model, Path(checkpoint), key)
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
        save_checkpoint(model, checkpoint, run_key=key, history=history.records)
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
