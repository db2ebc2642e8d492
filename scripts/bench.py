"""Time quadsim's trajectories against plain numpy loops of the same algorithms.

Every row runs one algorithm two ways in this process and prints the time per step of
each, their ratio (numpy ÷ quadsim) and, where the issue sets one, the target and
PASS/MISS. Both sides record ``w_t`` and ``J(w_t) = ½ w_tᵀAw_t + bᵀw_t + c`` at every
step ``0..T`` (the numpy GD loop reuses ``A @ w`` for the loss, as the kernel does), and
both are checked to agree before they are timed.

Rows, for d ∈ {10, 100, 1000}:

- raw-basis GD: ``simulate(..., basis="raw")``, and the kernel ``gd_raw`` called
  directly on outputs allocated as ``simulate`` allocates them (the note gives the API's
  overhead a call, timed on one-step runs), against a numpy loop
  ``Aw = A @ w; loss = c + w @ (0.5*Aw + b); w = w - lr*(Aw + b)``;
- eigenbasis GD: ``simulate(..., basis="eigen")`` (which returns ``w``, so it pays the
  ``U @ Qᵀ`` basis change) against the per-axis numpy loop plus the same basis change
  and against ``simulate(..., basis="raw")``, and the kernel ``two_step_eigen`` against
  the per-axis numpy loop alone;
- the closed form of the whole curve, ``closed_form(..., steps=T)``, against the numpy
  GD loop that produces the same records.

At d = 100 heavy ball and Nesterov run in the raw basis too; at d = 1000 the bandwidth
references compare quadsim's ``symmetric_matvec`` with a bare ``A @ w`` loop, and an
eigenbasis run that records 101 of its steps shows the per-step cost without the basis
change; after the table, the exact response Jacobian at d = p = 1000 and the time to
build a regression's frame from the SVD of X against the old eigh path at n = 2000,
d = 500 (medians of alternating timings; target ≤ 1.5×), and the GFLOP/s of the
matrix-weights raw kernel (d = 200, m = 256) against numpy's dgemm on the same shapes
(medians of per-round ratios; target ≥ 0.6). Times are the best of several
repeats (as in :mod:`timeit`), each repeat at least ``--min-time`` seconds, after a
warm-up call, so Numba compilation is excluded.

Then the start-up section (:mod:`bench_startup`): import, cold and warm first result
in fresh processes, as ratios to yardsticks timed in the same run.

Usage::

    python scripts/bench.py            # full run, about three minutes
    python scripts/bench.py --quick    # smoke run, a few seconds
    python scripts/bench.py --sections startup   # the start-up section alone
    OPENBLAS_NUM_THREADS=1 python scripts/bench.py --dims 1000   # numpy on one core
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version

import bench_startup
import numba
import numpy as np
import scipy.linalg

from quadsim import (
    GD,
    LinearRegression,
    Momentum,
    Nesterov,
    Quadratic,
    closed_form,
    closed_form_loss,
    feature_decay_family,
    response_jacobian,
    ridge_family,
    simulate,
    simulate_tangents,
)
from quadsim.kernels._blas import symv_plan
from quadsim.kernels.trajectory import gd_raw, symmetric_matvec, two_step_eigen
from quadsim.problems import SpectralFrame

DIMS = (10, 100, 1000)
SECTIONS = ("startup", "kernels")

#: Horizon T per d (steps 0..T recorded): about 0.2 s of the numpy raw-basis GD loop
#: on the reference machine (2-core AMD EPYC), so that one call of the slow side is one
#: timing. Each timing still loops calls until it lasts ``--min-time``.
HORIZON = {10: 40_000, 100: 25_000, 1000: 600}
QUICK_HORIZON = {10: 2_000, 100: 1_000, 1000: 30}

#: Horizon of the eigenbasis run that records only RECORDS_SPARSE of its steps (d = 1000).
SPARSE_HORIZON, QUICK_SPARSE_HORIZON, RECORDS_SPARSE = 20_000, 1_000, 101

#: The issues' targets for numpy time ÷ quadsim time, by (row kind, d); for
#: ``eigen_vs_raw``, raw-basis time ÷ eigenbasis time, both ``simulate`` recording every
#: step.
TARGETS = {
    ("raw", 10): 100.0,
    ("raw", 100): 5.0,
    ("raw", 1000): 1.2,
    ("eigen", 1000): 30.0,
    ("closed", 10): 100.0,
    ("closed", 100): 100.0,
    ("closed", 1000): 100.0,
    ("eigen_vs_raw", 10): 1.0,
    ("eigen_vs_raw", 100): 1.0,
    ("eigen_vs_raw", 1000): 2.0,
}

#: Relative agreement required between quadsim and the numpy loop before timing.
AGREEMENT_RTOL = 1e-9

BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
            "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")

BETA = 0.9


@dataclass(frozen=True)
class Row:
    """One line of the table: quadsim and numpy seconds per step for one algorithm."""

    d: int
    method: str
    quadsim: float
    numpy: float
    kind: str | None = None
    note: str = ""

    @property
    def ratio(self) -> float:
        """Numpy time ÷ quadsim time (above 1: quadsim is faster)."""
        return self.numpy / self.quadsim

    @property
    def target(self) -> float | None:
        """The issue's target for :attr:`ratio`, if it sets one."""
        return TARGETS.get((self.kind, self.d)) if self.kind else None


