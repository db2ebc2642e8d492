r"""Influence of training examples on a least-squares fit, and exact leave-one-out.

For ``L(w) = (1/n) Σ_i ℓ_i(w) + (l2/2)‖w‖²`` with ``ℓ_i = ½(x_iᵀw − y_i)²``
(:class:`~quadsim.problems.LinearRegression`), the training Hessian is
``H = XᵀX/n + l2·I`` and ``∇ℓ_i(w*) = r_i x_i`` with residual ``r_i = x_iᵀw* − y_i``.

Leaving example i out is defined as giving it weight 0 while keeping the ``1/n`` in front
of the sum and the ``l2`` term: ``θ_i = 0`` in
:func:`~quadsim.families.sample_weight_family` (``θ = 1`` is the problem itself).
Then, with the leverage ``h_ii = x_iᵀH⁻¹x_i / n``, Sherman–Morrison gives

    w*_{−i} − w* = H_{−i}⁻¹ ∇ℓ_i(w*)/n = H⁻¹∇ℓ_i(w*)/n / (1 − h_ii)        (exactly),

where ``H⁻¹∇ℓ_i(w*)/n = −influence_i`` is the first-order (influence-function)
estimate. (Refitting on the ``n − 1`` remaining examples with a ``1/(n − 1)``
normalisation would instead also rescale the other examples and ``l2``.)
"""

from __future__ import annotations

import numpy as np

from quadsim._validation import as_choice
from quadsim.families import as_regression, sample_weight_family
from quadsim.problems import ZERO_RTOL, LinearRegression
from quadsim.response import _Inverse, _invert, minimizer

#: The ways :func:`leave_one_out` computes the refits.
LOO_METHODS = ("sherman-morrison", "refit")


def _training_inverse(problem: object) -> tuple[LinearRegression, _Inverse]:
    """The problem and ``H⁻¹`` from its cached eigendecomposition (H must be invertible)."""
    regression = as_regression(problem)
    return regression, _invert(regression.quadratic,
                               "the training Hessian XᵀX/n + l2·I of `problem`",
                               "raise", False)


def influence(problem: object) -> np.ndarray:
    r"""Influence of each example on the minimizer: ``I_i = −H⁻¹∇ℓ_i(w*)/n = dw*/dθ_i``.

    ``I_i`` is the derivative of ``w*`` with respect to the weight ``θ_i`` of example i
    at ``θ = 1`` (the response Jacobian of
    :func:`~quadsim.families.sample_weight_family`, transposed): upweighting example i
    by ``ε`` moves ``w*`` by ``ε I_i`` to first order. Removing it is ``ε = −1``, so the
    first-order estimate of the leave-one-out change is ``w*_{−i} − w* ≈ −I_i =
    H⁻¹∇ℓ_i(w*)/n``.

    Parameters
    ----------
    problem : LinearRegression
        With an invertible ``H = XᵀX/n + l2·I`` (its cached eigendecomposition is used).

    Returns
    -------
    ndarray, shape (n, d)
        Row i is ``I_i``.

    See Also
    --------
    leave_one_out : the exact change, ``−I_i / (1 − h_ii)``.
    leverage : ``h_ii``.

    Examples
    --------
    >>> import numpy as np
    >>> from quadsim import LinearRegression
    >>> from quadsim.influence import influence
    >>> problem = LinearRegression([[1.0], [2.0]], [1.0, 1.0])   # w* = 0.6
    >>> influence(problem)   # −r_i x_i / (n H) with H = 2.5, r = (−0.4, 0.2)
    array([[ 0.08],
           [-0.08]])
    """
    regression, inverse = _training_inverse(problem)
    gradients = sample_weight_family(regression).mixed_jacobian(inverse.w_star)
    return -inverse.solve(gradients).T


def leverage(problem: object) -> np.ndarray:
    r"""Leverages ``h_ii = x_iᵀ H⁻¹ x_i / n``, the diagonal of the hat matrix ``X H⁻¹ Xᵀ/n``.

    They lie in ``[0, 1)`` when ``l2 > 0``, and sum to the effective number of
    parameters ``Σ_j s_j/(s_j + l2)`` (``s_j`` the eigenvalues of ``XᵀX/n``).

    Parameters
    ----------
    problem : LinearRegression
        With an invertible ``H = XᵀX/n + l2·I``.

    Returns
    -------
    ndarray, shape (n,)
    """
    regression, inverse = _training_inverse(problem)
    return _leverage(regression, inverse)


def _leverage(regression: LinearRegression, inverse: _Inverse) -> np.ndarray:
    return np.einsum("ij,ji->i", regression.X, inverse.solve(regression.X.T)) \
        / regression.n_samples


def leave_one_out(problem: object, *, method: str = "sherman-morrison") -> np.ndarray:
    r"""Exact change of the minimizer when each example is left out, ``w*_{−i} − w*``.

    Leaving out example i means weight 0 with the same ``1/n`` normalisation and ``l2``
    (``θ_i = 0`` in :func:`~quadsim.families.sample_weight_family`), so that
    ``H_{−i} = H − x_i x_iᵀ/n`` and

        w*_{−i} − w* = r_i H_{−i}⁻¹ x_i / n = r_i H⁻¹ x_i / (n (1 − h_ii)),

    the second form by Sherman–Morrison, ``H_{−i}⁻¹ x_i = H⁻¹ x_i / (1 − h_ii)``.

    Parameters
    ----------
    problem : LinearRegression
        With an invertible ``H = XᵀX/n + l2·I``.
    method : {'sherman-morrison', 'refit'}
        ``'sherman-morrison'``: the closed form, ``H⁻¹Xᵀ`` from the cached
        eigendecomposition and then O(d) per example (O(d²) each with the solve).
        ``'refit'``: the minimizer of each leave-one-out problem from its own
        eigendecomposition, O(d³) each (the slow, independent twin).

    Returns
    -------
    ndarray, shape (n, d)
        Row i is ``w*_{−i} − w*``; exactly ``−influence(problem) / (1 − h_ii)``.

    Raises
    ------
    ValueError
        If some example has leverage 1 (within rounding): without it the Hessian is
        singular and ``w*_{−i}`` is not unique (possible only when ``l2 = 0``).

    See Also
    --------
    influence : the first-order estimate ``−I_i`` of the same change.
    """
    method = as_choice(method, "method", LOO_METHODS)
    regression, inverse = _training_inverse(problem)
    h = _leverage(regression, inverse)
    gap = 1.0 - h
    n, d = regression.X.shape
    if np.any(gap <= ZERO_RTOL * d):
        i = int(np.argmin(gap))
        raise ValueError(f"example {i} has leverage h_ii = {h[i]:.15g} ≈ 1: without it the "
                         "training Hessian is singular and w*_{−i} is not unique")
    w_star = inverse.w_star
    if method == "refit":
        family = sample_weight_family(regression)
        changes = np.empty((n, d))
        for i in range(n):
            weights = np.ones(n)
            weights[i] = 0.0
            changes[i] = minimizer(family, weights) - w_star
        return changes
    residual = regression.X @ w_star - regression.y
    return (inverse.solve(regression.X.T) * (residual / (n * gap))).T
