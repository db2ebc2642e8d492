"""quadsim: gradient methods on quadratics, simulated fast and checked against theory.

Every method is, in the eigenbasis of the problem, a set of independent per-axis linear
recurrences; each trajectory can be computed three ways (raw-basis kernel, eigenbasis
kernel, closed form), and they agree.
"""

from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, Preconditioned, newton
from quadsim.problems import LinearRegression, Quadratic, SpectralFrame, Unbounded
from quadsim.results import Trajectory
from quadsim.simulation import simulate
from quadsim.theory import (
    axis_regimes,
    axis_spectral_radius,
    closed_form,
    convergence_rate,
    max_stable_lr,
    optimal_gd,
    optimal_momentum,
)

__all__ = [
    "GD",
    "GradientFlow",
    "LinearRegression",
    "Momentum",
    "Nesterov",
    "Preconditioned",
    "Quadratic",
    "SpectralFrame",
    "Trajectory",
    "Unbounded",
    "axis_regimes",
    "axis_spectral_radius",
    "closed_form",
    "convergence_rate",
    "max_stable_lr",
    "newton",
    "optimal_gd",
    "optimal_momentum",
    "simulate",
]
