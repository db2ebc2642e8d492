"""Plots of a sweep: a heat map over two grid axes and lines along one.

Each function reads an :class:`xarray.DataArray` from a :func:`~quadsim.sweeps.sweep`
Dataset (``ds.steps``, ``ds.loss.sel(step=100)``, ...), labels its axes and colour bar
from the coordinates' and the variable's ``long_name`` and ``units``, draws on the axes
it is given (new, pyplot-free ones otherwise) and returns them. Numeric axes whose
positive values span more than ``LOG_SPAN`` are drawn on a log scale. matplotlib is
imported inside the functions only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from quadsim.plots import _new_axes
from quadsim.sweep_points import require

if TYPE_CHECKING:
    import xarray as xr
    from matplotlib.axes import Axes

__all__ = ["plot_heatmap", "plot_lines"]

#: Ratio max/min of a positive coordinate above which it is drawn on a log scale.
LOG_SPAN = 50.0
#: Colour of cells without a value (NaN: a failed point, a target never reached).
MISSING_COLOR = "0.82"


def _name(array: Any, name: str | None = None) -> str:
    """The ``long_name`` of a variable or coordinate, else its name (``_`` as spaces)."""
    fallback = str(name if name is not None else array.name).replace("_", " ")
    return str(array.attrs.get("long_name", fallback))


def _label(array: Any, name: str | None = None) -> str:
    """``long_name [units]`` of a variable or coordinate, else its name (``_`` as spaces)."""
    text = _name(array, name)
    units = array.attrs.get("units")
    return f"{text} [{units}]" if units else text


def _is_log(values: np.ndarray) -> bool:
    if values.dtype.kind not in "iuf" or values.size < 2 or np.any(values <= 0):
        return False
    return bool(values.max() / values.min() > LOG_SPAN)


def _positions(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """Cell centres and edges along one axis (index positions for labels), and log or not."""
    if values.dtype.kind not in "iuf":
        centres = np.arange(values.size, dtype=np.float64)
        return centres, np.arange(values.size + 1) - 0.5, False
    centres = values.astype(np.float64)
    log = _is_log(centres)
    scaled = np.log(centres) if log else centres
    if scaled.size == 1:
        edges = scaled[0] + np.array([-0.5, 0.5])
    else:
        middle = 0.5 * (scaled[1:] + scaled[:-1])
        edges = np.concatenate([[2 * scaled[0] - middle[0]], middle,
                                [2 * scaled[-1] - middle[-1]]])
    return centres, np.exp(edges) if log else edges, log


def _check_dims(data: xr.DataArray, dims: tuple[str, ...]) -> xr.DataArray:
    """`data` with exactly `dims` (size-1 others squeezed out), or a ValueError."""
    if not isinstance(data, require("xarray").DataArray):
        raise TypeError(f"`data` must be an xarray.DataArray (a variable of a sweep, ds.name); "
                        f"got {type(data).__name__}")
    for dim in dims:
        if dim not in data.dims:
            raise ValueError(f"`data` has no dimension `{dim}`; its dimensions are "
                             f"{tuple(data.dims)}")
    extra = [dim for dim in data.dims if dim not in dims]
    if any(data.sizes[dim] > 1 for dim in extra):
        raise ValueError(f"`data` has dimensions {tuple(data.dims)}; select one value of "
                         f"{', '.join(str(d) for d in extra if data.sizes[d] > 1)} first "
                         "(data.sel(...) or data.isel(...))")
    return data.squeeze(extra, drop=True).transpose(*dims)


def _set_ticks(ax: Axes, which: str, values: np.ndarray) -> None:
    """Label an index axis with its string values."""
    setter = ax.set_xticks if which == "x" else ax.set_yticks
    setter(np.arange(values.size), [str(v) for v in values])


def plot_heatmap(data: xr.DataArray, x: str, y: str, *, best: str | None = None,
                 log_color: bool = False, cmap: str = "viridis",
                 missing: str = "no value (NaN)", ax: Axes | None = None) -> Axes:
    """A heat map of a sweep variable over two of its dimensions.

    Parameters
    ----------
    data : xarray.DataArray
        A variable of a sweep Dataset with dimensions `x` and `y` (other dimensions of
        size 1 are dropped; select one value of the others first).
    x, y : str
        The dimensions along the horizontal and vertical axes.
    best : {'min', 'max'}, optional
        Mark, for each `x`, the `y` at which `data` is smallest (largest), NaN ignored:
        white dots joined by a line, e.g. the optimal learning rate per batch size.
    log_color : bool
        A logarithmic colour scale (for values spanning decades, such as steps).
    cmap : str
        The matplotlib colour map; cells without a value are grey.
    missing : str
        The legend's label of the grey cells (e.g. "target never reached").
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Patch

    if best not in (None, "min", "max"):
        raise ValueError(f"`best` must be 'min', 'max' or None; got {best!r}")
    data = _check_dims(data, (y, x))
    ax = _new_axes(ax, (7.0, 5.2))
    x_values, y_values = data[x].values, data[y].values
    x_centres, x_edges, x_log = _positions(x_values)
    y_centres, y_edges, y_log = _positions(y_values)
    values = np.ma.masked_invalid(data.values.astype(np.float64))
    palette = matplotlib.colormaps[cmap].with_extremes(bad=MISSING_COLOR)
    norm = LogNorm() if log_color else None
    mesh = ax.pcolormesh(x_edges, y_edges, values, cmap=palette, norm=norm, shading="flat")
    ax.figure.colorbar(mesh, ax=ax, label=_label(data))
    ax.set(xscale="log" if x_log else "linear", yscale="log" if y_log else "linear",
           xlabel=_label(data[x], x), ylabel=_label(data[y], y))
    if x_values.dtype.kind not in "iuf":
        _set_ticks(ax, "x", x_values)
    if y_values.dtype.kind not in "iuf":
        _set_ticks(ax, "y", y_values)
    handles: list[Any] = []
    if np.ma.count_masked(values):
        handles.append(Patch(color=MISSING_COLOR, label=missing))
    if best is not None:
        found = np.isfinite(data.values).any(axis=0)
        filled = np.where(np.isfinite(data.values), data.values,
                          np.inf if best == "min" else -np.inf)
        index = np.argmin(filled, axis=0) if best == "min" else np.argmax(filled, axis=0)
        line = ax.plot(x_centres[found], y_centres[index[found]], "o-", color="white", ms=4,
                       mec="black", mew=0.6, lw=1.0,
                       label=f"best {_name(data[y], y)} per {_name(data[x], x)} ({best})")
        handles.append(line[0])
    if handles:
        ax.legend(handles=handles, fontsize=8, loc="best")
    return ax


