"""Simulation: iterate a method on a problem with a Numba kernel."""

from __future__ import annotations

import numpy as np
import scipy.linalg

from quadsim._validation import as_choice, as_step_indices, as_times, as_vector
from quadsim.kernels._blas import symv_plan
from quadsim.kernels.trajectory import gd_raw, two_step_eigen, two_step_raw
from quadsim.methods import GD, GradientFlow, Preconditioned
from quadsim.problems import Quadratic, SpectralFrame, as_quadratic
from quadsim.results import Trajectory
from quadsim.theory import check_method, closed_form

_NO_PRECONDITIONER = np.empty((0, 0))

#: Below this dimension the eigenbasis records are mapped back to ``w`` in row blocks
#: of at most :data:`_ONE_THREAD_GEMM_SIZE` multiply-adds: OpenBLAS runs such a product
#: on one thread, while one threaded (K × d)·(d × d) product with d ~ 10 waits for the
#: other core, which cost 400–1200 ns a record on the busy 2-core reference machine
#: (13 ns in blocks, 11–22 ns threaded on a quiet one). From it on, one product.
_BLOCKED_MAP_MAX_DIM = 32
#: m·n·k up to which OpenBLAS's GEMM stays on one thread (65536 × its default
#: GEMM_MULTITHREAD_THRESHOLD of 4); with another BLAS the blocks are merely small.
_ONE_THREAD_GEMM_SIZE = 2**18


def simulate(problem: object, method: object, w0: object, steps: object, *,
             basis: str = "raw") -> Trajectory:
    """Run `method` on `problem` from `w0` and record iterates and losses.

    The discrete methods iterate
    ``y_t = w_t + γ(w_t − w_{t−1})``, ``w_{t+1} = w_t + β(w_t − w_{t−1}) − lr·P(A y_t + b)``
    from ``w_{−1} = w_0`` (GD, heavy ball, Nesterov, preconditioned GD; see
    :mod:`quadsim.methods`).

    Parameters
    ----------
    problem : Quadratic or LinearRegression
    method : GD, Momentum, Nesterov, Preconditioned or GradientFlow
    w0 : array_like, shape (d,)
        Starting point.
    steps : int or array_like
        An int ``T`` records steps ``0..T``; an array gives strictly increasing step
        indices to record. Memory is O(K·d) for K records, whatever the horizon. For
        :class:`GradientFlow`: float times (a number ``T`` means ``linspace(0, T, 101)``).
    basis : {'raw', 'eigen'}
        ``'raw'`` iterates the dense update in ``w`` (O(d²) a step); ``'eigen'``
        iterates each eigen-axis on its own (O(d) a step). For gradient flow ``'raw'``
        is the matrix exponential of the augmented generator ``[[−A, −b], [0, 0]]``
        (independent of the eigendecomposition) and ``'eigen'`` the exact per-axis
        solution.

    Returns
    -------
    Trajectory
        With ``diverged_at`` the first step whose iterate is not finite (None if none).

    See Also
    --------
    closed_form : the same trajectory from the solved per-axis recurrences.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, Quadratic, simulate
    >>> q = Quadratic(np.diag([1.0, 10.0]))
    >>> traj = simulate(q, GD(lr=0.1), w0=[1.0, 1.0], steps=[0, 1, 2])
    >>> traj.w[-1]
    array([0.81, 0.  ])
    """
    quadratic = as_quadratic(problem)
    method = check_method(method)
    w0 = as_vector(w0, "w0", quadratic.dim)
    basis = as_choice(basis, "basis", ("raw", "eigen"))
    if isinstance(method, GradientFlow):
        if basis == "eigen":
            return closed_form(quadratic, method, w0, steps)
        return _flow_by_expm(quadratic, w0, as_times(steps))
    indices = as_step_indices(steps, record_size=quadratic.dim + 1)
    records = np.empty((indices.shape[0], quadratic.dim))
    loss = np.empty(indices.shape[0])
    args = (method.lr, method.momentum, method.lookahead)
    if basis == "raw":
        plan = symv_plan(quadratic.dim)
        if type(method) is GD:
            diverged = gd_raw(quadratic.A, quadratic.b, quadratic.c, method.lr, w0, indices,
                              records, loss, plan)
        else:
            P = method.P if isinstance(method, Preconditioned) else _NO_PRECONDITIONER
            if P.shape[0] not in (0, quadratic.dim):
                method.frame(quadratic)  # raises the shape error
            diverged = two_step_raw(quadratic.A, quadratic.b, quadratic.c, P, *args, w0,
                                    indices, records, loss, plan)
        return Trajectory(indices, records, loss, None if diverged < 0 else int(diverged))
    frame = method.frame(quadratic)
    diverged = two_step_eigen(frame.eigenvalues, frame.b, frame.c, *args,
                              np.ascontiguousarray(frame.to_eigen(w0)), indices, records, loss)
    # The kernel's losses are kept (no second evaluation); its records, in eigen-
    # coordinates and NaN from divergence on, map to w by BLAS-3 products.
    return Trajectory(indices, _from_eigen_records(frame, records), loss,
                      None if diverged < 0 else int(diverged))


