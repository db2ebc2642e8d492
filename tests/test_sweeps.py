"""Sweeps: labelled results, seeds by coordinates, engines, a store that loses nothing."""

import functools
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from numpy.testing import assert_allclose, assert_array_equal

from quadsim import (
    GD,
    GradientFlow,
    Momentum,
    NoisyQuadratic,
    Quadratic,
    closed_form,
    moments,
    simulate,
)
from quadsim.scaling import batch_size_scaling, method_grid, scan_steps_to_target
from quadsim.sweep_points import block_shape, blocks
from quadsim.sweeps import SweepWarning, point_seed, sweep

H = np.array([1.0, 0.3, 0.05])
W0 = np.ones(3)
STEPS = [0, 5, 20]
GRID = {"lr": [0.1, 0.4, 0.8], "batch_size": [1, 4]}
#: Grid points at which `monte_carlo` raises KeyboardInterrupt or kills its worker
#: (set by the tests; the function's source, and so the sweep, stays the same).
INTERRUPT_AT: list[tuple[float, int]] = []
CALLS: list[tuple[float, int]] = []


def nqm(batch_size):
    return NoisyQuadratic(Quadratic(H), batch_size=batch_size)


def expected_loss(lr, batch_size):
    """Exact moments: no randomness."""
    return moments(nqm(batch_size), GD(lr), W0, STEPS)


def monte_carlo(lr, batch_size, rng, runs=3):
    """A small ensemble, seeded by the sweep; counts its calls and can be interrupted."""
    CALLS.append((lr, batch_size))
    if (lr, batch_size) in INTERRUPT_AT:
        raise KeyboardInterrupt
    return simulate(nqm(batch_size), GD(lr), W0, STEPS, runs=runs, rng=rng)


def killed_once(lr, batch_size, rng, marker):
    """Monte Carlo that kills its own worker process the first time it reaches lr = 0.4."""
    if lr == 0.4 and batch_size == 4 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return simulate(nqm(batch_size), GD(lr), W0, STEPS, runs=3, rng=rng)


def fails_at_large_lr(lr, batch_size):
    if lr > 0.5:
        raise ValueError(f"lr = {lr} is too large")
    return moments(nqm(batch_size), GD(lr), W0, STEPS).loss[-1]


def tree_digest(path):
    """A hash of every file name and content under `path`."""
    digest = hashlib.sha256()
    for file in sorted(Path(path).rglob("*")):
        digest.update(str(file.relative_to(path)).encode())
        if file.is_file():
            digest.update(file.read_bytes())
    return digest.hexdigest()


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()
    INTERRUPT_AT.clear()
    yield
    INTERRUPT_AT.clear()


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in this process (threads, not processes: fast)."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        yield client


# ---------------------------------------------------------------------------------------
# Labelled results
# ---------------------------------------------------------------------------------------


def test_dataset_is_labelled_with_provenance():
    ds = sweep(expected_loss, GRID, units={"batch_size": "examples"}, progress=False)
    assert ds.loss.dims == ("lr", "batch_size", "step")
    assert ds.w_mean.dims == ("lr", "batch_size", "step", "axis")
    assert_array_equal(ds.lr, GRID["lr"])
    assert ds.batch_size.dtype == np.int64 and ds.batch_size.attrs["units"] == "examples"
    assert_array_equal(ds.step, STEPS)
    assert ds.step.attrs == {"long_name": "step t", "units": "steps"}
    assert ds.loss.attrs["long_name"] == "E[J(w_t)]"
    assert ds.attrs["sweep_function"] == "test_sweeps.expected_loss"
    assert ds.attrs["sweep_seed"] == 0 and ds.attrs["quadsim_version"]
    assert (ds.error == "").all()
    exact = expected_loss(0.4, 4)
    assert_array_equal(ds.loss.sel(lr=0.4, batch_size=4), exact.loss)
    assert_array_equal(ds.w_mean.sel(lr=0.4, batch_size=4), exact.mean)
    assert np.isnan(ds.diverged_at).all()   # no point diverged: NaN, not -1


