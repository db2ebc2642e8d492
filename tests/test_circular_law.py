"""The circular law at finite d: exact expected eigenvalue counts, against Monte Carlo."""

import math

import numpy as np
import pytest
import scipy.integrate
from numpy.testing import assert_allclose
from scipy import special

from quadsim.circular_law import (
    EDGE_EXPECTED,
    _real_density,
    circular_law_radius,
    edge_margin,
    ginibre,
    ginibre_expected_outside,
)

#: Quadrature of the exact densities: their totals are known in closed form.
QUADRATURE_RTOL = 1e-10
#: Monte Carlo means against exact expectations: standard errors computed from the
#: samples; 4 of them leave a two-sided false-alarm rate of 6e-5 per comparison.
STANDARD_ERRORS = 4.0
#: Markov's inequality, P(N ≥ a) ≤ E N / a: the chance of a false alarm we accept.
MARKOV_DELTA = 0.01


def test_exact_densities_integrate_to_their_known_totals():
    for d in (2, 3, 7, 50, 300):
        assert_allclose(ginibre_expected_outside(d, 0.0), d, rtol=QUADRATURE_RTOL)
        real = scipy.integrate.quad(_real_density, -np.inf, np.inf, args=(d,),
                                    epsabs=0.0, epsrel=1e-12, limit=200)[0]
        known = 0.5 + math.sqrt(2) * special.hyp2f1(1, -0.5, d, 0.5) / special.beta(d, 0.5)
        assert_allclose(real, known, rtol=QUADRATURE_RTOL)
    # The circular law: the expected fraction beyond r tends to 1 − r² inside the disk.
    assert abs(ginibre_expected_outside(2000, 0.5) / 2000 - 0.75) < 0.01


@pytest.mark.parametrize("d", [6, 30])
def test_expected_count_outside_against_monte_carlo(d):
    rng = np.random.default_rng(d)
    samples = 2000
    moduli = np.abs(np.array([np.linalg.eigvals(ginibre(d, rng=rng)) for _ in range(samples)]))
    for radius in (0.6, 1.0, 1.15):
        counts = np.sum(moduli > radius, axis=1)
        error = STANDARD_ERRORS * counts.std(ddof=1) / math.sqrt(samples)
        assert abs(counts.mean() - ginibre_expected_outside(d, radius)) <= error


def test_circular_law_at_initialisation_with_a_computed_bound():
    # N(0, 1/d) entries: the eigenvalues fill the unit disk. Beyond 1 + ε the exact
    # expected count E is small; by Markov P(count ≥ E/δ) ≤ δ, so the fraction outside
    # stays below E/(δ·d) but in a fraction δ of the draws.
    d, epsilon = 200, 0.15
    bound = ginibre_expected_outside(d, 1 + epsilon) / (MARKOV_DELTA * d)
    assert bound < 1 / d  # so the bound says: no eigenvalue at all beyond 1.15
    for seed in range(2):
        moduli = np.abs(np.linalg.eigvals(ginibre(d, rng=seed)))
        assert np.mean(moduli > 1 + epsilon) <= bound
        # The bound has teeth: entries of variance 1.3²/d fill a disk of radius 1.3 and
        # put about 1 − (1.15/1.3)² ≈ 0.22 of the eigenvalues beyond 1.15.
        wide = np.abs(np.linalg.eigvals(ginibre(d, rng=seed, std=1.3 / math.sqrt(d))))
        assert np.mean(wide > 1 + epsilon) > 50 * bound


def test_edge_margin_is_where_the_expected_count_falls_to_the_target():
    margins = [edge_margin(d) for d in (20, 100, 500)]
    assert margins[0] > margins[1] > margins[2] > 0  # the edge sharpens like 1/√d
    for d, margin in zip((20, 100, 500), margins, strict=True):
        assert_allclose(ginibre_expected_outside(d, 1 + margin), EDGE_EXPECTED, rtol=1e-4)
    assert edge_margin(100, 1e-4) > edge_margin(100)
    assert edge_margin(5, 10.0) == 0.0  # a target above the count at the edge itself


def test_bad_inputs():
    with pytest.raises(ValueError, match="d` must be >= 2"):
        ginibre_expected_outside(1, 1.0)
    with pytest.raises(ValueError, match="d` must be >= 2"):
        edge_margin(1)
    with pytest.raises(ValueError, match="radius"):
        ginibre_expected_outside(5, -1.0)
    with pytest.raises(ValueError, match="std"):
        ginibre(5, std=0.0)
    assert circular_law_radius(400, 0.05) == pytest.approx(1.0)
