"""BLAS ``dsymv`` for the kernels, taken from scipy's Cython BLAS (no new dependency).

Above :data:`BLAS_MIN_DIM` a symmetric matrix-vector product is memory-bound; ``dsymv``
reads only one triangle of ``A`` and uses BLAS's threads, which the jitted loop cannot.
A kernel gets a *plan*: None (the jitted product) or the tuple that :func:`symv_plan`
builds in Python, the function pointer followed by its constant arguments. The pointer
is a first-class function argument, so the kernels stay cacheable on disk; the
constants are built outside the kernel because compiling ``np.array``, ``np.ones``
and ``ord`` inside it cost about a second of every first call. The last bits of a
``dsymv`` result may depend on the BLAS thread count.
"""

import ctypes

import numpy as np
from numba.extending import get_cython_function_address

from quadsim.kernels._jit import jit

#: From this dimension on the raw-basis kernels call ``dsymv`` (scripts/bench.py: at
#: d = 100 the jitted loop is faster, at d = 300 ``dsymv`` is already 2× faster).
BLAS_MIN_DIM = 200

_POINTER = ctypes.c_void_p

#: ``dsymv(uplo, n, alpha, a, lda, x, incx, beta, y, incy)``, Fortran calling convention
#: (every argument by pointer, 32-bit integers).
dsymv = ctypes.CFUNCTYPE(None, *(_POINTER,) * 10)(
    get_cython_function_address("scipy.linalg.cython_blas", "dsymv"))

_UPPER = np.array([ord("U")], dtype=np.uint8)
_UNIT_STRIDE = np.ones(1, dtype=np.int32)
_ONE = np.ones(1)
_ZERO = np.zeros(1)


def symv_plan(d: int) -> tuple | None:
    """The plan of ``y = A x`` for dimension `d`: None below :data:`BLAS_MIN_DIM`.

    From :data:`BLAS_MIN_DIM` on: ``(dsymv, uplo, n, inc, alpha, beta)``, with ``n``
    also the leading dimension of the C-contiguous ``A``.
    """
    if d < BLAS_MIN_DIM:
        return None
    return dsymv, _UPPER, np.array([d], dtype=np.int32), _UNIT_STRIDE, _ONE, _ZERO


@jit
def blas_symmetric_matvec(plan, A, x, out):
    """``out = A @ x`` by BLAS for a C-contiguous symmetric ``A``."""
    symv, uplo, n, inc, alpha, beta = plan
    symv(uplo.ctypes, n.ctypes, alpha.ctypes, A.ctypes, n.ctypes, x.ctypes, inc.ctypes,
         beta.ctypes, out.ctypes, inc.ctypes)
