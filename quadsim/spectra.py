"""Hessian spectra without the Hessian, and the Marchenko–Pastur law.

Everything here needs only Hessian-vector products ``v ↦ H v`` (for a regression
``Xᵀ(X v)/n + l2·v``, never the d×d matrix):

- :func:`top_eigenpairs`: the k largest eigenpairs by Lanczos (scipy's ``eigsh`` on a
  ``LinearOperator``), each with the residual bound ``|λ − λ_true| <= ‖H v − λ v‖``;
- :func:`hutchinson_trace`: ``tr H ≈ mean(zᵀ H z)`` over Rademacher probes, with its
  standard error;
- :func:`spectral_density`: stochastic Lanczos quadrature, the spectral measure
  ``(1/d) Σ_i δ(λ − λ_i)`` as nodes and weights, with a standard error of its CDF;
- :class:`MarchenkoPastur`: the limiting spectrum of ``XᵀX/n`` for i.i.d. entries of
  variance σ² as ``n, d → ∞`` with ``d/n → γ``.

The seeds' "eigenspectrum of the Hessian in practice" — many zeros and a few large
outliers — is what these estimate for a real network; on a quadratic quadsim knows the
spectrum exactly, and the tests hold each estimate to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_batch_size, as_positive

__all__ = ["MarchenkoPastur", "SpectralDensity", "hutchinson_trace", "spectral_density",
           "top_eigenpairs"]

Hvp = Callable[[np.ndarray], np.ndarray]


def _check_hvp(hvp: object, dim: object) -> tuple[Hvp, int]:
    if not callable(hvp):
        raise TypeError(f"`hvp` must be a callable v ↦ H v; got {type(hvp).__name__}")
    d = as_batch_size(dim, "dim")
    probe = np.asarray(hvp(np.zeros(d)))
    if probe.shape != (d,):
        raise ValueError(f"`hvp` must map a vector of shape ({d},) to one of shape ({d},); "
                         f"it returned shape {probe.shape}")
    return hvp, d


def _generator(rng: object) -> np.random.Generator:
    if rng is None or isinstance(rng, (int, np.integer, np.random.Generator)):
        return np.random.default_rng(rng)
    raise TypeError(f"`rng` must be an int seed, a numpy Generator or None; got {rng!r}")


def top_eigenpairs(hvp: Hvp, dim: int, k: int, *, tol: float = 0.0,
                   rng: object = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest eigenvalues of a symmetric ``H`` from products ``v ↦ H v``.

    Parameters
    ----------
    hvp : callable
        ``v ↦ H v`` for vectors of shape (dim,).
    dim : int
        ``d``.
    k : int
        How many, ``1 <= k < d`` (Lanczos needs room for its Krylov space).
    tol : float
        ``eigsh``'s relative tolerance (0: machine precision).
    rng : int, Generator or None
        The start vector's seed (results are reproducible).

    Returns
    -------
    values : ndarray, shape (k,)
        Descending.
    vectors : ndarray, shape (d, k)
        Orthonormal.
    residuals : ndarray, shape (k,)
        ``‖H v − λ v‖``: for symmetric ``H`` an eigenvalue lies within this of each
        ``λ`` (the error estimate).

    Notes
    -----
    Memory is O(d·ncv) for the Krylov basis (``ncv = max(2k + 1, 20)`` vectors), time
    a few tens of products per eigenvalue for separated outliers.
    """
    import scipy.sparse.linalg

    hvp, d = _check_hvp(hvp, dim)
    count = as_batch_size(k, "k")
    if count >= d:
        raise ValueError(f"`k` must be smaller than the dimension d = {d} for Lanczos; got "
                         f"{count} (use numpy.linalg.eigh on a small problem)")
    operator = scipy.sparse.linalg.LinearOperator(
        (d, d), matvec=lambda v: hvp(np.ravel(v)), dtype=np.float64)
    start = _generator(rng).standard_normal(d)
    values, vectors = scipy.sparse.linalg.eigsh(operator, k=count, which="LA", tol=tol,
                                                v0=start, ncv=min(d, max(2 * count + 1, 20)))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    residuals = np.array([np.linalg.norm(hvp(vectors[:, i]) - values[i] * vectors[:, i])
                          for i in range(count)])
    return values, vectors, residuals


