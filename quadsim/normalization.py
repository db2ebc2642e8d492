"""Input normalization: why centering and scaling the features speeds gradient descent.

For features with mean ``μ`` the Hessian of least squares is
``A = XᵀX/n = Σ + μμᵀ`` with ``Σ`` the centred second moment: an uncentred input adds a
rank-one outlier of about ``‖μ‖²`` (exactly, by interlacing,
``max(λ_max(Σ), ‖μ‖²) <= λ_max(A) <= λ_max(Σ) + ‖μ‖²``, :func:`mean_outlier_bounds`),
and features on different scales spread the rest of the spectrum. Centering removes the
outlier, scaling to unit variance evens the diagonal, and GD at its best step converges
at ``(κ − 1)/(κ + 1)`` per step, so the smaller κ after normalization is the speed-up
(:func:`~quadsim.convergence_rate` and :func:`~quadsim.optimal_gd` before and after).
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_batch_size, as_float_array

__all__ = ["mean_outlier_bounds", "standardize", "synthetic_features"]


def standardize(X: object, *, center: bool = True, scale: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X − mean)/std`` column by column.

    Returns
    -------
    Z : ndarray, shape (n, d)
    mean, std : ndarray, shape (d,)
        The shift and scale used (zeros / ones where not applied; a constant column
        keeps scale 1).
    """
    data = as_float_array(X, "X", ndim=2)
    mean = data.mean(axis=0) if center else np.zeros(data.shape[1])
    std = data.std(axis=0) if scale else np.ones(data.shape[1])
    std = np.where(std > 0.0, std, 1.0)
    return (data - mean) / std, mean, std


def mean_outlier_bounds(X: object) -> tuple[float, float]:
    """Bounds on the largest eigenvalue of ``XᵀX/n`` from the features' mean.

    With ``XᵀX/n = Σ + μμᵀ`` (``Σ`` the centred second moment), interlacing gives
    ``max(λ_max(Σ), ‖μ‖²) <= λ_max(XᵀX/n) <= λ_max(Σ) + ‖μ‖²``.
    """
    data = as_float_array(X, "X", ndim=2)
    mean = data.mean(axis=0)
    centred = data - mean
    top = float(np.linalg.eigvalsh(centred.T @ centred / data.shape[0])[-1])
    squared = float(mean @ mean)
    return max(top, squared), top + squared


def synthetic_features(n: int, d: int, *, rng: object = 0) -> np.ndarray:
    """Real-looking tabular features: offset, on different scales, correlated.

    The recipe: latent ``Z ~ N(0, I)`` (n × d) mixed by a random orthogonal matrix after
    scaling its columns by ``geomspace(1, 0.2, d)`` (correlation), then each feature
    shifted by a mean ``μ_j ~ U(1, 5)`` and scaled by ``s_j = 10^{U(−1, 1)}`` — the
    offsets and unit differences of measured quantities (prices, counts, lengths).
    """
    count, dim = as_batch_size(n, "n"), as_batch_size(d, "d")
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    latent = generator.standard_normal((count, dim)) * np.geomspace(1.0, 0.2, dim)
    rotation, _ = np.linalg.qr(generator.standard_normal((dim, dim)))
    mean = generator.uniform(1.0, 5.0, dim)
    scale = 10.0 ** generator.uniform(-1.0, 1.0, dim)
    return mean * scale + (latent @ rotation) * scale
