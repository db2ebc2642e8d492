"""Naive numpy twins of quadsim's kernels: slow, plain loops, obviously correct."""

import numpy as np
import scipy.integrate


def two_step(A, b, w0, T, lr, beta=0.0, gamma=0.0, P=None):
    """Iterates ``w_0..w_T`` of ``w_{t+1} = w_t + β(w_t − w_{t−1}) − lr·P(A y_t + b)``,
    ``y_t = w_t + γ(w_t − w_{t−1})``, ``w_{−1} = w_0``; shape (T + 1, d)."""
    P = np.eye(len(w0)) if P is None else P
    w_prev = np.array(w0, dtype=float)
    w = w_prev.copy()
    out = [w.copy()]
    for _ in range(T):
        y = w + gamma * (w - w_prev)
        w_prev, w = w, w + beta * (w - w_prev) - lr * P @ (A @ y + b)
        out.append(w.copy())
    return np.array(out)


def loss(A, b, c, w):
    """``½ wᵀAw + bᵀw + c`` row by row."""
    return np.array([0.5 * x @ A @ x + b @ x + c for x in np.atleast_2d(w)])


def gradient_flow(A, b, w0, times):
    """``dw/dt = −(Aw + b)`` integrated by an adaptive Runge–Kutta (DOP853) solver."""
    sol = scipy.integrate.solve_ivp(lambda t, w: -(A @ w + b), (0.0, times[-1]), w0,
                                    method="DOP853", t_eval=times, rtol=1e-13, atol=1e-14)
    return sol.y.T


def axis_by_matrix_power(a, b, u0, t, lr, beta=0.0, gamma=0.0, digits=60):
    """One axis of the two-step update after ``t`` steps, in ``digits``-digit decimal
    arithmetic: the 3×3 affine transition matrix raised to ``t`` by repeated squaring
    (exact inputs; rounding ~ log2(t)·10^−digits, far below float64)."""
    from decimal import Decimal, localcontext

    with localcontext() as ctx:
        ctx.prec = digits
        a, b, u0, lr, beta, gamma = (Decimal(float(x)) for x in (a, b, u0, lr, beta, gamma))
        h = lr * a
        trace = 1 + beta - h * (1 + gamma)
        det = beta - h * gamma
        zero, one = Decimal(0), Decimal(1)
        step = [[trace, -det, -lr * b], [one, zero, zero], [zero, zero, one]]
        power = [[one, zero, zero], [zero, one, zero], [zero, zero, one]]

        def times(x, y):
            return [[sum(x[i][k] * y[k][j] for k in range(3)) for j in range(3)]
                    for i in range(3)]

        while t:
            if t & 1:
                power = times(power, step)
            step = times(step, step)
            t >>= 1
        return float(power[0][0] * u0 + power[0][1] * u0 + power[0][2])
