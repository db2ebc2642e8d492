"""Cyclic Jacobi eigen-iteration for a nearly diagonal symmetric positive semi-definite matrix.

The singular values of a design matrix ``X`` are computed to high relative accuracy as
follows (see :meth:`quadsim.problems.SpectralFrame.from_regression`): an approximate
eigenbasis ``V`` of ``XᵀX`` makes the columns of ``B = XV`` nearly orthogonal, and the
Jacobi method then diagonalises ``H = BᵀB``, rotating ``V`` along. On such an ``H``
(graded, with a well-conditioned scaled matrix ``D^{-½} H D^{-½} ≈ I``) each rotation is
accurate relative to the entries it touches (Demmel and Veselić, "Jacobi's method is
more accurate than QR", SIAM J. Matrix Anal. Appl. 13, 1992), so small eigenvalues keep
their relative accuracy, where a Householder tridiagonalisation would lose it.
"""

import numpy as np

from quadsim.kernels._jit import jit


@jit
def jacobi_diagonalise(H, axes, rtol, max_sweeps, floor):
    """Rotate ``H`` to diagonal form in place, applying the rotations to the rows of ``axes``.

    Sweeps the pairs ``p < q`` row by row; a pair is rotated when
    ``|H_pq| > rtol·√|H_pp H_qq|`` (the relative test keeps tiny diagonal entries
    accurate), by the rotation that zeroes ``H_pq`` (Golub and Van Loan, Algorithm
    8.5.2, with the smaller of the two angles); the diagonal moves by ``∓t·H_pq``, not
    by the rotated sums, which would cancel. Only the upper triangle of ``H`` is read
    and kept up to date (half the memory traffic of both). On return ``H``'s diagonal
    holds the eigenvalues and ``axes ← Jᵀ·axes`` (``J`` the product of the rotations):
    with ``axes = Vᵀ`` on entry, its rows are the eigenvectors of ``V H Vᵀ``. Rows, not
    columns, so that a rotation touches contiguous memory.

    A pair with a diagonal entry ``<= floor`` (an axis of the numerical null space, whose
    eigenvalue is set to 0 afterwards) needs no relative accuracy for that entry: a pair
    of two such axes is left alone, and a pair with one only when the rotation would
    turn the other axis by less than ``rtol`` (``|H_pq| <= rtol·|H_qq − H_pp|``). A wide
    X would otherwise rotate O(d·(d − n)) pairs for nothing.

    Returns the number of sweeps that rotated something, or −1 if the last of
    ``max_sweeps`` sweeps still rotated.
    """
    d = H.shape[0]
    for sweep in range(max_sweeps):
        rotated = False
        for p in range(d - 1):
            for q in range(p + 1, d):
                h_pq = H[p, q]
                if abs(h_pq) <= rtol * np.sqrt(abs(H[p, p] * H[q, q])):
                    continue
                if H[p, p] <= floor or H[q, q] <= floor:
                    if H[p, p] <= floor and H[q, q] <= floor:
                        continue
                    if abs(h_pq) <= rtol * abs(H[q, q] - H[p, p]):
                        continue
                rotated = True
                theta = (H[q, q] - H[p, p]) / (2.0 * h_pq)
                t = 1.0 / (abs(theta) + np.sqrt(1.0 + theta * theta))
                if theta < 0.0:
                    t = -t
                c = 1.0 / np.sqrt(1.0 + t * t)
                s = t * c
                for k in range(p):
                    h_kp, h_kq = H[k, p], H[k, q]
                    H[k, p] = c * h_kp - s * h_kq
                    H[k, q] = s * h_kp + c * h_kq
                for k in range(p + 1, q):
                    h_kp, h_kq = H[p, k], H[k, q]
                    H[p, k] = c * h_kp - s * h_kq
                    H[k, q] = s * h_kp + c * h_kq
                for k in range(q + 1, d):
                    h_kp, h_kq = H[p, k], H[q, k]
                    H[p, k] = c * h_kp - s * h_kq
                    H[q, k] = s * h_kp + c * h_kq
                H[p, p] -= t * h_pq
                H[q, q] += t * h_pq
                H[p, q] = 0.0
                for k in range(axes.shape[1]):
                    v_pk, v_qk = axes[p, k], axes[q, k]
                    axes[p, k] = c * v_pk - s * v_qk
                    axes[q, k] = s * v_pk + c * v_qk
        if not rotated:
            return sweep
    return -1
