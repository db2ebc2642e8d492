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


def axis_moments(a, b, noise, u0, lrs, beta, gamma, rho, T):
    """Mean and variance of ``(u_t, ũ_t)`` on one axis for t = 0..T, by iterating the
    3-state recursion ``x ← D x + F + v η`` (x = (u_t, u_{t−1}, ũ_t)) step by step in
    float64: ``E[x] ← D E[x] + F``, ``Cov x ← D Cov Dᵀ + lr² noise v vᵀ``."""
    mean = np.array([u0, u0, u0], dtype=float)
    cov = np.zeros((3, 3))
    out = [(mean[0], cov[0, 0], mean[2], cov[2, 2])]
    for t in range(T):
        lr = lrs[t] if len(lrs) > 1 else lrs[0]
        h = lr * a
        tau, det = 1 + beta - h * (1 + gamma), beta - h * gamma
        D = np.array([[tau, -det, 0.0], [1.0, 0.0, 0.0],
                      [(1 - rho) * tau, -(1 - rho) * det, rho]])
        F = -lr * b * np.array([1.0, 0.0, 1 - rho])
        v = np.array([1.0, 0.0, 1 - rho])
        mean = D @ mean + F
        cov = D @ cov @ D.T + lr**2 * noise * np.outer(v, v)
        out.append((mean[0], cov[0, 0], mean[2], cov[2, 2]))
    return np.array(out)


def lucas_square_sum(beta, gamma, h, t, digits=60):
    """``Σ_{k=1}^{t} s_k²`` for the companion of (β, γ, h) in ``digits``-digit arithmetic:
    the 3×3 symmetric square of the companion summed by repeated squaring."""
    import mpmath

    with mpmath.workdps(digits):
        beta, gamma, h = (mpmath.mpf(float(x)) for x in (beta, gamma, h))
        tau, det = 1 + beta - h * (1 + gamma), beta - h * gamma
        # z_k = (s_{k+1}², s_{k+1}s_k, s_k²) = K^k z_0; W_t = first entry of Σ_{k<t} z_k.
        K = mpmath.matrix([[tau**2, -2 * tau * det, det**2], [tau, -det, 0], [1, 0, 0]])
        square, block = K, mpmath.eye(3)  # K^{2^i} and Σ_{k<2^i} K^k
        total, done = mpmath.zeros(3, 3), mpmath.eye(3)
        while t:
            if t & 1:
                total += done * block
                done = done * square
            t >>= 1
            if t:
                block = block + square * block
                square = square * square
        return float((total * mpmath.matrix([1, 0, 0]))[0])


def enumerated_minibatch_loss(X, y, l2, batch_size, replace, lr, beta, gamma, rho, T):
    """``E[J(w_t)]`` and ``E[J(w̃_t)]`` for t = 0..T by enumerating every sequence of
    batches (each equally likely) from ``w_0 = 0``: the exact expectation, by brute force."""
    import itertools

    n, d = X.shape
    if replace:
        batches = list(itertools.product(range(n), repeat=batch_size))
    else:
        batches = list(itertools.combinations(range(n), batch_size))

    def value(w):
        return 0.5 * np.mean((X @ w - y) ** 2) + 0.5 * l2 * w @ w

    weight = 1.0 / len(batches) ** T
    loss, average_loss = np.zeros(T + 1), np.zeros(T + 1)
    for sequence in itertools.product(batches, repeat=T):
        w, w_prev, average = np.zeros(d), np.zeros(d), np.zeros(d)
        path, average_path = [value(w)], [value(average)]
        for batch in sequence:
            rows = list(batch)
            point = w + gamma * (w - w_prev)
            grad = X[rows].T @ (X[rows] @ point - y[rows]) / batch_size + l2 * point
            w_prev, w = w, w + beta * (w - w_prev) - lr * grad
            average = rho * average + (1 - rho) * w
            path.append(value(w))
            average_path.append(value(average))
        loss += weight * np.array(path)
        average_loss += weight * np.array(average_path)
    return loss, average_loss


