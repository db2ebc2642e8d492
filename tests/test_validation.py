"""Bad input gets a clear error naming the argument, the requirement and the value."""

import numpy as np
import pytest

from quadsim import (
    GD,
    GradientFlow,
    LinearRegression,
    Momentum,
    Nesterov,
    Preconditioned,
    Quadratic,
    closed_form,
    closed_form_loss,
    max_stable_lr,
    newton,
    simulate,
)

GOOD_A = np.diag([1.0, 2.0])


@pytest.mark.parametrize(("A", "error", "message"), [
    (np.ones((2, 3)), ValueError, r"`A` must be a non-empty square matrix; got shape \(2, 3\)"),
    (np.array([[1.0, 2.0], [0.0, 1.0]]), ValueError,
     r"`A` must be symmetric; max \|A - A.T\| = 2"),
    (np.array([[np.nan, 0.0], [0.0, 1.0]]), ValueError, "`A` must be finite; it has 1 NaN"),
    (np.array([[np.inf, 0.0], [0.0, 1.0]]), ValueError, "`A` must be finite"),
    (np.ones((2, 2, 2)), ValueError, r"`A` must be 2-d; got shape \(2, 2, 2\)"),
    (np.zeros(0), ValueError, r"`A` must not be empty"),
    ("identity", TypeError, "`A` must be a real 2-d array; got 'identity'"),
    (np.eye(2) * 1j, TypeError, "`A` must be a real 2-d array; got an array .* complex128"),
    (np.eye(2, dtype=bool), TypeError, "`A` must be a real 2-d array"),
])
def test_bad_matrix(A, error, message):
    with pytest.raises(error, match=message):
        Quadratic(A)


def test_bad_linear_and_constant_terms():
    with pytest.raises(ValueError, match=r"`b` must have shape \(2,\); got shape \(3,\)"):
        Quadratic(GOOD_A, b=np.ones(3))
    with pytest.raises(ValueError, match="`b` must be finite"):
        Quadratic(GOOD_A, b=[np.nan, 0.0])
    with pytest.raises(TypeError, match="`c` must be a real number; got 'a' of type str"):
        Quadratic(GOOD_A, c="a")
    with pytest.raises(ValueError, match="`c` must be finite; got nan"):
        Quadratic(GOOD_A, c=float("nan"))
    with pytest.raises(ValueError, match=r"`b` must have shape \(3,\)"):
        Quadratic.from_eigenvalues([1.0, 2.0, 3.0], b=[1.0])


