"""BLAS ``dsymv`` for the kernels, taken from scipy's Cython BLAS (no new dependency).

Above :data:`BLAS_MIN_DIM` a symmetric matrix-vector product is memory-bound; ``dsymv``
reads only one triangle of ``A`` and uses BLAS's threads, which the jitted loop cannot.
The function pointer is passed to the kernels as an argument (a first-class function),
so the kernels stay cacheable on disk. The last bits of its result may depend on the
BLAS thread count.
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


@jit
def symv_arguments(d):
    """The constant arguments of ``y = A x`` by dsymv: uplo, n (= lda), inc, alpha, beta."""
    return (np.array([ord("U")], dtype=np.uint8), np.array([d], dtype=np.int32),
            np.ones(1, dtype=np.int32), np.ones(1), np.zeros(1))


@jit
def blas_symmetric_matvec(symv, arguments, A, x, out):
    """``out = A @ x`` by BLAS for a C-contiguous symmetric ``A``."""
    uplo, n, inc, alpha, beta = arguments
    symv(uplo.ctypes, n.ctypes, alpha.ctypes, A.ctypes, n.ctypes, x.ctypes, inc.ctypes,
         beta.ctypes, out.ctypes, inc.ctypes)
