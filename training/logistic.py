"""L2-regularised logistic regression, the fit behind every small linear model training makes.

The confidence head over the network's readout (training/confidence.py), the bug-site scorers'
combiner (training/sites.py), the confidence scorer's combiner (training/confidence_sites.py), the
import combiner (training/train.py) and the AST-count baseline (training/baselines.py) are each a few
weights over a few figures, a readout or a few hundred node-type counts,
fitted on a few hundred to a few thousand labelled samples: Newton's method converges in a handful
of steps where a gradient loop would need tuning. No torch.
"""

from __future__ import annotations

import numpy as np

from model.sites import logistic

__all__ = ["fit_logistic"]


def fit_logistic(features: np.ndarray, labels: np.ndarray, *, l2: float = 1.0,
                 iterations: int = 25, counts: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression (Newton's method on standardised features).

    `counts`: how many times each row stands for (rows collapsed with `np.unique`), so that thousands
    of identical rows cost one; without it every row counts once, as it always did.
    Returns (weight, bias) for the raw features, so they drop into a linear head unchanged.
    """
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if counts is None:
        mean, std = x.mean(axis=0), x.std(axis=0)
        n = None
    else:
        n = np.asarray(counts, dtype=np.float64)
        mean = np.average(x, axis=0, weights=n)
        std = np.sqrt(np.average((x - mean) ** 2, axis=0, weights=n))
    std[std < 1e-8] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])  # (n, d + 1), last column the bias
    w = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0
    for _ in range(iterations):
        p = logistic(z @ w)
        residual, curvature = p - y, p * (1 - p)
        if n is not None:
            residual, curvature = residual * n, curvature * n
        gradient = z.T @ residual + penalty * w
        hessian = (z * curvature[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weight = w[:-1] / std
    bias = float(w[-1] - (w[:-1] * mean / std).sum())
    return weight.astype(np.float32), bias