# ---------------------------------------------------------------------------------------
# numpy loops: the algorithms as a numpy user would write them, recording every step.


def numpy_gd(A, b, c, lr, w0, T):
    """Raw-basis GD; the loss reuses ``A @ w``."""
    W, loss = np.empty((T + 1, w0.shape[0])), np.empty(T + 1)
    w = w0.copy()
    for t in range(T + 1):
        Aw = A @ w
        W[t] = w
        loss[t] = c + w @ (0.5 * Aw + b)
        w = w - lr * (Aw + b)
    return W, loss


def numpy_momentum(A, b, c, lr, beta, w0, T):
    """Heavy ball from zero velocity; the loss reuses ``A @ w``."""
    W, loss = np.empty((T + 1, w0.shape[0])), np.empty(T + 1)
    w, w_prev = w0.copy(), w0.copy()
    for t in range(T + 1):
        Aw = A @ w
        W[t] = w
        loss[t] = c + w @ (0.5 * Aw + b)
        w, w_prev = w + beta * (w - w_prev) - lr * (Aw + b), w
    return W, loss


def numpy_nesterov(A, b, c, lr, beta, w0, T):
    """Nesterov from zero velocity: gradient at the look-ahead point, loss at ``w``."""
    W, loss = np.empty((T + 1, w0.shape[0])), np.empty(T + 1)
    w, w_prev = w0.copy(), w0.copy()
    for t in range(T + 1):
        W[t] = w
        loss[t] = c + w @ (0.5 * (A @ w) + b)
        y = w + beta * (w - w_prev)
        w, w_prev = y - lr * (A @ y + b), w
    return W, loss


def numpy_eigen_gd(a, b, c, lr, u0, T, record_every=1):
    """Per-axis GD ``u ← (1 − lr·a) u − lr·b̃``, recording every `record_every` steps."""
    n_records = T // record_every + 1
    U, loss = np.empty((n_records, u0.shape[0])), np.empty(n_records)
    factor, shift = 1.0 - lr * a, lr * b
    u = u0.copy()
    for t in range(T + 1):
        if t % record_every == 0:
            k = t // record_every
            U[k] = u
            loss[k] = c + u @ (0.5 * a * u + b)
        u = factor * u - shift
    return U, loss


# ---------------------------------------------------------------------------------------
# timing


def best_times(fns: list[Callable[[], object]], min_time: float,
               repeats: int) -> list[float]:
    """Best seconds per call of each of `fns`, timed in turns.

    Each function gets one warm-up call (Numba compilation, caches) and, as
    :mod:`timeit` does, a number of calls per timing that makes a timing last at least
    `min_time`; then the functions take turns for `repeats` rounds, so that a slow
    spell of a shared machine hits the sides being compared alike, and the best
    timing of each is kept. The garbage collector is off while timing.
    """
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        numbers, best = [], []
        for fn in fns:
            fn()
            number = 1
            while (elapsed := _run(fn, number)) < min_time:
                number = max(number + 1, int(1.2 * number * min_time / max(elapsed, 1e-9)))
            numbers.append(number)
            best.append(elapsed)
        for _ in range(repeats - 1):
            for i, (fn, number) in enumerate(zip(fns, numbers, strict=True)):
                best[i] = min(best[i], _run(fn, number))
    finally:
        if gc_was_enabled:
            gc.enable()
    return [elapsed / number for elapsed, number in zip(best, numbers, strict=True)]


