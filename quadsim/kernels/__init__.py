"""Numba kernels: plain arrays in, plain arrays out; no validation, no Python objects.

The API modules validate and coerce every input (C-contiguous float64 arrays, Python
``float`` and int64 step indices) so that each kernel compiles one specialisation per
code path it documents, and only on first use: importing quadsim compiles nothing.
Each module's docstring states what its kernels compile for; :mod:`quadsim.kernels._jit`
sets the jit options and the disk cache.

This package sits at the bottom of quadsim's layers and imports no other quadsim
module (an import-linter contract in pyproject.toml holds it there).
"""
