"""The points of a sweep: grid axes, seeds, results as labelled arrays, chunks.

Everything here is plain Python and numpy, shared by :mod:`quadsim.sweeps` (which runs
the points) and :mod:`quadsim.sweep_store` (which writes them): the grid's validation;
the seed of a point, derived from the sweep's seed and the point's coordinates
(:func:`point_seed`); what a function may return and how it becomes float64 arrays with
dimension names (:func:`to_point_result`, :class:`Schema`); and the rectangular blocks of
grid points that make the chunks.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import inspect
import itertools
import math
import numbers
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from quadsim._validation import as_count
from quadsim.results import Ensemble, Moments, Trajectory
from quadsim.scaling import BatchScaling

__all__ = [
    "Block",
    "Grid",
    "Outcome",
    "PointResult",
    "Schema",
    "assemble",
    "block_shape",
    "blocks",
    "check_grid",
    "function_digest",
    "function_name",
    "point_seed",
    "require",
    "seed_from",
    "stable_repr",
    "to_point_result",
]

#: How to get the optional dependencies, quoted in every error about them.
INSTALL_HINT = "pip install 'quadsim[sweep]'"
#: The variable that holds each point's error message ('' where it succeeded).
ERROR = "error"
ERROR_ATTRS = {"long_name": "error raised at the point ('' where it succeeded)"}
#: Names a grid axis cannot take: the seed argument and the error variable.
RESERVED = ("rng", ERROR)
#: Names that ``Dataset.sel`` takes as its own arguments: ``ds.sel(method="GD")`` would
#: not select along an axis of that name.
SEL_ARGUMENTS = ("method", "tolerance", "drop", "indexers")
#: The variable name of a result that has none (a number, an unnamed DataArray).
VALUE = "value"


def require(module: str) -> Any:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"a sweep needs the optional dependency `{module}`, which is not "
                          f"installed: {INSTALL_HINT}") from exc


def describe(value: object) -> str:
    """A value and its type, for error messages."""
    return f"{value!r} ({type(value).__name__})"


# --------------------------------------------------------------------------------------
# The grid and the seeds
# --------------------------------------------------------------------------------------


def _kind(axis: str, value: object) -> str:
    """'bool', 'number' or 'string', or a TypeError naming the axis."""
    if isinstance(value, (bool, np.bool_)):
        return "bool"
    if isinstance(value, numbers.Real):
        return "number"
    if isinstance(value, str):
        return "string"
    raise TypeError(f"grid axis `{axis}` must hold numbers, strings or bools (labels of the "
                    f"points); got {describe(value)}: build such objects inside the "
                    "function from a label, or pass a fixed one in `constants`")


def _canonical(value: bool | int | float | str) -> str:
    """An exact, process-independent text of a coordinate value (1 and 1.0 agree)."""
    if isinstance(value, bool):
        return f"b{int(value)}"
    if isinstance(value, str):
        return f"s{value}"
    if isinstance(value, int):
        return f"n{value}"
    return f"n{int(value)}" if value.is_integer() else f"n{value.hex()}"


def _netstring(text: str) -> str:
    return f"{len(text)}:{text},"


def seed_from(seed: int, parts: Sequence[str]) -> int:
    """The seed of a point from the sweep seed and its (sorted) coordinate texts."""
    digest = hashlib.blake2b("".join(parts).encode(), digest_size=16).digest()
    key = tuple(int(word) for word in np.frombuffer(digest, dtype="<u4"))
    return int(np.random.SeedSequence(seed, spawn_key=key).generate_state(1, np.uint64)[0])


@dataclass(frozen=True, eq=False)
class Grid:
    """Validated grid axes: Python values, coordinate arrays and seed texts."""

    names: tuple[str, ...]
    values: tuple[tuple[Any, ...], ...]
    canonical: tuple[tuple[str, ...], ...]

    @property
    def shape(self) -> tuple[int, ...]:
        """The number of values of each axis."""
        return tuple(len(column) for column in self.values)

    @property
    def size(self) -> int:
        """The number of grid points."""
        return math.prod(self.shape)

    def coordinate(self, axis: int) -> np.ndarray:
        """The values of one axis as a coordinate array."""
        return np.array(self.values[axis])

    def seed_parts(self, axis: int) -> tuple[str, ...]:
        """Each value's part of the seed material: name and value as netstrings."""
        name = _netstring(self.names[axis])
        return tuple(name + _netstring(text) for text in self.canonical[axis])

    def point(self, index: Sequence[int]) -> dict[str, Any]:
        """The keyword arguments of the point with this index."""
        return {name: column[i] for name, column, i in
                zip(self.names, self.values, index, strict=True)}


