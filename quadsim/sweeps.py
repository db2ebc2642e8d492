"""Sweeps: one function of a grid point, run over a named grid, as a labelled Dataset.

``sweep(function, {"lr": lrs, "batch_size": sizes})`` calls ``function(lr=..., batch_size=...)``
at every point of the grid (the product of the axes) and returns an
:class:`xarray.Dataset` with one dimension per grid axis plus the result's own (``step``,
``run``, ``axis``, ...). The function calls quadsim's public API; a sweep adds no
numerics of its own. It:

- derives each point's random seed from the sweep's seed and the point's coordinates
  (:func:`point_seed`), so the numbers do not depend on the engine, the chunking or the
  number of workers;
- runs in this process by default, or on a Dask ``distributed.Client``, in chunks of grid
  points (rectangular blocks of the grid) so that the per-task overhead is small;
- shows a tqdm progress bar driven by completed chunks;
- with ``store=path`` writes each chunk to a zarr store as it completes, skips the
  completed chunks when rerun, and refuses a store written by a different sweep
  (:mod:`quadsim.sweep_store`);
- records a point that raises with its error message instead of stopping the sweep.

The grid, the seeds and the conversion of results live in :mod:`quadsim.sweep_points`.
The optional dependencies (``pip install 'quadsim[sweep]'``: xarray, zarr, tqdm and
dask[distributed]) are imported when a sweep runs, never by ``import quadsim``.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import os
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

import numpy as np

from quadsim._validation import as_batch_size, as_count
from quadsim.sweep_points import (
    ERROR,
    ERROR_ATTRS,
    Block,
    Grid,
    Outcome,
    Schema,
    assemble,
    block_shape,
    blocks,
    check_grid,
    describe,
    function_digest,
    function_name,
    point_seed,
    require,
    seed_from,
    stable_repr,
    to_point_result,
)
from quadsim.sweep_store import StoreSink, SweepIdentity

if TYPE_CHECKING:
    import xarray as xr
    from distributed import Client

__all__ = ["SweepWarning", "point_seed", "sweep"]

#: The number of chunks a sweep aims at when `chunk_size` is not given (a progress
#: step of about 1%), and at least this many chunks per Dask worker thread.
DEFAULT_CHUNKS = 100
CHUNKS_PER_THREAD = 4
#: Seconds before the progress bar appears: short sweeps print nothing.
PROGRESS_DELAY_S = 2.0


class SweepWarning(UserWarning):
    """Some grid points of a sweep failed; their messages are in the ``error`` variable."""


def _check_function(function: object, grid: Grid, constants: Mapping[str, object]) -> bool:
    """Check that `function` takes the grid axes and constants; return whether it takes rng."""
    if not callable(function):
        raise TypeError(f"`function` must be callable; got {describe(function)}")
    name = function_name(function)
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # some builtins: nothing to check
        return False
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    accepted = [p for p, spec in parameters.items() if spec.kind in keyword]
    open_ended = any(spec.kind == inspect.Parameter.VAR_KEYWORD
                     for spec in parameters.values())
    for given, what in ((grid.names, "grid axis"), (tuple(constants), "constant")):
        for axis in given:
            if axis not in accepted and not open_ended:
                raise TypeError(f"`function` {name} does not accept the {what} `{axis}`; "
                                f"its parameters are ({', '.join(accepted)})")
    supplied = {*grid.names, *constants, "rng"}
    for parameter, spec in parameters.items():
        needed = spec.default is inspect.Parameter.empty
        if spec.kind == inspect.Parameter.POSITIONAL_ONLY and needed:
            raise TypeError(f"`function` {name} takes `{parameter}` by position only; a "
                            "sweep passes every argument by keyword")
        if spec.kind in keyword and needed and parameter not in supplied:
            raise TypeError(f"`function` {name} needs `{parameter}`, which is neither a grid "
                            "axis nor a constant")
    return "rng" in accepted


@dataclass(frozen=True, eq=False)
class _Task:
    """What a chunk needs to run anywhere: pickled once and sent to each worker."""

    function: Callable[..., object]
    constants: dict[str, object]
    grid: Grid
    seed: int
    takes_rng: bool


def _run_point(task: _Task, index: Sequence[int], parts: Sequence[Sequence[str]],
               order: Sequence[int]) -> Outcome:
    kwargs = dict(task.constants)
    kwargs.update(task.grid.point(index))
    if task.takes_rng:
        kwargs["rng"] = seed_from(task.seed, [parts[axis][index[axis]] for axis in order])
    try:
        return to_point_result(task.function(**kwargs))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def run_chunk(task: _Task, block: Block) -> list[Outcome]:
    """Every point of `block`, in C order: a result or an error message each."""
    names = task.grid.names
    parts = [task.grid.seed_parts(axis) if task.takes_rng else () for axis in range(len(names))]
    order = sorted(range(len(names)), key=names.__getitem__)  # the seed's axis order
    return [_run_point(task, index, parts, order)
            for index in itertools.product(*(range(s.start, s.stop) for s in block))]


def _task_payload(task: _Task) -> _Task:
    """The task itself, as a Dask task's result that its chunks depend on."""
    return task


