"""The exact second-moment recursion of minibatch SGD on a linear regression.

In the method's frame ``w = S u`` let ``e = u − u*`` be the deviation from the
minimizer, ``x̃_i = Sᵀx_i`` the rows of ``X S``, ``r_i = x̃_iᵀu* − y_i`` the residuals at
the minimizer and ``g* = X̃ᵀr/n``. At the point ``y`` where the gradient is taken the
batch gradient is its full-data mean ``a ⊙ e_y`` plus noise ``η`` with ``E[η | y] = 0`` and

    E[η ηᵀ] = f_B · ( (1/n) Σ_i E[ρ_i²] x̃_i x̃_iᵀ − E[ḡ ḡᵀ] ),
    E[ρ_i²] = x̃_iᵀ M_y x̃_i + 2 r_i x̃_iᵀ μ_y + r_i²,
    E[ḡ ḡᵀ] = G M_y G + G μ_y g*ᵀ + g* μ_yᵀ G + g* g*ᵀ,

with ``ρ_i = x̃_iᵀ e_y + r_i``, ``ḡ = G e_y + g*``, ``G = X̃ᵀX̃/n``, ``μ_y = E[e_y]``,
``M_y = E[e_y e_yᵀ]`` and ``f_B = 1/B`` with replacement, ``(n − B)/(B(n − 1))`` without.
The state ``(e_t, e_{t−1}, ẽ_t)`` (the last two only for momentum and for a moving
average) is advanced per axis by the method's transition, and its mean and full
second moment (blocks of shape (d, d)) follow exactly. One step costs
O(n·d² + d³) (the d³ only for a preconditioned frame, where ``G`` is not diagonal).
"""

import numpy as np

from quadsim.kernels._jit import jit


@jit
def _transition(a, lr, beta, gamma, rho, out):
    """Per-axis coefficients ``out[p, q, i]`` of the state map (``x' = D x + v η``)."""
    out[:, :, :] = 0.0
    for i in range(a.shape[0]):
        h = lr * a[i]
        trace = 1.0 + beta - h * (1.0 + gamma)
        det = beta - h * gamma
        out[0, 0, i] = trace
        out[0, 1, i] = -det
        out[1, 0, i] = 1.0
        out[2, 0, i] = (1.0 - rho) * trace
        out[2, 1, i] = -(1.0 - rho) * det
        out[2, 2, i] = rho


@jit
def minibatch_second_moments(X, residual, g_star, gram, a, lrs, beta, gamma, rho, momentum,
                             averaged, noise_scale, e0, steps, mean_out, excess_out,
                             average_mean_out, average_excess_out):
    """Iterate the exact mean and second moment; record means and excess losses.

    ``gram`` is ``G`` as (d, d), or its diagonal as a (d, 1) column. ``excess_out[k]`` is
    ``½ Σ_i a_i E[e_i²]`` at ``steps[k]`` (and the same for the moving average).
    """
    n, d = X.shape
    active = np.array([True, momentum, averaged])
    mean = np.zeros((3, d))
    M = np.zeros((3, 3, d, d))
    for p in range(3):
        if active[p]:
            mean[p] = e0
            for q in range(3):
                if active[q]:
                    M[p, q] = np.outer(e0, e0)
    # Blocks of states the method does not have stay 0 (they enter with weight 0). Each
    # step writes the new moments to a second pair of buffers, and the pairs swap.
    new_mean = np.zeros((3, d))
    new_M = np.zeros((3, 3, d, d))
    D = np.empty((3, 3, d))
    vector = np.array([1.0, 0.0, 1.0 - rho])
    diagonal_gram = gram.shape[1] == 1
    constant = lrs.shape[0] == 1
    t = 0
    for k in range(steps.shape[0]):
        while t < steps[k]:
            lr = lrs[0] if constant else lrs[t]
            # Moments at the gradient point y = (1 + γ) e_t − γ e_{t−1}.
            mu_y = (1.0 + gamma) * mean[0] - gamma * mean[1]
            M_y = ((1.0 + gamma) ** 2 * M[0, 0] - gamma * (1.0 + gamma) * (M[0, 1] + M[1, 0])
                   + gamma**2 * M[1, 1])
            XM = np.dot(X, M_y)
            weights = np.empty(n)
            for i in range(n):
                quadratic = 0.0
                linear = 0.0
                for j in range(d):
                    quadratic += XM[i, j] * X[i, j]
                    linear += X[i, j] * mu_y[j]
                weights[i] = (quadratic + 2.0 * residual[i] * linear
                              + residual[i] ** 2) / n
            noise = np.dot(X.T * weights, X)
            if diagonal_gram:
                g = gram[:, 0]
                G_mu = g * mu_y
                for i in range(d):
                    for j in range(d):
                        noise[i, j] -= (g[i] * M_y[i, j] * g[j] + G_mu[i] * g_star[j]
                                        + g_star[i] * G_mu[j] + g_star[i] * g_star[j])
            else:
                G_mu = np.dot(gram, mu_y)
                noise -= np.dot(np.dot(gram, M_y), gram)
                noise -= np.outer(G_mu, g_star) + np.outer(g_star, G_mu)
                noise -= np.outer(g_star, g_star)
            noise *= noise_scale * lr * lr
            _transition(a, lr, beta, gamma, rho, D)
            for p in range(3):
                if not active[p]:
                    continue
                new_mean[p] = 0.0
                for r in range(3):
                    if active[r]:
                        new_mean[p] += D[p, r] * mean[r]
                for q in range(3):
                    if not active[q]:
                        continue
                    block = new_M[p, q]
                    coupling = vector[p] * vector[q]
                    for i in range(d):
                        for j in range(d):
                            total = coupling * noise[i, j]
                            for r in range(3):
                                if not active[r] or D[p, r, i] == 0.0:
                                    continue
                                for s in range(3):
                                    if active[s]:
                                        total += D[p, r, i] * M[r, s, i, j] * D[q, s, j]
                            block[i, j] = total
            mean, new_mean = new_mean, mean
            M, new_M = new_M, M
            t += 1
        mean_out[k] = mean[0]
        excess_out[k] = 0.5 * np.sum(a * np.diag(M[0, 0]))
        if averaged:
            average_mean_out[k] = mean[2]
            average_excess_out[k] = 0.5 * np.sum(a * np.diag(M[2, 2]))