def check_axis(name: object, column: object) -> tuple[tuple[Any, ...], tuple[str, ...]]:
    """One axis' values as Python scalars of one type, and their exact texts."""
    if not isinstance(name, str) or not name.isidentifier():
        raise TypeError("grid axis names must be identifiers (each is a keyword argument of "
                        f"the function); got {name!r}")
    if name in RESERVED:
        raise ValueError(f"`{name}` cannot be a grid axis: the sweep uses the name itself")
    if name in SEL_ARGUMENTS:
        raise ValueError(f"`{name}` cannot be a grid axis: Dataset.sel({name}=...) is an "
                         "argument of sel, not a selection; call the axis e.g. `optimizer`")
    values: list[Any]
    if isinstance(column, np.ndarray):
        if column.ndim != 1:
            raise ValueError(f"grid axis `{name}` must be 1-d; got shape {column.shape}")
        values = column.tolist()
    elif isinstance(column, (str, bytes)) or not isinstance(column, Sequence):
        raise TypeError(f"grid axis `{name}` must be a sequence of values; got "
                        f"{describe(column)}")
    else:
        values = list(column)
    if not values:
        raise ValueError(f"grid axis `{name}` is empty; give it at least one value")
    for value in values:
        try:
            hash(value)
        except TypeError:
            raise TypeError(f"grid axis `{name}` holds a non-hashable value "
                            f"{describe(value)}; axis values are labels: numbers, strings "
                            "or bools") from None
    kinds = sorted({_kind(name, value) for value in values})
    if len(kinds) > 1:
        raise TypeError(f"grid axis `{name}` mixes {' and '.join(kinds)} values; give it "
                        "values of one type")
    if kinds == ["number"]:
        floats = any(not isinstance(value, numbers.Integral) for value in values)
        values = [float(value) if floats else int(value) for value in values]
        if floats and any(math.isnan(value) for value in values):
            raise ValueError(f"grid axis `{name}` holds NaN, which cannot label a point")
    else:
        values = [bool(value) if kinds == ["bool"] else str(value) for value in values]
    canonical = tuple(_canonical(value) for value in values)
    if len(set(canonical)) < len(canonical):
        repeated = next(value for value, text in zip(values, canonical, strict=True)
                        if canonical.count(text) > 1)
        raise ValueError(f"grid axis `{name}` holds {repeated!r} more than once; each point "
                         "needs its own label")
    return tuple(values), canonical


def check_grid(grid: object) -> Grid:
    """Validate a mapping of axis name to values (see :func:`check_axis`)."""
    if not isinstance(grid, Mapping):
        raise TypeError(f"`grid` must be a mapping of axis name to values; got "
                        f"{type(grid).__name__}")
    if not grid:
        raise ValueError("`grid` must name at least one axis")
    checked = [(name, *check_axis(name, column)) for name, column in grid.items()]
    return Grid(tuple(name for name, _, _ in checked),
                 tuple(values for _, values, _ in checked),
                 tuple(canonical for _, _, canonical in checked))


