"""Double descent: the test risk of least squares against the number of features.

Data: ``x ~ N(0, I_d)``, ``y = xᵀβ* + ε``, ``ε ~ N(0, σ²)``, ``n`` examples, a fixed
``β*`` with ``‖β*‖² = r²``. The minimum-norm least-squares fit ``ŵ = X⁺y`` (the limit of
GD from 0, :mod:`quadsim.regularization`) has excess test risk
``E[(xᵀ(ŵ − β*))²] = E‖ŵ − β*‖²``, known exactly for Gaussian X (Wishart moments):

- ``d <= n − 2``: ``σ² d/(n − d − 1)``  (variance only: ``E tr (XᵀX)⁻¹ = d/(n − d − 1)``);
- ``d >= n + 2``: ``r² (d − n)/d + σ² n/(d − n − 1)``  (the part of β* in the null space
  of X, plus ``σ² E tr (XXᵀ)⁻¹``);

infinite in between: the peak at ``d = n``. As ``n, d → ∞`` with ``γ = d/n`` these tend
to ``σ² γ/(1 − γ)`` and ``r² (1 − 1/γ) + σ²/(γ − 1)``. Ridge with coefficient λ has the
limit ``σ² γ (m − λ m′) + r² λ² m′`` (Hastie, Montanari, Rosset and Tibshirani, 2019),
``m = m(−λ)`` the Stieltjes transform of the Marchenko–Pastur law
(:class:`~quadsim.spectra.MarchenkoPastur`), which flattens the peak.
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_batch_size, as_non_negative
from quadsim.problems import LinearRegression

__all__ = ["asymptotic_risk", "exact_risk", "monte_carlo_risk", "smallest_nonzero_eigenvalue"]


def exact_risk(n: int, d: int, *, noise: float, signal: float) -> float:
    """The exact expected excess risk of minimum-norm least squares, finite ``n`` and ``d``.

    Parameters
    ----------
    n, d : int
        Examples and features.
    noise : float
        ``σ²``, the label-noise variance.
    signal : float
        ``r² = ‖β*‖²``.

    Returns
    -------
    float
        ``inf`` for ``n − 2 < d < n + 2``, where the expectation diverges.
    """
    n, d = as_batch_size(n, "n"), as_batch_size(d, "d")
    sigma2, r2 = as_non_negative(noise, "noise"), as_non_negative(signal, "signal")
    if d <= n - 2:
        return sigma2 * d / (n - d - 1)
    if d >= n + 2:
        return r2 * (d - n) / d + sigma2 * n / (d - n - 1)
    return float("inf")


def _stieltjes(gamma: float, lam: float) -> tuple[float, float]:
    """``m(−λ)`` and ``m′(−λ)`` of the Marchenko–Pastur law with ratio γ (variance 1).

    ``m(z) = ∫ dμ(x)/(x − z)`` solves ``γ z m² − (1 − γ − z) m + 1 = 0``; at ``z = −λ``
    the positive root, and ``m′ = (γ m² + m)/((1 − γ − z) − 2γ z m)``.
    """
    z = -lam
    shift = 1.0 - gamma - z
    root = np.sqrt(shift * shift - 4.0 * gamma * z)
    m = (shift - root) / (2.0 * gamma * z)
    derivative = (gamma * m * m + m) / (shift - 2.0 * gamma * z * m)
    return float(m), float(derivative)


def asymptotic_risk(gamma: object, *, noise: float, signal: float,
                    ridge: float = 0.0) -> np.ndarray:
    """The limiting excess risk of minimum-norm least squares (``ridge = 0``) or ridge.

    ``ridge = 0``: ``σ² γ/(1 − γ)`` for ``γ < 1``, ``r² (1 − 1/γ) + σ²/(γ − 1)`` for
    ``γ > 1``, ``inf`` at 1. ``ridge = λ > 0``: ``σ² γ (m − λ m′) + r² λ² m′`` with the
    Marchenko–Pastur Stieltjes transform ``m = m(−λ)``, finite for every γ.
    """
    ratios = np.atleast_1d(np.asarray(gamma, dtype=np.float64))
    if np.any(~(ratios > 0.0)):
        raise ValueError(f"`gamma` must be d/n > 0; got {gamma!r}")
    sigma2, r2 = as_non_negative(noise, "noise"), as_non_negative(signal, "signal")
    lam = as_non_negative(ridge, "ridge")
    out = np.empty(ratios.shape)
    for i, g in enumerate(ratios):
        if lam > 0.0:
            m, derivative = _stieltjes(g, lam)
            out[i] = sigma2 * g * (m - lam * derivative) + r2 * lam * lam * derivative
        elif g < 1.0:
            out[i] = sigma2 * g / (1.0 - g)
        elif g > 1.0:
            out[i] = r2 * (1.0 - 1.0 / g) + sigma2 / (g - 1.0)
        else:
            out[i] = np.inf
    return out


def smallest_nonzero_eigenvalue(X: np.ndarray) -> float:
    """The smallest non-zero eigenvalue of ``XᵀX/n``, from the SVD of X.

    As quadsim's regression frames compute it; its limit is ``(1 − √γ)²`` for standard
    Gaussian X.
    """
    regression = LinearRegression(X, np.zeros(X.shape[0]))
    a = regression.quadratic.eigenvalues
    positive = a[a > 0.0]
    return float(positive[0]) if positive.size else 0.0


def monte_carlo_risk(n: int, d: int, *, noise: float, signal: float, ridge: float = 0.0,
                     trials: int = 200, rng: object = 0) -> tuple[float, float]:
    """The excess risk ``‖ŵ − β*‖²`` averaged over `trials` draws of the data.

    Each trial draws ``X`` (n × d, standard Gaussian), ``β*`` uniform on the sphere of
    radius ``√signal`` and the labels, fits ``ŵ`` as the minimizer of a
    :class:`~quadsim.LinearRegression` with ``l2 = ridge`` (for 0 its minimum-norm
    minimizer, ``X⁺y``, from the SVD frame) and records ``‖ŵ − β*‖²``. Returns the mean
    and its standard error.
    """
    n, d = as_batch_size(n, "n"), as_batch_size(d, "d")
    sigma2, r2 = as_non_negative(noise, "noise"), as_non_negative(signal, "signal")
    lam = as_non_negative(ridge, "ridge")
    count = as_batch_size(trials, "trials")
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    risks = np.empty(count)
    for k in range(count):
        X = generator.standard_normal((n, d))
        beta = generator.standard_normal(d)
        beta *= np.sqrt(r2) / np.linalg.norm(beta)
        y = X @ beta + np.sqrt(sigma2) * generator.standard_normal(n)
        w = LinearRegression(X, y, l2=lam).quadratic.minimizer()
        risks[k] = np.sum((w - beta) ** 2)
    stderr = float(np.std(risks, ddof=1) / np.sqrt(count)) if count > 1 else float("nan")
    return float(np.mean(risks)), stderr

