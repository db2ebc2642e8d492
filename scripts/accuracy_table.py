"""Print the relative errors of quadsim's closed forms on ill-conditioned regressions.

Each entry is the largest relative error, over the cases of ``tests/accuracy_cases.py``
((n, d) ∈ {(4, 6), (5, 5), (8, 4)}, l2 ∈ {0, 1/κ}, t ∈ {10³, 10⁶, 10⁹}), of ``w_t``
(relative to ‖w_t‖) and of ``J(w_t)``, against the same run in 60-digit arithmetic
from the same float64 X and y. "SVD" is a ``LinearRegression`` (its frame from the SVD
of X, its loss J* + ½ Σ a e²); "Gram" the same objective as a plain ``Quadratic``
(``eigh`` of XᵀX/n, loss ½ a u² + b̃ u + c summed), as regressions were before.

Usage::

    python scripts/accuracy_table.py          # the summary, a few seconds
    python scripts/accuracy_table.py --full   # every case
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))

# The cases and the reference live with the tests, in tests/.
from accuracy_cases import (
    HORIZONS,
    KAPPAS,
    METHODS,
    RIDGES,
    SHAPES,
    errors,
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="print every case")
    args = parser.parse_args(argv)
    header = (f"{'κ':>6}  {'method':<14}" + (f"{'(n, d)':>8}  {'l2':<7}{'t':>6}"
                                              if args.full else "")
              + f"  {'w_t: SVD':>9} {'Gram':>8}   {'J(w_t): SVD':>11} {'Gram':>8}")
    print(header)
    print("-" * len(header))
    for kappa in KAPPAS:
        for name in METHODS:
            rows = []
            for shape in SHAPES:
                for ridge in RIDGES:
                    for t in HORIZONS:
                        svd = errors(kappa, shape, ridge, name, t)
                        gram = errors(kappa, shape, ridge, name, t, gram=True)
                        rows.append((shape, ridge, t, svd, gram))
                        if args.full:
                            print(f"{kappa:>6.0e}  {name:<14}{shape!s:>8}  {ridge:<7}"
                                  f"{t:>6.0e}  {svd.w:>9.1e} {gram.w:>8.1e}   "
                                  f"{svd.loss:>11.1e} {gram.loss:>8.1e}")
            if not args.full:
                print(f"{kappa:>6.0e}  {name:<14}  {max(r[3].w for r in rows):>9.1e} "
                      f"{max(r[4].w for r in rows):>8.1e}   "
                      f"{max(r[3].loss for r in rows):>11.1e} "
                      f"{max(r[4].loss for r in rows):>8.1e}")


if __name__ == "__main__":
    main()
