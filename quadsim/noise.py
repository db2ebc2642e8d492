"""Gradient-noise models: a problem plus how its gradient is sampled.

- :class:`NoisyQuadratic`: ``g = ∇J(w) + ξ`` with ``ξ ~ N(0, C/B)``, the noisy quadratic
  model (NQM) of Zhang et al. (2019), where ``C = A`` by default;
- :class:`Minibatch`: minibatch gradients of a :class:`~quadsim.LinearRegression`;
- :class:`OnlineRegression`: online SGD on fresh Gaussian samples ``x ~ N(0, Σ)``,
  ``y = xᵀw* + ε``, whose gradient noise is multiplicative (it grows with the loss).

A noise model exposes ``.quadratic``, the objective ``J`` whose loss is recorded, so the
deterministic tools accept it too: ``closed_form(model, ...)`` is the mean trajectory.
``simulate(model, ..., runs=R)`` samples an ensemble and ``moments(model, ...)`` gives
its exact mean and expected loss. Each model knows how its noise looks in a method's
coordinates (:meth:`NoisyQuadratic.factor`, :meth:`Minibatch.design`,
:meth:`OnlineRegression.factor`), so the raw basis
and the eigenbasis consume the same random numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Self

import numpy as np

from quadsim._validation import (
    as_batch_size,
    as_float_array,
    as_non_negative,
    as_symmetric_matrix,
    as_vector,
)
from quadsim.problems import (
    DENSE_DIAGONAL_LIMIT,
    LinearRegression,
    Quadratic,
    SpectralFrame,
    as_quadratic,
)

__all__ = ["Minibatch", "NoiseModel", "NoisyQuadratic", "OnlineRegression", "as_noise_model"]

#: Relative size ``|min eig| / max eig`` of negative eigenvalues of a covariance that are
#: taken as rounding (and clipped to 0) rather than rejected.
PSD_RTOL = 1e-12


class _BatchedModel:
    """What every noise model shares: its objective, a batch size and a copy with another.

    ``quadratic`` is the objective ``J`` whose loss runs record (for
    :class:`OnlineRegression` the population risk), kept in ``_quadratic``.
    """

    batch_size: int

    @property
    def quadratic(self) -> Quadratic:
        """The objective ``J`` (its loss is what runs record)."""
        return self._quadratic  # type: ignore[attr-defined]

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return self.quadratic.dim

    def with_batch_size(self, batch_size: int) -> Self:
        """The same model with another batch size."""
        return replace(self, batch_size=batch_size)  # type: ignore[type-var]


@dataclass(frozen=True, eq=False)
class NoisyQuadratic(_BatchedModel):
    r"""The noisy quadratic model: gradients ``g = A w + b + ξ``, ``ξ ~ N(0, C/B)``.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        The objective ``J``; a diagonal :class:`~quadsim.Quadratic` (given by its
        spectrum) runs at any d without a d×d matrix.
    noise : None, array_like of shape (d,) or (d, d)
        The per-example gradient covariance ``C``. None means the NQM's ``C = A`` (``A``
        must then be positive semi-definite). A vector gives the variances ``c_j`` along
        the eigenvectors of ``A`` (``C = Q diag(c) Qᵀ``, ``c`` in the order of
        ``problem.eigenvalues``); for a diagonal problem it is the diagonal of ``C`` in
        the problem's own coordinates. A matrix is any symmetric PSD ``C``.
    batch_size : int
        ``B``: the noise covariance is ``C/B``.

    Notes
    -----
    In coordinates ``w = S u`` of a method's frame each axis sees noise of variance
    ``(SᵀCS)_jj / B`` (:meth:`axis_variances`). When ``C`` shares ``A``'s eigenbasis the
    axes are independent (the NQM's own case) and the variance of the loss is known too.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, NoisyQuadratic, Quadratic, moments
    >>> nqm = NoisyQuadratic(Quadratic(1.0 / np.arange(1, 101)), batch_size=4)
    >>> exact = moments(nqm, GD(0.5), np.ones(100), [0, 10**9])
    >>> round(float(exact.loss[-1]), 6)   # Σ_j α c_j / (2B(2 − α h_j))
    0.177923
    """

    problem: object = field(repr=False)
    noise: object = field(default=None, repr=False)
    batch_size: int = 1

    def __post_init__(self) -> None:
        quadratic = as_quadratic(self.problem)
        object.__setattr__(self, "batch_size", as_batch_size(self.batch_size))
        d = quadratic.dim
        if self.noise is None:
            a = quadratic.eigenvalues
            if a[0] < 0.0:
                raise ValueError("`noise=None` means C = A, which must be positive "
                                 f"semi-definite; the smallest eigenvalue of A is {a[0]:.3e}")
            noise = None
        elif np.ndim(self.noise) == 1:  # type: ignore[arg-type]
            noise = as_vector(self.noise, "noise", d)
            if np.any(noise < 0.0):
                raise ValueError("`noise` variances must be >= 0; the smallest is "
                                 f"{noise.min():.3e}")
        else:
            noise = as_float_array(self.noise, "noise", ndim=2)
            if noise.shape != (d, d):
                raise ValueError(f"`noise` must have shape ({d},), ({d}, {d}) or be None; "
                                 f"got shape {noise.shape}")
            if float(np.max(np.abs(noise - noise.T))) > 1e-10 * max(np.max(np.abs(noise)),
                                                                     1e-300):
                raise ValueError("`noise` covariance must be symmetric; max |C - C.T| = "
                                 f"{np.max(np.abs(noise - noise.T)):.2e}")
            noise = 0.5 * (noise + noise.T)
            smallest, largest = np.linalg.eigvalsh(noise)[[0, -1]]
            if smallest < -PSD_RTOL * max(largest, 0.0):
                raise ValueError("`noise` covariance must be positive semi-definite; its "
                                 f"smallest eigenvalue is {smallest:.3e}")
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "_quadratic", quadratic)

    def _shares_eigenbasis(self, frame: SpectralFrame) -> bool:
        """Whether ``C`` is diagonal in `frame` by construction (not by rounding)."""
        if isinstance(self.noise, np.ndarray) and self.noise.ndim == 2:
            return False
        return frame is self.quadratic.frame or (frame.is_diagonal
                                                 and self.quadratic.is_diagonal)

    def _variances_in_problem_frame(self) -> np.ndarray:
        """``c_j`` along the axes of the problem's own frame."""
        if self.noise is None:
            return np.maximum(self.quadratic.eigenvalues, 0.0)
        noise = np.asarray(self.noise)
        if self.quadratic.is_diagonal:
            frame = self.quadratic.frame
            return noise[frame.axes]
        return noise

    @cached_property
    def _raw_factor(self) -> np.ndarray:
        """``F`` with ``F Fᵀ = C`` in the problem's coordinates.

        A (d, d) matrix, or a (d,) vector of per-coordinate scales when ``C`` is
        diagonal there.
        """
        if isinstance(self.noise, np.ndarray) and self.noise.ndim == 2:
            variances, vectors = np.linalg.eigh(self.noise)
            return vectors * np.sqrt(np.maximum(variances, 0.0))
        frame = self.quadratic.frame
        scales = np.sqrt(self._variances_in_problem_frame())
        if self.quadratic.is_diagonal:
            return frame.from_eigen(scales)  # back to coordinate order
        return frame.dense_basis * scales

    def factor(self, frame: SpectralFrame | None) -> np.ndarray:
        """The noise factor a kernel applies to standard normals ``z``, per unit batch.

        Returns ``Fᵀ`` as a (d, d) array (noise ``F z``) or the per-axis scales as a
        (d, 1) column (noise ``f ⊙ z``): in the raw coordinates when `frame` is None,
        else ``F̃ = SᵀF`` in the frame ``w = S u``. The same ``z`` gives the same ``ξ``.

        A diagonal problem's axis ``j`` is coordinate ``axes[j]`` of its own frame, and
        takes ``z_j`` in both bases: the eigenbasis keeps its cheap column, and the raw
        basis (dense anyway, at most :data:`~quadsim.problems.DENSE_DIAGONAL_LIMIT`)
        pairs by a permutation, as does a preconditioned frame that orders the axes
        differently.
        """
        raw = self._raw_factor
        if frame is None:
            if raw.ndim == 2:
                return np.ascontiguousarray(raw.T)
            return self._paired(raw, None)
        if self._shares_eigenbasis(frame):
            if not self.quadratic.is_diagonal:
                return np.sqrt(self._variances_in_problem_frame())[:, None].copy()
            # A diagonal problem in a diagonal (preconditioned) frame: F̃ = S F per axis.
            axes, scale = frame.axes, frame.scale
            assert axes is not None and scale is not None
            return self._paired(scale * raw[axes], axes)
        dense = raw if raw.ndim == 2 else np.diag(raw)
        return np.ascontiguousarray(frame.basis_transpose_times(dense).T)

    def _paired(self, scales: np.ndarray, axes: np.ndarray | None) -> np.ndarray:
        """``Fᵀ`` for a diagonal problem: entry ``i`` gets the noise ``scales[i]·z_k``.

        Entry ``i`` is coordinate ``axes[i]`` (coordinate ``i`` when `axes` is None, the
        raw basis), and ``k`` is that coordinate's axis in the problem's own frame. A
        (d, 1) column where ``k = i`` throughout, else a (d, d) permutation; above
        DENSE_DIAGONAL_LIMIT, where there is no raw basis to agree with, the column.
        """
        d = scales.shape[0]
        own = self.quadratic.frame.axes
        assert own is not None
        rank = np.empty(d, dtype=np.int64)
        rank[own] = np.arange(d)
        k = rank if axes is None else rank[axes]
        if d > DENSE_DIAGONAL_LIMIT or np.array_equal(k, np.arange(d)):
            return np.ascontiguousarray(scales[:, None])
        paired = np.zeros((d, d))
        paired[k, np.arange(d)] = scales
        return paired

    def axis_variances(self, frame: SpectralFrame) -> np.ndarray:
        """Per-axis gradient-noise variance ``(SᵀCS)_jj / B`` in `frame`."""
        scales = self.factor(frame)
        if scales.shape[1] == 1:
            return scales[:, 0] ** 2 / self.batch_size
        return np.sum(scales**2, axis=0) / self.batch_size

    def independent_axes(self, frame: SpectralFrame) -> bool:
        """Whether the noise is uncorrelated across the axes of `frame`."""
        return self._shares_eigenbasis(frame)


@dataclass(frozen=True, eq=False)
class Minibatch(_BatchedModel):
    r"""Minibatch gradients of a linear regression.

    ``g = (1/B) Σ_{i∈S} x_i (x_iᵀ w − y_i) + l2·w`` over a batch ``S`` of ``B`` rows.

    With matrix targets ``Y`` (n, m) the weights are ``W`` (m, d) and the batch gradient
    is ``G = (1/B) Σ_{i∈S} δ_i x_iᵀ + l2·W`` with the residuals ``δ_i = W x_i − y_i``:
    one batch for every row of ``W``, as in a network's training step. Each row on its
    own is then minibatch SGD on its column of ``Y``, so ``E[J]`` is the sum of the
    rows' expected losses (:func:`~quadsim.moments` sums them).

    Parameters
    ----------
    regression : LinearRegression
        The data and the ridge coefficient; the recorded loss is its full training loss.
    batch_size : int
        ``B``.
    replace : bool
        True: ``B`` indices i.i.d. uniform. False: each step an independent uniform
        subset of ``B`` distinct examples (``B <= n``).
    reshuffle : bool
        Epoch-wise random reshuffling, the way networks are trained: each epoch a fresh
        permutation cut into ``⌊n/B⌋`` batches (the remainder dropped); needs
        ``replace=False``. Its steps are dependent within an epoch, so it has no exact
        moment recursion here: Monte Carlo only.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, LinearRegression, Minibatch, moments, simulate
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(32, 4))
    >>> data = Minibatch(LinearRegression(X, X @ np.ones(4) + rng.normal(size=32)), 4)
    >>> runs = simulate(data, GD(0.05), np.zeros(4), 200, runs=64, rng=1)
    >>> runs.w.shape
    (64, 201, 4)
    >>> exact = moments(data, GD(0.05), np.zeros(4), 200)
    >>> bool(abs(runs.mean_loss()[-1] - exact.loss[-1]) < 4 * runs.loss_stderr()[-1])
    True
    """

    regression: LinearRegression = field(repr=False)
    batch_size: int = 1
    replace: bool = True
    reshuffle: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.regression, LinearRegression):
            raise TypeError("`regression` must be a LinearRegression; got "
                            f"{type(self.regression).__name__}")
        size = as_batch_size(self.batch_size)
        n = self.regression.n_samples
        if not isinstance(self.replace, bool) or not isinstance(self.reshuffle, bool):
            raise TypeError("`replace` and `reshuffle` must be bools")
        if not self.replace and size > n:
            raise ValueError(f"`batch_size` must be <= n = {n} when sampling without "
                             f"replacement; got {size}")
        if self.reshuffle and self.replace:
            raise ValueError("`reshuffle=True` samples without replacement within each "
                             "epoch; pass replace=False")
        if n >= 2**32:
            raise ValueError(f"at most 2**32 - 1 examples can be sampled; got n = {n}")
        object.__setattr__(self, "batch_size", size)

    @property
    def quadratic(self) -> Quadratic:
        """The full training objective ``J``."""
        return self.regression.quadratic

    @property
    def dim(self) -> int:
        """Dimension ``d``."""
        return self.regression.dim

    @property
    def sampling(self) -> int:
        """The kernels' code: 0 with replacement, 1 without, 2 epoch reshuffling."""
        return 2 if self.reshuffle else (0 if self.replace else 1)

    @property
    def noise_scale(self) -> float:
        """Factor of the per-example covariance in the batch gradient's covariance.

        ``1/B`` with replacement; ``(n − B)/(B(n − 1))`` without (the finite-population
        correction: 0 at ``B = n``, where the batch gradient is exact).
        """
        n, B = self.regression.n_samples, self.batch_size
        if self.replace:
            return 1.0 / B
        return (n - B) / (B * (n - 1)) if n > 1 else 0.0

    def design(self, frame: SpectralFrame | None) -> tuple[np.ndarray, np.ndarray | None]:
        """``X S`` and the metric ``SᵀS`` of the ridge term in the frame ``w = S u``.

        In the raw coordinates (`frame` None) this is ``X`` and None (the identity); the
        metric is None whenever ``S`` is orthonormal or ``l2 = 0``.
        """
        X = self.regression.X
        if frame is None:
            return X, None
        rows = np.ascontiguousarray(frame.basis_transpose_times(X.T).T)
        own = self.regression.frame  # for matrix targets, the axes every row shares
        if frame is getattr(own, "base", None) or frame is own or self.regression.l2 == 0.0:
            return rows, None
        basis = frame.dense_basis
        return rows, np.ascontiguousarray(basis.T @ basis)


