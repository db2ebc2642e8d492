"""The one place where the jit options of quadsim's kernels are set."""

import numba

#: Serial kernels: compiled once, cached on disk, no fastmath (the tests compare the
#: kernels with numpy references to ~1e-12, and the loops that matter vectorise
#: without it).
jit = numba.njit(cache=True, nogil=True)
