"""The package's shape: what `import quadsim` loads, and the layers of DESIGN.md."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

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