def test_bad_regression():
    X = np.ones((4, 2))
    with pytest.raises(ValueError, match=r"`y` must have shape \(4,\); got shape \(3,\)"):
        LinearRegression(X, np.ones(3))
    with pytest.raises(ValueError, match=r"`l2` must be >= 0; got -0\.1"):
        LinearRegression(X, np.ones(4), l2=-0.1)
    with pytest.raises(ValueError, match=r"`X` must have at least one row"):
        LinearRegression(np.ones((0, 2)), np.ones(0))


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda: GD(0.0), ValueError, "`lr` must be > 0; got 0.0"),
    (lambda: GD(-1), ValueError, "`lr` must be > 0; got -1.0"),
    (lambda: GD("0.1"), TypeError, "`lr` must be a real number; got '0.1' of type str"),
    (lambda: GD(True), TypeError, "`lr` must be a real number; got True"),
    (lambda: GD(float("inf")), ValueError, "`lr` must be finite; got inf"),
    (lambda: Momentum(0.1, 1.0), ValueError, r"`beta` must lie in \[0, 1\); got 1.0"),
    (lambda: Nesterov(0.1, -0.2), ValueError, r"`beta` must lie in \[0, 1\); got -0.2"),
    (lambda: Preconditioned(0.1, np.diag([1.0, -1.0])), ValueError,
     "`P` must be symmetric positive definite; its smallest eigenvalue is -1.000e\\+00"),
    (lambda: Preconditioned(0.1, [[1.0, 0.5], [0.0, 1.0]]), ValueError,
     "`P` must be symmetric"),
])
def test_bad_method(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_preconditioner_must_match_the_problem():
    method = Preconditioned(0.1, np.eye(3))
    for run in (simulate, closed_form):
        with pytest.raises(ValueError, match=r"`P` must have shape \(2, 2\) to match"):
            run(Quadratic(GOOD_A), method, [0.0, 0.0], 3)


def test_newton_needs_a_positive_definite_problem():
    with pytest.raises(ValueError, match="positive definite `A`; its smallest eigenvalue"):
        newton(Quadratic(np.diag([0.0, 1.0])))


@pytest.mark.parametrize(("steps", "error", "message"), [
    (-1, ValueError, "`steps` must be a non-negative integer; got -1"),
    (2.5, TypeError, "`steps` must be an integer or an array of integers; got 2.5"),
    (True, TypeError, "`steps` must be an integer or an array of integers; got True"),
    ([0, 3, 3], ValueError, "`steps` must be non-negative and strictly increasing"),
    ([2, 1], ValueError, "`steps` must be non-negative and strictly increasing"),
    ([-1, 1], ValueError, "`steps` must be non-negative and strictly increasing"),
    ([0.5, 1.0], TypeError, "`steps` must hold integer step indices"),
    ([], ValueError, r"`steps` must be an int or a non-empty 1-d array; got shape \(0,\)"),
    ([[0, 1]], ValueError, r"`steps` must be an int or a non-empty 1-d array; got shape"),
])
@pytest.mark.parametrize("run", [simulate, closed_form])
def test_bad_steps(run, steps, error, message):
    with pytest.raises(error, match=message):
        run(Quadratic(GOOD_A), GD(0.1), [0.0, 0.0], steps)


@pytest.mark.parametrize("run", [simulate, closed_form, closed_form_loss])
@pytest.mark.parametrize("method", [GD(0.1), Momentum(0.1, 0.5)])
def test_records_that_would_not_fit_are_refused(run, method):
    with pytest.raises(ValueError, match=r"`steps` asks for 1000000000001 records .* would "
                                         r"take .* TiB, more than this machine's .* pass an "
                                         r"array of the steps to record"):
        run(Quadratic(GOOD_A), method, [0.0, 0.0], 10**12)


def test_record_arrays_are_checked_against_memory(monkeypatch):
    from quadsim import _validation

    monkeypatch.setattr(_validation, "physical_memory", lambda: 1000)
    with pytest.raises(ValueError, match=r"`steps` asks for 100 records \(3 float64 values and "
                                         r"a step index each\), which would take 3.1 KiB"):
        simulate(Quadratic(GOOD_A), GD(0.1), [0.0, 0.0], np.arange(100))
    assert simulate(Quadratic(GOOD_A), GD(0.1), [0.0, 0.0], [0, 5]).w.shape == (2, 2)


def test_bad_times_for_gradient_flow():
    with pytest.raises(ValueError, match=r"`steps` must be >= 0; got -1\.0"):
        simulate(Quadratic(GOOD_A), GradientFlow(), [0.0, 0.0], -1.0)
    with pytest.raises(ValueError, match="`steps` must be non-negative and strictly increasing"):
        closed_form(Quadratic(GOOD_A), GradientFlow(), [0.0, 0.0], [1.0, 0.5])


def test_bad_start_basis_problem_and_method():
    q = Quadratic(GOOD_A)
    with pytest.raises(ValueError, match=r"`w0` must have shape \(2,\); got shape \(3,\)"):
        simulate(q, GD(0.1), np.zeros(3), 3)
    with pytest.raises(ValueError, match="`w0` must be finite"):
        closed_form(q, GD(0.1), [np.nan, 0.0], 3)
    with pytest.raises(ValueError, match=r"`basis` must be one of \('raw', 'eigen'\); got 'eig'"):
        simulate(q, GD(0.1), [0.0, 0.0], 3, basis="eig")
    with pytest.raises(TypeError, match="`problem` must be a Quadratic or LinearRegression; "
                                        "got ndarray"):
        simulate(GOOD_A, GD(0.1), [0.0, 0.0], 3)
    with pytest.raises(TypeError, match="`method` must be GD, Momentum, Nesterov, "
                                        "Preconditioned or GradientFlow; got str"):
        closed_form(q, "gd", [0.0, 0.0], 3)
    with pytest.raises(TypeError, match="GradientFlow has no lr"):
        max_stable_lr(q, GradientFlow())
