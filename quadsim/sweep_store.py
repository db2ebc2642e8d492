"""A sweep's zarr store: chunk-by-chunk writes, resumption, and the sweep's identity.

Layout (zarr format 3, one array per variable, read back by :func:`xarray.open_zarr`):

- the grid axes and the result coordinates (``step``, ...) as coordinate arrays;
- each result variable over the grid dimensions and its own, chunked by the sweep's
  blocks of grid points (one zarr chunk per sweep chunk and variable, so a chunk is
  written whole and a reader loads it lazily);
- ``error``: each point's error message ('' where it succeeded);
- ``completed``: True for every point of a chunk once the chunk's data and errors are
  written (it is written last, so a chunk interrupted half-way is rerun), with the
  sweep's identity in its attrs: function name and source digest, seed, grid (the exact
  text of every value), the constants' reprs, and the block shape.

The process that calls :func:`~quadsim.sweeps.sweep` is the only writer. A store written
by a different sweep is refused before anything is written. Result variables are created
when the first point succeeds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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
    require,
    stable_repr,
)

if TYPE_CHECKING:
    import xarray as xr

__all__ = ["StoreSink", "SweepIdentity"]

#: The bookkeeping array: which points are written (left out of the returned Dataset).
COMPLETED = "completed"
#: The attributes of ``completed`` that hold the sweep's identity and the order of the
#: result variables (as the first point returned them).
IDENTITY_ATTR = "quadsim_sweep"
ORDER_ATTR = "variables"
#: Values of an axis shown when two grids differ.
SHOWN_VALUES = 4


@dataclass(frozen=True)
class SweepIdentity:
    """What makes two sweeps the same sweep (and so allowed to share a store)."""

    function: str
    digest: str
    seed: int
    axes: tuple[tuple[str, tuple[str, ...]], ...]
    constants: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, function: str, digest: str, seed: int, names: Sequence[str],
           canonical: Sequence[Sequence[str]], constants: Mapping[str, object]
           ) -> SweepIdentity:
        """The identity of a sweep from its parts."""
        return cls(function, digest, seed,
                   tuple((name, tuple(values)) for name, values in
                         zip(names, canonical, strict=True)),
                   tuple(sorted((name, stable_repr(value))
                                for name, value in constants.items())))

    def to_json(self) -> dict[str, Any]:
        """As JSON-able lists and strings (a zarr attribute)."""
        return {"function": self.function, "digest": self.digest, "seed": self.seed,
                "axes": [[name, list(values)] for name, values in self.axes],
                "constants": [list(item) for item in self.constants]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepIdentity:
        """Read back :meth:`to_json`."""
        return cls(str(data["function"]), str(data["digest"]), int(data["seed"]),
                   tuple((str(name), tuple(values)) for name, values in data["axes"]),
                   tuple((str(name), str(text)) for name, text in data["constants"]))

    def differences(self, given: SweepIdentity) -> list[str]:
        """What differs from the sweep `given`, in words (empty if nothing)."""
        found = []
        if (self.function, self.digest) != (given.function, given.digest):
            found.append(f"the function: stored {self.function} (source digest "
                         f"{self.digest}), given {given.function} (source digest "
                         f"{given.digest})")
        if self.seed != given.seed:
            found.append(f"the seed: stored {self.seed}, given {given.seed}")
        stored_names = [name for name, _ in self.axes]
        given_names = [name for name, _ in given.axes]
        if stored_names != given_names:
            found.append(f"the grid axes: stored ({', '.join(stored_names)}), given "
                         f"({', '.join(given_names)})")
        else:
            for (name, stored), (_, values) in zip(self.axes, given.axes, strict=True):
                if stored != values:
                    found.append(f"grid axis `{name}`: stored {_show(stored)}, given "
                                 f"{_show(values)}")
        if self.constants != given.constants:
            found.append(f"the constants: stored {dict(self.constants)}, given "
                         f"{dict(given.constants)}")
        return found


def _show(values: Sequence[str]) -> str:
    """An axis' values in their exact texts (``n…`` number, ``s…`` string, ``b…`` bool)."""
    texts = [text[1:] for text in values]
    if len(texts) > SHOWN_VALUES:
        texts = [*texts[:SHOWN_VALUES - 1], "...", texts[-1]]
    return f"{len(values)} values [{', '.join(texts)}]"