@dataclass(frozen=True, eq=False)
class OnlineRegression(_BatchedModel):
    r"""Online SGD on linear regression with fresh Gaussian samples every step.

    Each step draws ``B`` new examples ``x_i ~ N(0, Σ)``, ``y_i = x_iᵀw* + ε_i`` with
    ``ε_i ~ N(0, σ²)``, and the gradient is ``g = (1/B) Σ_i x_i (x_iᵀ w − y_i)``. Its
    mean is the gradient of the population risk

        ``J(w) = ½ E[(xᵀw − y)²] = ½ (w − w*)ᵀ Σ (w − w*) + ½ σ²``,

    the :attr:`quadratic` that runs record; its covariance, by the Gaussian fourth moment
    ``E[x xᵀ M x xᵀ] = 2ΣMΣ + tr(ΣM) Σ``, is
    ``(1/B) [Σ e eᵀ Σ + (eᵀΣe + σ²) Σ]`` at ``e = w − w*``: it grows with the loss.

    Parameters
    ----------
    covariance : array_like, shape (d, d) or (d,)
        ``Σ``, symmetric positive semi-definite; a vector is a diagonal ``Σ`` (no d×d
        matrix is formed, as for a diagonal :class:`~quadsim.Quadratic`).
    teacher : array_like, shape (d,)
        ``w*``.
    noise : float
        The label-noise variance ``σ² >= 0``.
    batch_size : int
        ``B``.

    Notes
    -----
    In the frame of a method (``w = S u``, where ``SᵀΣS = diag(a)``) the sampled features
    ``Sᵀx`` have independent coordinates of variances ``a_j``, so the diagonal second
    moments of the iterate close exactly: :func:`~quadsim.moments` iterates them
    step by step, O(d) a step, coupled only through ``tr(ΣM) = Σ_j a_j E[e_j²]``.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, OnlineRegression, moments
    >>> stream = OnlineRegression(np.ones(10), np.zeros(10), noise=1.0, batch_size=1)
    >>> exact = moments(stream, GD(0.1), np.zeros(10), [10**4])
    >>> s = 10 * 0.1 / (2 - 0.1 * 2)               # Σ_j lr a_j / (B (2 − lr a_j (1 + 1/B)))
    >>> bool(np.isclose(exact.loss[0] - 0.5, 0.5 * s / (1 - s), rtol=1e-12))
    True
    """

    covariance: np.ndarray = field(repr=False)
    teacher: np.ndarray = field(repr=False)
    noise: float = 0.0
    batch_size: int = 1

    def __post_init__(self) -> None:
        diagonal = np.ndim(self.covariance) == 1
        covariance = (as_vector(self.covariance, "covariance") if diagonal
                      else as_symmetric_matrix(self.covariance, "covariance"))
        d = covariance.shape[0]
        if d == 0:
            raise ValueError("`covariance` must not be empty; got shape (0,)")
        teacher = as_vector(self.teacher, "teacher", d)
        noise = as_non_negative(self.noise, "noise")
        quadratic = Quadratic(covariance, -(covariance @ teacher if not diagonal
                                            else covariance * teacher))
        a = quadratic.eigenvalues
        if a[0] < -PSD_RTOL * max(a[-1], 0.0):
            raise ValueError("`covariance` must be positive semi-definite; its smallest "
                             f"eigenvalue is {a[0]:.3e}")
        c = 0.5 * float(teacher @ (-quadratic.b)) + 0.5 * noise
        object.__setattr__(self, "covariance", covariance)
        object.__setattr__(self, "teacher", teacher)
        object.__setattr__(self, "noise", noise)
        object.__setattr__(self, "batch_size", as_batch_size(self.batch_size))
        risk = Quadratic(quadratic.A, quadratic.b, c)
        # J* = σ²/2 exactly: the frame's own c − Σ b̃²/2a would cancel for a large teacher.
        risk.__dict__["frame"] = replace(risk.frame, optimum=0.5 * noise)
        object.__setattr__(self, "_quadratic", risk)

    def factor(self, frame: SpectralFrame | None) -> np.ndarray:
        """``Fᵀ`` with features ``x = F z``, ``z ~ N(0, I)``, in raw or frame coordinates.

        As :meth:`NoisyQuadratic.factor` for ``C = Σ``: a (d, d) array or per-axis
        scales as a (d, 1) column (``√a`` in the problem's own frame), the same ``z``
        giving the same example in every frame.
        """
        return self._features.factor(frame)

    @cached_property
    def _features(self) -> NoisyQuadratic:
        """The NQM whose noise covariance is ``Σ``: it knows ``Σ``'s factors per frame."""
        return NoisyQuadratic(self.quadratic)


