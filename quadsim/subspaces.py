r"""Gradient subspaces over training: how much of the gradient lies in a span.

For a gradient ``G`` (shape (m, d), or (d,) as one row) and an orthonormal basis
``Q_k`` (d × k) of a span ``S``, with ``P = Q_k Q_kᵀ`` the orthogonal projector onto it,

    fraction(G, S) = ‖G P‖²_F / ‖G‖²_F = ‖G Q_k‖²_F / ‖G‖²_F.

It is a ratio of directional derivatives: a step along the projected gradient ``−G P``
lowers the loss at the rate ``L'(W)[−G P] = −⟨G, G P⟩_F = −‖G P‖²_F``, the full gradient
step at ``−‖G‖²_F``. With the SVD ``G = Σ_l σ_l u_l v_lᵀ`` it is ``Σ_l σ_l² ‖P v_l‖² /
Σ_l σ_l²``, a weighted mean of the squared cosines between the row-space directions of
``G`` and ``S``, so it lies between the smallest and the largest squared cosine of the
principal angles between ``S`` and the row space of ``G`` (:func:`principal_angles`),
and equals ``cos²θ`` when ``G`` has rank 1 (vector weights, one example).

Over a run of a method on a quadratic, for the span of the top-``k`` eigenvectors of
``A``: in the eigenbasis ``u = Qᵀw`` the gradient is ``g̃_j = a_j (u_j − u*_j)`` per axis
(row), so the closed form (:func:`gradient_subspace`, from the per-axis solution of
:mod:`quadsim.axes`) is

    fraction_t = Σ_{j ∈ top k} a_j² ẽ_j(t)² / Σ_j a_j² ẽ_j(t)²,     ẽ_j(t) = u_j(t) − u*_j,

summed over the rows of ``W``; for GD ``ẽ_j(t) = (1 − lr·a_j)^t ẽ_j(0)``. The same is
computed from the simulated iterates, with the principal angles and the same quantities
for the span of the top-``k`` right singular vectors of ``W_t − W_0`` (where the
weights have moved).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_float_array
from quadsim.axes import axis_moments
from quadsim.methods import GradientFlow, Preconditioned, _TwoStepMethod
from quadsim.problems import LinearRegression, SpectralFrame, StackedFrame, as_quadratic
from quadsim.results import Trajectory
from quadsim.rows import matrix_regression, method_frame
from quadsim.simulation import simulate
from quadsim.theory import _flow_closed_form, check_method, offset_start

__all__ = [
    "GradientSubspace",
    "gradient_fraction",
    "gradient_subspace",
    "principal_angles",
    "top_eigenvectors",
]

#: Singular values below ``RANK_RTOL·max(m, d)·σ_max`` do not span the row space.
RANK_RTOL = float(np.finfo(np.float64).eps)


def as_span_size(k: object, d: int, name: str = "k") -> int:
    """Return ``k`` if it is an integer in ``1..d``, else raise naming it."""
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"`{name}` must be an integer number of directions; got {k!r}")
    if not 1 <= int(k) <= d:
        raise ValueError(f"`{name}` must lie in 1..d = {d}; got {int(k)}")
    return int(k)


def _shared_frame(problem: object) -> SpectralFrame:
    """The eigenbasis of ``A`` (for matrix weights: the axes every row shares)."""
    regression = matrix_regression(problem)
    if regression is not None:
        frame = regression.frame
        assert isinstance(frame, StackedFrame) and frame.base is not None
        return frame.base
    return as_quadratic(problem).frame


def top_eigenvectors(problem: object, k: int) -> np.ndarray:
    """Orthonormal eigenvectors of ``A`` for its ``k`` largest eigenvalues, as columns.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        For matrix weights, the curvature every row shares.
    k : int
        ``1 <= k <= d``.

    Returns
    -------
    ndarray, shape (d, k)
        In ascending order of eigenvalue (the frame's last ``k`` axes). Where
        ``a_{d−k} = a_{d−k+1}`` the span is not unique: this is the frame's choice.
    """
    frame = _shared_frame(problem)
    k = as_span_size(k, frame.dim)
    return np.ascontiguousarray(frame.dense_basis[:, frame.dim - k:])


def gradient_fraction(G: object, basis: object) -> np.ndarray:
    """``‖G Q‖²_F / ‖G‖²_F``: the share of ``G`` in the span of the orthonormal ``Q``.

    Parameters
    ----------
    G : array_like, shape (..., m, d) or (d,)
        Gradients; the last two axes are one matrix (a 1-d ``G`` is one row).
    basis : array_like, shape (d, k)
        Orthonormal columns ``Q`` (:func:`top_eigenvectors`; any basis through
        :func:`~quadsim.calculus.projector` otherwise).

    Returns
    -------
    ndarray
        One fraction per matrix (NaN where ``G = 0``).
    """
    G = np.asarray(G, dtype=np.float64)
    Q = as_float_array(basis, "basis", ndim=2)
    if G.shape[-1] != Q.shape[0]:
        raise ValueError(f"`basis` must have {G.shape[-1]} rows, one per column of `G`; got "
                         f"shape {Q.shape}")
    rows = G[None, :] if G.ndim == 1 else G
    inside = np.sum((rows @ Q) ** 2, axis=(-2, -1))
    total = np.sum(rows**2, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(inside / total)


def _orthonormal_rows(M: np.ndarray, count: int | None = None) -> np.ndarray:
    """An orthonormal basis (d, r) of the row space of ``M`` (its top `count` if given)."""
    rows = M[None, :] if M.ndim == 1 else M
    _, singular, right = np.linalg.svd(rows, full_matrices=False)
    if singular.size == 0 or singular[0] == 0.0 or not np.isfinite(singular[0]):
        return np.empty((rows.shape[1], 0))
    rank = int(np.sum(singular > RANK_RTOL * max(rows.shape) * singular[0]))
    if count is not None:
        rank = min(rank, count)
    return right[:rank].T


def principal_angles(basis: object, G: object) -> np.ndarray:
    """Principal angles between the span of `basis` and the row space of ``G``, ascending.

    ``cos θ_i`` are the singular values of ``Qᵀ R`` for orthonormal bases ``Q`` of the
    span and ``R`` of the row space (the angles :func:`scipy.linalg.subspace_angles`
    returns, in the other order); ``min(k, rank G)`` of them.
    """
    Q = as_float_array(basis, "basis", ndim=2)
    R = _orthonormal_rows(np.asarray(G, dtype=np.float64))
    if R.shape[1] == 0:
        return np.empty(0)
    cosines = np.linalg.svd(Q.T @ R, compute_uv=False)
    return np.arccos(np.clip(cosines, -1.0, 1.0))


@dataclass(frozen=True, eq=False)
class GradientSubspace:
    """The gradient's share of a span along a run, simulated and in closed form.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The recorded steps (times for gradient flow).
    k : int
        The span's dimension.
    trajectory : Trajectory
        The simulated run.
    fraction : ndarray, shape (K,)
        ``‖G_t Q_k‖²/‖G_t‖²`` for the top-``k`` eigenvectors ``Q_k`` of ``A``, from the
        simulated iterates (NaN where ``G_t = 0``). Once ``‖G_t‖`` is down to the
        rounding of ``W_t A + B`` (about ``eps·‖A‖·‖W_t‖``, see :attr:`gradient_norm`)
        its direction is rounding noise, and only the closed form still has a fraction.
    gradient_norm : ndarray, shape (K,)
        ``‖G_t‖_F`` of the simulated run.
    fraction_theory : ndarray, shape (K,)
        The same from the per-axis closed form, ``Σ_{top k} a² ẽ² / Σ a² ẽ²``.
    angles : ndarray, shape (K, min(k, m))
        Principal angles (radians, ascending) between ``span Q_k`` and the row space of
        ``G_t``; NaN where that has fewer dimensions.
    update_fraction : ndarray, shape (K,)
        ``‖G_t D_k‖²/‖G_t‖²`` for the top-``k`` right singular vectors ``D_k`` of
        ``W_t − W_0`` (fewer if its rank is lower; NaN at ``W_t = W_0``).
    update_angles : ndarray, shape (K, min(k, m))
        Principal angles between ``span D_k`` and the row space of ``G_t``.
    """

    steps: np.ndarray = field(repr=False)
    k: int
    trajectory: Trajectory = field(repr=False)
    fraction: np.ndarray = field(repr=False)
    gradient_norm: np.ndarray = field(repr=False)
    fraction_theory: np.ndarray = field(repr=False)
    angles: np.ndarray = field(repr=False)
    update_fraction: np.ndarray = field(repr=False)
    update_angles: np.ndarray = field(repr=False)


def _gradient(problem: object, w: np.ndarray) -> np.ndarray:
    regression = getattr(problem, "regression", problem)
    if isinstance(regression, LinearRegression):
        return regression.grad(w)
    return as_quadratic(problem).grad(w)


def _padded(angles: np.ndarray, width: int) -> np.ndarray:
    out = np.full(width, np.nan)
    out[:min(width, angles.size)] = angles[:width]
    return out


def _axis_gradients(problem: object, method: object, w0: object,
                    steps: np.ndarray) -> np.ndarray:
    """Per-axis gradients ``g̃ = a ⊙ (u − u*)`` (``b̃`` on null axes), shape (K, rows, d)."""
    frame, start = method_frame(problem, method, w0)
    u0 = np.ascontiguousarray(frame.to_eigen(start))
    a, b = frame.eigenvalues, frame.b
    moving = a != 0.0
    if isinstance(method, GradientFlow):
        first, offset = offset_start(frame, u0)
        u = _flow_closed_form(frame, first, offset, steps)
        if offset:
            centre = u
        else:
            u_star = np.where(moving, -b / np.where(moving, a, 1.0), 0.0)
            centre = np.where(moving, u - u_star, u)
    else:
        assert isinstance(method, _TwoStepMethod)
        centre, _, _, _ = axis_moments(frame, method, np.zeros(frame.dim), u0, steps)
    with np.errstate(over="ignore", invalid="ignore"):
        g = np.where(moving, a * centre, b)
    rows = frame.rows if isinstance(frame, StackedFrame) else 1
    return g.reshape(steps.shape[0], rows, frame.dim // rows)


def gradient_subspace(problem: object, method: object, w0: object, steps: object, k: int,
                      *, basis: str = "raw") -> GradientSubspace:
    r"""How much of the gradient lies in the top-``k`` eigenspace of ``A``, step by step.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        Vector or matrix weights.
    method : GD, Momentum, Nesterov or GradientFlow
        Its frame must be the eigenbasis of ``A`` (not :class:`~quadsim.Preconditioned`),
        where the per-axis gradient is ``a_j ẽ_j``. A constant lr and no moving
        average: :func:`~quadsim.simulate` runs deterministic problems at ``lr``.
    w0 : array_like, shape (d,) or (m, d)
        Starting point.
    steps : int or array_like
        As in :func:`~quadsim.simulate`.
    k : int
        ``1 <= k <= d``.
    basis : {'raw', 'eigen'}
        The simulation's basis.

    Returns
    -------
    GradientSubspace
        ``fraction`` from the simulated ``G_t = ∇L(W_t)`` and ``fraction_theory`` from
        the closed form agree to rounding while ``G_t`` is not rounding-small; the
        principal angles and the update's span from the simulated iterates.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, Quadratic
    >>> from quadsim.subspaces import gradient_subspace
    >>> q = Quadratic(np.diag([0.1, 1.0]), b=[-0.1, -1.0])   # w* = (1, 1)
    >>> run = gradient_subspace(q, GD(0.5), [0.0, 0.0], [0, 1, 10], k=1)
    >>> np.round(run.fraction_theory, 3).tolist()   # the stiff axis converges first
    [0.99, 0.965, 0.0]
    """
    method = check_method(method)
    if isinstance(method, Preconditioned):
        raise TypeError("`method` must move along the eigenvectors of A (GD, Momentum, "
                        "Nesterov or GradientFlow); Preconditioned has its own axes")
    frame = _shared_frame(problem)
    k = as_span_size(k, frame.dim)
    run = simulate(problem, method, w0, steps, basis=basis)
    assert isinstance(run, Trajectory)
    top = frame.dense_basis[:, frame.dim - k:]
    gradients = _gradient(problem, run.w)
    if gradients.ndim == 2:  # vector weights: one row each
        gradients = gradients[:, None, :]
    fraction = gradient_fraction(gradients, top)
    axis_gradients = _axis_gradients(problem, method, w0, run.steps)
    inside = np.sum(axis_gradients[..., frame.dim - k:] ** 2, axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        theory = inside / np.sum(axis_gradients**2, axis=(1, 2))
    width = min(k, gradients.shape[1])
    K = run.steps.shape[0]
    angles = np.full((K, width), np.nan)
    update_fraction = np.full(K, np.nan)
    update_angles = np.full((K, width), np.nan)
    start = run.w[0]
    for t in range(K):
        G = gradients[t]
        if not np.all(np.isfinite(G)):
            continue
        angles[t] = _padded(principal_angles(top, G), width)
        moved = _orthonormal_rows(run.w[t] - start, k)
        if moved.shape[1] > 0:
            update_fraction[t] = gradient_fraction(G, moved)
            update_angles[t] = _padded(principal_angles(moved, G), width)
    norm = np.sqrt(np.sum(gradients**2, axis=(1, 2)))
    return GradientSubspace(run.steps, k, run, fraction, norm, theory, angles, update_fraction,
                            update_angles)
