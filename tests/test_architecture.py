"""The package's shape: what `import quadsim` loads, its layers, a read-only install."""

import json
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference import loss, two_step

import quadsim

ROOT = Path(__file__).resolve().parents[1]

#: Heavy or optional modules that `import quadsim` must leave out of ``sys.modules``:
#: the functions that need them import them when called.
LAZY_MODULES = ("scipy.stats", "matplotlib", "xarray", "dask", "tqdm")


def _layers_contract() -> dict:
    tomllib = pytest.importorskip("tomllib" if sys.version_info >= (3, 11) else "tomli")
    with open(ROOT / "pyproject.toml", "rb") as file:
        contracts = tomllib.load(file)["tool"]["importlinter"]["contracts"]
    return next(contract for contract in contracts if contract["type"] == "layers")


def test_import_leaves_heavy_modules_out():
    code = ("import sys, quadsim; "
            f"print(' '.join(m for m in {LAZY_MODULES!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == []


def test_import_contracts_hold(capsys):
    cli = pytest.importorskip(
        "importlinter.cli", reason="import-linter is not installed (pip install -e '.[test]')")
    status = cli.lint_imports(str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report


def test_every_module_is_in_a_layer():
    """A new module must be placed in the layers contract, or the contract cannot hold it."""
    layered = {name.strip() for layer in _layers_contract()["layers"]
               for name in layer.replace(":", "|").split("|")}
    modules = {module.name for module in pkgutil.iter_modules(quadsim.__path__)}
    assert modules - layered == set(), "add these modules to the layers in pyproject.toml"
    assert layered - modules == set(), "these layers name no module of quadsim"


def test_read_only_install_compiles_in_memory(tmp_path):
    """No writable cache anywhere: the kernels compile in memory, with the right numbers.

    The package is copied where its ``__pycache__`` folders are files (so nothing can be
    written beside it, even by root), and ``NUMBA_CACHE_DIR`` and the user cache
    directory lie under a file.
    """
    site = tmp_path / "site"
    shutil.copytree(ROOT / "quadsim", site / "quadsim",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for package in (site / "quadsim", site / "quadsim" / "kernels"):
        (package / "__pycache__").touch()
    blocked = tmp_path / "blocked"
    blocked.touch()
    env = dict(os.environ, PYTHONPATH=str(site), HOME=str(blocked),
               XDG_CACHE_HOME=str(blocked / "cache"), NUMBA_CACHE_DIR=str(blocked / "numba"))
    A, b, w0 = [[2.0, 0.5], [0.5, 1.0]], [1.0, -1.0], [1.0, 2.0]
    code = ("import json, quadsim\n"
            f"assert quadsim.__file__.startswith({str(site)!r}), quadsim.__file__\n"
            f"run = quadsim.simulate(quadsim.Quadratic({A}, {b}), quadsim.GD(0.3), {w0}, 5)\n"
            "print(json.dumps([run.w.tolist(), run.loss.tolist()]))")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], env=env, cwd=tmp_path,
                         check=True, capture_output=True, text=True).stdout
    w, losses = (np.array(x) for x in json.loads(out))
    expected = two_step(np.array(A), np.array(b), np.array(w0), 5, 0.3)
    assert_allclose(w, expected, rtol=1e-12, atol=1e-12)
    assert_allclose(losses, loss(np.array(A), np.array(b), 0.0, expected), rtol=1e-12)