def test_constants_are_passed_and_recorded():
    def loss_after(lr, method, steps):
        return closed_form(Quadratic(H), method.__class__(lr, beta=method.beta), W0,
                           steps).loss[-1]

    template = Momentum(0.1, beta=0.5)
    ds = sweep(loss_after, {"lr": [0.1, 0.2]}, constants={"method": template, "steps": 30},
               progress=False)
    assert ds.attrs["sweep_constant_method"] == "Momentum(lr=0.1, beta=0.5)"
    assert ds.attrs["sweep_constant_steps"] == "30"
    assert ds.value.dims == ("lr",)
    assert float(ds.value.sel(lr=0.2)) == loss_after(0.2, template, 30)


def test_every_kind_of_result():
    flow = sweep(lambda scale: closed_form(Quadratic(scale * H), GradientFlow(), W0, 2.0),
                 {"scale": [1.0, 2.0]}, progress=False)
    assert flow.w.dims == ("scale", "time", "axis") and flow.time.size == 101
    runs = sweep(monte_carlo, {"lr": [0.1], "batch_size": [2]}, progress=False)
    assert runs.w.dims == ("lr", "batch_size", "run", "step", "axis")
    assert runs.diverged_at.dims == ("lr", "batch_size", "run")

    def mixed(lr):
        exact = moments(nqm(2), GD(lr), W0, STEPS)
        return {"exact": exact, "final": exact.loss[-1], "never": None,
                "curve": ("step", exact.loss),
                "labelled": xr.DataArray(exact.loss[::-1], coords={"back": [3, 2, 1]},
                                         dims="back", attrs={"units": "loss"})}

    ds = sweep(mixed, {"lr": [0.1, 0.2]}, progress=False)
    assert {"exact_loss", "exact_w_mean", "final", "never", "curve", "labelled"} <= set(ds)
    assert np.isnan(ds.never).all()
    assert_array_equal(ds.back, [3, 2, 1])
    assert ds.labelled.attrs["units"] == "loss"
    assert_array_equal(ds.curve, ds.exact_loss)
    assert_array_equal(ds.final, ds.exact_loss.isel(step=-1))

    def whole_dataset(lr):
        return xr.Dataset({"a": ("k", [lr, 2 * lr]), "b": lr}, coords={"k": ["x", "y"]})

    ds = sweep(whole_dataset, {"lr": [1.0, 3.0]}, progress=False)
    assert_array_equal(ds.a.sel(k="y"), [2.0, 6.0])
    assert_array_equal(ds.b, [1.0, 3.0])


def test_batch_scaling_results_and_heat_map_agree():
    """Steps over (lr, batch size) from a sweep: its optimum is batch_size_scaling's."""
    lrs = np.logspace(-2, 0.2, 12)
    sizes = 2 ** np.arange(0, 8, 2)
    model = NoisyQuadratic(Quadratic(H))

    def sgd_steps(batch_size):
        steps = scan_steps_to_target(model.with_batch_size(batch_size),
                                     method_grid(GD, lr=lrs), 0.01, W0)
        return xr.DataArray(np.where(steps >= 0, steps, np.nan), coords={"lr": lrs},
                            dims="lr", name="steps")

    heat = sweep(sgd_steps, {"batch_size": sizes}, progress=False)
    scaling = batch_size_scaling(model, method_grid(GD, lr=lrs), 0.01, W0, sizes)
    assert_array_equal(heat.steps.min("lr"), scaling.steps)
    assert_array_equal(heat.lr[heat.steps.argmin("lr")], scaling.best_lrs)
    curves = sweep(lambda label: batch_size_scaling(model, method_grid(GD, lr=lrs), 0.01, W0,
                                                    sizes), {"label": ["sgd"]}, progress=False)
    assert_array_equal(curves.steps.sel(label="sgd"), scaling.steps)
    assert float(curves.deterministic_steps.sel(label="sgd")) == scaling.deterministic_steps


