"""The one place where the jit options of quadsim's kernels are set.

Every kernel is compiled on its first call and cached on disk (``cache=True``): in
``NUMBA_CACHE_DIR`` if set, else in ``__pycache__`` beside the module, else in the
user's cache directory. Where none of these can be written (a read-only install with
no writable home), the kernels are compiled in memory on each process's first call
instead of failing at import.
"""

from collections.abc import Callable
from typing import Any

import numba

#: The start of the error numba raises at decoration when no cache location is writable.
_NO_CACHE_LOCATION = "no locator available"


def _njit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, **options)``, falling back to no disk cache."""
    cached, in_memory = numba.njit(cache=True, **options), numba.njit(**options)

    def decorate(function: Callable[..., Any]) -> Any:
        try:
            return cached(function)
        except RuntimeError as error:
            if _NO_CACHE_LOCATION not in str(error):
                raise
            return in_memory(function)

    return decorate


#: Serial kernels: no fastmath (the tests compare the kernels with numpy references to
#: ~1e-12, and the loops that matter vectorise without it).
jit = _njit(nogil=True)

#: Floating-point sum reductions only (the loss of a recorded iterate): ``reassoc`` lets
#: LLVM split the sum over vector lanes instead of adding one term at a time (d additions
#: of 4-cycle latency in series). It changes the sum's rounding order, nothing else; the
#: tests compare these losses with numpy references to 1e-10.
jit_sum = _njit(nogil=True, fastmath={"reassoc"})

#: Small helpers called every step: inlined into the kernel at Numba's IR level, so that
#: passing arrays to them costs no reference counting (tens of ns a call otherwise).
jit_inline = _njit(nogil=True, inline="always")

#: The drivers of ensembles: one parallel region, a ``prange`` over independent runs
#: (never over time steps), each run calling a serial worker compiled with the options
#: above.
jit_parallel = _njit(nogil=True, parallel=True)