def _run(fn: Callable[[], object], number: int) -> float:
    start = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - start


def check_same(name: str, quadsim_w, quadsim_loss, numpy_w, numpy_loss) -> None:
    """Raise if the two sides did not compute the same records."""
    for what, mine, theirs in (("w", quadsim_w, numpy_w), ("loss", quadsim_loss, numpy_loss)):
        scale = np.max(np.abs(theirs))
        err = np.max(np.abs(mine - theirs))
        if not err <= AGREEMENT_RTOL * scale:
            raise AssertionError(f"{name}: quadsim and numpy disagree on {what}: "
                                 f"max abs error {err:.3e} (scale {scale:.3e})")


# ---------------------------------------------------------------------------------------
# the rows


def problem(d: int) -> tuple[Quadratic, np.ndarray]:
    """A well-conditioned quadratic (spectrum in [1, 10], κ = 10) and a start point."""
    rng = np.random.default_rng(d)
    q = Quadratic.from_eigenvalues(np.linspace(1.0, 10.0, d), b=rng.standard_normal(d),
                                   c=0.5, rng=rng)
    q.frame  # noqa: B018 -- the eigendecomposition is cached; time it apart from the runs
    return q, rng.standard_normal(d)


def gd_rows(d: int, T: int, min_time: float, repeats: int) -> list[Row]:
    q, w0 = problem(d)
    method = GD(0.1)
    A, b, c, lr = q.A, q.b, q.c, method.lr
    frame = q.frame
    a, bt, u0 = frame.eigenvalues, frame.b, np.ascontiguousarray(frame.to_eigen(w0))
    steps = np.arange(T + 1, dtype=np.int64)
    plan = symv_plan(d)

    # The kernels get fresh outputs on each call, as simulate allocates them, so that
    # the difference between a kernel row and its simulate row is the API's overhead.
    def kernel_raw():
        W, loss = np.empty((T + 1, d)), np.empty(T + 1)
        gd_raw(A, b, c, lr, w0, steps, W, loss, plan)
        return W, loss

    reused_W, reused_loss = np.empty((T + 1, d)), np.empty(T + 1)

    def kernel_raw_reused():
        gd_raw(A, b, c, lr, w0, steps, reused_W, reused_loss, plan)
        return reused_W, reused_loss

    def kernel_eigen():
        U, loss = np.empty((T + 1, d)), np.empty(T + 1)
        two_step_eigen(a, bt, c, lr, 0.0, 0.0, u0, steps, U, loss)
        return U, loss

    def numpy_raw():
        return numpy_gd(A, b, c, lr, w0, T)

    def numpy_eigen():
        return numpy_eigen_gd(a, bt, c, lr, u0, T)

    def numpy_eigen_to_w():
        U, loss = numpy_eigen_gd(a, bt, c, lr, u0, T)
        return frame.from_eigen(U), loss

    def simulate_raw():
        return simulate(q, method, w0, T, basis="raw")

    def simulate_eigen():
        return simulate(q, method, w0, T, basis="eigen")

    def closed():
        return closed_form(q, method, w0, T)

    def closed_loss():
        return closed_form_loss(q, method, w0, T)

    check_T = min(T, 200)
    reference = numpy_gd(A, b, c, lr, w0, check_T)
    for name, traj in (("raw", simulate(q, method, w0, check_T, basis="raw")),
                       ("eigen", simulate(q, method, w0, check_T, basis="eigen")),
                       ("closed form", closed_form(q, method, w0, check_T))):
        check_same(f"GD {name}, d={d}", traj.w, traj.loss, *reference)
    check_same(f"GD closed-form loss, d={d}", reference[0],
               closed_form_loss(q, method, w0, check_T), *reference)
    check_same(f"gd_raw, d={d}", *kernel_raw(), *numpy_raw())
    check_same(f"two_step_eigen, d={d}", *kernel_eigen(), *numpy_eigen())

    t_numpy, t_simulate, t_kernel, t_closed, t_closed_loss, t_kernel_eigen_vs_raw = (
        seconds / T for seconds in
        best_times([numpy_raw, simulate_raw, kernel_raw, closed, closed_loss, kernel_eigen],
                   min_time, repeats))
    t_numpy_w, t_simulate_eigen = (
        seconds / T for seconds in
        best_times([numpy_eigen_to_w, simulate_eigen], min_time, repeats))
    t_numpy_u, t_kernel_eigen = (
        seconds / T for seconds in best_times([numpy_eigen, kernel_eigen], min_time, repeats))
    t_raw_again, t_eigen_again = (
        seconds / T for seconds in best_times([simulate_raw, simulate_eigen], min_time,
                                              repeats))
    t_numpy_again, t_kernel_reused = (
        seconds / T for seconds in best_times([numpy_raw, kernel_raw_reused], min_time,
                                              repeats))
    one_step = np.arange(2, dtype=np.int64)

    def simulate_one_step():
        return simulate(q, method, w0, 1, basis="raw")

    def kernel_one_step():
        W, loss = np.empty((2, d)), np.empty(2)
        gd_raw(A, b, c, lr, w0, one_step, W, loss, plan)
        return W, loss

    gigabytes = 8e-9 * d * d
    if d < 1000:
        t_api = np.subtract(*best_times([simulate_one_step, kernel_one_step], min_time,
                                        repeats))
        overhead = f"simulate's overhead {t_api * 1e6:.1f} µs a call"
    else:  # below the noise of one step (~0.1 ms)
        overhead = "simulate's overhead < noise"
    return [
        Row(d, 'GD raw: simulate(basis="raw")', t_simulate, t_numpy, "raw",
            f"{gigabytes / t_simulate:.1f} GB/s of A" if d >= 1000 else ""),
        Row(d, "GD raw: gd_raw kernel", t_kernel, t_numpy, "raw",
            f"{gigabytes / t_kernel:.1f} GB/s of A; {overhead}" if d >= 100 else overhead),
        Row(d, "GD raw: gd_raw kernel, outputs reused", t_kernel_reused, t_numpy_again,
            None, "no first-touch page faults on the K×d records"),
        Row(d, 'GD eigen: simulate(basis="eigen")', t_simulate_eigen, t_numpy_w, None,
            "both sides map U to w (U @ Qᵀ)"),
        Row(d, 'GD eigen vs raw: simulate(basis="eigen")', t_eigen_again, t_raw_again,
            "eigen_vs_raw", 'ratio to simulate(basis="raw"), not numpy'),
        Row(d, "GD eigen: two_step_eigen kernel", t_kernel_eigen_vs_raw, t_numpy, "eigen",
            "vs the numpy GD loop; records u, not w"),
        Row(d, "GD eigen: two_step_eigen kernel", t_kernel_eigen, t_numpy_u, None,
            "vs a numpy per-axis loop; u only"),
        Row(d, "GD closed_form_loss(steps=T)", t_closed_loss, t_numpy, "closed",
            "loss curve only, vs the numpy GD loop"),
        Row(d, "GD closed_form(steps=T)", t_closed, t_numpy, None,
            "w and loss at every step, vs the numpy GD loop"),
    ]