NoiseModel = NoisyQuadratic | Minibatch | OnlineRegression


def nqm_spectrum(dim: int = 10_000, bins: int | None = None) -> np.ndarray:
    """The noisy quadratic model's curvatures ``h_i = 1/i``, ``i = 1..dim``.

    Parameters
    ----------
    dim : int
        ``d`` (the NQM paper: 10⁴).
    bins : int, optional
        Round each ``h_i`` down to the nearest of `bins` geometric edges from 1 to
        ``1/dim``, as the NQM paper's figures do (100 bins at ``d = 10⁴``: 84 distinct
        values, and ``J(w_0) = 4.7025`` from ``w_0 = 1`` instead of 4.8938).

    Examples
    --------
    >>> from quadsim.noise import nqm_spectrum
    >>> round(0.5 * float(nqm_spectrum(bins=100).sum()), 4)
    4.7025
    """
    d = as_batch_size(dim, "dim")
    h = 1.0 / np.arange(1, d + 1)
    if bins is None:
        return h
    edges = np.geomspace(1.0, 1.0 / d, as_batch_size(bins, "bins"))
    below = np.minimum(np.searchsorted(-edges, -h, side="left"), edges.size - 1)
    return edges[below]


def as_noise_model(problem: object) -> NoiseModel | None:
    """Return `problem` if it is a noise model, None if it is a deterministic problem."""
    models = (NoisyQuadratic, Minibatch, OnlineRegression)
    return problem if isinstance(problem, models) else None