class ExactRegression:
    """Least squares ``(1/2n)‖Xw − y‖² + (l2/2)‖w‖²`` in ``digits``-digit arithmetic.

    From the float64 ``X``, ``y`` and ``l2`` taken as exact: ``A = XᵀX/n + l2·I`` and
    ``b = −Xᵀy/n`` formed in mpmath, and their eigensystem by mpmath's Jacobi method
    (``eigsy``); nothing of quadsim's. A trajectory is then solved axis by axis — the
    3×3 affine transition of the two-step update raised to ``t`` by repeated squaring,
    or ``e^{−a t}`` for gradient flow — and its loss is taken from the residual.
    """

    def __init__(self, X, y, l2=0.0, digits=60):
        import mpmath

        self.mp = mpmath.mp.clone()
        self.mp.dps = digits
        mp = self.mp
        n, d = X.shape
        self.n, self.d = n, d
        self.X = mp.matrix([[mp.mpf(float(x)) for x in row] for row in X])
        self.y = mp.matrix([mp.mpf(float(v)) for v in y])
        self.l2 = mp.mpf(float(l2))
        A = self.X.T * self.X / n + self.l2 * mp.eye(d)
        b = -(self.X.T * self.y) / n
        self.a, self.Q = mp.eigsy(A)
        self.b_eigen = self.Q.T * b

    def loss(self, w):
        """``J(w)`` from the residual, in full precision."""
        residual = self.X * w - self.y
        return (sum(r * r for r in residual) / (2 * self.n)
                + self.l2 / 2 * sum(x * x for x in w))

    def run(self, w0, t, lr=None, beta=0.0, gamma=0.0):
        """``(w_t, J(w_t))`` as float64 of the two-step update with (lr, β, γ) after
        ``t`` steps from ``w_{−1} = w_0``, or of gradient flow at time ``t`` when
        ``lr`` is None."""
        mp = self.mp
        u0 = self.Q.T * mp.matrix([mp.mpf(float(v)) for v in w0])
        u = mp.matrix(self.d, 1)
        for j in range(self.d):
            a, b = self.a[j], self.b_eigen[j]
            if lr is None:
                # u(t) = u0 − (a u0 + b̃)(1 − e^{−a t})/a, the limit u0 − b̃ t at a = 0.
                elapsed = mp.mpf(t) if a == 0 else -mp.expm1(-a * t) / a
                u[j] = u0[j] - (a * u0[j] + b) * elapsed
                continue
            h = mp.mpf(float(lr)) * a
            trace = 1 + mp.mpf(float(beta)) - h * (1 + mp.mpf(float(gamma)))
            det = mp.mpf(float(beta)) - h * mp.mpf(float(gamma))
            step = mp.matrix([[trace, -det, -mp.mpf(float(lr)) * b], [1, 0, 0], [0, 0, 1]])
            power, k = mp.eye(3), int(t)
            while k:
                if k & 1:
                    power = power * step
                step = step * step
                k >>= 1
            u[j] = power[0, 0] * u0[j] + power[0, 1] * u0[j] + power[0, 2]
        w = self.Q * u
        return np.array([float(x) for x in w]), float(self.loss(w))


def two_step_rows(A, B, W0, T, lr, beta=0.0, gamma=0.0, P=None):
    """Iterates ``W_0..W_T`` of the matrix update ``W_{t+1} = W_t + β(W_t − W_{t−1})
    − lr·(Y_t A + B) P``, ``Y_t = W_t + γ(W_t − W_{t−1})``, row by row as plain numpy
    vector updates; shape (T + 1, m, d)."""
    P = np.eye(A.shape[0]) if P is None else P
    W_prev = np.array(W0, dtype=float)
    W = W_prev.copy()
    out = [W.copy()]
    for _ in range(T):
        Y = W + gamma * (W - W_prev)
        step = np.array([P @ (A @ y + b) for y, b in zip(Y, B, strict=True)])
        W_prev, W = W, W + beta * (W - W_prev) - lr * step
        out.append(W.copy())
    return np.array(out)


def online_regression_loss(Sigma, teacher, noise, batch_size, lrs, beta, gamma, w0, T,
                           P=None):
    """E[J(w_t)], t = 0..T, of online SGD on ``x ~ N(0, Σ)``, ``y = xᵀw* + ε``.

    The dense recursion of the joint second moment ``M`` of ``s_t = (e_t, e_{t−1})``,
    ``e = w − w*``, in the raw coordinates: with ``y = (1 + γ) e_t − γ e_{t−1} = L s``,
    ``s' = (D − lr [P Σ L; 0]) s − lr [P ξ; 0]`` (``P = I`` when None) and, from the
    Gaussian fourth moment,
    ``E[ξξᵀ] = (Σ M_y Σ + (tr(Σ M_y) + σ²) Σ) / B`` with ``M_y = L M Lᵀ``.
    """
    d = len(w0)
    eye, zero = np.eye(d), np.zeros((d, d))
    P = eye if P is None else P
    s = np.concatenate([w0 - teacher, w0 - teacher])
    M = np.outer(s, s)
    L = np.hstack([(1 + gamma) * eye, -gamma * eye])
    D = np.block([[(1 + beta) * eye, -beta * eye], [eye, zero]])
    losses = []
    for t in range(T + 1):
        losses.append(0.5 * np.trace(Sigma @ M[:d, :d]) + 0.5 * noise)
        if t == T:
            break
        lr = lrs[t]
        My = L @ M @ L.T
        C = (Sigma @ My @ Sigma + (np.trace(Sigma @ My) + noise) * Sigma) / batch_size
        transition = D - lr * np.vstack([P @ Sigma @ L, np.zeros((d, 2 * d))])
        M = transition @ M @ transition.T + lr**2 * np.block([[P @ C @ P.T, zero],
                                                              [zero, zero]])
    return np.array(losses)