def momentum_rows(d: int, T: int, min_time: float, repeats: int) -> list[Row]:
    q, w0 = problem(d)
    A, b, c = q.A, q.b, q.c
    rows = []
    for method, loop in ((Momentum(0.1, BETA), numpy_momentum),
                         (Nesterov(0.1, BETA), numpy_nesterov)):
        def run_numpy(T=T, loop=loop, method=method):
            return loop(A, b, c, method.lr, method.beta, w0, T)

        def run_quadsim(T=T, method=method):
            return simulate(q, method, w0, T, basis="raw")

        traj = run_quadsim(min(T, 200))
        check_same(f"{type(method).__name__}, d={d}", traj.w, traj.loss,
                   *run_numpy(min(T, 200)))
        t_quadsim, t_numpy = best_times([run_quadsim, run_numpy], min_time, repeats)
        note = "2 matvecs a step (A y and A w)" if isinstance(method, Nesterov) else ""
        rows.append(Row(d, f'{type(method).__name__} raw: simulate(basis="raw")',
                        t_quadsim / T, t_numpy / T, None, note))
    return rows


def numpy_tangent_gd(family, theta, lr, w0, T):
    """GD on ``J(·; θ)`` with its θ-tangent ``Ẇ ← Ẇ − lr (A Ẇ + ∂²J/∂w∂θ(w))``, numpy."""
    A, b = family.A(theta), family.b(theta)
    w, tangent = w0.copy(), np.zeros((w0.size, family.n_params))
    for _ in range(T):
        source = np.outer(w, family.isotropic) + family.L * (family.R @ w + family.r)
        tangent = tangent - lr * (A @ tangent + source)
        w = w - lr * (A @ w + b)
    return w, tangent