def plot_lines(data: xr.DataArray, x: str, *, hue: str | None = None,
               logy: bool | None = None, ax: Axes | None = None) -> Axes:
    """A sweep variable along one dimension, one line per value of another.

    Parameters
    ----------
    data : xarray.DataArray
        A variable with dimension `x` (and `hue`); other dimensions of size 1 are dropped.
    x : str
        The dimension along the horizontal axis.
    hue : str, optional
        One line per value of this dimension, labelled ``hue = value``.
    logy : bool, optional
        A log scale for the values; by default when they are positive and span more than
        ``LOG_SPAN``.
    ax : matplotlib.axes.Axes, optional

    Returns
    -------
    matplotlib.axes.Axes
    """
    data = _check_dims(data, (x,) if hue is None else (hue, x))
    ax = _new_axes(ax, (6.5, 4.8))
    x_values = data[x].values
    x_centres, _, x_log = _positions(x_values)
    rows = [(None, data)] if hue is None else [(value, data.sel({hue: value}))
                                               for value in data[hue].values]
    for i, (value, row) in enumerate(rows):
        label = None if value is None else f"{_name(data[hue], hue)} = {value}"
        ax.plot(x_centres, row.values, "o-", ms=3.5, color=f"C{i % 10}", label=label)
    finite = data.values[np.isfinite(data.values)]
    if logy is None:
        logy = finite.size > 1 and _is_log(finite)
    ax.set(xscale="log" if x_log else "linear", yscale="log" if logy else "linear",
           xlabel=_label(data[x], x), ylabel=_label(data))
    if x_values.dtype.kind not in "iuf":
        _set_ticks(ax, "x", x_values)
    if hue is not None:
        ax.legend(fontsize=8)
    ax.grid(True, which="major", alpha=0.3)
    return ax
