"""Shared fixtures: problems with chosen spectra in random orthonormal bases."""

import numpy as np
import pytest

from quadsim import Quadratic

DIM = 8


def _problem(eigenvalues, b_eigen, seed):
    return Quadratic.from_eigenvalues(np.asarray(eigenvalues, float),
                                      np.asarray(b_eigen, float), c=0.7, rng=seed)


PROBLEMS = {
    "well": lambda: _problem(np.linspace(1.0, 4.0, DIM),
                             np.random.default_rng(1).normal(size=DIM), 11),
    # κ = 1e4.
    "ill": lambda: _problem(np.geomspace(1e-4, 1.0, DIM),
                            np.random.default_rng(2).normal(size=DIM), 12),
    # Two null axes: one drifting (b̃ ≠ 0) and one frozen (b̃ = 0).
    "singular": lambda: _problem([0.0, 0.0, 0.3, 0.5, 1.0, 1.5, 2.0, 3.0],
                                 [0.0, 0.4, 1.0, -1.0, 0.5, 0.2, -0.3, 1.0], 13),
    # A saddle: two negative eigenvalues.
    "indefinite": lambda: _problem([-0.3, -0.05, 0.2, 0.5, 1.0, 1.5, 2.0, 3.0],
                                   np.random.default_rng(4).normal(size=DIM), 14),
}


@pytest.fixture(params=sorted(PROBLEMS))
def problem(request):
    """Each of the four problem kinds (d = 8)."""
    return PROBLEMS[request.param]()


@pytest.fixture
def w0():
    return np.random.default_rng(5).normal(size=DIM)