# ---------------------------------------------------------------------------------------
# Seeds and engines
# ---------------------------------------------------------------------------------------


def test_seeds_come_from_the_coordinates():
    seen = {}

    def record(lr, batch_size, rng):
        seen[lr, batch_size] = rng
        return 0.0

    sweep(record, GRID, seed=7, progress=False)
    assert seen[0.4, 4] == point_seed(7, {"batch_size": 4, "lr": 0.4})
    assert seen[0.4, 4] == point_seed(7, {"lr": 0.4, "batch_size": 4.0})  # 4 and 4.0 agree
    assert len(set(seen.values())) == 6
    assert point_seed(8, {"lr": 0.4, "batch_size": 4}) != seen[0.4, 4]
    # The axes' order and the other points of the grid do not matter.
    whole = sweep(monte_carlo, GRID, seed=7, progress=False)
    part = sweep(monte_carlo, {"batch_size": [4], "lr": [0.8, 0.4]}, seed=7, progress=False)
    assert_array_equal(part.loss.sel(lr=0.4, batch_size=4), whole.loss.sel(lr=0.4, batch_size=4))
    direct = simulate(nqm(4), GD(0.4), W0, STEPS, runs=3, rng=seen[0.4, 4])
    assert_array_equal(whole.loss.sel(lr=0.4, batch_size=4), direct.loss)


def test_same_dataset_whatever_engine_chunking_and_workers(client, tmp_path):
    reference = sweep(monte_carlo, GRID, seed=3, progress=False)
    for chunk_size in (1, 4):
        xr.testing.assert_identical(
            sweep(monte_carlo, GRID, seed=3, chunk_size=chunk_size, progress=False), reference)
    on_dask = sweep(monte_carlo, GRID, seed=3, client=client, chunk_size=2, progress=False)
    xr.testing.assert_identical(on_dask, reference)
    stored = sweep(monte_carlo, GRID, seed=3, client=client, chunk_size=5,
                   store=tmp_path / "dask.zarr", progress=False)
    assert list(stored.data_vars) == list(reference.data_vars)
    xr.testing.assert_identical(stored.load(), reference)


def test_chunks_are_spread_over_the_workers(client):
    """Not all placed on the worker that holds the sweep's task (a data-locality trap)."""
    distributed = pytest.importorskip("distributed")

    def slow(lr, batch_size):
        time.sleep(0.02)
        return lr

    with distributed.get_task_stream(client) as stream:
        sweep(slow, GRID, client=client, chunk_size=1, progress=False)
    workers = {event["worker"] for event in stream.data if "task" not in str(event["key"])}
    assert len(workers) == 2


def test_blocks_cover_the_grid_once():
    shape = (5, 3, 4)
    for chunk_size in (1, 3, 7, 12, 13, 100):
        block = block_shape(shape, chunk_size)
        assert np.prod(block) <= max(chunk_size, 1)
        count = np.zeros(shape, dtype=int)
        for piece in blocks(shape, block):
            count[piece] += 1
        assert (count == 1).all()


def test_a_killed_worker_loses_nothing(tmp_path):
    """A worker process dies mid-chunk; Dask reruns the chunk elsewhere, same result."""
    distributed = pytest.importorskip("distributed")
    marker = str(tmp_path / "killed")
    constants = {"marker": marker}
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        result = sweep(killed_once, GRID, constants=constants, client=client, chunk_size=2,
                       store=tmp_path / "sweep.zarr", progress=False)
        xr.testing.assert_identical(result.load(), sweep(killed_once, GRID, constants=constants,
                                                         progress=False))
    assert os.path.exists(marker)   # the worker was killed


# ---------------------------------------------------------------------------------------
# The store: chunk by chunk, resumable, refusing other sweeps
# ---------------------------------------------------------------------------------------