def _run_chunk_on_worker(task: _Task, block: Block) -> list[Outcome]:
    """:func:`run_chunk` on a Dask worker thread, with Numba on one thread.

    A worker runs as many chunks at once as it has threads; each chunk's Numba kernels
    then use one thread, so a worker uses its ``nthreads`` cores and no more. (BLAS
    threads in worker processes are set to 1 by Dask's nanny.)
    """
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        return run_chunk(task, block)
    finally:
        numba.set_num_threads(previous)


# --------------------------------------------------------------------------------------
# Where the chunks go: memory or a store
# --------------------------------------------------------------------------------------


class _MemorySink:
    """Holds the whole result in memory (no store)."""

    def __init__(self, grid: Grid, block: tuple[int, ...], attrs: Mapping[str, object],
                 units: Mapping[str, str]) -> None:
        self.grid = grid
        self.block = block
        self.attrs = dict(attrs)
        self.units = units
        self.schema: Schema | None = None
        self.arrays: dict[str, np.ndarray] = {}
        self.errors = np.full(grid.shape, "", dtype=object)

    def done(self) -> set[int]:
        return set()

    def write(self, block: Block, outcomes: Sequence[Outcome]) -> None:
        self.schema, arrays, errors = assemble(block, outcomes, self.schema, self.grid.names)
        for name, values in arrays.items():
            if name not in self.arrays:
                var_shape = self.schema.variables[name][1]  # type: ignore[union-attr]
                self.arrays[name] = np.full(self.grid.shape + var_shape, np.nan)
            self.arrays[name][block] = values
        self.errors[block] = errors

    def dataset(self) -> xr.Dataset:
        xr = require("xarray")
        names = self.grid.names
        coords: dict[str, Any] = {
            name: (name, self.grid.coordinate(i),
                   {"units": self.units[name]} if name in self.units else {})
            for i, name in enumerate(names)}
        data_vars: dict[str, Any] = {}
        if self.schema is not None:
            for dim, (values, coord_attrs) in self.schema.coords.items():
                coords[dim] = (dim, values, coord_attrs)
            for name, (dims, _, var_attrs) in self.schema.variables.items():
                data_vars[name] = (names + dims, self.arrays[name], var_attrs)
        data_vars[ERROR] = (names, self.errors.astype(str), ERROR_ATTRS)
        return xr.Dataset(data_vars, coords, self.attrs)


# --------------------------------------------------------------------------------------
# The sweep
# --------------------------------------------------------------------------------------


@functools.cache
def _quadsim_version() -> str:
    """The installed version (read once: the package metadata takes ~10 ms to read)."""
    try:
        return version("quadsim")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "unknown"


def _check_units(units: object, grid: Grid) -> dict[str, str]:
    if units is None:
        return {}
    if not isinstance(units, Mapping):
        raise TypeError(f"`units` must map grid axes to unit strings; got {describe(units)}")
    for name, unit in units.items():
        if name not in grid.names:
            raise ValueError(f"`units` names `{name}`, which is not a grid axis "
                             f"({', '.join(grid.names)})")
        if not isinstance(unit, str):
            raise TypeError(f"`units['{name}']` must be a string; got {describe(unit)}")
    return dict(units)


def _check_client(client: object) -> Client | None:
    if client is None:
        return None
    distributed = require("distributed")
    if not isinstance(client, distributed.Client):
        raise TypeError("`client` must be a dask distributed.Client (or None for this "
                        f"process); got {type(client).__name__}")
    return client


def _default_chunk_size(size: int, client: Client | None) -> int:
    chunks = DEFAULT_CHUNKS
    if client is not None:
        threads = sum(client.nthreads().values())
        chunks = max(chunks, CHUNKS_PER_THREAD * threads)
    return max(1, math.ceil(size / chunks))


