r"""Spectral tools for a non-symmetric weight matrix: outliers and the gradient in their span.

A square ``W`` (d × d) with i.i.d. ``N(0, 1/d)`` entries has its eigenvalues in the unit
disk, up to an edge of width ``1/√d`` (:mod:`quadsim.circular_law`, whose
:func:`~quadsim.circular_law.edge_margin` sets the default margin here). Training adds
``ΔW = W_t − W_0``; eigenvalues with ``|λ| > radius·(1 + ε)`` are *outliers*
(:func:`outlier_subspace`). Their invariant subspace ``S`` (``W S ⊆ S``) has an
orthonormal basis ``Q`` from one real Schur decomposition ``W = Z T Zᵀ`` sorted so that
the outliers come first (:func:`scipy.linalg.schur` with a selection callable): ``Q`` is
the first ``k`` columns of ``Z``, a complex pair ``λ, λ̄`` contributing the real 2-d span
of ``Re v, Im v`` (a 2 × 2 block of ``T``). How much of a gradient ``G`` lies in ``S``,
with ``P = Q Qᵀ``:

- the fractions ``‖P G‖²_F / ‖G‖²_F`` (columns of ``G``, "from the left") and
  ``‖G P‖²_F / ‖G‖²_F`` (rows, "from the right"), ratios of directional derivatives:
  a step along ``−P G`` lowers the loss at the rate ``⟨G, P G⟩ = ‖P G‖²``
  (:func:`subspace_fractions`);
- the principal angles between ``S`` and the span of the top ``min(k, rank G)`` left
  (or right) singular vectors of ``G`` (:func:`gradient_angles`; the whole column
  space of a full-rank ``G`` is ``R^d``, at angle 0 to everything);
- the cosine ``tr(Gᵀ ΔŴ_k) / (‖G‖_F ‖ΔŴ_k‖_F)`` with the best rank-``k`` approximation
  ``ΔŴ_k`` of ``ΔW`` (:func:`best_rank_k`, :func:`directional_cosine`): the directional
  derivative of ``L`` along ``ΔŴ_k``, normalised; and the same along ``P`` itself.

:func:`outlier_gradient` follows these along a run of a method on a square
matrix-valued regression (:func:`square_regression`, a low-rank teacher), from the
simulated iterates and from the closed form.

Costs: one sorted real Schur decomposition, ``O(d³)`` (about ``25 d³`` flops), per
subspace; one SVD of ``ΔW`` (``O(d³)``) per rank-``k`` approximation; one SVD of ``G``
per set of angles; the fractions and cosines are ``O(d² k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from quadsim._validation import as_count, as_float_array, as_non_negative, as_positive
from quadsim.calculus import _array
from quadsim.circular_law import edge_margin
from quadsim.methods import Preconditioned
from quadsim.problems import LinearRegression
from quadsim.results import Trajectory
from quadsim.simulation import simulate
from quadsim.subspaces import gradient_fraction
from quadsim.theory import check_method, closed_form

__all__ = [
    "GradientShare",
    "OutlierRun",
    "OutlierSubspace",
    "ShareSeries",
    "best_rank_k",
    "directional_cosine",
    "gradient_angles",
    "gradient_share",
    "outlier_gradient",
    "outlier_subspace",
    "square_regression",
    "subspace_fractions",
]

#: Singular values below ``RANK_RTOL·d·σ_max`` do not span the gradient's column space.
RANK_RTOL = float(np.finfo(np.float64).eps)

def as_square(value: object, name: str = "W") -> np.ndarray:
    """Return a finite, non-empty, square float64 matrix, or raise naming `name`."""
    matrix = as_float_array(value, name, ndim=2)
    if matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
        raise ValueError(f"`{name}` must be a non-empty square (d, d) matrix; got shape "
                         f"{matrix.shape}")
    return matrix


def _schur_eigenvalues(T: np.ndarray) -> np.ndarray:
    """Eigenvalues of a real quasi-triangular Schur form, in its order.

    LAPACK's standardised 2 × 2 blocks ``[[a, b], [c, a]]`` (``bc < 0``) hold ``a ± i√(−bc)``.
    """
    values = np.diag(T).astype(np.complex128)
    starts = np.flatnonzero(np.diag(T, -1))
    if starts.size:
        a, e = T[starts, starts], T[starts + 1, starts + 1]
        b, c = T[starts, starts + 1], T[starts + 1, starts]
        mean = 0.5 * (a + e)
        imaginary = np.sqrt(np.maximum(-(0.25 * (a - e) ** 2 + b * c), 0.0))
        values[starts] = mean + 1j * imaginary
        values[starts + 1] = mean - 1j * imaginary
    return values


@dataclass(frozen=True, eq=False)
class OutlierSubspace:
    """The eigenvalues of ``W`` beyond the bulk edge and their invariant subspace.

    Attributes
    ----------
    eigenvalues : ndarray of complex, shape (d,)
        All eigenvalues of ``W``, the outliers first (in the order of the sorted Schur
        form, conjugate pairs adjacent with the positive imaginary part first).
    basis : ndarray, shape (d, k)
        ``Q``: orthonormal columns spanning the real invariant subspace of the outliers
        (``W Q = Q T₁₁``); shape (d, 0) when there are none.
    radius : float
        The bulk's radius (e.g. the circular-law radius ``σ√d`` of ``W_0``).
    margin : float
        The relative margin ``ε``: outliers have ``|λ| > radius·(1 + ε)``.
    """

    eigenvalues: np.ndarray = field(repr=False)
    basis: np.ndarray = field(repr=False)
    radius: float
    margin: float

    def __repr__(self) -> str:
        return (f"OutlierSubspace(k={self.k}, threshold={self.threshold:.4g}, "
                f"outliers={np.round(self.outliers, 4).tolist()})")

    @property
    def k(self) -> int:
        """The subspace's dimension: the number of outliers, a complex pair counting 2."""
        return int(self.basis.shape[1])

    @property
    def threshold(self) -> float:
        """``radius·(1 + margin)``."""
        return self.radius * (1.0 + self.margin)

    @property
    def outliers(self) -> np.ndarray:
        """The outlier eigenvalues, shape (k,)."""
        return self.eigenvalues[:self.k]


