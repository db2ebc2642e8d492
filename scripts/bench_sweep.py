"""Time sweeps: in-process overhead, Dask scaling and start-up, streaming to a store.

Rows (the machine's load average is printed before and after: on a shared machine the
ratios move with it):

- overhead: a sweep of 10⁴ cheap points (100 learning rates × 100 batch sizes, exact
  moments of SGD on the NQM at d = 100, 4 records) against a plain Python loop that
  calls the same function and keeps its results, in this process; medians of alternating
  repeats (the order reversed every other repeat), wall and CPU time; target ≤ 1.3×. Also
  shown: a loop that drops the results, and the same sweep into a zarr store (no target).
- Dask: a sweep of Monte Carlo ensembles (NQM d = 100, 64 runs of 1000 steps each, 24
  points, one point per chunk) on a LocalCluster of 2 single-threaded worker processes
  against 1 worker, throughput ratio (median of alternating repeats, after every worker
  has run a point); target ≥ 1.7×. Beside it, plain process pools of 2 and 1 processes
  (no Dask) on the same points: the ratio the machine allows at the moment. Start-up:
  the LocalCluster and its Client, then the workers' first point (import quadsim, load
  the Numba kernels from the disk cache).
- memory: in a child process whose address space is capped (``RLIMIT_AS``), a sweep of
  ensembles (d = 1000, 64 runs, 16 records: 8.2 MB a point) whose whole result is larger
  than the cap streams to a zarr store chunk by chunk; its peak RSS is printed.

Usage::

    python scripts/bench_sweep.py           # about four minutes on the 2-core machine
    python scripts/bench_sweep.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from quadsim import GD, NoisyQuadratic, Quadratic, moments, simulate
from quadsim.noise import nqm_spectrum
from quadsim.sweeps import point_seed, sweep

#: The issue's targets.
OVERHEAD_TARGET = 1.3
SCALING_TARGET = 1.7
#: The cheap points: exact moments at d = 100.
CHEAP_PROBLEM = Quadratic(nqm_spectrum(100))
CHEAP_STEPS = [0, 10, 100, 1000]
#: The Monte Carlo points: (runs, steps) on the NQM at d = 100.
MC_RUNS, MC_STEPS = 64, [0, 100, 1000]
#: The memory case: d, runs and records of each point's ensemble, the chunk size, and
#: the child's address-space cap in GiB.
BIG_DIM, BIG_RUNS, BIG_RECORDS, BIG_CHUNK, MEMORY_CAP_GIB = 1000, 64, 16, 2, 2.0
GIB = 2**30


def cheap(lr, batch_size):
    """Exact moments of SGD on the NQM at d = 100: about 0.2–0.5 ms."""
    model = NoisyQuadratic(CHEAP_PROBLEM, batch_size=batch_size)
    return moments(model, GD(lr), np.ones(100), CHEAP_STEPS)


def monte_carlo(lr, batch_size, rng):
    """An ensemble of 64 SGD runs on the NQM at d = 100: about 0.3 s on one core."""
    model = NoisyQuadratic(CHEAP_PROBLEM, batch_size=batch_size)
    runs = simulate(model, GD(lr), np.ones(100), MC_STEPS, runs=MC_RUNS, rng=rng,
                    basis="eigen")
    return {"mean_loss": ("step", runs.mean_loss()), "stderr": ("step", runs.loss_stderr())}


def big_ensemble(lr, rng):
    """An ensemble recorded whole: BIG_RUNS × BIG_RECORDS × BIG_DIM floats (8.2 MB)."""
    model = NoisyQuadratic(Quadratic(1.0 / np.arange(1, BIG_DIM + 1)), batch_size=4)
    return simulate(model, GD(lr), np.ones(BIG_DIM), BIG_RECORDS - 1, runs=BIG_RUNS, rng=rng,
                    basis="eigen")


def load() -> str:
    """The load averages over 1, 5 and 15 minutes."""
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def timed(fn):
    """Wall and CPU seconds of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def overhead(repeats: int, size: int) -> list[str]:
    """The in-process sweep against the plain loop, with and without a store."""
    lrs = np.geomspace(1e-3, 1.9, size).tolist()
    sizes = list(range(1, size + 1))
    grid = {"lr": lrs, "batch_size": sizes}
    sweep(cheap, {"lr": lrs[:2], "batch_size": sizes[:2]}, progress=False)   # imports, JIT

    def loop():
        return [cheap(lr, batch_size) for lr in lrs for batch_size in sizes]

    def discarding_loop():
        for lr in lrs:
            for batch_size in sizes:
                cheap(lr, batch_size)

    times: dict[str, list[tuple[float, float]]] = {"loop": [], "bare": [], "sweep": [],
                                                    "store": []}
    with tempfile.TemporaryDirectory() as folder:
        for r in range(repeats):
            runs = {"loop": loop, "bare": discarding_loop,
                    "sweep": lambda: sweep(cheap, grid, progress=False),
                    "store": lambda r=r: sweep(cheap, grid, store=Path(folder) / f"{r}.zarr",
                                               progress=False)}
            for name in list(runs) if r % 2 == 0 else reversed(list(runs)):
                times[name].append(timed(runs[name]))
    wall = {k: statistics.median(t[0] for t in v) for k, v in times.items()}
    cpu = {k: statistics.median(t[1] for t in v) for k, v in times.items()}
    points = size * size
    ratio = wall["sweep"] / wall["loop"]
    verdict = "PASS" if ratio <= OVERHEAD_TARGET else "MISS"
    return [
        f"overhead, {points} points of exact moments at d = 100 (median of {repeats}):",
        f"  plain loop      {wall['loop']:7.2f} s wall  {cpu['loop']:7.2f} s CPU  "
        f"({1e6 * wall['loop'] / points:.0f} µs a point; it keeps the {points} results)",
        f"  loop, results dropped  {wall['bare']:.2f} s wall  {cpu['bare']:.2f} s CPU "
        f"(the sweep takes {wall['sweep'] / wall['bare']:.3f}× this)",
        f"  sweep           {wall['sweep']:7.2f} s wall  {cpu['sweep']:7.2f} s CPU  "
        f"ratio {ratio:.3f} wall, {cpu['sweep'] / cpu['loop']:.3f} CPU "
        f"(target ≤ {OVERHEAD_TARGET}: {verdict})",
        f"  sweep to store  {wall['store']:7.2f} s wall  {cpu['store']:7.2f} s CPU  "
        f"ratio {wall['store'] / wall['loop']:.3f} wall (no target)",
    ]


