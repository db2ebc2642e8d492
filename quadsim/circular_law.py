r"""The circular law at finite ``d``: exact eigenvalue counts of Gaussian matrices.

A square matrix ``W`` (d × d) with i.i.d. entries of mean 0 and variance ``σ²`` has its
eigenvalues spread, as ``d`` grows, uniformly over the disk of radius ``σ√d`` (the
circular law, :func:`circular_law_radius`); with ``N(0, 1/d)`` entries (:func:`ginibre`)
that is the unit disk. At finite ``d`` the edge is blurred over a width of order
``1/√d``: :func:`ginibre_expected_outside` gives the exact expected number of
eigenvalues beyond any radius for Gaussian entries, from Edelman's densities of the real
and the complex eigenvalues, and :func:`edge_margin` the relative margin ``ε`` beyond
which a pure Gaussian bulk puts, on average, fewer than :data:`EDGE_EXPECTED`
eigenvalues: the margin :func:`quadsim.nonsymmetric.outlier_subspace` uses to call an
eigenvalue an outlier.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, optimize, special

from quadsim._validation import as_count, as_non_negative, as_positive

__all__ = [
    "EDGE_EXPECTED",
    "circular_law_radius",
    "edge_margin",
    "ginibre",
    "ginibre_expected_outside",
]

#: Default expected number of eigenvalues of a Gaussian bulk beyond ``radius·(1 + ε)``
#: that :func:`edge_margin` allows: by Markov's inequality the chance that a pure bulk
#: shows any outlier at that margin is at most 1%.
EDGE_EXPECTED = 0.01

#: How far beyond the circular-law edge ``√d`` of an ``N(0, 1)`` matrix (in eigenvalue
#: modulus) the exact densities are integrated: both decay like the regularised
#: ``Q(d − 1, r²)``, below 1e-100 at ``r = √d + 12``.
_EDGE_TAIL = 12.0
#: Gauss–Legendre nodes per panel, and panel width, of the radial integral.
_RADIAL_NODES, _RADIAL_PANEL = 10, 0.25


def circular_law_radius(d: int, std: float) -> float:
    """``σ√d``: the circular-law radius of a d × d matrix with i.i.d. entries of std ``σ``.

    The eigenvalues of such a matrix (mean-0 entries) fill the disk of this radius as
    ``d → ∞``: the unit disk for ``σ = 1/√d``.
    """
    return as_positive(std, "std") * math.sqrt(as_count(d, "d"))


def ginibre(d: int, rng: object = None, *, std: float | None = None) -> np.ndarray:
    """A d × d matrix of i.i.d. ``N(0, σ²)`` entries, ``σ = 1/√d`` by default (unit disk)."""
    d = as_count(d, "d")
    scale = 1.0 / math.sqrt(d) if std is None else as_positive(std, "std")
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    return scale * generator.normal(size=(d, d))


def _real_density(lam: np.ndarray, d: int) -> np.ndarray:
    """The density of the real eigenvalues of a d × d ``N(0, 1)`` matrix.

    Edelman, Kostlan & Shub (1994): ``Q(d−1, λ²)/√(2π) + |λ|^{d−1} e^{−λ²/2}
    P((d−1)/2, λ²/2) / (Γ(d/2) 2^{d/2})`` with the regularised incomplete gamma functions
    ``P`` and ``Q = 1 − P``; it integrates to the expected number of real eigenvalues,
    ``½ + √2 ₂F₁(1, −½; d; ½) / B(d, ½)``.
    """
    square = lam * lam
    with np.errstate(divide="ignore"):
        log_second = ((d - 1) * np.log(np.abs(lam)) - square / 2 - special.gammaln(d / 2)
                      - (d / 2) * math.log(2.0) + np.log(special.gammainc((d - 1) / 2,
                                                                          square / 2)))
    return special.gammaincc(d - 1, square) / math.sqrt(2 * math.pi) + np.exp(log_second)


def _complex_radial_density(r: np.ndarray, d: int) -> np.ndarray:
    """The density in modulus ``r`` of the complex eigenvalues of a d × d ``N(0, 1)`` matrix.

    Edelman (1997): at ``x + iy`` (``y > 0``) the density is ``√(2/π) y erfcx(√2 y)
    Q(d−1, x² + y²)``; integrated over the angle of ``r e^{iφ}`` in both half planes it is
    ``2 r Q(d−1, r²) ∫₀^π √(2/π) r sinφ erfcx(√2 r sinφ) dφ`` per unit of ``r``.
    """
    angular = integrate.quad_vec(
        lambda phi: np.sin(phi) * special.erfcx(math.sqrt(2.0) * r * np.sin(phi)),
        0.0, math.pi / 2, epsabs=0.0, epsrel=1e-12)[0]
    return 2.0 * r * special.gammaincc(d - 1, r * r) * 2.0 * math.sqrt(2 / math.pi) * r \
        * angular


def ginibre_expected_outside(d: int, radius: float) -> float:
    r"""The exact expected number of eigenvalues of a d × d Gaussian matrix beyond a radius.

    For i.i.d. ``N(0, σ²)`` entries and ``|λ| > radius·σ√d`` (``radius`` in units of the
    circular-law radius): the real eigenvalues' density (Edelman, Kostlan & Shub 1994)
    integrated over ``|λ| > radius·√d`` plus the complex eigenvalues' density (Edelman
    1997) over the same region of the plane, for ``σ = 1``; the count does not depend on
    ``σ``. As ``d → ∞`` the expected fraction ``/ d`` tends to ``max(0, 1 − radius²)`` (the
    circular law); at ``radius = 1`` about ``0.4√d`` eigenvalues are outside, and the tail
    beyond decays like ``erfc(√(2d)(radius − 1))``.

    Parameters
    ----------
    d : int
        ``>= 2``.
    radius : float
        ``>= 0``.

    Returns
    -------
    float
        The expected count (``d`` at ``radius = 0``), accurate to about 1e-12 relative
        (adaptive quadrature over the angle, 10-point Gauss–Legendre panels of width 0.25
        over the modulus).

    Examples
    --------
    >>> from quadsim.circular_law import ginibre_expected_outside
    >>> round(ginibre_expected_outside(2, 0.0), 12)
    2.0
    >>> round(ginibre_expected_outside(200, 1.2), 7)   # beyond 1.2× the circular-law edge
    4.53e-05
    """
    d = as_count(d, "d")
    if d < 2:
        raise ValueError(f"`d` must be >= 2; got {d}")
    radius = as_non_negative(radius, "radius")
    low = radius * math.sqrt(d)
    high = max(low, math.sqrt(d)) + _EDGE_TAIL
    points = [math.sqrt(d)] if low < math.sqrt(d) else None
    real = 2.0 * integrate.quad(_real_density, low, high, args=(d,), points=points,
                                limit=200, epsabs=0.0, epsrel=1e-12)[0]
    panels = max(1, math.ceil((high - low) / _RADIAL_PANEL))
    edges = np.linspace(low, high, panels + 1)
    nodes, weights = np.polynomial.legendre.leggauss(_RADIAL_NODES)
    half = 0.5 * np.diff(edges)[:, None]
    r = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * nodes).ravel()
    complex_part = float(np.sum((half * weights).ravel() * _complex_radial_density(r, d)))
    return real + complex_part


@lru_cache(maxsize=256)
def _edge_margin(d: int, expected: float) -> float:
    def excess(margin: float) -> float:
        return ginibre_expected_outside(d, 1.0 + margin) - expected

    if excess(0.0) <= 0.0:
        return 0.0
    upper = 1.0
    while excess(upper) > 0.0:
        upper *= 2.0
    return float(optimize.brentq(excess, 0.0, upper, xtol=1e-6, rtol=1e-6))


def edge_margin(d: int, expected: float = EDGE_EXPECTED) -> float:
    """The relative margin ``ε`` beyond the circular-law edge that a Gaussian bulk respects.

    ``E #{|λ| > (1 + ε)σ√d} = expected`` (:func:`ginibre_expected_outside`).
    About 0.24 at ``d = 50``, 0.17 at 100, 0.12 at 200 and 0.076 at 500 for the default
    ``expected = 0.01``; the edge's width shrinks like ``1/√d``. Cached per ``(d,
    expected)``; the first call costs a root search, tens of milliseconds.
    """
    d = as_count(d, "d")
    if d < 2:
        raise ValueError(f"`d` must be >= 2; got {d}")
    return _edge_margin(d, as_positive(expected, "expected"))