def hutchinson_trace(hvp: Hvp, dim: int, probes: int, *, rng: object = 0
                     ) -> tuple[float, float]:
    """Hutchinson's estimate of ``tr H`` and its standard error.

    ``tr H ≈ (1/m) Σ_k z_kᵀ H z_k`` over ``m`` Rademacher probes ``z_k ∈ {±1}^d``
    (unbiased; its variance is ``2 Σ_{i≠j} H_ij² / m``, zero for a diagonal ``H``). The
    standard error is the sample standard deviation over ``√m`` (NaN for one probe).
    """
    hvp, d = _check_hvp(hvp, dim)
    count = as_batch_size(probes, "probes")
    generator = _generator(rng)
    samples = np.empty(count)
    for k in range(count):
        z = generator.choice(np.array([-1.0, 1.0]), size=d)
        samples[k] = z @ hvp(z)
    stderr = float(np.std(samples, ddof=1) / np.sqrt(count)) if count > 1 else float("nan")
    return float(np.mean(samples)), stderr


@dataclass(frozen=True, eq=False)
class SpectralDensity:
    """A spectral measure as a mixture of point masses, from Lanczos quadrature.

    Attributes
    ----------
    nodes : ndarray, shape (m, s)
        Ritz values of each of the ``m`` probes' ``s``-step Lanczos runs.
    weights : ndarray, shape (m, s)
        Their Gauss quadrature weights (each row sums to 1).
    """

    nodes: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)

    def cdf(self, x: object) -> np.ndarray:
        """``F(x) = (1/d)·#{λ_i <= x}`` estimated: the mean over probes of their CDFs."""
        points = np.atleast_1d(np.asarray(x, dtype=np.float64))
        per_probe = np.sum(self.weights[:, None, :]
                           * (self.nodes[:, None, :] <= points[None, :, None]), axis=2)
        return per_probe.mean(axis=0)

    def cdf_stderr(self, x: object) -> np.ndarray:
        """The standard error of :meth:`cdf` over probes."""
        points = np.atleast_1d(np.asarray(x, dtype=np.float64))
        per_probe = np.sum(self.weights[:, None, :]
                           * (self.nodes[:, None, :] <= points[None, :, None]), axis=2)
        return per_probe.std(axis=0, ddof=1) / np.sqrt(per_probe.shape[0])

    def density(self, grid: object, width: float) -> np.ndarray:
        """The measure smoothed by a Gaussian of standard deviation `width`, on `grid`."""
        points = np.atleast_1d(np.asarray(grid, dtype=np.float64))
        sigma = as_positive(width, "width")
        gaps = (points[None, None, :] - self.nodes[:, :, None]) / sigma
        kernels = np.exp(-0.5 * gaps**2) / (sigma * np.sqrt(2.0 * np.pi))
        return np.sum(self.weights[:, :, None] * kernels, axis=(0, 1)) / self.nodes.shape[0]