def _single_threaded_warm_up() -> None:
    """Numba on one thread, kernels loaded: what a Dask worker does before its first task."""
    import numba

    numba.set_num_threads(1)
    monte_carlo(0.1, 1, 0)


def _pool_point(point: tuple[float, int]) -> object:
    lr, batch_size = point
    return monte_carlo(lr, batch_size, point_seed(0, {"lr": lr, "batch_size": batch_size}))


def scaling(repeats: int, points: int) -> list[str]:
    """Throughput on 2 single-threaded worker processes against 1; start-up times.

    The same points on plain process pools (no Dask) of 2 and 1 processes give the
    ceiling that the machine allows at the moment: on a shared machine two processes do
    not get two cores.
    """
    from distributed import Client, LocalCluster

    lrs = np.geomspace(0.01, 1.0, points // 2).tolist()
    grid = {"lr": lrs, "batch_size": [1, 8]}
    pairs = [(lr, batch_size) for lr in lrs for batch_size in (1, 8)]
    logging.getLogger("distributed").setLevel(logging.WARNING)
    start = time.perf_counter()
    clusters = {2: LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                dashboard_address=":0")}
    clients = {2: Client(clusters[2])}
    up = time.perf_counter() - start
    first = timed(lambda: clients[2].run(_single_threaded_warm_up))[0]
    clusters[1] = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=":0")
    clients[1] = Client(clusters[1])
    clients[1].run(_single_threaded_warm_up)
    context = multiprocessing.get_context("spawn")
    pools = {n: ProcessPoolExecutor(n, mp_context=context, initializer=_single_threaded_warm_up)
             for n in (1, 2)}
    try:
        for pool in pools.values():   # start the processes, load the kernels
            list(pool.map(_pool_point, pairs[:2]))
        dask: dict[int, list[float]] = {1: [], 2: []}
        plain: dict[int, list[float]] = {1: [], 2: []}
        for _ in range(repeats):
            for n in (1, 2):
                seconds = timed(lambda n=n: sweep(monte_carlo, grid, client=clients[n],
                                                  chunk_size=1, progress=False))[0]
                dask[n].append(points / seconds)
                seconds = timed(lambda n=n: list(pools[n].map(_pool_point, pairs)))[0]
                plain[n].append(points / seconds)
        in_process = points / timed(lambda: sweep(monte_carlo, grid, progress=False))[0]
    finally:
        for n in (1, 2):
            pools[n].shutdown()
            clients[n].close()
            clusters[n].close()
    one, two = (statistics.median(dask[n]) for n in (1, 2))
    ceiling = statistics.median(plain[2]) / statistics.median(plain[1])
    ratio = two / one
    verdict = "PASS" if ratio >= SCALING_TARGET else "MISS"
    return [
        f"Dask start-up: LocalCluster of 2 worker processes and its Client {up:.1f} s; "
        f"then the workers' first point (import quadsim, load the kernels from Numba's disk "
        f"cache) {first:.2f} s",
        f"Dask scaling, {points} Monte Carlo points ({MC_RUNS} runs × {MC_STEPS[-1]} steps, "
        f"d = 100, one point a chunk), median of {repeats}:",
        f"  1 worker  {one:.2f} points/s;  2 workers  {two:.2f} points/s;  ratio {ratio:.2f} "
        f"(target ≥ {SCALING_TARGET}: {verdict})",
        f"  plain process pools without Dask, 2 against 1 process: ratio {ceiling:.2f} (what "
        f"the machine allows now); Dask reaches {ratio / ceiling:.0%} of it",
        f"  in this process (Numba on all cores) {in_process:.2f} points/s",
    ]


