"""Derivatives through training: forward-mode tangents of a run, and their closed forms.

For a family ``J(w; θ)`` (:class:`~quadsim.families.AffineFamily`) the iterates of GD,
heavy ball or Nesterov are functions of θ, and of the optimizer's own ``lr`` and
``β``. Their tangents obey the run's own recurrence plus a source term (see
:mod:`quadsim.kernels.tangent`), so a Numba kernel carries them in the same pass, in
the raw basis or in the eigenbasis of ``A(θ)``. As ``t → ∞`` the θ-tangent of a
convergent run tends to the implicit-function-theorem Jacobian
``dw*/dθ = −A⁻¹ ∂²J/∂w∂θ``; started at ``w*`` it equals, after ``t`` steps, the
``t``-term Neumann approximation ``−lr Σ_{i<t} (I − lr A)^i ∂²J/∂w∂θ``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from quadsim._validation import as_choice, as_count, as_positive, as_step_indices, as_vector
from quadsim.families import AffineFamily
from quadsim.kernels.tangent import two_step_tangent
from quadsim.methods import GD, Momentum, Nesterov
from quadsim.problems import Quadratic, SpectralFrame, as_quadratic
from quadsim.results import Trajectory
from quadsim.theory import closed_form, companion_sequences, lucas_trace_derivative


@dataclass(frozen=True, eq=False)
class TangentTrajectory(Trajectory):
    """A :class:`~quadsim.results.Trajectory` with the derivatives of its iterates.

    Attributes
    ----------
    tangent : ndarray, shape (K, d, q)
        ``dw_t/dθ`` at each recorded step; column ``k`` is the derivative with respect
        to parameter ``names[k]``.
    names : tuple of str
        What each column differentiates by (``'theta[k]'``, ``'lr'``, ``'beta'``).
    """

    tangent: np.ndarray = field(default=None, repr=False, kw_only=True)  # type: ignore[arg-type]
    names: tuple[str, ...] = field(default=(), kw_only=True)

    def loss_derivative(self, problem: object) -> np.ndarray:
        """``dJ(w_t)/dθ = ∇J(w_t)ᵀ dw_t/dθ`` through the iterates, shape (K, q).

        `problem` is the objective ``J`` (held fixed); for the ``lr`` and ``β`` columns
        this is the whole derivative of the loss curve.
        """
        quadratic = as_quadratic(problem)
        return np.einsum("kd,kdq->kq", quadratic.grad(self.w), self.tangent)


def _check_method(method: object) -> GD | Momentum | Nesterov:
    if type(method) not in (GD, Momentum, Nesterov):
        raise TypeError("`method` must be GD, Momentum or Nesterov to differentiate "
                        f"through; got {type(method).__name__}")
    if method.schedule is not None or method.ema is not None:  # type: ignore[attr-defined]
        raise ValueError("derivatives through training take a constant lr and no moving "
                         "average; drop `schedule` and `ema` from the method")
    return method  # type: ignore[return-value]


def _run(quadratic: Quadratic, frame: SpectralFrame | None,
         params: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
         method: GD | Momentum | Nesterov, w0: np.ndarray, steps: np.ndarray,
         hyper_columns: int, names: tuple[str, ...]) -> TangentTrajectory:
    """Call the tangent kernel in the raw basis (``frame`` None) or in ``frame``."""
    isotropic, L, R, r = params
    if frame is None:
        curvature = quadratic.A[:, None].copy() if quadratic.is_diagonal else quadratic.A
        b, start = quadratic.b, w0
    else:
        curvature, b = frame.eigenvalues[:, None].copy(), frame.b
        start = np.ascontiguousarray(frame.to_eigen(w0))
        # The frame of A is orthonormal: basisᵀ = inverse_basis.
        L = np.ascontiguousarray(frame.basis_transpose_times(L))
        R = np.ascontiguousarray(frame.to_eigen(R))
    K, d = steps.shape[0], quadratic.dim
    w, loss = np.empty((K, d)), np.empty(K)
    tangent = np.empty((K, d, isotropic.shape[0] + hyper_columns))
    slope = 1.0 if isinstance(method, Nesterov) else 0.0
    diverged = two_step_tangent(curvature, b, quadratic.c, isotropic, L, R, r, method.lr,
                                method.momentum, method.lookahead, slope, hyper_columns,
                                start, steps, w, loss, tangent)
    if frame is not None:
        w = frame.from_eigen(w)
        tangent = np.moveaxis(frame.from_eigen(np.moveaxis(tangent, 1, 2)), 2, 1)
    return TangentTrajectory(steps, w, loss, None if diverged < 0 else int(diverged),
                             tangent=tangent, names=names)


def simulate_tangents(family: AffineFamily, theta: object, method: object, w0: object,
                      steps: object, *, basis: str = "raw") -> TangentTrajectory:
    """Run `method` on ``J(·; θ)`` and carry ``dw_t/dθ`` forward in the same pass.

    The tangent obeys ``Ẏ_t = Ẇ_t + γ(Ẇ_t − Ẇ_{t−1})``,
    ``Ẇ_{t+1} = Ẇ_t + β(Ẇ_t − Ẇ_{t−1}) − lr (A(θ) Ẏ_t + ∂²J/∂w∂θ(y_t))`` from
    ``Ẇ_0 = 0`` (``w0`` does not depend on θ). One step costs about ``p + 1`` GD steps.

    Parameters
    ----------
    family : AffineFamily
    theta : array_like, shape (p,)
    method : GD, Momentum or Nesterov
    w0 : array_like, shape (d,)
    steps : int or array_like
        As in :func:`~quadsim.simulate`.
    basis : {'raw', 'eigen'}
        ``'raw'``: dense updates, O(d²p) a step; ``'eigen'``: in the eigenbasis of
        ``A(θ)``, O(dp) a step.

    Returns
    -------
    TangentTrajectory
        ``tangent[k]`` is ``dw_t/dθ`` (d × p) at ``t = steps[k]``.

    See Also
    --------
    closed_form_tangents : the same tangents for GD, solved per axis.
    quadsim.response.response_jacobian : their limit as ``t → ∞``.
    """
    if not isinstance(family, AffineFamily):
        raise TypeError(f"`family` must be an AffineFamily; got {type(family).__name__}")
    theta = family.check_theta(theta)
    method = _check_method(method)
    quadratic = family.quadratic(theta)
    w0 = as_vector(w0, "w0", quadratic.dim)
    basis = as_choice(basis, "basis", ("raw", "eigen"))
    frame = quadratic.frame if basis == "eigen" else None
    params = (family.isotropic, family.L, family.R, family.r)
    names = tuple(f"theta[{k}]" for k in range(family.n_params))
    indices = as_step_indices(steps, record_size=(quadratic.dim + 1) * (family.n_params + 1))
    return _run(quadratic, frame, params, method, w0, indices, 0, names)


def simulate_optimizer_tangents(problem: object, method: object, w0: object, steps: object,
                                *, basis: str = "raw") -> TangentTrajectory:
    """Run `method` and carry ``dw_t/dlr`` (and ``dw_t/dβ`` for momentum methods).

    The ``lr`` column obeys the run's tangent recurrence with source ``−∇J(y_t)``; the
    ``β`` column with source ``w_t − w_{t−1}`` (and, for Nesterov, whose look-ahead is
    ``γ = β``, ``A (w_t − w_{t−1})`` through ``y_t``).

    Returns
    -------
    TangentTrajectory
        ``names`` is ``('lr',)`` for GD and ``('lr', 'beta')`` otherwise;
        :meth:`TangentTrajectory.loss_derivative` gives ``dJ(w_t)/dlr`` and ``/dβ``.

    See Also
    --------
    closed_form_optimizer_tangents : the same derivatives, solved per axis.
    """
    quadratic = as_quadratic(problem)
    method = _check_method(method)
    w0 = as_vector(w0, "w0", quadratic.dim)
    basis = as_choice(basis, "basis", ("raw", "eigen"))
    frame = quadratic.frame if basis == "eigen" else None
    names = ("lr",) if isinstance(method, GD) else ("lr", "beta")
    no_family = (np.zeros(0), np.zeros((quadratic.dim, 0)), np.zeros((0, quadratic.dim)),
                 np.zeros(0))
    indices = as_step_indices(steps, record_size=(quadratic.dim + 1) * (len(names) + 1))
    return _run(quadratic, frame, no_family, method, w0, indices, len(names), names)


def _gd_axes(problem: Quadratic, method: object, w0: object, steps: object
             ) -> tuple[GD, SpectralFrame, np.ndarray, np.ndarray, np.ndarray]:
    if type(method) is not GD:
        raise TypeError(f"`method` must be GD for this closed form; got {type(method).__name__}")
    _check_method(method)
    frame = problem.frame
    w0 = as_vector(w0, "w0", problem.dim)
    indices = as_step_indices(steps, record_size=problem.dim + 1)
    return method, frame, frame.to_eigen(w0), indices.astype(np.float64), \
        method.lr * frame.eigenvalues


def closed_form_tangents(family: AffineFamily, theta: object, method: object, w0: object,
                         steps: object) -> np.ndarray:
    """``dw_t/dθ`` of GD solved per axis, shape (K, d, p).

    In the eigenbasis of ``A(θ)``, with ``r_j = 1 − lr·a_j``, ``e = u_0 − u*`` and the
    source ``S̃(u) = Qᵀ ∂²J/∂w∂θ(Qu)`` (affine in ``u``; linear part ``S̃_1``),

        U̇_t = −lr [ G_t(r) ⊙ S̃(u*) + Σ_i D_t(r_j, r_i) S̃_1(e_i e_i) ],

    where ``G_t(r) = Σ_{m<t} r^m`` and ``D_t(r_j, r_i) = Σ_{m<t} r_j^{t−1−m} r_i^m``
    is the Lucas sequence of the pair of roots ``(r_j, r_i)`` (``t r^{t−1}`` when they
    are equal), evaluated without cancellation by
    :func:`~quadsim.theory.companion_sequences`. O(d²p) per recorded step, whatever t.

    Raises
    ------
    ValueError
        If ``J(·; θ)`` has no stationary point (a drifting axis).
    """
    if not isinstance(family, AffineFamily):
        raise TypeError(f"`family` must be an AffineFamily; got {type(family).__name__}")
    theta = family.check_theta(theta)
    quadratic = family.quadratic(theta)
    method, frame, u0, t, h = _gd_axes(quadratic, method, w0, steps)
    u_star = frame.stationary_point
    if u_star is None:
        raise ValueError("closed-form tangents need a stationary point; J(·; θ) has a "
                         "drifting axis (a = 0 with b̃ ≠ 0)")
    Q = frame.dense_basis
    source_at_star = Q.T @ family.mixed_jacobian(Q @ u_star)  # (d, p)
    linear_isotropic = family.isotropic  # S̃_1(v) = v σᵀ + L̃ ⊙ (R̃ v)
    L_eigen, R_eigen = Q.T @ family.L, family.R @ Q
    excess = u0 - u_star
    d = frame.dim
    # Pairs of GD roots (r_j, r_i): a 2×2 companion with trace r_j + r_i, det r_j r_i,
    # gap (1 − r_j)(1 − r_i), 1 − det and far side (1 + r_j)(1 + r_i) from the h's.
    r = 1.0 - h
    hj, hi = h[:, None], h[None, :]
    pair_comp = np.stack([(r[:, None] + r[None, :]).ravel(), (r[:, None] * r[None, :]).ravel(),
                          (0.5 * (hi - hj).ravel()) ** 2, (hj * hi).ravel(),
                          (hj + hi - hj * hi).ravel(), ((2.0 - hj) * (2.0 - hi)).ravel()])
    pair_sums, _, _ = companion_sequences(pair_comp, t)
    pairs = pair_sums.reshape(t.shape[0], d, d)  # D_t(r_j, r_i)
    _, _, geometric = companion_sequences(method.companion(h), t)  # G_t(r)
    diagonal = np.einsum("kjj->kj", pairs)
    out = (geometric[:, :, None] * source_at_star
           + (diagonal * excess)[:, :, None] * linear_isotropic
           + L_eigen * np.einsum("kji,qi,i->kjq", pairs, R_eigen, excess))
    return -method.lr * np.einsum("ij,kjq->kiq", Q, out)


def closed_form_optimizer_tangents(problem: object, method: object, w0: object,
                                   steps: object) -> TangentTrajectory:
    """``dw_t/dlr`` (and ``dw_t/dβ``) of GD, heavy ball or Nesterov, solved per axis.

    Per axis ``u_t = (s_{t+1} − δ s_t) u_0 + f P_t`` (:mod:`quadsim.theory`), so with
    ``C_n = ∂s_n/∂τ`` (:func:`~quadsim.theory.lucas_trace_derivative`),
    ``∂s_n/∂δ = −C_{n−1}`` and the fixed point ``P_n = (1 − s_{n+1} + δ s_n)/h``,

        du_t = (ds_{t+1} − δ' s_t − δ ds_t) u_0 + f' P_t + f dP_t,
        ds_n = τ' C_n − δ' C_{n−1},
        dP_n = (τ' (P_n − C_{n+1} + δ C_n) + δ' (C_n + s_n − δ C_{n−1} − P_n)) / h,

    where ``'`` is the derivative of ``τ = 1 + β − h(1 + γ)``, ``δ = β − hγ`` and
    ``f = −lr·b̃`` (``h = lr·a``, ``γ = β`` for Nesterov, 0 otherwise). On a null axis
    (``h = 0``) ``P_n = (n − G)/(1 − β)`` with ``G = β(1 − β^n)/(1 − β)`` is
    differentiated directly. O(d) per recorded step, whatever t.

    Returns
    -------
    TangentTrajectory
        The closed-form run with ``tangent`` of shape (K, d, q): ``names`` is
        ``('lr',)`` for GD and ``('lr', 'beta')`` otherwise.

    See Also
    --------
    simulate_optimizer_tangents : the same derivatives carried through a simulated run.
    """
    quadratic = as_quadratic(problem)
    method = _check_method(method)
    w0 = as_vector(w0, "w0", quadratic.dim)
    run = closed_form(quadratic, method, w0, steps)
    frame = method.frame(quadratic)
    u0 = frame.to_eigen(w0)
    a, lr, gamma = frame.eigenvalues, method.lr, method.lookahead
    h = lr * a
    comp = method.companion(h)
    det = comp[1]
    t = run.steps.astype(np.float64)
    s_t, _, forcing = companion_sequences(comp, t)
    before = np.maximum(t - 1.0, 0.0)
    C_prev = np.where(t[:, None] > 0.0, lucas_trace_derivative(comp, before), 0.0)
    C_t = lucas_trace_derivative(comp, t)
    C_next = lucas_trace_derivative(comp, t + 1.0)
    singular = h == 0.0
    safe_h = np.where(singular, 1.0, h)
    slope = 1.0 if isinstance(method, Nesterov) else 0.0
    # (τ', δ', f') for each column.
    columns = [(-a * (1.0 + gamma), -a * gamma, -frame.b)]
    if not isinstance(method, GD):
        columns.append((1.0 - h * slope, 1.0 - h * slope, np.zeros_like(a)))
    derivatives = []
    with np.errstate(over="ignore", invalid="ignore"):
        for d_trace, d_det, d_forcing in columns:
            ds_t = d_trace * C_t - d_det * C_prev
            ds_next = d_trace * C_next - d_det * C_t
            dP = (d_trace * (forcing - C_next + det * C_t)
                  + d_det * (C_t + s_t - det * C_prev - forcing)) / safe_h
            # Null axes: τ = 1 + δ moves only along β, where P_n = (n − G)/(1 − δ).
            delta = np.where(singular, det, 0.0)
            geometric = delta * (1.0 - delta ** t[:, None]) / (1.0 - delta)
            d_geometric = (1.0 - (t[:, None] + 1.0) * delta ** t[:, None]
                           + t[:, None] * delta ** (t[:, None] + 1.0)) / (1.0 - delta) ** 2
            d_drift = ((t[:, None] - geometric) - d_geometric * (1.0 - delta)) / (1.0 - delta) ** 2
            dP = np.where(singular, d_det * d_drift, dP)
            du = ((ds_next - d_det * s_t - det * ds_t) * u0 + d_forcing * forcing
                  - lr * frame.b * dP)
            derivatives.append(frame.from_eigen(du))
    names = ("lr",) if isinstance(method, GD) else ("lr", "beta")
    return TangentTrajectory(run.steps, run.w, run.loss, run.diverged_at,
                             tangent=np.stack(derivatives, axis=-1), names=names)


@dataclass(frozen=True, eq=False)
class LearningRatePath:
    """The iterates of a learning-rate search.

    Attributes
    ----------
    lr : ndarray, shape (n,)
        The learning rates visited, the last one the result.
    loss : ndarray, shape (n,)
        ``J(w_T)`` at each.
    """

    lr: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)

    @property
    def best(self) -> float:
        """The learning rate the search ended at."""
        return float(self.lr[-1])


def tune_lr(problem: object, method: object, w0: object, horizon: int, *,
            max_iterations: int = 500, xtol: float = 1e-12) -> LearningRatePath:
    """Find the fixed lr that minimises ``J(w_T)`` by following ``dJ(w_T)/dlr``.

    Starting from ``method.lr`` (its ``β`` is kept), the search moves ``x = log lr``
    against the sign of the hypergradient ``dJ(w_T)/dx = lr·dJ(w_T)/dlr`` (from
    :func:`simulate_optimizer_tangents` in the eigenbasis), growing its step by 1.2
    while the sign holds and halving it when the sign flips (Rprop), until the step is
    below `xtol`. A run that diverges counts as a positive hypergradient. For GD,
    ``J(w_T) − J* = ½ Σ_j a_j (1 − lr·a_j)^{2T} (u_{0j} − u*_j)²`` is convex in lr, so
    the search finds the global minimiser.

    Returns
    -------
    LearningRatePath
    """
    quadratic = as_quadratic(problem)
    method = _check_method(method)
    horizon = as_count(horizon, "horizon")
    xtol = as_positive(xtol, "xtol")
    w0 = as_vector(w0, "w0", quadratic.dim)
    x, step, previous_sign = np.log(method.lr), 0.1, 0.0
    lrs, losses = [], []
    for _ in range(as_count(max_iterations, "max_iterations")):
        lr = float(np.exp(x))
        trial = type(method)(lr) if isinstance(method, GD) else type(method)(lr, method.beta)
        run = simulate_optimizer_tangents(quadratic, trial, w0, [horizon], basis="eigen")
        lrs.append(lr)
        losses.append(run.loss[-1])
        slope = lr * run.loss_derivative(quadratic)[-1, 0]
        sign = 1.0 if run.diverged or not np.isfinite(slope) else float(np.sign(slope))
        if sign == 0.0:
            break
        step = step * 1.2 if sign == previous_sign else step * 0.5
        if step < xtol:
            break
        x -= sign * step
        previous_sign = sign
    return LearningRatePath(np.array(lrs), np.array(losses))