def _progress_bar(progress: bool, total: int, initial: int, label: str) -> Any:
    if not progress:
        return None
    tqdm = require("tqdm.auto").tqdm
    return tqdm(total=total, initial=initial, unit="point", desc=label,
                delay=PROGRESS_DELAY_S, dynamic_ncols=True)


def _chunk_points(block: Block) -> int:
    return math.prod(s.stop - s.start for s in block)


def sweep(function: Callable[..., object], grid: Mapping[str, Sequence[object] | np.ndarray], *,
          seed: int = 0, constants: Mapping[str, object] | None = None,
          units: Mapping[str, str] | None = None, store: str | os.PathLike[str] | None = None,
          client: Client | None = None, chunk_size: int | None = None,
          progress: bool = True) -> xr.Dataset:
    """Run `function` at every point of a grid and return the results as a Dataset.

    Parameters
    ----------
    function : callable
        Called as ``function(**point, **constants)`` with one value of each grid axis, and
        with ``rng=`` the point's seed (:func:`point_seed`) if it has an ``rng`` parameter:
        pass that on to :func:`~quadsim.simulate` (``rng=rng``) or
        :func:`numpy.random.default_rng`. It returns a :class:`~quadsim.Trajectory`,
        :class:`~quadsim.Ensemble`, :class:`~quadsim.Moments`,
        :class:`~quadsim.scaling.BatchScaling`, a number (None reads NaN), an xarray
        object, or a mapping of names to these or to ``(dims, values)`` pairs (see
        :func:`to_point_result`). Every point must return the same variables, shapes and
        result coordinates. On a Dask cluster the function and the constants are pickled
        (cloudpickle) and sent to each worker once.
    grid : mapping of str to sequence
        Axis name → values. Values are labels: numbers, strings or bools, one type per
        axis, no repeats (numbers become float64 if any is a float, else int64). The
        Dataset has one dimension per axis, in this order.
    seed : int
        The sweep's seed, ``>= 0``.
    constants : mapping of str to object, optional
        Keyword arguments passed unchanged at every point (a problem, a method template,
        ``w0``, ``steps``); their ``repr`` is recorded in the attrs.
    units : mapping of str to str, optional
        Units of grid axes, written to their coordinates' attrs.
    store : str or path, optional
        A zarr store (a directory). Each chunk is written as it completes; rerunning the
        same sweep skips the chunks that are complete, so a sweep that was interrupted
        ends with the same Dataset as one that was not. A store written by a different
        sweep (function, grid, seed or constants) raises a ValueError and is left
        untouched. The returned Dataset then reads lazily from the store.
    client : distributed.Client, optional
        Run the chunks on this Dask cluster (a LocalCluster, a scheduler address, a
        dask-jobqueue cluster); by default in this process. Dask schedules the chunks,
        reruns those whose worker died, and spills results to disk; the results come back
        to this process, which writes the store.
    chunk_size : int, optional
        Grid points per chunk (a rectangular block of the grid, at most this many
        points). By default about ``DEFAULT_CHUNKS`` chunks, and at least
        ``CHUNKS_PER_THREAD`` per Dask worker thread. A chunk's results are held in memory
        at once. A store keeps the chunking it was written with.
    progress : bool
        A tqdm progress bar (``tqdm.auto``: a widget in notebooks) that appears once the
        sweep has run ``PROGRESS_DELAY_S`` seconds, advanced by completed chunks.

    Returns
    -------
    xarray.Dataset
        Dimensions: the grid axes, then each result's own (``step``, ``run``, ``axis``,
        ...); coordinates: the axis values and the result's (``step``, ``time``,
        ``batch_size``) with their units; variables as float64, NaN where a point failed
        (and ``diverged_at`` NaN where a run did not diverge), plus ``error``, each
        point's error message ('' where it succeeded). Attrs: ``quadsim_version``,
        ``sweep_function``, ``sweep_seed`` and ``sweep_constant_<name>`` (the repr of each
        constant: the method specs, say).

    Raises
    ------
    KeyboardInterrupt
        Not caught: it stops the sweep (a store keeps the chunks written so far).

    Warns
    -----
    SweepWarning
        When some points raised: the Dataset holds their messages.

    See Also
    --------
    point_seed : the seed a point's function receives.
    quadsim.plots_sweep.plot_heatmap, quadsim.plots_sweep.plot_lines : plots of a sweep.

    Notes
    -----
    In this process the points run one after another and each uses Numba's and BLAS's
    threads as usual. On Dask each chunk runs with one Numba thread and Dask's nanny sets
    one BLAS thread per worker process, so a worker uses its ``nthreads`` cores; Numba's
    disk cache means a worker process compiles each kernel once (or loads it), not once
    per task. Give workers that run Numba's parallel kernels on several threads a
    thread-safe threading layer (``omp`` or ``tbb``), or use one thread per worker.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import GD, NoisyQuadratic, Quadratic, moments
    >>> from quadsim.sweeps import sweep
    >>> def expected_loss(lr, batch_size):
    ...     model = NoisyQuadratic(Quadratic(np.array([1.0, 0.1])), batch_size=batch_size)
    ...     return moments(model, GD(lr), np.ones(2), [0, 10, 100])
    >>> ds = sweep(expected_loss, {"lr": [0.1, 0.5], "batch_size": [1, 8]}, progress=False)
    >>> ds.loss.dims
    ('lr', 'batch_size', 'step')
    >>> round(float(ds.loss.sel(lr=0.5, batch_size=8, step=100)), 6)   # ≈ Σ lr h/(2B(2 − lr h))
    0.022438
    """
    require("xarray")   # fail at once, naming the extra
    checked = check_grid(grid)
    constants = {} if constants is None else constants
    if not isinstance(constants, Mapping) or not all(isinstance(k, str) for k in constants):
        raise TypeError("`constants` must map argument names to values; got "
                        f"{describe(constants)}")
    clash = [name for name in constants if name in checked.names or name == "rng"]
    if clash:
        raise ValueError(f"`constants` names `{clash[0]}`, which is a grid axis or the seed")
    takes_rng = _check_function(function, checked, constants)
    seed = as_count(seed, "seed")
    axis_units = _check_units(units, checked)
    client = _check_client(client)
    requested = None if chunk_size is None else as_batch_size(chunk_size, "chunk_size")
    if not isinstance(progress, bool):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}")
    task = _Task(function, dict(constants), checked, seed, takes_rng)
    label = function_name(function)
    attrs: dict[str, object] = {"quadsim_version": _quadsim_version(), "sweep_function": label,
                                "sweep_seed": seed}
    attrs.update({f"sweep_constant_{name}": stable_repr(value)
                  for name, value in constants.items()})
    chunk = requested or _default_chunk_size(checked.size, client)
    sink: _MemorySink | StoreSink
    if store is not None:
        identity = SweepIdentity.of(label, function_digest(function), seed, checked.names,
                                    checked.canonical, constants)
        sink = StoreSink.open_or_create(store, identity, checked, chunk, requested is not None,
                                        attrs, axis_units)
    else:
        sink = _MemorySink(checked, block_shape(checked.shape, chunk), attrs, axis_units)
    done = sink.done()
    todo = [(i, block) for i, block in enumerate(blocks(checked.shape, sink.block))
            if i not in done]
    skipped = checked.size - sum(_chunk_points(block) for _, block in todo)
    bar = _progress_bar(progress, checked.size, skipped, label)
    try:
        for block, outcomes in _outcomes(task, todo, client):
            sink.write(block, outcomes)
            if bar is not None:
                bar.update(_chunk_points(block))
    finally:
        if bar is not None:
            bar.close()
    dataset = sink.dataset()
    messages = dataset[ERROR].values
    failed = messages[messages != ""]
    if failed.size:
        warnings.warn(f"{failed.size} of {checked.size} grid points of {label} failed (e.g. "
                      f"{str(failed[0])!r}); their messages are in the `{ERROR}` variable",
                      SweepWarning, stacklevel=2)
    return dataset


def _outcomes(task: _Task, todo: Sequence[tuple[int, Block]], client: Client | None
              ) -> Iterator[tuple[Block, list[Outcome]]]:
    """Each chunk's outcomes as it completes: in order here, as they finish on Dask."""
    if client is None:
        for _, block in todo:
            yield block, run_chunk(task, block)
        return
    distributed = require("distributed")
    token = uuid.uuid4().hex[:8]
    # The task travels once, as the result of a task of its own: unlike scattered data,
    # that can be recomputed if the worker holding it dies. It and the chunks form two
    # task groups, so that Dask queues the chunks as root tasks and spreads them over
    # the workers instead of placing them all where the task is.
    payload = client.submit(_task_payload, task, key=f"quadsim-sweep-task-{token}")
    futures = {client.submit(_run_chunk_on_worker, payload, block,
                             key=(f"quadsim-sweep-chunk-{token}", i)): block
               for i, block in todo}
    try:
        for future in distributed.as_completed(futures):
            yield futures[future], future.result()
            future.release()
    finally:
        client.cancel(list(futures))
        payload.release()
