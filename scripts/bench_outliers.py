"""Time the spectral tools of a non-symmetric W per recorded step, at d = 500.

One step of :func:`quadsim.nonsymmetric.outlier_gradient` measures a gradient ``G``
against the outliers of ``W``: ``outlier_subspace`` (one sorted real Schur
decomposition) and ``gradient_share`` (one SVD of ``G`` for the principal angles, one of
``ΔW`` for its rank-k approximation, then ``O(d²k)`` products). Printed: the median and
range over repeats of each part, and of numpy's ``eigvals`` of the same ``W`` (which
computes no vectors) for scale; ``W`` is a 500 × 500 Gaussian bulk plus a rank-3 teacher
(three outliers). BLAS threads as the environment sets them (``OPENBLAS_NUM_THREADS``).

Usage::

    python scripts/bench_outliers.py [--d 500] [--repeats 7]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from quadsim.circular_law import ginibre
from quadsim.nonsymmetric import gradient_share, outlier_subspace, square_regression


def timed(function, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, np.array(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args(argv)
    d = args.d
    problem, W_star = square_regression(d, [1.8, 1.5 * np.exp(0.8j)], signal=6, rng=0)
    W0 = ginibre(d, rng=1)
    W = W0 + W_star
    G = problem.grad(W)
    found, schur = timed(lambda: outlier_subspace(W), args.repeats)
    share, rest = timed(lambda: gradient_share(G, found, update=W - W0), args.repeats)
    _, step = timed(lambda: gradient_share(G, outlier_subspace(W), update=W - W0),
                    args.repeats)
    _, eigvals = timed(lambda: np.linalg.eigvals(W), args.repeats)
    print(f"d = {d}: k = {found.k} outliers {np.round(found.outliers, 3)}; "
          f"fraction left {share.fraction_left:.3f}, right {share.fraction_right:.3f}")
    for name, times in (("outlier_subspace (sorted Schur)", schur),
                        ("gradient_share (2 SVDs + O(d²k))", rest),
                        ("one recorded step (both)", step),
                        ("numpy eigvals, for scale", eigvals)):
        print(f"  {name:34s} median {np.median(times):.3f} s  "
              f"(range {times.min():.3f}–{times.max():.3f})")


if __name__ == "__main__":
    main()
