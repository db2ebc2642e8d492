"""Time quadsim's stochastic training and exact moments against plain numpy (and JAX).

Rows (each side checked to compute the same numbers before it is timed, where the two
draw the same random numbers; else checked to agree in distribution by the tests):

- minibatch SGD on a linear regression, one run: ``simulate(Minibatch(...), GD, runs=1,
  basis="raw")`` against a numpy loop of the same algorithm (``rng.integers`` for the
  batch, ``X[idx]`` gathered, the training loss ``½ wᵀAw + bᵀw + c`` from the Gram
  matrix at the same records), at (d, B) = (10, 1), (100, 32), (1000, 256);
- an ensemble of R = 256 runs on 2 threads against 1 thread (``numba.set_num_threads``);
- with JAX installed (``pip install jax``; not a quadsim dependency): the same ensemble
  at d = 10, B = 1 as ``vmap`` over runs of a ``lax.scan`` over steps, float64, CPU;
- the closed form and the exact moments of a whole recorded trajectory at d = 100
  against the numpy GD loop that records the same steps;
- the NQM batch-size scan: steps to target 0.01 for SGD over 100 learning rates
  (logspace(-5, 0.5)) at 20 batch sizes (2⁰…2¹⁹), d = 10⁴, h_i = 1/i (exact spectrum).

Usage::

    python scripts/bench_stochastic.py           # about a minute
    python scripts/bench_stochastic.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np
from bench import best_times, numpy_gd

from quadsim import (
    GD,
    LinearRegression,
    Minibatch,
    Momentum,
    NoisyQuadratic,
    Quadratic,
    closed_form,
    moments,
    simulate,
)
from quadsim.scaling import batch_size_scaling, method_grid

#: The issue's targets: numpy (or JAX) time ÷ quadsim time.
TARGETS = {
    "sgd d=10 B=1": 100.0,
    "sgd d=100 B=32": 10.0,
    "sgd d=1000 B=256": 1.5,
    "threads": 1.7,
    "jax": 3.0,
    "closed_form d=100": 10.0,
    "moments d=100": 10.0,
}
#: (d, B, n, steps, record every): the minibatch rows.
SGD_CASES = ((10, 1, 200, 50_000, 1), (100, 32, 2_000, 5_000, 1),
             (1000, 256, 8_000, 200, 10))


def regression(d: int, n: int) -> LinearRegression:
    rng = np.random.default_rng(d)
    X = rng.normal(size=(n, d)) / np.sqrt(d)
    return LinearRegression(X, X @ rng.normal(size=d) + 0.1 * rng.normal(size=n), l2=1e-3)


def numpy_sgd(X, y, l2, A, b, c, lr, batch, w0, T, every, rng):
    """Minibatch SGD with replacement, recording ``w`` and the training loss."""
    n = X.shape[0]
    records = T // every + 1
    W, loss = np.empty((records, w0.shape[0])), np.empty(records)
    w = w0.copy()
    for t in range(T + 1):
        if t % every == 0:
            W[t // every] = w
            loss[t // every] = c + w @ (0.5 * (A @ w) + b)
        idx = rng.integers(0, n, size=batch)
        rows = X[idx]
        w = w - lr * (rows.T @ (rows @ w - y[idx]) / batch + l2 * w)
    return W, loss


def report(name: str, quadsim: float, other: float, unit: str = "step",
           against: str = "numpy") -> None:
    ratio = other / quadsim
    target = TARGETS.get(name)
    passed = "PASS" if target is not None and ratio >= target else "MISS"
    verdict = "" if target is None else f"  target ≥ {target:g}× {passed}"
    print(f"{name:<22} quadsim {quadsim * 1e6:10.3f} µs/{unit}   {against} "
          f"{other * 1e6:10.3f} µs/{unit}   ratio {ratio:7.1f}×{verdict}", flush=True)


def sgd_rows(quick: bool, min_time: float, repeats: int) -> None:
    for d, B, n, T, every in SGD_CASES:
        T = T // 10 if quick else T
        data = regression(d, n)
        q = data.quadratic
        model = Minibatch(data, B)
        method = GD(0.5)
        w0 = np.zeros(d)
        steps = np.arange(0, T + 1, every)
        A, b, c = q.A, q.b, q.c

        def ours(steps=steps, model=model, method=method, w0=w0):
            return simulate(model, method, w0, steps, runs=1, rng=0)

        def theirs(data=data, A=A, b=b, c=c, B=B, w0=w0, T=T, every=every):
            return numpy_sgd(data.X, data.y, data.l2, A, b, c, 0.5, B, w0, T, every,
                             np.random.default_rng(0))

        t_ours, t_theirs = best_times([ours, theirs], min_time, repeats)
        report(f"sgd d={d} B={B}", t_ours / T, t_theirs / T)


def thread_row(quick: bool, min_time: float, repeats: int) -> None:
    data = regression(100, 2_000)
    model = Minibatch(data, 8)
    T = 200 if quick else 2_000
    threads = numba.get_num_threads()

    def ensemble():
        return simulate(model, Momentum(0.2, 0.9), np.zeros(100), [0, T], runs=256, rng=1)

    try:
        numba.set_num_threads(1)
        (serial,) = best_times([ensemble], min_time, repeats)
        numba.set_num_threads(threads)
        (parallel,) = best_times([ensemble], min_time, repeats)
    finally:
        numba.set_num_threads(threads)
    unit = 256 * T
    report("threads", parallel / unit, serial / unit, "run-step", f"{1}-thread")
    print(f"{'':<22} ({threads} threads against 1: R = 256 runs, d = 100, B = 8)")


def jax_row(quick: bool, min_time: float, repeats: int) -> None:
    try:
        import jax
    except ImportError:
        print("jax                    not installed (pip install jax): row skipped")
        return
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    d, n, B, R = 10, 200, 1, 256
    T = 500 if quick else 5_000
    data = regression(d, n)
    q = data.quadratic
    X, y, l2 = jnp.asarray(data.X), jnp.asarray(data.y), data.l2
    A, b, c = jnp.asarray(q.A), jnp.asarray(q.b), q.c

    def run(key):
        def step(w, key):
            idx = jax.random.randint(key, (B,), 0, n)
            rows = X[idx]
            loss = c + w @ (0.5 * (A @ w) + b)
            w = w - 0.5 * (rows.T @ (rows @ w - y[idx]) / B + l2 * w)
            return w, (w, loss)

        _, (W, loss) = jax.lax.scan(step, jnp.zeros(d), jax.random.split(key, T))
        return W, loss

    batched = jax.jit(jax.vmap(run))
    keys = jax.random.split(jax.random.PRNGKey(0), R)
    model = Minibatch(data, B)

    def theirs():
        _, loss = batched(keys)
        return loss.block_until_ready()

    def ours():
        return simulate(model, GD(0.5), np.zeros(d), T - 1, runs=R, rng=0)

    t_ours, t_theirs = best_times([ours, theirs], min_time, repeats)
    report("jax", t_ours / (R * T), t_theirs / (R * T), "run-step", "JAX   ")
    print(f"{'':<22} (JAX {jax.__version__}: vmap over R = 256 runs of lax.scan, d = 10, "
          "B = 1, every step recorded)")


def exact_rows(quick: bool, min_time: float, repeats: int) -> None:
    d = 100
    rng = np.random.default_rng(0)
    q = Quadratic.from_eigenvalues(np.linspace(1.0, 10.0, d), b=rng.normal(size=d), c=0.5,
                                   rng=rng)
    q.frame  # noqa: B018 -- the eigendecomposition is cached; time it apart
    w0 = rng.normal(size=d)
    T = 2_000 if quick else 20_000
    model = NoisyQuadratic(q, batch_size=4)

    def ours_closed():
        return closed_form(q, GD(0.1), w0, T)

    def ours_moments():
        return moments(model, GD(0.1), w0, T)

    def theirs():
        return numpy_gd(q.A, q.b, q.c, 0.1, w0, T)

    t_closed, t_moments, t_theirs = best_times([ours_closed, ours_moments, theirs], min_time,
                                               repeats)
    report("closed_form d=100", t_closed / T, t_theirs / T, "record")
    report("moments d=100", t_moments / T, t_theirs / T, "record")


def nqm_scan(quick: bool) -> None:
    d = 10_000
    h = 1.0 / np.arange(1, d + 1)
    model = NoisyQuadratic(Quadratic(h))
    grid = method_grid(GD, lr=np.logspace(-5, 0.5, 100))
    sizes = 2 ** np.arange(0, 4 if quick else 20)
    batch_size_scaling(model, grid[:2], 0.01, np.ones(d), sizes[:1])  # compile
    start = time.perf_counter()
    scaling = batch_size_scaling(model, grid, 0.01, np.ones(d), sizes)
    elapsed = time.perf_counter() - start
    verdict = "PASS" if elapsed < 10.0 else "MISS"
    print(f"{'nqm batch scan':<22} {elapsed:6.2f} s for {len(sizes)} batch sizes × 100 lrs at "
          f"d = 10⁴ (target < 10 s {verdict}); critical batch size "
          f"{scaling.critical_batch_size}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--min-time", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    min_time = 0.02 if args.quick else args.min_time
    repeats = 1 if args.quick else args.repeats
    print(f"numba threads: {numba.get_num_threads()}")
    sgd_rows(args.quick, min_time, repeats)
    thread_row(args.quick, min_time, repeats)
    jax_row(args.quick, min_time, repeats)
    exact_rows(args.quick, min_time, repeats)
    nqm_scan(args.quick)


if __name__ == "__main__":
    main()