def point_seed(seed: int, coordinates: Mapping[str, object]) -> int:
    """The seed that :func:`sweep` passes as ``rng`` at the point with these coordinates.

    It depends on the sweep's `seed` and on the point's coordinates as a mapping (not on
    the order of the axes, nor on the other points of the grid, nor on where or when the
    point runs); the numbers 1 and 1.0 label the same point. Use it to rerun one point
    of a sweep by hand.

    Parameters
    ----------
    seed : int
        The sweep's seed, ``>= 0``.
    coordinates : mapping of str to number, string or bool
        Every grid axis with the point's value.

    Returns
    -------
    int
        A seed in ``[0, 2**64)`` for :func:`~quadsim.simulate`'s ``rng`` (or
        :func:`numpy.random.default_rng`).

    Examples
    --------
    >>> from quadsim.sweeps import point_seed
    >>> point_seed(0, {"lr": 0.1, "batch_size": 8}) == point_seed(0, {"batch_size": 8.0,
    ...                                                                "lr": 0.1})
    True
    """
    seed = as_count(seed, "seed")
    parts = []
    for name in sorted(coordinates):
        _, (text,) = check_axis(name, [coordinates[name]])
        parts.append(_netstring(name) + _netstring(text))
    return seed_from(seed, parts)


# --------------------------------------------------------------------------------------
# Functions: names and digests
# --------------------------------------------------------------------------------------

def function_name(function: Callable[..., object]) -> str:
    """``module.qualname`` of a function (of its class for a callable object)."""
    if isinstance(function, functools.partial):
        return f"functools.partial({function_name(function.func)})"
    target = function if inspect.isroutine(function) else type(function)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable_repr(value: object) -> str:
    """``repr`` without memory addresses, so that it is the same in every process."""
    return _ADDRESS.sub("", repr(value))


def function_digest(function: Callable[..., object]) -> str:
    """A short hash of the function's source (its bytecode where the source is unknown)."""
    if isinstance(function, functools.partial):
        text = function_digest(function.func) + stable_repr(
            (function.args, sorted(function.keywords.items())))
    else:
        target = function if inspect.isroutine(function) else type(function)
        try:
            text = inspect.getsource(target)
        except (OSError, TypeError):
            code = getattr(target, "__code__", None)
            text = (function_name(function) if code is None
                    else code.co_code.hex() + repr(code.co_names))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------------------
# Results of one point as labelled arrays
# --------------------------------------------------------------------------------------

#: Attributes of the dimensions and variables that quadsim's results bring.
COORD_ATTRS = {
    "step": {"long_name": "step t", "units": "steps"},
    "time": {"long_name": "time t"},
    "batch_size": {"long_name": "batch size B", "units": "examples"},
}
_STEP_ATTRS = {"units": "steps"}


#: A variable before conversion: name, dimension names, values, attrs.
Entry = tuple[str, tuple[str, ...], Any, dict[str, str]]
#: Variables and the coordinates of their dimensions with their attrs.
Entries = tuple[list[Entry], dict[str, tuple[np.ndarray, dict[str, str]]]]


@dataclass(frozen=True, eq=False)
class PointResult:
    """One point's result as float64 arrays with dimension names.

    ``variables`` maps a name to ``(dims, values, attrs)``; ``coords`` maps a dimension to
    ``(values, attrs)`` for the dimensions that have coordinates.
    """

    variables: dict[str, tuple[tuple[str, ...], np.ndarray, dict[str, str]]]
    coords: dict[str, tuple[np.ndarray, dict[str, str]]]


def _number_or_nan(value: object) -> np.ndarray:
    """A number as a 0-d float64 array, NaN for None."""
    return np.array(np.nan if value is None else float(value))  # type: ignore[arg-type]


def _diverged(value: np.ndarray | int | None) -> np.ndarray:
    """``diverged_at`` with NaN for 'did not diverge' (None or −1)."""
    if value is None or isinstance(value, int):
        return _number_or_nan(None if value is None or value < 0 else value)
    steps = value.astype(np.float64)
    steps[value < 0] = np.nan
    return steps


