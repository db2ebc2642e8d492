"""Time the Hessian-spectrum tools at scale, matrix-free.

The top-10 eigenvalues by Lanczos (:func:`quadsim.spectra.top_eigenpairs`) of a
regression's Hessian ``XᵀX/n`` with n = 2·10⁴ examples and d = 10⁴ features, from the
products ``v ↦ Xᵀ(Xv)/n`` alone (``LinearRegression.hvp``): the time, the number of
products, and the memory beyond X itself (the d×d Hessian would take 800 MB). X is the
"Hessian in practice" picture: Gaussian noise (a Marchenko–Pastur bulk) plus ten rank-one
directions (outliers from 10 to 100). Also a Hutchinson trace and a
stochastic-Lanczos-quadrature density on the same operator.

Usage::

    python scripts/bench_spectra.py            # n = 2·10⁴, d = 10⁴ (X: 1.6 GB)
    python scripts/bench_spectra.py --quick    # n = 2000, d = 1000
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from quadsim import LinearRegression
from quadsim.spectra import hutchinson_trace, spectral_density, top_eigenpairs


def peak_mib() -> float:
    """The process's peak resident memory so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    n, d = (2_000, 1_000) if args.quick else (20_000, 10_000)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d), dtype=np.float32).astype(np.float64)
    # Ten spikes: X += Σ_j s_j a_j v_jᵀ with unit a_j (length n) and v_j (length d), so
    # that XᵀX/n has outliers near s_j²/n above the bulk edge (1 + √(d/n))² ≈ 2.9.
    spikes = np.sqrt(n * np.linspace(10.0, 100.0, 10))
    left = np.linalg.qr(rng.standard_normal((n, 10)))[0]
    right = np.linalg.qr(rng.standard_normal((d, 10)))[0]
    X += (left * spikes) @ right.T
    problem = LinearRegression(X, np.zeros(n))
    before = peak_mib()
    calls = 0

    def hvp(v: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        return problem.hvp(v)

    start = time.perf_counter()
    values, _, residuals = top_eigenpairs(hvp, d, 10)
    elapsed = time.perf_counter() - start
    print(f"Lanczos top-10 at n = {n}, d = {d}: {elapsed:.2f} s, {calls} products, "
          f"largest residual {residuals.max():.1e}; peak memory {peak_mib():.0f} MiB "
          f"(X alone {X.nbytes / 2**20:.0f} MiB; before Lanczos {before:.0f} MiB; a d×d "
          f"Hessian would add {d * d * 8 / 2**20:.0f} MiB)")
    print(f"top eigenvalues: {np.array2string(values[:5], precision=4)} …")
    start = time.perf_counter()
    trace, stderr = hutchinson_trace(problem.hvp, d, 30)
    exact = float(np.sum(X * X) / n)
    print(f"Hutchinson trace (30 probes): {trace:.6g} ± {stderr:.2g} (exact {exact:.6g}), "
          f"{time.perf_counter() - start:.2f} s")
    start = time.perf_counter()
    spectral_density(problem.hvp, d, probes=5, steps=40)
    print(f"SLQ density (5 probes × 40 steps): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