def test_rerun_skips_completed_chunks(tmp_path):
    store = tmp_path / "sweep.zarr"
    first = sweep(monte_carlo, GRID, store=store, chunk_size=2, progress=False)
    assert len(CALLS) == 6
    again = sweep(monte_carlo, GRID, store=store, progress=False)
    assert len(CALLS) == 6   # nothing recomputed
    assert again.loss.chunks == ((1,) * 3, (2,), (3,), (3,))   # read lazily, chunk by chunk
    xr.testing.assert_identical(again.load(), first.load())


def test_interrupted_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    store = tmp_path / "sweep.zarr"
    uninterrupted = sweep(monte_carlo, GRID, progress=False)
    CALLS.clear()
    INTERRUPT_AT.append((0.4, 4))   # the fourth point, in the second of three chunks
    with pytest.raises(KeyboardInterrupt):
        sweep(monte_carlo, GRID, store=store, chunk_size=3, progress=False)
    assert CALLS == [(0.1, 1), (0.1, 4), (0.4, 1), (0.4, 4)]
    INTERRUPT_AT.clear()
    CALLS.clear()
    resumed = sweep(monte_carlo, GRID, store=store, chunk_size=3, progress=False)
    assert CALLS == [(0.4, 1), (0.4, 4), (0.8, 1), (0.8, 4)]   # the first chunk was kept
    xr.testing.assert_identical(resumed.load(), uninterrupted)


def test_failing_points_are_recorded_and_the_others_kept(tmp_path):
    with pytest.warns(SweepWarning, match=r"2 of 6 grid points .*ValueError: lr = 0.8"):
        ds = sweep(fails_at_large_lr, GRID, store=tmp_path / "s.zarr", chunk_size=4,
                   progress=False)
    assert (ds.error.sel(lr=0.8) == "ValueError: lr = 0.8 is too large").all()
    assert (ds.error.sel(lr=[0.1, 0.4]) == "").all()
    assert np.isnan(ds.value.sel(lr=0.8)).all()
    assert_allclose(ds.value.sel(lr=0.1, batch_size=1), fails_at_large_lr(0.1, 1), rtol=0)


def test_a_sweep_whose_every_point_fails(tmp_path):
    def broken(lr):
        raise RuntimeError("no luck")

    for store in (None, tmp_path / "s.zarr", tmp_path / "s.zarr"):
        with pytest.warns(SweepWarning, match="2 of 2"):
            ds = sweep(broken, {"lr": [0.1, 0.2]}, store=store, progress=False)
        assert list(ds.data_vars) == ["error"]
        assert (ds.error == "RuntimeError: no luck").all()


def test_partials_and_callable_objects(tmp_path):
    class Scaled:
        def __init__(self, factor):
            self.factor = factor

        def __call__(self, lr, batch_size):
            return self.factor * lr / batch_size

    ds = sweep(Scaled(2.0), GRID, progress=False)
    assert ds.attrs["sweep_function"] == "test_sweeps.test_partials_and_callable_objects." \
                                         "<locals>.Scaled"
    assert float(ds.value.sel(lr=0.4, batch_size=4)) == 0.2
    half = functools.partial(monte_carlo, runs=2)
    first = sweep(half, GRID, store=tmp_path / "p.zarr", progress=False)
    assert first.loss.sizes["run"] == 2
    xr.testing.assert_identical(sweep(half, GRID, store=tmp_path / "p.zarr",
                                      progress=False).load(), first.load())
    with pytest.raises(ValueError, match="differs in the function"):
        sweep(functools.partial(monte_carlo, runs=3), GRID, store=tmp_path / "p.zarr",
              progress=False)