def _from_eigen_records(frame: SpectralFrame, records: np.ndarray) -> np.ndarray:
    """``records @ basisᵀ``: one GEMM, or for small d single-threaded row blocks in place.

    In place, so that small d needs no second (K, d) array: its first-touch page faults
    cost about as much as the product itself there.
    """
    d = records.shape[1]
    if d >= _BLOCKED_MAP_MAX_DIM:
        return frame.from_eigen(records)
    rows = _ONE_THREAD_GEMM_SIZE // (d * d)
    block = np.empty((min(rows, records.shape[0]), d))
    for start in range(0, records.shape[0], rows):
        part = records[start:start + rows]
        mapped = block[:part.shape[0]]
        np.matmul(part, frame.basis.T, out=mapped)
        part[...] = mapped
    return records


def _flow_by_expm(quadratic: Quadratic, w0: np.ndarray, times: np.ndarray) -> Trajectory:
    """Gradient flow as ``[w(t); 1] = expm(t·[[−A, −b], [0, 0]]) [w0; 1]``."""
    d = quadratic.dim
    generator = np.zeros((d + 1, d + 1))
    generator[:d, :d] = -quadratic.A
    generator[:d, d] = -quadratic.b
    start = np.append(w0, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):
        w = np.array([(scipy.linalg.expm(t * generator) @ start)[:d] for t in times])
        loss = np.asarray(quadratic.value(w))
    finite = np.all(np.isfinite(w), axis=1)
    diverged_at = None
    if not np.all(finite):
        first = int(np.argmax(~finite))
        w[first:] = np.nan
        loss[first:] = np.nan
        diverged_at = first
    return Trajectory(times, w, loss, diverged_at)


def measured_rate(problem: object, method: object, w0: object, start: int, stop: int, *,
                  basis: str = "raw") -> float:
    """Linear rate measured from a simulated run: ``(‖e_T‖ / ‖e_T0‖)^(1/(T − T0))``.

    ``e_t = w_t − w*`` is the distance to the minimum-norm minimizer, ``T0 = start``
    and ``T = stop``.

    Parameters
    ----------
    problem : Quadratic or LinearRegression
        A problem with a minimizer.
    method : GD, Momentum, Nesterov or Preconditioned
    w0 : array_like, shape (d,)
        Starting point.
    start, stop : int
        The window ``0 <= T0 < T``.
    basis : {'raw', 'eigen'}, optional
        The basis of the simulation.

    Returns
    -------
    float
        The geometric mean contraction per step over the window. It approaches
        :func:`~quadsim.convergence_rate` as the window moves out, from above when the
        slowest axis has a repeated root (error ``∝ t·ρ^t``).
    """
    run = simulate(problem, method, w0, [start, stop], basis=basis)
    error = np.linalg.norm(run.w - as_quadratic(problem).minimizer(), axis=1)
    return float((error[1] / error[0]) ** (1.0 / (stop - start)))
