"""The package's shape: what `import quadsim` loads."""

import subprocess
import sys

#: Heavy or optional modules that `import quadsim` must leave out of ``sys.modules``:
#: the functions that need them import them when called.
LAZY_MODULES = ("scipy.stats", "matplotlib", "xarray", "dask", "tqdm")


def test_import_leaves_heavy_modules_out():
    code = ("import sys, quadsim; "
            f"print(' '.join(m for m in {LAZY_MODULES!r} if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                            text=True).stdout.split()
    assert loaded == []