def _result_entries(result: object) -> Entries | None:
    """A quadsim result's variables and coordinates, or None if `result` is not one."""
    entries: list[Entry]
    if isinstance(result, Trajectory):
        time = result.steps.dtype.kind == "f"
        t = "time" if time else "step"
        entries = [("w", (t, "axis"), result.w, {"long_name": "w_t"}),
                   ("loss", (t,), result.loss, {"long_name": "J(w_t)"}),
                   ("diverged_at", (), _diverged(result.diverged_at),
                    {"long_name": "first step not finite", **_STEP_ATTRS})]
        if result.ema is not None and result.ema_loss is not None:
            entries += [("ema", (t, "axis"), result.ema, {"long_name": "moving average of w_t"}),
                        ("ema_loss", (t,), result.ema_loss, {"long_name": "J(moving average)"})]
        return entries, {t: (result.steps, COORD_ATTRS[t])}
    if isinstance(result, Ensemble):
        entries = [("w", ("run", "step", "axis"), result.w, {"long_name": "w_t"}),
                   ("loss", ("run", "step"), result.loss, {"long_name": "J(w_t)"}),
                   ("diverged_at", ("run",), _diverged(result.diverged_at),
                    {"long_name": "first step not finite", **_STEP_ATTRS})]
        if result.ema is not None and result.ema_loss is not None:
            entries += [("ema", ("run", "step", "axis"), result.ema,
                         {"long_name": "moving average of w_t"}),
                        ("ema_loss", ("run", "step"), result.ema_loss,
                         {"long_name": "J(moving average)"})]
        return entries, {"step": (result.steps, COORD_ATTRS["step"])}
    if isinstance(result, Moments):
        # Not "mean": a Dataset's attribute access would give its method.
        entries = [("w_mean", ("step", "axis"), result.mean, {"long_name": "E[w_t]"}),
                   ("loss", ("step",), result.loss, {"long_name": "E[J(w_t)]"})]
        if result.loss_var is not None:
            entries.append(("loss_var", ("step",), result.loss_var,
                            {"long_name": "Var J(w_t)"}))
        entries.append(("diverged_at", (), _diverged(result.diverged_at),
                        {"long_name": "first recorded step not finite", **_STEP_ATTRS}))
        for name, value, label in (("ema_w_mean", result.ema_mean, "E[moving average]"),
                                   ("ema_loss", result.ema_loss, "E[J(moving average)]"),
                                   ("ema_loss_var", result.ema_loss_var,
                                    "Var J(moving average)")):
            if value is not None:
                dims = ("step", "axis") if name == "ema_w_mean" else ("step",)
                entries.append((name, dims, value, {"long_name": label}))
        return entries, {"step": (result.steps, COORD_ATTRS["step"])}
    if isinstance(result, BatchScaling):
        steps = np.where(result.steps < 0, np.nan, result.steps.astype(np.float64))
        entries = [("steps", ("batch_size",), steps,
                    {"long_name": "fewest steps to target", **_STEP_ATTRS}),
                   ("best_lr", ("batch_size",), result.best_lrs,
                    {"long_name": "best learning rate"}),
                   ("deterministic_steps", (), _number_or_nan(result.deterministic_steps),
                    {"long_name": "steps to target, infinite batch", **_STEP_ATTRS}),
                   ("critical_batch_size", (), _number_or_nan(result.critical_batch_size),
                    {"long_name": "critical batch size", "units": "examples"})]
        return entries, {"batch_size": (result.batch_sizes, COORD_ATTRS["batch_size"])}
    return None


def _xarray_entries(value: object, name: str | None) -> Entries | None:
    """A DataArray's or Dataset's variables and dimension coordinates, or None."""
    xr = sys.modules.get("xarray")  # an xarray object means xarray is imported
    if xr is None or not isinstance(value, (xr.DataArray, xr.Dataset)):
        return None
    if isinstance(value, xr.DataArray):
        arrays = [(name or value.name or VALUE, value)]
    else:
        arrays = [(f"{name}_{key}" if name else str(key), array)
                  for key, array in value.data_vars.items()]
    entries = [(str(key), tuple(str(d) for d in array.dims), array.values, dict(array.attrs))
               for key, array in arrays]
    coords = {str(dim): (value.coords[dim].values, dict(value.coords[dim].attrs))
              for dim in value.dims if dim in value.coords}
    return entries, coords