class StoreSink:
    """Writes a sweep's chunks to a zarr store and reads the finished Dataset back."""

    def __init__(self, path: str, group: Any, grid: Grid, block: tuple[int, ...],
                 schema: Schema | None) -> None:
        self.path = path
        self.group = group
        self.grid = grid
        self.block = block
        self.schema = schema
        # Opening an array reads its metadata from disk: once per sweep, not per chunk.
        self.arrays = {name: array for name, array in group.arrays()}

    @classmethod
    def open_or_create(cls, store: str | os.PathLike[str], identity: SweepIdentity,
                       grid: Grid, chunk_size: int, chunk_given: bool,
                       attrs: Mapping[str, object], units: Mapping[str, str]) -> StoreSink:
        """Open the store of this same sweep, or create it; refuse any other store."""
        zarr = require("zarr")
        if not isinstance(store, (str, os.PathLike)):
            raise TypeError(f"`store` must be a path; got {type(store).__name__}")
        path = os.fspath(store)
        block = block_shape(grid.shape, chunk_size)
        if os.path.exists(path) and not (os.path.isdir(path) and not os.listdir(path)):
            group = cls._open_existing(zarr, path, identity)
            stored_block = tuple(int(b) for b in group[COMPLETED].chunks)
            if chunk_given and stored_block != block:
                raise ValueError(f"`chunk_size` {chunk_size} gives blocks {block}, but the "
                                 f"store at {path} is chunked in blocks {stored_block}; omit "
                                 "`chunk_size` to resume it")
            return cls(path, group, grid, stored_block, cls._stored_schema(group, grid))
        group = zarr.open_group(path, mode="w-", zarr_format=3)
        group.attrs.update(dict(attrs))
        for axis, name in enumerate(grid.names):
            values = grid.coordinate(axis)
            array = group.create_array(name, shape=values.shape, chunks=values.shape,
                                       dtype=str if values.dtype.kind == "U" else values.dtype,
                                       dimension_names=[name])
            array[...] = values
            if name in units:
                array.attrs["units"] = units[name]
        errors = group.create_array(ERROR, shape=grid.shape, chunks=block, dtype=str,
                                    fill_value="", dimension_names=list(grid.names))
        errors.attrs.update(ERROR_ATTRS)
        completed = group.create_array(COMPLETED, shape=grid.shape, chunks=block, dtype=bool,
                                       fill_value=False, dimension_names=list(grid.names))
        completed.attrs[IDENTITY_ATTR] = identity.to_json()
        return cls(path, group, grid, block, None)

    @staticmethod
    def _open_existing(zarr: Any, path: str, identity: SweepIdentity) -> Any:
        not_ours = (f"`store` {path} exists and is not a quadsim sweep store; nothing was "
                    "written: give a new path")
        try:
            group = zarr.open_group(path, mode="r+")
        except (FileNotFoundError, ValueError, zarr.errors.BaseZarrError) as exc:
            raise ValueError(not_ours) from exc
        if COMPLETED not in group or IDENTITY_ATTR not in group[COMPLETED].attrs:
            raise ValueError(not_ours)
        stored = SweepIdentity.from_json(group[COMPLETED].attrs[IDENTITY_ATTR])
        differences = stored.differences(identity)
        if differences:
            raise ValueError(f"`store` {path} holds a different sweep; it differs in "
                             f"{'; '.join(differences)}. Nothing was written: give a new "
                             "store path (or delete this one) to run this sweep")
        return group

    @staticmethod
    def _stored_schema(group: Any, grid: Grid) -> Schema | None:
        """The result variables and coordinates already in the store (None if none)."""
        variables = {}
        coords = {}
        order = list(group[COMPLETED].attrs.get(ORDER_ATTR, []))

        def rank(item: tuple[str, Any]) -> tuple[int, str]:
            return (order.index(item[0]) if item[0] in order else len(order), item[0])

        for name, array in sorted(group.arrays(), key=rank):
            dims = tuple(array.metadata.dimension_names)
            if name in grid.names or name in (ERROR, COMPLETED):
                continue
            if dims[:len(grid.names)] == grid.names:
                variables[name] = (dims[len(grid.names):], tuple(array.shape[len(grid.names):]),
                                   dict(array.attrs))
            else:
                coords[name] = (array[...], dict(array.attrs))
        return Schema(variables, coords) if variables else None

    def done(self) -> set[int]:
        """Indices of the chunks whose every point is written."""
        completed = self.arrays[COMPLETED][...]
        return {i for i, block in enumerate(blocks(self.grid.shape, self.block))
                if completed[block].all()}

    def write(self, block: Block, outcomes: Sequence[Outcome]) -> None:
        """Write a chunk's results and errors, then mark its points completed."""
        known = self.schema is not None
        self.schema, arrays, errors = assemble(block, outcomes, self.schema, self.grid.names)
        if not known and self.schema is not None:
            self._create_variables(self.schema)
        for name, values in arrays.items():
            self.arrays[name][block] = values
        self.arrays[ERROR][block] = errors
        self.arrays[COMPLETED][block] = True

    def _create_variables(self, schema: Schema) -> None:
        names = list(self.grid.names)
        for dim, (values, attrs) in schema.coords.items():
            array = self.group.create_array(
                dim, shape=values.shape, chunks=values.shape,
                dtype=str if values.dtype.kind == "U" else values.dtype, dimension_names=[dim])
            array[...] = values
            array.attrs.update(attrs)
        for name, (dims, shape, attrs) in schema.variables.items():
            array = self.group.create_array(name, shape=self.grid.shape + shape,
                                            chunks=self.block + shape, dtype=np.float64,
                                            fill_value=np.nan, dimension_names=names + list(dims))
            array.attrs.update(attrs)
            self.arrays[name] = array
        self.arrays[COMPLETED].attrs[ORDER_ATTR] = list(schema.variables)

    def dataset(self) -> xr.Dataset:
        """The store as a Dataset that reads lazily."""
        xr = require("xarray")
        dataset = xr.open_zarr(self.path, consolidated=False, drop_variables=[COMPLETED])
        order = self.arrays[COMPLETED].attrs.get(ORDER_ATTR, [])
        return dataset[[*order, ERROR]]