def tangent_rows(d: int, T: int, min_time: float, repeats: int) -> list[Row]:
    """Issue 3: the tangent kernel against a numpy loop of the same computation."""
    lr = 0.1
    rng = np.random.default_rng(d)
    regression = LinearRegression(rng.normal(size=(2 * d, d)), rng.normal(size=2 * d), l2=0.1)
    rows = []
    for family, theta in ((ridge_family(regression), np.array([0.1])),
                          (feature_decay_family(regression), np.full(d, 0.1))):
        w0 = rng.normal(size=d)
        horizon = max(T // family.n_params, 1000)  # long enough to hide one eigh
        last = np.array([0, horizon])

        def run_numpy(family=family, theta=theta, horizon=horizon, w0=w0):
            return numpy_tangent_gd(family, theta, lr, w0, horizon)

        def run_raw(family=family, theta=theta, w0=w0, last=last):
            return simulate_tangents(family, theta, GD(lr), w0, last)

        def run_eigen(family=family, theta=theta, w0=w0, last=last):
            return simulate_tangents(family, theta, GD(lr), w0, last, basis="eigen")

        w_numpy, tangent_numpy = run_numpy()
        for traj in (run_raw(), run_eigen()):
            check_same(f"tangents of {family.names}, d={d}", traj.w[-1], traj.tangent[-1],
                       w_numpy, tangent_numpy)
        t_numpy, t_raw, t_eigen = best_times([run_numpy, run_raw, run_eigen], min_time,
                                             repeats)
        p = family.n_params
        rows.append(Row(d, f"GD + θ-tangents raw, p = {p} ({family.names})",
                        t_raw / horizon, t_numpy / horizon, None,
                        "numpy: the same update with A @ Ẇ"))
        rows.append(Row(d, f"GD + θ-tangents eigen, p = {p} ({family.names})",
                        t_eigen / horizon, t_numpy / horizon, None,
                        "includes one eigh of A(θ) a call"))
    return rows


def response_jacobian_time(d: int, repeats: int) -> str:
    """Issue 3: seconds for the exact d × p response Jacobian with p = d (decays)."""
    rng = np.random.default_rng(0)
    regression = LinearRegression(rng.normal(size=(2 * d, d)), rng.normal(size=2 * d), l2=0.1)
    family, theta = feature_decay_family(regression), np.full(d, 0.1)
    seconds = min(_run(lambda: response_jacobian(family, theta), 1) for _ in range(repeats))
    return (f"exact response_jacobian, d = p = {d} (per-feature decays): {seconds:.3f} s "
            "(one eigh of A(θ) and two d×d products)")


#: Issue 12: building a regression's frame from the SVD of X may cost at most this
#: multiple of building it by eigh of the Gram matrix, at n = 2000, d = 500.
FRAME_SHAPE, QUICK_FRAME_SHAPE, FRAME_TARGET = (2000, 500), (400, 100), 1.5


def frame_times(n: int, d: int, repeats: int) -> list[str]:
    """Issue 12: seconds to build a LinearRegression's frame, SVD path against the old.

    Both start from X and y: the old path forms ``A = XᵀX/n`` and ``b`` and runs
    :meth:`SpectralFrame.from_symmetric` (eigh, snapping, Householder); the new one is
    what ``LinearRegression(X, y).quadratic.frame`` runs, ``A`` and then
    :meth:`SpectralFrame.from_regression` (eigh of A as a preconditioner, ``X V₀``,
    Jacobi, J* from the residual). LAPACK's thin SVD (``gesdd``) of X is shown for scale.
    Each of `repeats` rounds times the paths back to back; the ratio reported is the
    median over rounds. On a Gaussian X and on one whose ``XᵀX/n`` spans κ = 1e10
    (where Jacobi rotates most pairs).
    """
    rng = np.random.default_rng(12)
    U = np.linalg.qr(rng.normal(size=(n, d)))[0]
    V = np.linalg.qr(rng.normal(size=(d, d)))[0]
    designs = {"Gaussian X": rng.normal(size=(n, d)),
               "κ(XᵀX/n) = 1e10": (U * np.sqrt(n * np.geomspace(1.0, 1e-10, d))) @ V.T}
    y = rng.normal(size=n)
    lines = []
    for label, X in designs.items():
        def old(X=X):
            return SpectralFrame.from_symmetric(X.T @ X / n, -(X.T @ y) / n, y @ y / (2 * n))

        def new(X=X):
            return SpectralFrame.from_regression(X, y, A=X.T @ X / n)

        def lapack(X=X):
            return scipy.linalg.svd(X, full_matrices=False)

        times: dict[str, list[float]] = {"old": [], "new": [], "lapack": []}
        for fn in (old, new, lapack):
            fn()
        for _ in range(repeats):
            for name, fn in (("old", old), ("new", new), ("lapack", lapack)):
                times[name].append(_run(fn, 1))
        t_old, t_new, t_lapack = (float(np.median(times[k])) for k in ("old", "new", "lapack"))
        # Each round times the paths back to back: the ratio within a round is less
        # exposed to the load of a shared machine than a ratio of medians.
        ratios = np.array(times["new"]) / np.array(times["old"])
        ratio = float(np.median(ratios))
        lapack_ratio = float(np.median(np.array(times["lapack"]) / np.array(times["old"])))
        status = "PASS" if ratio <= FRAME_TARGET else "MISS"
        target = f"target ≤{FRAME_TARGET:g}× {status}" if label == "Gaussian X" else "no target"
        lines.append(f"regression frame, n = {n}, d = {d}, {label}: SVD path "
                     f"{t_new * 1e3:.1f} ms, old eigh path {t_old * 1e3:.1f} ms (medians); "
                     f"ratio {ratio:.2f}× (median of {repeats} rounds, range "
                     f"{ratios.min():.2f}–{ratios.max():.2f}; {target}); LAPACK thin SVD "
                     f"{t_lapack * 1e3:.1f} ms ({lapack_ratio:.2f}×)")
    return lines


#: Issue 7: the matrix-weights raw kernel at d = 200, m = 256 against this machine's dgemm.
ROWS_SHAPE, ROWS_HORIZON, QUICK_ROWS_HORIZON, ROWS_TARGET = (200, 256), 300, 20, 0.6


def rows_gemm_times(d: int, m: int, T: int, repeats: int) -> list[str]:
    """Issue 7: GFLOP/s of the matrix-weights raw kernel against dgemm on the same shapes.

    ``simulate(regression, GD, W0, [0, T])`` with targets ``Y`` of shape (n, m) runs
    ``W ← W − lr (W A + B)``: one ``(m, d) × (d, d)`` product a step, ``2·m·d²`` flops.
    Each round times, back to back, the kernel (through the API, two records), ``T``
    bare numpy products ``np.dot(W, A, out=G)`` (this machine's dgemm rate on these
    shapes) and the numpy loop of the whole step; the ratios reported are medians over
    rounds (target: kernel ≥ 0.6 × dgemm).
    """
    rng = np.random.default_rng(7)
    n = 2 * d
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    problem = LinearRegression(X, rng.normal(size=(n, m)), l2=1e-3)
    W0 = rng.normal(size=(m, d))
    A, B = problem.curvature, -(problem.y.T @ X) / n
    method, steps, lr = GD(0.5), np.array([0, T]), 0.5
    G = np.empty((m, d))

    def kernel():
        return simulate(problem, method, W0, steps)

    def gemm():
        for _ in range(T):
            np.dot(W0, A, out=G)

    def numpy_loop():
        W, step = W0.copy(), np.empty((m, d))
        for _ in range(T):
            np.dot(W, A, out=step)
            step += B
            step *= lr
            W -= step
        return W

    assert np.allclose(kernel().w[-1], numpy_loop(), rtol=1e-10, atol=1e-10)
    times: dict[str, list[float]] = {"kernel": [], "gemm": [], "numpy": []}
    for _ in range(repeats):
        for name, fn in (("kernel", kernel), ("gemm", gemm), ("numpy", numpy_loop)):
            times[name].append(_run(fn, 1))
    flops = 2.0 * m * d * d * T
    rate = {k: flops / float(np.median(v)) / 1e9 for k, v in times.items()}
    ratios = np.array(times["gemm"]) / np.array(times["kernel"])
    ratio = float(np.median(ratios))
    numpy_ratio = float(np.median(np.array(times["numpy"]) / np.array(times["kernel"])))
    status = "PASS" if ratio >= ROWS_TARGET else "MISS"
    return [f"matrix weights, raw GD, d = {d}, m = {m}, T = {T}: kernel {rate['kernel']:.1f} "
            f"GFLOP/s, numpy dgemm (W @ A) {rate['gemm']:.1f} GFLOP/s (medians); kernel/dgemm "
            f"{ratio:.2f} (median of {repeats} rounds, range {ratios.min():.2f}–"
            f"{ratios.max():.2f}; target ≥{ROWS_TARGET:g} {status}); numpy step loop "
            f"{rate['numpy']:.1f} GFLOP/s ({numpy_ratio:.2f}× the kernel's time)"]


def bandwidth_rows(d: int, T: int, T_sparse: int, min_time: float,
                   repeats: int) -> list[Row]:
    q, w0 = problem(d)
    A, x, out = q.A, w0.copy(), np.empty(d)

    def bare_blas():
        for _ in range(T):
            A @ x

    def kernel_matvec():
        for _ in range(T):
            symmetric_matvec(A, x, out)

    kernel_matvec()
    if not np.allclose(out, A @ x, rtol=1e-12, atol=1e-12 * np.max(np.abs(out))):
        raise AssertionError("symmetric_matvec disagrees with A @ x")
    matvec, blas = (seconds / T for seconds in
                    best_times([kernel_matvec, bare_blas], min_time, repeats))
    rows = [Row(d, "matvec: symmetric_matvec vs bare A @ w", matvec, blas, None,
                f"{8e-9 * d * d / matvec:.1f} vs {8e-9 * d * d / blas:.1f} GB/s of A")]

    method = GD(0.1)
    frame = q.frame
    a, bt, u0 = frame.eigenvalues, frame.b, frame.to_eigen(w0)
    every = T_sparse // (RECORDS_SPARSE - 1)
    steps = np.arange(0, T_sparse + 1, every)

    def numpy_sparse():
        U, loss = numpy_eigen_gd(a, bt, q.c, method.lr, u0, T_sparse, every)
        return frame.from_eigen(U), loss

    def quadsim_sparse():
        return simulate(q, method, w0, steps, basis="eigen")

    traj = quadsim_sparse()
    check_same(f"sparse eigen, d={d}", traj.w, traj.loss, *numpy_sparse())
    t_quadsim, t_numpy = best_times([quadsim_sparse, numpy_sparse], min_time, repeats)
    rows.append(Row(d, f'GD eigen: simulate(basis="eigen"), {steps.size} records',
                    t_quadsim / T_sparse, t_numpy / T_sparse, None,
                    f"T = {T_sparse}, both sides map U to w"))
    return rows


# ---------------------------------------------------------------------------------------
# environment and output


def blas_info() -> list[str]:
    """Describe the BLAS numpy uses: threadpoolctl if installed, else OpenBLAS via ctypes."""
    lines = [f"{name}={os.environ[name]}" for name in BLAS_ENV if name in os.environ]
    lines = [("env: " + " ".join(lines)) if lines else
             "env: none of " + ", ".join(BLAS_ENV) + " is set"]
    try:
        import threadpoolctl
    except ImportError:
        lines.append("threadpoolctl: not installed (not a quadsim dependency); "
                     "asking OpenBLAS directly")
    else:
        for pool in threadpoolctl.threadpool_info():
            lines.append("threadpoolctl: " + ", ".join(
                f"{key}={pool.get(key)}" for key in
                ("user_api", "internal_api", "version", "num_threads", "architecture")))
        return lines
    lines.extend(_openblas_by_ctypes())
    return lines


def _openblas_by_ctypes() -> list[str]:
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line.lower()}
    except OSError:
        return ["openblas: cannot list the loaded libraries on this platform"]
    lines = []
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        found = {}
        for prefix in ("scipy_openblas_", "openblas_", ""):
            for suffix in ("64_", ""):
                for what, restype in (("get_config", ctypes.c_char_p),
                                      ("get_corename", ctypes.c_char_p),
                                      ("get_num_threads", ctypes.c_int)):
                    fn = getattr(lib, f"{prefix}{what}{suffix}", None)
                    if fn is not None and what not in found:
                        fn.restype = restype
                        value = fn()
                        found[what] = value.decode() if isinstance(value, bytes) else value
        if found:
            lines.append(f"openblas {os.path.basename(path)}: core={found.get('get_corename')}"
                         f", threads={found.get('get_num_threads')}, "
                         f"config={found.get('get_config')}")
    return lines or ["openblas: no OpenBLAS library found in this process"]


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "(not installed)"