def to_point_result(result: object) -> PointResult:
    """Convert what a sweep's function returned into labelled float64 arrays.

    Accepted: a :class:`~quadsim.Trajectory`, :class:`~quadsim.Ensemble`,
    :class:`~quadsim.Moments` or :class:`~quadsim.scaling.BatchScaling`; a number, bool or
    None (a variable ``value``; None reads NaN); an :class:`xarray.DataArray` or
    :class:`xarray.Dataset` (its dimension coordinates are kept); or a mapping of names to
    any of these or to ``(dims, values)`` pairs (a result in a mapping gets its name as a
    prefix: ``{"sgd": moments}`` gives ``sgd_loss``, ``sgd_w_mean``, ...). The names and
    dimensions are checked against the grid by :meth:`Schema.of`.
    """
    entries: list[Entry] = []
    coords: dict[str, tuple[np.ndarray, dict[str, str]]] = {}
    items = result.items() if isinstance(result, Mapping) else [(None, result)]
    for key, value in items:
        if key is not None and not isinstance(key, str):
            raise TypeError(f"result names must be strings; got {key!r}")
        found = _result_entries(value)
        if found is not None and key is not None:
            found = ([(f"{key}_{name}", dims, data, attrs)
                      for name, dims, data, attrs in found[0]], found[1])
        found = found or _xarray_entries(value, key)
        if found is not None:
            more, more_coords = found
            entries += more
            for dim, (values, attrs) in more_coords.items():
                if dim in coords and not np.array_equal(coords[dim][0], values):
                    raise ValueError(f"two parts of the result have different `{dim}` "
                                     "coordinates")
                coords[dim] = (np.asarray(values), attrs)
        elif isinstance(value, tuple):
            if key is None or len(value) != 2:
                raise TypeError("a (dims, values) pair must be given under a name, as in "
                                "{'loss': ('step', values)}")
            dims = (value[0],) if isinstance(value[0], str) else tuple(value[0])
            entries.append((key, dims, value[1], {}))
        elif value is None or isinstance(value, (numbers.Real, np.bool_)):
            entries.append((key or VALUE, (), _number_or_nan(value), {}))
        elif isinstance(value, np.ndarray):
            raise TypeError(f"an array in the result needs dimension names: return "
                            f"{{'{key or 'name'}': (dims, values)}} or an xarray.DataArray")
        else:
            raise TypeError(f"cannot store a result of type {type(value).__name__}: return a "
                            "quadsim result, a number, an xarray object or a mapping of names "
                            "to these or to (dims, values) pairs")
    variables = {}
    for name, dims, data, attrs in entries:
        if type(data) is not np.ndarray or data.dtype != np.float64:
            if np.iscomplexobj(data):
                raise TypeError(f"result `{name}` is complex; store its real and imaginary "
                                "parts")
            data = np.asarray(data, dtype=np.float64)
        variables[name] = (dims, data, attrs)
    if len(variables) < len(entries):
        repeated = next(name for name, *_ in entries
                        if sum(other == name for other, *_ in entries) > 1)
        raise ValueError(f"the result names `{repeated}` twice")
    return PointResult(variables, coords)


def _fingerprint(values: np.ndarray) -> bytes:
    """Equal for equal coordinate arrays (dtype, shape and values)."""
    return f"{values.dtype.str}{values.shape}".encode() + values.tobytes()