def spectral_density(hvp: Hvp, dim: int, *, probes: int = 10, steps: int = 40,
                     rng: object = 0) -> SpectralDensity:
    """The spectral measure of ``H`` by stochastic Lanczos quadrature.

    For each of `probes` random unit vectors ``v`` (Rademacher, normalised), `steps`
    Lanczos iterations with full reorthogonalisation give a tridiagonal ``T``; its
    eigenvalues ``θ_j`` and the squared first components ``τ_j²`` of its eigenvectors
    are the Gauss quadrature rule of ``vᵀ f(H) v``, an unbiased estimate of
    ``(1/d) tr f(H)``. The measure ``Σ_j τ_j² δ(x − θ_j)`` averaged over probes
    estimates ``(1/d) Σ_i δ(x − λ_i)``: exact on polynomials of degree < 2·steps for each
    probe, with a probe-to-probe spread given by :meth:`SpectralDensity.cdf_stderr`.
    """
    hvp, d = _check_hvp(hvp, dim)
    count = as_batch_size(probes, "probes")
    length = as_batch_size(steps, "steps")
    length = min(length, d)
    generator = _generator(rng)
    nodes, weights = np.empty((count, length)), np.empty((count, length))
    for k in range(count):
        v = generator.choice(np.array([-1.0, 1.0]), size=d) / np.sqrt(d)
        alpha, beta = np.zeros(length), np.zeros(length)
        basis = np.empty((length, d))
        basis[0] = v
        m = length
        for j in range(length):
            w = hvp(basis[j])
            alpha[j] = basis[j] @ w
            w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)  # full reorthogonalisation
            w = w - basis[:j + 1].T @ (basis[:j + 1] @ w)
            if j + 1 < length:
                beta[j] = np.linalg.norm(w)
                if beta[j] <= 1e-12 * max(abs(alpha[: j + 1]).max(), 1e-300):
                    m = j + 1  # an invariant subspace: the rule is exact
                    break
                basis[j + 1] = w / beta[j]
        theta, vectors = np.linalg.eigh(np.diag(alpha[:m]) + np.diag(beta[:m - 1], 1)
                                        + np.diag(beta[:m - 1], -1))
        nodes[k], weights[k] = 0.0, 0.0
        nodes[k, :m], weights[k, :m] = theta, vectors[0] ** 2
    return SpectralDensity(nodes, weights)


@dataclass(frozen=True)
class MarchenkoPastur:
    """The Marchenko–Pastur law of ``XᵀX/n``, ``X`` (n × d) with i.i.d. entries of variance σ².

    As ``n, d → ∞`` with ``d/n → γ`` the eigenvalues of ``XᵀX/n`` fill
    ``[σ²(1 − √γ)², σ²(1 + √γ)²]`` with density
    ``√((λ₊ − x)(x − λ₋)) / (2π σ² γ x)``, plus a point mass ``1 − 1/γ`` at 0 when
    ``γ > 1`` (``d − n`` of the ``d`` eigenvalues are exactly 0).

    Parameters
    ----------
    gamma : float
        ``d/n > 0``.
    variance : float
        σ², the entries' variance.

    Examples
    --------
    >>> from quadsim.spectra import MarchenkoPastur
    >>> law = MarchenkoPastur(0.25)
    >>> law.edges
    (0.25, 2.25)
    """

    gamma: float
    variance: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", as_positive(self.gamma, "gamma"))
        object.__setattr__(self, "variance", as_positive(self.variance, "variance"))

    @property
    def edges(self) -> tuple[float, float]:
        """The support of the continuous part, ``σ²(1 ∓ √γ)²``."""
        root = np.sqrt(self.gamma)
        return (float(self.variance * (1.0 - root) ** 2),
                float(self.variance * (1.0 + root) ** 2))

    @property
    def zero_mass(self) -> float:
        """The point mass at 0: ``max(0, 1 − 1/γ)``."""
        return max(0.0, 1.0 - 1.0 / self.gamma)

    def density(self, x: object) -> np.ndarray:
        """The density of the continuous part (its integral is ``1 − zero_mass``)."""
        points = np.asarray(x, dtype=np.float64)
        low, high = self.edges
        inside = (points > low) & (points < high)
        safe = np.where(inside, points, 1.0)
        value = np.sqrt(np.maximum((high - safe) * (safe - low), 0.0)) / (
            2.0 * np.pi * self.variance * self.gamma * safe)
        return np.where(inside, value, 0.0)

    def cdf(self, x: object) -> np.ndarray:
        """``P(λ <= x)``, by quadrature of the density plus the mass at 0."""
        import scipy.integrate

        points = np.atleast_1d(np.asarray(x, dtype=np.float64))
        low, high = self.edges
        out = np.empty(points.shape)
        for i, point in enumerate(points):
            upper = min(max(point, low), high)
            continuous = scipy.integrate.quad(self.density, low, upper, limit=200)[0] \
                if upper > low else 0.0
            out[i] = (self.zero_mass if point >= 0.0 else 0.0) + continuous
        return out
