"""The one place where the jit options of quadsim's kernels are set."""

import numba

#: Serial kernels: compiled once, cached on disk, no fastmath (the tests compare the
#: kernels with numpy references to ~1e-12, and the loops that matter vectorise
#: without it).
jit = numba.njit(cache=True, nogil=True)

#: Floating-point sum reductions only (the loss of a recorded iterate): ``reassoc`` lets
#: LLVM split the sum over vector lanes instead of adding one term at a time (d additions
#: of 4-cycle latency in series). It changes the sum's rounding order, nothing else; the
#: tests compare these losses with numpy references to 1e-10.
jit_sum = numba.njit(cache=True, nogil=True, fastmath={"reassoc"})

#: Small helpers called every step: inlined into the kernel at Numba's IR level, so that
#: passing arrays to them costs no reference counting (tens of ns a call otherwise).
jit_inline = numba.njit(cache=True, nogil=True, inline="always")

#: The drivers of ensembles: one parallel region, a ``prange`` over independent runs
#: (never over time steps), each run calling a serial worker compiled with the options
#: above.
jit_parallel = numba.njit(cache=True, nogil=True, parallel=True)