@dataclass(frozen=True, eq=False)
class Schema:
    """The variables and result coordinates that every point must return.

    Set by the first point that succeeds (:meth:`of`, which checks its names and
    dimensions); every later point must match it (:meth:`mismatch`).
    """

    variables: dict[str, tuple[tuple[str, ...], tuple[int, ...], dict[str, str]]]
    coords: dict[str, tuple[np.ndarray, dict[str, str]]]
    fingerprints: dict[str, bytes] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "fingerprints", {dim: _fingerprint(values)
                                                  for dim, (values, _) in self.coords.items()})

    @classmethod
    def of(cls, point: PointResult, grid_names: Sequence[str]) -> Schema:
        """The schema that `point` sets, or a ValueError if its names do not fit the grid."""
        sizes: dict[str, int] = {}
        for name, (dims, values, _) in point.variables.items():
            if name in grid_names or name == ERROR:
                raise ValueError(f"the result names `{name}`, which is a grid axis or the "
                                 "error variable")
            if values.ndim != len(dims):
                raise ValueError(f"result `{name}` has {values.ndim} dimensions but "
                                 f"{len(dims)} names {dims}")
            for dim, size in zip(dims, values.shape, strict=True):
                if dim in grid_names:
                    raise ValueError(f"result `{name}` has a dimension `{dim}`, which is also "
                                     "a grid axis; rename one of them")
                if sizes.setdefault(dim, size) != size:
                    raise ValueError(f"dimension `{dim}` has sizes {sizes[dim]} and {size} in "
                                     "the result")
        return cls({name: (dims, values.shape, attrs)
                    for name, (dims, values, attrs) in point.variables.items()},
                   {dim: coord for dim, coord in point.coords.items() if dim in sizes})

    def mismatch(self, point: PointResult) -> str | None:
        """Why `point` does not fit (a message), or None."""
        if point.variables.keys() != self.variables.keys():
            return (f"the result has variables ({', '.join(point.variables)}), other points "
                    f"({', '.join(self.variables)})")
        for name, (dims, values, _) in point.variables.items():
            expected_dims, expected_shape, _ = self.variables[name]
            if dims != expected_dims or values.shape != expected_shape:
                return (f"result `{name}` has dims {dims} and shape {values.shape}, other "
                        f"points {expected_dims} and {expected_shape}")
        for dim, fingerprint in self.fingerprints.items():
            coord = point.coords.get(dim)
            if coord is None or _fingerprint(coord[0]) != fingerprint:
                return f"the result's `{dim}` coordinate differs from other points'"
        return None


# --------------------------------------------------------------------------------------
# Chunks: rectangular blocks of the grid
# --------------------------------------------------------------------------------------

Block = tuple[slice, ...]


def block_shape(shape: Sequence[int], chunk_size: int) -> tuple[int, ...]:
    """Blocks of at most `chunk_size` points, filled from the last axis backwards."""
    block = []
    room = chunk_size
    for n in reversed(shape):
        b = max(1, min(n, room))
        block.append(b)
        room = max(1, room // b)
    return tuple(reversed(block))


def blocks(shape: Sequence[int], block: Sequence[int]) -> list[Block]:
    """Every block of the grid, in C order."""
    starts = itertools.product(*(range(0, n, b) for n, b in zip(shape, block, strict=True)))
    return [tuple(slice(s, min(s + b, n)) for s, b, n in zip(start, block, shape, strict=True))
            for start in starts]


#: One point's outcome: its result, or its error message.
Outcome = PointResult | str


def assemble(block: Block, outcomes: Sequence[Outcome], schema: Schema | None,
             grid_names: Sequence[str]) -> tuple[Schema | None, dict[str, np.ndarray],
                                                 np.ndarray]:
    """A block's arrays (NaN where a point failed) and error messages.

    The schema is taken from the first successful point if none is known yet; a point
    that does not fit it becomes an error.
    """
    shape = tuple(s.stop - s.start for s in block)
    errors = np.full(len(outcomes), "", dtype=object)
    for k, outcome in enumerate(outcomes):
        if isinstance(outcome, str):
            errors[k] = outcome
            continue
        if schema is None:
            try:
                schema = Schema.of(outcome, grid_names)
            except ValueError as exc:
                errors[k] = f"ValueError: {exc}"
                continue
        problem = schema.mismatch(outcome)
        if problem is not None:
            errors[k] = f"ValueError: {problem}"
    arrays: dict[str, np.ndarray] = {}
    if schema is not None:
        for name, (_, var_shape, _) in schema.variables.items():
            flat = np.full((len(outcomes), *var_shape), np.nan)
            for k, outcome in enumerate(outcomes):
                if not errors[k]:
                    flat[k] = outcome.variables[name][1]  # type: ignore[union-attr]
            arrays[name] = flat.reshape(shape + var_shape)
    return schema, arrays, errors.reshape(shape)