def test_a_point_whose_result_does_not_fit_is_an_error():
    def uneven(lr):
        return {"curve": ("k", np.ones(2 if lr < 1 else 3))}

    with pytest.warns(SweepWarning, match="1 of 2"):
        ds = sweep(uneven, {"lr": [0.5, 2.0]}, progress=False)
    assert "shape (3,)" in str(ds.error.sel(lr=2.0).values)
    assert_array_equal(ds.curve.sel(lr=0.5), [1.0, 1.0])


@pytest.mark.parametrize("change", ["grid", "values", "function", "seed", "constants"])
def test_a_store_from_another_sweep_is_refused_untouched(tmp_path, change):
    store = tmp_path / "sweep.zarr"
    sweep(monte_carlo, GRID, store=store, constants={"runs": 3}, progress=False)
    before = tree_digest(store)
    kwargs = {"store": store, "constants": {"runs": 3}, "progress": False}
    expected = {"grid": "the grid axes", "values": "grid axis `lr`", "function": "the function",
                "seed": "the seed: stored 0, given 1", "constants": "the constants"}[change]
    function, grid = monte_carlo, GRID
    if change == "grid":
        grid = {"lr": GRID["lr"], "B": [1, 4]}

        def function(lr, B, rng, runs):
            return monte_carlo(lr, B, rng, runs)
    elif change == "values":
        grid = {"lr": [0.1, 0.4, 0.9], "batch_size": [1, 4]}
    elif change == "function":
        def function(lr, batch_size, rng, runs):
            return monte_carlo(lr, batch_size, rng, runs)
    elif change == "seed":
        kwargs["seed"] = 1
    else:
        kwargs["constants"] = {"runs": 4}
    with pytest.raises(ValueError, match=f"holds a different sweep; .*{expected}"):
        sweep(function, grid, **kwargs)
    assert tree_digest(store) == before


def test_store_that_is_not_a_sweep_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("not a store")
    with pytest.raises(ValueError, match="exists and is not a quadsim sweep store"):
        sweep(expected_loss, GRID, store=tmp_path, progress=False)
    assert (tmp_path / "notes.txt").read_text() == "not a store"


def test_resume_keeps_the_store_chunks(tmp_path):
    store = tmp_path / "sweep.zarr"
    sweep(expected_loss, GRID, store=store, chunk_size=2, progress=False)
    with pytest.raises(ValueError, match=r"chunked in blocks \(1, 2\); omit `chunk_size`"):
        sweep(expected_loss, GRID, store=store, chunk_size=1, progress=False)


# ---------------------------------------------------------------------------------------
# Progress, optional dependencies, bad input
# ---------------------------------------------------------------------------------------


def test_progress_bar_advances_by_chunks(monkeypatch, capsys):
    monkeypatch.setattr("quadsim.sweeps.PROGRESS_DELAY_S", 0.0)
    sweep(expected_loss, GRID, chunk_size=2, progress=True)
    err = capsys.readouterr().err
    assert "6/6" in err and "test_sweeps.expected_loss" in err
    sweep(expected_loss, GRID, progress=False)
    assert capsys.readouterr().err == ""


def test_progress_bar_on_dask(client, monkeypatch, capsys):
    monkeypatch.setattr("quadsim.sweeps.PROGRESS_DELAY_S", 0.0)
    sweep(expected_loss, GRID, chunk_size=2, client=client, progress=True)
    assert "6/6" in capsys.readouterr().err


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "xarray", None)
    with pytest.raises(ImportError, match=r"optional dependency `xarray`.*quadsim\[sweep\]"):
        sweep(expected_loss, GRID)