def outlier_subspace(W: object, radius: float = 1.0, margin: float | None = None
                     ) -> OutlierSubspace:
    r"""The outliers of ``W`` (``|λ| > radius·(1 + margin)``) and their invariant subspace.

    One real Schur decomposition ``W = Z T Zᵀ`` (:func:`scipy.linalg.schur`) with the
    outliers sorted to the top-left of ``T``: then ``W Z₁ = Z₁ T₁₁`` for the first ``k``
    columns ``Z₁`` of ``Z``, an orthonormal basis of the outliers' invariant subspace. A
    complex pair ``λ, λ̄`` has one modulus, so both are selected together and give a
    real 2 × 2 block of ``T`` and the real 2-d span of ``Re v, Im v`` (``v`` an
    eigenvector). For a normal ``W`` the subspace is the span of the outliers'
    eigenvectors, orthogonal to the rest; for a non-normal one it is still invariant,
    but the bulk's eigenvectors need not be orthogonal to it, and the span of the
    outliers' *left* eigenvectors (the invariant subspace of ``Wᵀ``) differs from it.
    Costs ``O(d³)``.

    Parameters
    ----------
    W : array_like, shape (d, d)
    radius : float, optional
        The bulk's radius, ``> 0``: 1 for ``W_0`` with ``N(0, 1/d)`` entries
        (:func:`~quadsim.circular_law.circular_law_radius` otherwise). Training a
        regression only shrinks the part of ``W_0`` it has not replaced, so the radius
        of ``W_0`` stays an upper edge for the bulk of ``W_t``.
    margin : float, optional
        ``ε >= 0``. By default :func:`~quadsim.circular_law.edge_margin` of ``d``: the
        margin beyond which a Gaussian bulk of that radius puts on average fewer than
        ``EDGE_EXPECTED`` eigenvalues.

    Returns
    -------
    OutlierSubspace
        With ``k = 0`` and a (d, 0) basis when no eigenvalue passes: an empty outlier set
        is a result, not an error.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim.circular_law import ginibre
    >>> from quadsim.nonsymmetric import outlier_subspace
    >>> W = ginibre(100, rng=0)
    >>> outlier_subspace(W).k   # a pure bulk: none beyond (1 + 0.168)·1
    0
    >>> spike = W + 2.0 * np.outer(np.ones(100), np.ones(100)) / 100   # rank-1 teacher
    >>> found = outlier_subspace(spike)
    >>> found.k, bool(abs(found.outliers[0] - 2.0) < 0.2)
    (1, True)
    """
    W = as_square(W)
    d = W.shape[0]
    radius = as_positive(radius, "radius")
    if margin is None:
        margin = edge_margin(d) if d >= 2 else 0.0
    margin = as_non_negative(margin, "margin")
    threshold = radius * (1.0 + margin)

    def beyond(real: float, imaginary: float) -> bool:
        return math.hypot(real, imaginary) > threshold

    T, Z, k = scipy.linalg.schur(W, output="real", sort=beyond)
    return OutlierSubspace(_schur_eigenvalues(T), np.ascontiguousarray(Z[:, :k]), radius,
                           margin)


