"""A factor classifier: predicts every factor's class from a log-mel, to score generated sounds.

Used by exercise sheet 5 (solutions/05_scan.ipynb), on chapter 1's toy grid.
Trained on **real** sounds (and the beta-VAE's reconstructions of
them, with the same labels), it reads the factors of sounds that SCAN generates from symbols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib.train import fit


class FactorClassifier(nn.Module):
    """p(class of each factor | log-mel): a ReLU MLP with one softmax head per factor."""

    def __init__(self, in_shape: Sequence[int], sizes: Sequence[int], hidden: int = 256) -> None:
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        n_in = int(np.prod(in_shape))
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.head = nn.Linear(hidden, sum(self.sizes))

    def forward(self, x: Tensor) -> list[Tensor]:
        """One logit tensor [B, size_k] per factor."""
        return list(self.head(self.body(x)).split(self.sizes, dim=-1))

    @torch.no_grad()
    def predict(self, x: Tensor, batch_size: int = 4096) -> np.ndarray:
        """Most likely class of every factor, int64 [N, K]."""
        self.eval()
        out = []
        for i in range(0, len(x), batch_size):
            out.append(torch.stack([h.argmax(-1) for h in self(x[i : i + batch_size])], dim=-1))
        return torch.cat(out).numpy().astype(np.int64)


def _classifier_loss(model: FactorClassifier, batch: tuple[Tensor, Tensor], epoch: int):
    x, classes = batch
    logits = model(x)
    loss = sum(F.cross_entropy(h, classes[:, k]) for k, h in enumerate(logits))
    acc = float(
        np.mean([(h.argmax(-1) == classes[:, k]).float().mean().item() for k, h in enumerate(logits)])
    )
    return loss, {"loss": float(loss.detach()), "accuracy": acc}


def fit_factor_classifier(
    features: Tensor,
    classes: Tensor,
    sizes: Sequence[int],
    *,
    epochs: int,
    seed: int = 0,
    batch_size: int = 256,
    checkpoint: Any = None,
    progress: bool = True,
) -> FactorClassifier:
    """Train a :class:`FactorClassifier` on real log-mels and their factor classes (load if cached)."""
    model, _ = fit(
        lambda: FactorClassifier(features.shape[1:], sizes),
        features,
        torch.as_tensor(classes),
        epochs=epochs,
        seed=seed,
        batch_size=batch_size,
        loss_fn=_classifier_loss,
        checkpoint=checkpoint,
        progress=progress,
    )
    return model.eval()