def test_import_quadsim_leaves_the_sweep_dependencies_out():
    code = ("import sys, quadsim, quadsim.sweeps, quadsim.plots_sweep; "
            "print(' '.join(m for m in ('xarray', 'dask', 'distributed', 'tqdm', 'zarr', "
            "'matplotlib') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == []


@pytest.mark.parametrize(("grid", "error", "match"), [
    ({"lr": []}, ValueError, "grid axis `lr` is empty"),
    ({}, ValueError, "at least one axis"),
    ({"lr": [0.1], "batch": [1]}, TypeError, r"does not accept the grid axis `batch`; its "
                                             r"parameters are \(lr, batch_size\)"),
    ({"lr": [0.1]}, TypeError, "needs `batch_size`, which is neither a grid axis nor a constant"),
    ({"lr": [[0.1, 0.2]], "batch_size": [1]}, TypeError,
     r"grid axis `lr` holds a non-hashable value \[0.1, 0.2\] \(list\)"),
    ({"lr": [0.1, "big"], "batch_size": [1]}, TypeError,
     "grid axis `lr` mixes number and string values"),
    ({"lr": [True, 0.5], "batch_size": [1]}, TypeError, "mixes bool and number"),
    ({"lr": [GD(0.1)], "batch_size": [1]}, TypeError,
     r"grid axis `lr` must hold numbers, strings or bools .* got GD\(lr=0.1\) \(GD\)"),
    ({"lr": [0.1, 0.1], "batch_size": [1]}, ValueError, "holds 0.1 more than once"),
    ({"lr": [np.nan], "batch_size": [1]}, ValueError, "holds NaN"),
    ({"lr": "0.1", "batch_size": [1]}, TypeError, "must be a sequence of values; got '0.1'"),
    ({"lr": np.ones((2, 2)), "batch_size": [1]}, ValueError, "must be 1-d"),
    ({"lr": [0.1], "batch_size": [1], "rng": [0]}, ValueError, "`rng` cannot be a grid axis"),
    ({"lr": [0.1], "batch size": [1]}, TypeError, "must be identifiers"),
    ({"lr": [0.1], "method": ["GD"]}, ValueError, r"Dataset.sel\(method=...\) is an argument"),
])
def test_bad_grids_are_refused(grid, error, match):
    with pytest.raises(error, match=match):
        sweep(expected_loss, grid, progress=False)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(TypeError, match="`function` must be callable"):
        sweep("expected_loss", GRID)
    with pytest.raises(ValueError, match="`constants` names `lr`, which is a grid axis"):
        sweep(expected_loss, GRID, constants={"lr": 0.1})
    with pytest.raises(TypeError, match="does not accept the constant `w0`"):
        sweep(expected_loss, GRID, constants={"w0": W0})
    with pytest.raises(ValueError, match="`units` names `step`, which is not a grid axis"):
        sweep(expected_loss, GRID, units={"step": "steps"})
    with pytest.raises(ValueError, match="`chunk_size` must be a positive integer; got 0"):
        sweep(expected_loss, GRID, chunk_size=0)
    with pytest.raises(ValueError, match="`seed` must be a non-negative integer; got -1"):
        sweep(expected_loss, GRID, seed=-1)
    with pytest.raises(TypeError, match=r"`client` must be a dask distributed\.Client"):
        sweep(expected_loss, GRID, client="tcp://localhost:8786")
    with pytest.raises(TypeError, match="`progress` must be a bool"):
        sweep(expected_loss, GRID, progress="yes", store=tmp_path / "never.zarr")
    assert not (tmp_path / "never.zarr").exists()   # checked before anything is written


def test_bad_results_are_errors_of_their_points():
    cases = {
        "array": lambda lr: np.ones(2),
        "string": lambda lr: "done",
        "complex": lambda lr: {"z": ("k", np.ones(2) * 1j)},
        "clash": lambda lr: {"lr": 1.0},
        "dims": lambda lr: {"a": ("lr", np.ones(2))},
    }
    messages = {"array": "needs dimension names", "string": "cannot store a result of type str",
                "complex": "is complex", "clash": "names `lr`, which is a grid axis",
                "dims": "which is also a grid axis"}
    for name, function in cases.items():
        with pytest.warns(SweepWarning):
            ds = sweep(function, {"lr": [0.1]}, progress=False)
        assert messages[name] in str(ds.error.values[0]), name
