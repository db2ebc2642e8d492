"""Numba kernels: plain arrays in, plain arrays out; no validation, no Python objects.

The API modules validate and coerce every input (C-contiguous float64 arrays, Python
``int`` and ``float``) so that each kernel compiles exactly one specialisation.
"""
