r"""A linear recurrent network at its fixed point: loss, derivatives, GD and its Taylor model.

The recurrence ``h ← W h + w_in x`` with a constant input ``x`` settles, when the
spectral radius ``ρ(W) < 1``, to its fixed point

    h = (I − W)⁻¹ w_in x = F w_in x,        F = (I − W)⁻¹,

read out as ``ẑ = w_outᵀ h``. With ``w_in`` (d × p), ``w_out`` (d × q) and examples
``(x_s, z_s)``, ``H = F w_in Xᵀ`` (d × n) and residuals ``R = w_outᵀ H − Zᵀ`` (q × n),

    L(W) = (1/2n) ‖R‖²_F = ½ E_x ‖ẑ − z‖²        (the empirical expectation),
    ∇L(W) = Fᵀ w_out R Hᵀ / n,

because ``dF[U] = F U F``, so ``dH[U] = F U H`` and ``dL[U] = ⟨w_out R, F U H⟩ / n``. The
gradient has rank ``≤ min(p, q)`` (rank 1 for the seed's scalar input and output): every
GD step adds a low-rank matrix to ``W``. The Hessian-vector product is

    ∇²L(W)[U] = (Fᵀ Uᵀ G + Fᵀ w_out w_outᵀ F U H Hᵀ / n + G Uᵀ Fᵀ),        G = ∇L(W),

from differentiating ``Fᵀ``, ``R`` and ``Hᵀ`` in turn. Every evaluation factors ``I − W``
once (LU, ``O(d³)``) and checks ``ρ(W) < 1`` (eigenvalues, ``O(d³)``): beyond it the
recurrence does not reach the fixed point, and the loss refuses ``W`` with that reason.

:func:`train` runs GD in a plain loop while ``ρ(W_t) < 1`` and reports the step at which
it stops otherwise; :func:`recurrent_taylor` sets it beside the closed form of the
second-order Taylor model at ``W_0`` (:func:`quadsim.taylor.taylor_model`, a
:class:`~quadsim.Quadratic` in the ``d²`` entries of ``W``) and reports where they part.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from quadsim._validation import as_count, as_positive, as_step_indices
from quadsim.calculus import _array
from quadsim.problems import Quadratic
from quadsim.taylor import PARTING_TOLERANCE, TaylorComparison, compare_with_taylor, taylor_model

__all__ = ["LinearRecurrent", "RecurrentRun", "recurrent_task", "recurrent_taylor", "train"]


def _columns(value: object, name: str, rows: int | None = None) -> np.ndarray:
    """A finite (rows, k) matrix; a vector is one column."""
    array = _array(value, name)
    shape = array.shape
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"`{name}` must be a non-empty vector or matrix; got shape {shape}")
    if rows is not None and array.shape[0] != rows:
        raise ValueError(f"`{name}` must have {rows} rows; got shape {shape}")
    return array


def spectral_radius(W: np.ndarray) -> float:
    """``ρ(W) = max |λ_i(W)|`` (``O(d³)``)."""
    return float(np.max(np.abs(np.linalg.eigvals(W))))


@dataclass(frozen=True, eq=False)
class LinearRecurrent:
    r"""A linear recurrent network's loss at its fixed point, defined for ``ρ(W) < 1``.

    ``L(W) = (1/2n) ‖w_outᵀ (I − W)⁻¹ w_in Xᵀ − Zᵀ‖²_F`` (see the module's docstring for
    its gradient and Hessian-vector product).

    Parameters
    ----------
    w_in : array_like, shape (d,) or (d, p)
        Input weights (a vector for a scalar input).
    w_out : array_like, shape (d,) or (d, q)
        Readout weights (a vector for a scalar output).
    x : array_like, shape (n,) or (n, p)
        Inputs, one row per example.
    z : array_like, shape (n,) or (n, q)
        Targets.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim.calculus import check_grad
    >>> from quadsim.recurrent import LinearRecurrent
    >>> rng = np.random.default_rng(0)
    >>> net = LinearRecurrent(rng.normal(size=5) / 3, rng.normal(size=5) / 3,
    ...                       rng.normal(size=50), rng.normal(size=50))
    >>> W = 0.4 * rng.normal(size=(5, 5)) / np.sqrt(5)
    >>> check_grad(net.value, net.grad, W).error < 1e-8
    True
    >>> net.value(2 * np.eye(5))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: `W` has spectral radius 2 >= 1: the recurrence h ← W h + w_in x does not ...
    """

    w_in: np.ndarray = field(repr=False)
    w_out: np.ndarray = field(repr=False)
    x: np.ndarray = field(repr=False)
    z: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        w_in = _columns(self.w_in, "w_in")
        d = w_in.shape[0]
        w_out = _columns(self.w_out, "w_out", d)
        x = _columns(self.x, "x")
        if x.shape[1] != w_in.shape[1]:
            raise ValueError(f"`x` must have {w_in.shape[1]} columns, one per column of "
                             f"`w_in`; got shape {np.shape(self.x)}")
        z = _columns(self.z, "z", x.shape[0])
        if z.shape[1] != w_out.shape[1]:
            raise ValueError(f"`z` must have {w_out.shape[1]} columns, one per column of "
                             f"`w_out`; got shape {np.shape(self.z)}")
        for name, value in (("w_in", w_in), ("w_out", w_out), ("x", x), ("z", z)):
            object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return (f"LinearRecurrent(d={self.dim}, inputs={self.w_in.shape[1]}, "
                f"outputs={self.w_out.shape[1]}, n={self.n_samples})")

    @property
    def dim(self) -> int:
        """``d``, the number of units: ``W`` is d × d."""
        return int(self.w_in.shape[0])

    @property
    def n_samples(self) -> int:
        """``n``."""
        return int(self.x.shape[0])

    def _check(self, W: object, name: str = "W") -> np.ndarray:
        W = _array(W, name)
        if W.shape != (self.dim, self.dim):
            raise ValueError(f"`{name}` must have shape ({self.dim}, {self.dim}); got "
                             f"{W.shape}")
        return W

    def _state(self, W: object) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray, np.ndarray]:
        """``(LU of I − W, H, R)``, refusing ``ρ(W) >= 1``."""
        W = self._check(W)
        radius = spectral_radius(W)
        if radius >= 1.0:
            raise ValueError(f"`W` has spectral radius {radius:.4g} >= 1: the recurrence "
                             "h ← W h + w_in x does not settle to its fixed point "
                             "h = (I − W)⁻¹ w_in x, where the loss is defined")
        lu = scipy.linalg.lu_factor(np.eye(self.dim) - W)
        H = scipy.linalg.lu_solve(lu, self.w_in @ self.x.T)
        return lu, H, self.w_out.T @ H - self.z.T

    def fixed_point(self, W: object) -> np.ndarray:
        """``h_s = (I − W)⁻¹ w_in x_s`` for every example, shape (n, d)."""
        return self._state(W)[1].T

    def gain(self, W: object) -> np.ndarray:
        """``w_outᵀ (I − W)⁻¹ w_in`` (q × p): the map from ``x`` to ``ẑ``.

        ``L`` depends on ``W`` only through it.
        """
        lu = self._state(W)[0]
        return self.w_out.T @ scipy.linalg.lu_solve(lu, self.w_in)

    def value(self, W: object) -> float:
        """``L(W) = (1/2n) ‖R‖²_F``."""
        R = self._state(W)[2]
        return 0.5 * float(np.sum(R * R)) / self.n_samples

    def grad(self, W: object) -> np.ndarray:
        """``∇L(W) = (I − W)⁻ᵀ w_out R Hᵀ / n``, shape (d, d), rank ``≤ min(p, q)``."""
        lu, H, R = self._state(W)
        return scipy.linalg.lu_solve(lu, self.w_out @ R, trans=1) @ H.T / self.n_samples

    def hvp(self, W: object, U: object) -> np.ndarray:
        """The exact ``∇²L(W)[U] = Fᵀ Uᵀ G + Fᵀ w_out w_outᵀ F U H Hᵀ / n + G Uᵀ Fᵀ``."""
        lu, H, R = self._state(W)
        U = self._check(U, "U")
        n = self.n_samples
        back = scipy.linalg.lu_solve(lu, self.w_out, trans=1)  # Fᵀ w_out
        G = back @ (R @ H.T) / n
        first = scipy.linalg.lu_solve(lu, U.T @ G, trans=1)
        second = back @ ((self.w_out.T @ scipy.linalg.lu_solve(lu, U @ H)) @ H.T) / n
        third = scipy.linalg.lu_solve(lu, U @ G.T).T
        return first + second + third


@dataclass(frozen=True, eq=False)
class RecurrentRun:
    """GD on a :class:`LinearRecurrent` loss, recorded while ``ρ(W_t) < 1``.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The requested steps.
    w : ndarray, shape (K, d, d)
        ``W_t`` (NaN from :attr:`stopped_at` on).
    loss : ndarray, shape (K,)
        ``L(W_t)`` (NaN from :attr:`stopped_at` on).
    radius : ndarray, shape (K,)
        ``ρ(W_t)`` (NaN after :attr:`stopped_at`; at it, the offending radius if recorded).
    lr : float
    stopped_at : int or None
        The first step with ``ρ(W_t) >= 1``, where the loss is no longer defined.
    reason : str or None
        Why the run stopped.
    """

    steps: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    radius: np.ndarray = field(repr=False)
    lr: float
    stopped_at: int | None
    reason: str | None


def train(net: LinearRecurrent, W0: object, lr: float, steps: object) -> RecurrentRun:
    r"""GD, ``W_{t+1} = W_t − lr·∇L(W_t)``, in a plain loop while ``ρ(W_t) < 1``.

    Each step computes ``ρ(W_t)`` (``O(d³)``); the first ``W_t`` with ``ρ >= 1`` ends the run
    with :attr:`RecurrentRun.stopped_at` and the reason (divergence of the recurrence is a
    result, as in :func:`~quadsim.simulate`).

    Parameters
    ----------
    net : LinearRecurrent
    W0 : array_like, shape (d, d)
        With ``ρ(W0) < 1``; otherwise the run is refused with a ValueError that says so.
    lr : float
        ``> 0``.
    steps : int or array_like
        An int ``T`` records ``0..T``; an array, the increasing steps to record.

    Returns
    -------
    RecurrentRun
    """
    if not isinstance(net, LinearRecurrent):
        raise TypeError(f"`net` must be a LinearRecurrent; got {type(net).__name__}")
    W = net._check(W0, "W0").copy()
    start_radius = spectral_radius(W)
    if start_radius >= 1.0:
        raise ValueError(f"`W0` has spectral radius {start_radius:.4g} >= 1: the recurrent "
                         "loss is defined only for ρ(W) < 1 (scale W0 down)")
    lr = as_positive(lr, "lr")
    indices = as_step_indices(steps)
    K, d = indices.shape[0], net.dim
    records = np.full((K, d, d), np.nan)
    loss, radii = np.full(K, np.nan), np.full(K, np.nan)
    stopped, reason = None, None
    slot = 0
    for t in range(int(indices[-1]) + 1):
        radius = spectral_radius(W)
        if radius >= 1.0:
            stopped = t
            reason = (f"ρ(W_{t}) = {radius:.4g} >= 1 at step {t}: the fixed point "
                      f"(I − W)⁻¹ w_in x is no longer the recurrence's limit")
            if indices[slot] == t:
                radii[slot] = radius
            break
        if indices[slot] == t:
            records[slot], loss[slot], radii[slot] = W, net.value(W), radius
            slot += 1
        if slot == K:
            break
        W = W - lr * net.grad(W)
    return RecurrentRun(indices, records, loss, radii, lr, stopped, reason)


def recurrent_taylor(net: LinearRecurrent, W0: object, lr: float, steps: int, *,
                     model: Quadratic | None = None,
                     tolerance: float = PARTING_TOLERANCE) -> TaylorComparison:
    r"""GD on the recurrent loss against the closed form of its Taylor model at ``W_0``.

    The model ``Q(W) = L(W_0) + ⟨G_0, W − W_0⟩ + ½ ∇²L(W_0)[W − W_0, W − W_0]`` is a
    :class:`~quadsim.Quadratic` in the ``d²`` entries of ``W``
    (:func:`~quadsim.taylor.taylor_model` with the exact :meth:`LinearRecurrent.hvp`, ``d²``
    products); its
    :func:`~quadsim.closed_form` predicts the whole GD run, and
    :func:`~quadsim.taylor.compare_with_taylor` reports the first step where prediction
    and training part (deviation beyond `tolerance` of the distance travelled). Forming
    the model costs ``d²`` HVPs (``O(d⁵)``) and its eigendecomposition ``O(d⁶)``: meant for
    ``d`` up to a few tens.

    Parameters
    ----------
    net : LinearRecurrent
    W0 : array_like, shape (d, d)
        With ``ρ(W0) < 1``.
    lr : float
    steps : int
        ``T``: steps ``0..T``.
    model : Quadratic, optional
        The Taylor model at ``W0``, when it is at hand (several lrs share it).
    tolerance : float, optional
        As in :func:`~quadsim.taylor.compare_with_taylor`.

    Raises
    ------
    ValueError
        If GD leaves ``ρ(W) < 1`` within `steps` (the message gives the step: compare
        over fewer steps, or lower lr).
    """
    run = train(net, W0, lr, steps)
    if run.stopped_at is not None:
        raise ValueError(f"GD leaves the region ρ(W) < 1 at step {run.stopped_at} "
                         f"({run.reason}); compare over fewer `steps` or lower `lr`")
    W0 = net._check(W0, "W0")
    if model is None:
        model = taylor_model(net.value, net.grad, W0, hvp=net.hvp)
    return compare_with_taylor(net.value, net.grad, W0, lr, steps, model=model,
                               tolerance=tolerance)


def recurrent_task(d: int, gains: object, *, n: int = 200, rng: object = None
                   ) -> LinearRecurrent:
    r"""A recurrent network asked to realise chosen gains ``ẑ = C x``.

    ``w_in`` (d × p) and ``w_out`` (d × q) have random orthonormal columns, ``x_s ~ N(0, I_p)``
    and ``z_s = C x_s`` for the q × p matrix ``C`` = `gains`. At ``W = 0`` the network's gain
    is ``w_outᵀ w_in``, of order ``1/√d``; gains of order 1 and more need ``(I − W)⁻¹`` large
    from ``w_in`` to ``w_out``: eigenvalues of ``W`` near 1.
    """
    d = as_count(d, "d")
    C = np.atleast_2d(_array(gains, "gains"))
    if C.ndim != 2:
        raise ValueError(f"`gains` must be a (q, p) matrix; got shape {C.shape}")
    q, p = C.shape
    if d < max(p, q):
        raise ValueError(f"`d` must be at least the number of inputs and outputs, "
                         f"{max(p, q)}; got {d}")
    n = as_count(n, "n")
    generator = np.random.default_rng(rng)  # type: ignore[arg-type]
    w_in = np.linalg.qr(generator.normal(size=(d, p)))[0]
    w_out = np.linalg.qr(generator.normal(size=(d, q)))[0]
    x = generator.normal(size=(n, p))
    return LinearRecurrent(w_in, w_out, x, x @ C.T)

