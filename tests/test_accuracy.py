"""Closed forms on ill-conditioned regressions against 60-digit arithmetic.

The reference (:class:`reference.ExactRegression`) takes the same float64 X and y as
exact and shares nothing with quadsim: mpmath's Jacobi eigensystem of XᵀX/n + l2·I,
matrix powers by repeated squaring, the loss from the residual. The cases are in
``accuracy_cases.py`` (``scripts/accuracy_table.py`` prints the same errors as a table).
"""

import pytest
from accuracy_cases import HORIZONS, KAPPAS, METHODS, RIDGES, SHAPES, errors

#: Relative error allowed in w_t (to ‖w_t‖) and in J(w_t), by κ(XᵀX/n). The SVD's
#: singular values err by ~eps·κ(X) = eps·√κ relatively, which the decay factors carry
#: over to w_t and J(w_t) with factors O(1..10): ~2e-13 at κ = 1e6, ~2e-11 at κ = 1e10.
RTOL = {1e6: 1e-12, 1e10: 1e-9}


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("ridge", RIDGES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: "n={},d={}".format(*shape))
@pytest.mark.parametrize("kappa", KAPPAS, ids=lambda kappa: f"kappa={kappa:.0e}")
def test_closed_form_matches_60_digit_arithmetic(kappa, shape, ridge, name):
    for t in HORIZONS:
        found = errors(kappa, shape, ridge, name, t)
        assert found.w <= RTOL[kappa], f"w_t at t = {t}: {found}"
        assert found.loss <= RTOL[kappa], f"J(w_t) at t = {t}: {found}"
        if found.loss_curve is not None:
            assert found.loss_curve <= RTOL[kappa], f"closed_form_loss at t = {t}: {found}"