def _gradient(G: object, d: int) -> np.ndarray:
    G = as_float_array(G, "G", ndim=2)
    if G.shape != (d, d):
        raise ValueError(f"`G` must have the shape of W, ({d}, {d}); got {G.shape}")
    return G


def _basis(subspace: object) -> np.ndarray:
    if isinstance(subspace, OutlierSubspace):
        return subspace.basis
    Q = as_float_array(subspace, "basis", ndim=2)
    return Q


def subspace_fractions(G: object, basis: object) -> tuple[float, float]:
    r"""``(‖P G‖²_F / ‖G‖²_F, ‖G P‖²_F / ‖G‖²_F)``: the share of ``G`` in a span.

    From the left (the columns of ``G``) and from the right (its rows); ``P = Q Qᵀ`` for
    the orthonormal ``Q``, so ``‖P G‖_F = ‖Qᵀ G‖_F`` (``O(d²k)``, no ``P`` formed). Each
    is a ratio of directional derivatives of a loss with gradient ``G``:
    ``L'(W)[−P G] / L'(W)[−G] = ⟨G, P G⟩ / ⟨G, G⟩`` because ``P`` is a symmetric
    idempotent. Both are 0 for an empty span (``k = 0``) and NaN for ``G = 0``.

    Parameters
    ----------
    G : array_like, shape (d, d)
    basis : OutlierSubspace or array_like, shape (d, k)
        Orthonormal columns.
    """
    Q = _basis(basis)
    G = _gradient(G, Q.shape[0])
    if Q.shape[1] == 0:
        return (0.0, 0.0) if np.any(G) else (math.nan, math.nan)
    return float(gradient_fraction(G.T, Q)), float(gradient_fraction(G, Q))