def format_seconds(seconds: float) -> str:
    """A time per step with a unit that keeps three significant digits."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def print_table(rows: list[Row]) -> tuple[int, int]:
    """Print the rows; return the number of targets met and missed."""
    header = (f"{'d':>5}  {'method':<48} {'quadsim/step':>12} {'numpy/step':>12} "
              f"{'numpy÷qs':>9} {'target':>7}  {'':<6} note")
    print(header)
    print("-" * len(header))
    met = missed = 0
    previous_d = None
    for row in rows:
        if previous_d is not None and row.d != previous_d:
            print()
        previous_d = row.d
        if row.target is None:
            target, status = "—", ""
        else:
            target = f"≥{row.target:g}×"
            status = "PASS" if row.ratio >= row.target else "MISS"
            met, missed = met + (status == "PASS"), missed + (status == "MISS")
        print(f"{row.d:>5}  {row.method:<48} {format_seconds(row.quadsim):>12} "
              f"{format_seconds(row.numpy):>12} {row.ratio:>8.3g}× {target:>7}  "
              f"{status:<6} {row.note}")
    return met, missed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="short horizons and timings: a smoke run of a few seconds")
    parser.add_argument("--min-time", type=float, default=None,
                        help="seconds each timing lasts at least (default 0.2, quick 0.02)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="timings per measurement, the best is kept (default 7, quick 2)")
    parser.add_argument("--dims", type=int, nargs="+", choices=DIMS, default=DIMS,
                        help="dimensions to run (default: all)")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=SECTIONS,
                        help="what to time (default: both): the kernels in this process, "
                             "start-up in fresh ones")
    parser.add_argument("--processes", type=int, default=None,
                        help="fresh processes per start-up case, the median is kept "
                             "(default 3, quick 1)")
    args = parser.parse_args(argv)
    horizon = QUICK_HORIZON if args.quick else HORIZON
    sparse_horizon = QUICK_SPARSE_HORIZON if args.quick else SPARSE_HORIZON
    min_time = args.min_time or (0.02 if args.quick else 0.2)
    repeats = args.repeats or (2 if args.quick else 7)

    start = time.perf_counter()
    print(f"quadsim {_version('quadsim')}, "
          f"numpy {np.__version__}, numba {numba.__version__}, "
          f"python {platform.python_version()}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()})")
    for line in blas_info():
        print(line)
    print()

    met = missed = 0
    if "startup" in args.sections:
        met, missed = bench_startup.run(args.processes or (1 if args.quick else 3))
        print()
    if "kernels" in args.sections:
        rows: list[Row] = []
        for d in args.dims:
            rows.extend(gd_rows(d, horizon[d], min_time, repeats))
            if d == 100:
                rows.extend(momentum_rows(d, horizon[d], min_time, repeats))
                rows.extend(tangent_rows(d, horizon[d] // 5, min_time, repeats))
            if d == 1000:
                rows.extend(bandwidth_rows(d, horizon[d], sparse_horizon, min_time, repeats))
        print(f"horizons T = {horizon}; best of {repeats} timings of >= {min_time} s each; "
              "times are per step (per recorded step for the closed form)")
        kernel_met, kernel_missed = print_table(rows)
        met, missed = met + kernel_met, missed + kernel_missed
        print()
        if 1000 in args.dims:
            print(response_jacobian_time(300 if args.quick else 1000, 1 if args.quick else 3))
            for line in frame_times(*(QUICK_FRAME_SHAPE if args.quick else FRAME_SHAPE),
                                    repeats=3 if args.quick else 15):
                print(line)
        for line in rows_gemm_times(*ROWS_SHAPE,
                                    QUICK_ROWS_HORIZON if args.quick else ROWS_HORIZON,
                                    repeats=3 if args.quick else 9):
            print(line)
    print(f"targets: {met} PASS, {missed} MISS; total run time "
          f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
