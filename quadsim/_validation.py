"""Input checks, one helper per check.

Every helper returns the coerced value, so that each kernel sees a single type
specialisation (C-contiguous float64 arrays, Python ``int`` and ``float``), and
raises a ``ValueError`` or ``TypeError`` whose message names the argument, the
requirement and the value given.
"""

from __future__ import annotations

import numbers
import os

import numpy as np

#: Relative asymmetry ``max|A - Aᵀ| / max|A|`` above which a matrix is rejected.
SYMMETRY_RTOL = 1e-10

#: The memory that records may take where the platform does not tell its physical
#: memory (``os.sysconf`` is POSIX-only).
FALLBACK_MEMORY_BYTES = 16 * 2**30

_FLOAT_BYTES = 8


def physical_memory() -> int:
    """Bytes of physical memory, the most that a request's records may take."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return FALLBACK_MEMORY_BYTES


def _format_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def check_record_memory(records: int, record_size: int, name: str = "steps") -> None:
    """Raise a ValueError naming `name` if `records` records would not fit in memory.

    Each record holds the step index and `record_size` float64 values (``d + 1`` for
    ``w_t`` and ``J(w_t)``).
    """
    needed = records * (record_size + 1) * _FLOAT_BYTES
    available = physical_memory()
    if needed > available:
        last = records - 1
        raise ValueError(
            f"`{name}` asks for {records} records ({record_size} float64 values and a step "
            f"index each), which would take {_format_bytes(needed)}, more than this machine's "
            f"{_format_bytes(available)} of memory; to record fewer, pass an array of the "
            f"steps to record, e.g. `{name}=np.unique(np.geomspace(1, {last}, "
            "1000).astype(np.int64))`")


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return f"{value!r} of type {type(value).__name__}"


def as_float_array(value: object, name: str, *, ndim: int) -> np.ndarray:
    """Return `value` as a C-contiguous float64 array with `ndim` dimensions, all finite."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a real {ndim}-d array; got {_describe(value)}")
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested sequences
        raise TypeError(f"`{name}` must be a real {ndim}-d array; got {value!r}") from exc
    if array.dtype == bool or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise TypeError(f"`{name}` must be a real {ndim}-d array; got {_describe(array)}")
    if array.ndim != ndim:
        raise ValueError(f"`{name}` must be {ndim}-d; got shape {array.shape}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"`{name}` must be finite; it has {bad} NaN or infinite entries")
    return array


def as_vector(value: object, name: str, size: int | None = None) -> np.ndarray:
    """Return a finite float64 vector, of length `size` when given."""
    vector = as_float_array(value, name, ndim=1)
    if size is not None and vector.shape[0] != size:
        raise ValueError(f"`{name}` must have shape ({size},); got shape {vector.shape}")
    return vector


def as_symmetric_matrix(value: object, name: str, size: int | None = None) -> np.ndarray:
    """Return a finite, square, symmetric float64 matrix (exactly symmetrised)."""
    matrix = as_float_array(value, name, ndim=2)
    rows, cols = matrix.shape
    if rows != cols or rows == 0:
        raise ValueError(f"`{name}` must be a non-empty square matrix; got shape {matrix.shape}")
    if size is not None and rows != size:
        raise ValueError(f"`{name}` must have shape ({size}, {size}); got shape {matrix.shape}")
    asymmetry = float(np.max(np.abs(matrix - matrix.T)))
    scale = float(np.max(np.abs(matrix)))
    if asymmetry > max(SYMMETRY_RTOL * scale, np.finfo(np.float64).tiny):
        raise ValueError(f"`{name}` must be symmetric; max |{name} - {name}.T| = {asymmetry:.2e}")
    return np.ascontiguousarray(0.5 * (matrix + matrix.T))


def as_real(value: object, name: str) -> float:
    """Return a finite real scalar as a Python float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {_describe(value)}")
    number = float(value)
    if not np.isfinite(number):
        raise ValueError(f"`{name}` must be finite; got {number}")
    return number


def as_positive(value: object, name: str) -> float:
    """Return a finite real number > 0."""
    number = as_real(value, name)
    if number <= 0.0:
        raise ValueError(f"`{name}` must be > 0; got {number}")
    return number


def as_non_negative(value: object, name: str) -> float:
    """Return a finite real number >= 0."""
    number = as_real(value, name)
    if number < 0.0:
        raise ValueError(f"`{name}` must be >= 0; got {number}")
    return number


def as_unit_interval(value: object, name: str) -> float:
    """Return a real number in [0, 1)."""
    number = as_real(value, name)
    if not 0.0 <= number < 1.0:
        raise ValueError(f"`{name}` must lie in [0, 1); got {number}")
    return number


def as_count(value: object, name: str) -> int:
    """Return a non-negative integer (Python or numpy integer; not bool, not float)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a non-negative integer; got {_describe(value)}")
    count = int(value)
    if count < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; got {count}")
    return count


def as_batch_size(value: object, name: str = "batch_size") -> int:
    """Return a positive integer (a batch size, a number of runs)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be a positive integer; got {_describe(value)}")
    size = int(value)
    if size <= 0:
        raise ValueError(f"`{name}` must be a positive integer; got {size}")
    return size


def as_rng_root(value: object, name: str = "rng") -> np.ndarray:
    """The root state (4 × uint64) of the kernels' streams from an int, Generator or None.

    An int seeds it reproducibly (through :class:`numpy.random.SeedSequence`), a
    Generator is drawn from (and so advanced), None takes fresh entropy.
    """
    entropy: int | list[int] | None
    if isinstance(value, np.random.Generator):
        entropy = [int(x) for x in value.integers(0, 2**63, size=4)]
    elif value is None:
        entropy = None
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        if int(value) < 0:
            raise ValueError(f"`{name}` must be a non-negative seed; got {int(value)}")
        entropy = int(value)
    else:
        raise TypeError(f"`{name}` must be an int seed, a numpy Generator or None; got "
                        f"{_describe(value)}")
    state = np.random.SeedSequence(entropy).generate_state(4, np.uint64)
    if not np.any(state):  # the one state xoshiro256** cannot leave
        state[0] = 1
    return state


def as_step_indices(value: object, name: str = "steps", *,
                    record_size: int = 0) -> np.ndarray:
    """Return recorded step indices: an int ``T`` means ``0..T``; an array must increase.

    Each record will hold `record_size` float64 values besides its index; a request
    whose records would not fit in memory is refused (see :func:`check_record_memory`)
    before anything is allocated.
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        count = as_count(value, name) + 1
        check_record_memory(count, record_size, name)
        return np.arange(count, dtype=np.int64)
    if isinstance(value, (bool, numbers.Real)):
        raise TypeError(f"`{name}` must be an integer or an array of integers; got {value!r}")
    array = np.asarray(value)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"`{name}` must be an int or a non-empty 1-d array; got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer):
        if not np.issubdtype(array.dtype, np.floating) or not np.all(array == np.round(array)):
            raise TypeError(f"`{name}` must hold integer step indices; got {_describe(array)}")
    steps = np.ascontiguousarray(array, dtype=np.int64)
    if steps[0] < 0 or np.any(np.diff(steps) <= 0):
        raise ValueError(f"`{name}` must be non-negative and strictly increasing; got {array!r}")
    check_record_memory(steps.shape[0], record_size, name)
    return steps


def as_times(value: object, name: str = "steps") -> np.ndarray:
    """Return recorded continuous times: a scalar ``T`` means ``linspace(0, T, 101)``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        horizon = as_non_negative(value, name)
        return np.linspace(0.0, horizon, 101)
    times = as_float_array(value, name, ndim=1)
    if times.size == 0 or times[0] < 0 or np.any(np.diff(times) <= 0):
        raise ValueError(f"`{name}` must be non-negative and strictly increasing; got {times!r}")
    return times


def as_choice(value: object, name: str, choices: tuple[str, ...]) -> str:
    """Return `value` if it is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}")
    return str(value)