def _singular_spaces(G: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The top ``min(count, rank G)`` left and right singular vectors of ``G``."""
    left, singular, right = np.linalg.svd(G)
    if singular[0] == 0.0:
        return left[:, :0], right[:0].T
    rank = int(np.sum(singular > RANK_RTOL * G.shape[0] * singular[0]))
    width = min(count, rank)
    return left[:, :width], right[:width].T


def gradient_angles(G: object, basis: object, *, side: str = "left") -> np.ndarray:
    r"""Principal angles between a span and the gradient's dominant column (row) space.

    :func:`scipy.linalg.subspace_angles` between ``span Q`` (dimension ``k``) and the span
    of the top ``r = min(k, rank G)`` left singular vectors of ``G`` (``side='left'``: the
    column space, where ``P G`` acts) or right ones (``'right'``: the row space, for
    ``G P``). Truncated to ``r`` because a full-rank gradient's column space is all of
    ``R^d``, at angle 0 to every span. ``cos²`` of the angles weighs every singular
    direction equally; the fraction (:func:`subspace_fractions`) weighs them by ``σ_l²``
    and lies between the smallest and the largest ``cos²`` when ``rank G ≤ k``. Costs one
    SVD of ``G``, ``O(d³)``.

    Returns
    -------
    ndarray, shape (r,)
        Radians, ascending; empty when ``k = 0`` or ``G = 0``.
    """
    Q = _basis(basis)
    G = _gradient(G, Q.shape[0])
    if side not in ("left", "right"):
        raise ValueError(f"`side` must be 'left' or 'right'; got {side!r}")
    if Q.shape[1] == 0:
        return np.empty(0)
    left, right = _singular_spaces(G, Q.shape[1])
    span = left if side == "left" else right
    if span.shape[1] == 0:
        return np.empty(0)
    return np.sort(scipy.linalg.subspace_angles(Q, span))


def best_rank_k(M: object, k: int) -> np.ndarray:
    r"""``M_k = U_k Σ_k V_kᵀ``: the best rank-``k`` approximation of ``M`` (Eckart–Young).

    From the SVD of ``M`` (``O(d³)``); ``‖M − M_k‖²_F = Σ_{i>k} σ_i²``. ``k = 0`` gives the
    zero matrix; ``k`` beyond ``min(M.shape)`` is an error.
    """
    M = as_float_array(M, "M", ndim=2)
    k = as_count(k, "k")
    if k > min(M.shape):
        raise ValueError(f"`k` must be at most min(M.shape) = {min(M.shape)}; got {k}")
    if k == 0:
        return np.zeros_like(M)
    left, singular, right = np.linalg.svd(M, full_matrices=False)
    return (left[:, :k] * singular[:k]) @ right[:k]


def directional_cosine(G: object, D: object) -> float:
    r"""``tr(Gᵀ D) / (‖G‖_F ‖D‖_F)``: a directional derivative per unit of both norms.

    The derivative of a loss with gradient ``G`` along ``D``, normalised: a cosine in
    ``[−1, 1]``; NaN when either is zero.
    """
    G, D = _array(G, "G"), _array(D, "D")
    if D.shape != G.shape:
        raise ValueError(f"`D` must have the shape of `G`, {G.shape}; got {D.shape}")
    scale = float(np.linalg.norm(G) * np.linalg.norm(D))
    return float(np.vdot(G, D)) / scale if scale > 0.0 else math.nan


@dataclass(frozen=True, eq=False)
class GradientShare:
    """The answers to "how much of ``G`` lies in the outlier subspace ``S``?".

    Attributes
    ----------
    k : int
        ``dim S``.
    fraction_left, fraction_right : float
        ``‖P G‖²/‖G‖²`` and ``‖G P‖²/‖G‖²`` (:func:`subspace_fractions`; 0 when ``k = 0``).
    angles_left, angles_right : ndarray
        Principal angles to the gradient's top-``k`` column and row spaces
        (:func:`gradient_angles`; empty when ``k = 0``).
    projector_cosine : float
        ``tr(Gᵀ P) / (‖G‖ ‖P‖)`` with ``‖P‖_F = √k``: the directional derivative of ``L``
        along the projector itself (NaN when ``k = 0``).
    update_cosine : float
        ``tr(Gᵀ ΔŴ_k) / (‖G‖ ‖ΔŴ_k‖)`` for the best rank-``k`` approximation of the
        update ``ΔW`` (NaN when ``k = 0``, ``ΔW = 0`` or no update was given).
    """

    k: int
    fraction_left: float
    fraction_right: float
    angles_left: np.ndarray = field(repr=False)
    angles_right: np.ndarray = field(repr=False)
    projector_cosine: float
    update_cosine: float

    @property
    def mean_cos2_left(self) -> float:
        """The mean ``cos²`` of :attr:`angles_left` (NaN when there are none)."""
        return float(np.mean(np.cos(self.angles_left) ** 2)) if self.angles_left.size \
            else math.nan


def gradient_share(G: object, subspace: OutlierSubspace, update: object = None
                   ) -> GradientShare:
    r"""All the answers for one gradient: fractions, principal angles and cosines.

    Parameters
    ----------
    G : array_like, shape (d, d)
        A gradient ``∇L`` (at any time: the subspace may be that of an earlier ``W_t``).
    subspace : OutlierSubspace
        From :func:`outlier_subspace`.
    update : array_like, shape (d, d), optional
        ``ΔW = W_t − W_0``, whose best rank-``k`` approximation (``k = subspace.k``) is
        the direction of :attr:`GradientShare.update_cosine`.

    Costs one SVD of ``G`` and one of ``ΔW`` (``O(d³)`` each) on top of the subspace's
    Schur decomposition; the rest is ``O(d²k)``.
    """
    if not isinstance(subspace, OutlierSubspace):
        raise TypeError(f"`subspace` must be an OutlierSubspace; got "
                        f"{type(subspace).__name__}")
    Q = subspace.basis
    G = _gradient(G, Q.shape[0])
    left, right = subspace_fractions(G, subspace)
    angles_left = gradient_angles(G, subspace, side="left")
    angles_right = gradient_angles(G, subspace, side="right")
    k = subspace.k
    projector_cosine = math.nan
    update_cosine = math.nan
    if k:
        norm = float(np.linalg.norm(G))
        if norm > 0.0:
            projector_cosine = float(np.trace(Q.T @ G @ Q)) / (norm * math.sqrt(k))
        if update is not None:
            update_cosine = directional_cosine(G, best_rank_k(_gradient(update, Q.shape[0]),
                                                              k))
    return GradientShare(k, left, right, angles_left, angles_right, projector_cosine,
                         update_cosine)


@dataclass(frozen=True, eq=False)
class ShareSeries:
    """:class:`GradientShare` along a run, one entry per recorded step.

    Attributes
    ----------
    k : ndarray of int, shape (K,)
        The outlier subspace's dimension.
    fraction_left, fraction_right, projector_cosine, update_cosine, mean_cos2_left :
    ndarray, shape (K,)
        As in :class:`GradientShare`.
    eigenvalues : ndarray of complex, shape (K, d)
        The eigenvalues of the ``W`` whose outliers define the subspace at each step.
    """

    k: np.ndarray = field(repr=False)
    fraction_left: np.ndarray = field(repr=False)
    fraction_right: np.ndarray = field(repr=False)
    projector_cosine: np.ndarray = field(repr=False)
    update_cosine: np.ndarray = field(repr=False)
    mean_cos2_left: np.ndarray = field(repr=False)
    eigenvalues: np.ndarray = field(repr=False)

    @classmethod
    def collect(cls, shares: list[GradientShare], subspaces: list[OutlierSubspace]
                ) -> ShareSeries:
        """Stack per-step results."""
        return cls(np.array([s.k for s in shares], dtype=np.int64),
                   np.array([s.fraction_left for s in shares]),
                   np.array([s.fraction_right for s in shares]),
                   np.array([s.projector_cosine for s in shares]),
                   np.array([s.update_cosine for s in shares]),
                   np.array([s.mean_cos2_left for s in shares]),
                   np.array([s.eigenvalues for s in subspaces]))


@dataclass(frozen=True, eq=False)
class OutlierRun:
    """The gradient's share of the outlier subspace along a run: simulated and closed form.

    Attributes
    ----------
    steps : ndarray, shape (K,)
    at : int or None
        The step whose ``W_t`` and ``ΔW = W_t − W_0`` define the subspace and the rank-k
        update for every recorded gradient; None: each step's own.
    trajectory : Trajectory
        The simulated run.
    simulated, theory : ShareSeries
        From the simulated iterates and from :func:`~quadsim.closed_form`'s.
    radius, margin : float
        As in :func:`outlier_subspace`.
    """

    steps: np.ndarray = field(repr=False)
    at: int | None
    trajectory: Trajectory = field(repr=False)
    simulated: ShareSeries = field(repr=False)
    theory: ShareSeries = field(repr=False)
    radius: float
    margin: float


def _square_regression(problem: object) -> LinearRegression:
    if not isinstance(problem, LinearRegression) or not problem.matrix_valued:
        raise TypeError(f"`problem` must be a LinearRegression with matrix targets; got "
                        f"{type(problem).__name__}")
    m, d = problem.weight_shape
    if m != d:
        raise ValueError(f"`problem` must have square weights W (m = d): targets Y with as "
                         f"many columns as X; got W of shape ({m}, {d})")
    return problem


def _series(problem: LinearRegression, run: Trajectory, W0: np.ndarray,
            fixed: np.ndarray | None, radius: float, margin: float) -> ShareSeries:
    shares, subspaces = [], []
    if fixed is not None:
        subspace = outlier_subspace(fixed, radius, margin)
        update = fixed - W0
    for W in run.w:
        if fixed is None:
            subspace = outlier_subspace(W, radius, margin)
            update = W - W0
        shares.append(gradient_share(problem.grad(W), subspace, update))
        subspaces.append(subspace)
    return ShareSeries.collect(shares, subspaces)


def outlier_gradient(problem: object, method: object, W0: object, steps: object, *,
                     at: int | None = None, radius: float = 1.0,
                     margin: float | None = None) -> OutlierRun:
    r"""How much of the gradient lies in the outlier subspace of ``W``, along a run.

    For each recorded step ``t′`` the gradient ``G_{t′} = ∇L(W_{t′})`` is measured
    against the outlier subspace and the rank-``k`` update of ``W_t`` (:func:`gradient_share`),
    with ``t = t′`` or a fixed ``t = at``; once from the simulated iterates
    (:func:`~quadsim.simulate`, raw basis) and once from the closed form
    (:func:`~quadsim.closed_form`). They agree to rounding where the subspace is well
    conditioned (outliers well separated from the threshold and from each other).

    Parameters
    ----------
    problem : LinearRegression
        With square weights (targets ``Y`` of shape (n, d)), e.g. :func:`square_regression`.
    method : GD, Momentum or Nesterov
    W0 : array_like, shape (d, d)
    steps : int or array_like
        As in :func:`~quadsim.simulate`.
    at : int, optional
        A step ``>= 0`` whose subspace and update serve every recorded gradient (the
        question "training for a time ``t`` adds ``ΔW``; how much of the gradient at a
        later ``t′`` lies in the span?").
    radius, margin
        As in :func:`outlier_subspace`.

    Returns
    -------
    OutlierRun

    Notes
    -----
    Per recorded step (with ``at`` None) each twin costs one Schur decomposition, one SVD
    of ``ΔW`` and one of ``G``: ``O(d³)``; with ``at`` given, one SVD of ``G`` per step.
    """
    regression = _square_regression(problem)
    method = check_method(method)
    if isinstance(method, Preconditioned):
        raise TypeError("`method` must be GD, Momentum or Nesterov")
    d = regression.dim
    radius = as_positive(radius, "radius")
    margin = edge_margin(d) if margin is None else as_non_negative(margin, "margin")
    run = simulate(regression, method, W0, steps)
    theory = closed_form(regression, method, W0, run.steps)
    assert isinstance(run, Trajectory)
    start = run.w[0]
    fixed_sim = fixed_theory = None
    if at is not None:
        at = as_count(at, "at")
        fixed_sim = simulate(regression, method, start, [at]).w[0]
        fixed_theory = closed_form(regression, method, start, [at]).w[0]
    return OutlierRun(run.steps, at, run,
                      _series(regression, run, start, fixed_sim, radius, margin),
                      _series(regression, theory, start, fixed_theory, radius, margin),
                      radius, margin)


def square_regression(d: int, teacher: object, *, n: int | None = None,
                      signal: int | None = None, weak: float = 0.1, noise: float = 0.1,
                      rng: object = None) -> tuple[LinearRegression, np.ndarray]:
    r"""A regression with square weights and a low-rank teacher with chosen eigenvalues.

    The teacher is ``W* = U T Uᵀ`` with ``U`` (d × r) orthonormal and ``T`` block diagonal:
    ``λ`` for each real entry of `teacher`, the 2 × 2 block ``[[a, −b], [b, a]]``
    (eigenvalues ``a ± ib``) for each complex one (give one of each conjugate pair). The
    inputs are Gaussian with variance 1 along ``U`` and ``signal − r`` further random
    directions and ``weak²`` along the rest, ``X = Z diag(s) Vᵀ`` (``V`` orthonormal,
    its first ``r`` columns ``U``), and ``Y = X W*ᵀ + noise·N(0, 1)``. So ``A = XᵀX/n`` has
    ``signal`` large eigenvalues, along which GD replaces ``W_0`` by the teacher
    quickly, and ``d − signal`` small ones, along which ``W_0`` stays: the teacher's
    eigenvalues beyond the unit disk appear as outliers of ``W_t`` while the bulk of
    ``W_0`` remains.

    Parameters
    ----------
    d : int
        ``>= 2``.
    teacher : array_like of complex
        The teacher's nonzero eigenvalues (complex ones once per pair).
    n : int, optional
        Examples; ``4d`` by default.
    signal : int, optional
        Strong input directions, ``r <= signal <= d``; ``r`` by default.
    weak, noise : float, optional
        The weak directions' input scale (``> 0``) and the target noise (``>= 0``).
    rng : int, Generator or None

    Returns
    -------
    problem : LinearRegression
        Targets of shape (n, d): weights ``W`` of shape (d, d).
    W_star : ndarray, shape (d, d)
        The teacher.
    """
    d = as_count(d, "d")
    if d < 2:
        raise ValueError(f"`d` must be >= 2; got {d}")
    values = np.atleast_1d(np.asarray(teacher, dtype=np.complex128))
    if values.ndim != 1 or not np.all(np.isfinite(values)):
        raise ValueError(f"`teacher` must be a finite 1-d array of eigenvalues; got {teacher!r}")
    blocks = [np.array([[v.real]]) if v.imag == 0 else
              np.array([[v.real, -abs(v.imag)], [abs(v.imag), v.real]]) for v in values]
    rank = sum(block.shape[0] for block in blocks)
    signal = rank if signal is None else as_count(signal, "signal")
    if not rank <= signal <= d:
        raise ValueError(f"`signal` must lie in {rank}..{d} (the teacher's rank {rank} to d); "
                         f"got {signal}")
    n = 4 * d if n is None else as_count(n, "n")
    weak = as_positive(weak, "weak")
    noise = as_non_negative(noise, "noise")
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    V, _ = np.linalg.qr(generator.normal(size=(d, d)))
    U = V[:, :rank]
    W_star = U @ scipy.linalg.block_diag(*blocks) @ U.T
    scales = np.where(np.arange(d) < signal, 1.0, weak)
    X = (generator.normal(size=(n, d)) * scales) @ V.T
    Y = X @ W_star.T + noise * generator.normal(size=(n, d))
    return LinearRegression(X, Y), W_star
