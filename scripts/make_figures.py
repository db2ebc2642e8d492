"""Regenerate every figure: import each ``scripts/figure_*.py`` and call its ``main()``."""

import importlib.util
import sys
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent


def main():
    for script in sorted(SCRIPTS.glob("figure_*.py")):
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        start = time.perf_counter()
        path = module.main()
        wrote = "" if path is None else f" wrote {path}"
        print(f"{script.name}:{wrote} ({time.perf_counter() - start:.1f} s)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