def memory_child(store: str, points: int) -> None:
    """Run the big sweep under an address-space cap (in a child process)."""
    cap = int(MEMORY_CAP_GIB * GIB)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    ds = sweep(big_ensemble, {"lr": np.linspace(0.01, 1.0, points).tolist()}, store=store,
               chunk_size=BIG_CHUNK, progress=False)
    total = sum(variable.nbytes for variable in ds.data_vars.values())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{total} {peak}")


def memory(points: int) -> list[str]:
    """The big sweep in a capped child process: its size, peak RSS and time."""
    with tempfile.TemporaryDirectory() as folder:
        store = str(Path(folder) / "big.zarr")
        start = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--memory-child", store, str(points)],
                             check=True, capture_output=True, text=True).stdout.split()
        seconds = time.perf_counter() - start
        on_disk = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        shutil.rmtree(store)
    total, peak = (int(x) for x in out[-2:])
    chunk = total / points * BIG_CHUNK
    return [f"memory: {points} ensembles of {total / points / 2**20:.1f} MiB, "
            f"{total / GIB:.2f} GiB in all ({on_disk / GIB:.2f} GiB on disk), under a "
            f"{MEMORY_CAP_GIB:.1f} GiB address-space cap: peak RSS {peak / GIB:.2f} GiB "
            f"(chunks of {chunk / 2**20:.0f} MiB), {seconds:.0f} s"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    parser.add_argument("--memory-child", nargs=2, metavar=("STORE", "POINTS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    print(f"{os.cpu_count()} CPUs; {load()}")
    start = time.perf_counter()
    quick = args.quick
    for line in overhead(repeats=1 if quick else 3, size=20 if quick else 100):
        print(line, flush=True)
    for line in scaling(repeats=1 if quick else 3, points=4 if quick else 24):
        print(line, flush=True)
    for line in memory(points=8 if quick else 384):
        print(line, flush=True)
    print(f"{load()}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
