"""quadsim: gradient methods on quadratics, simulated fast and checked against theory.

Every method is, in the eigenbasis of the problem, a set of independent per-axis linear
recurrences; each trajectory can be computed three ways (raw-basis kernel, eigenbasis
kernel, closed form), and they agree. Derivatives with respect to hyperparameters
follow the same pattern: tangents carried through a run, their closed forms, and the
implicit-function-theorem Jacobians they converge to. Linear regression with matrix
weights, per-example gradients, matrix-free derivatives, gradient subspaces and Taylor
models of any loss carry the same checks over to the calculus of training.
"""

from quadsim import schedules
from quadsim.calculus import check_grad
from quadsim.families import (
    AffineFamily,
    feature_decay_family,
    ridge_family,
    sample_weight_family,
    target_family,
)
from quadsim.influence import influence, leave_one_out, leverage
from quadsim.methods import GD, GradientFlow, Momentum, Nesterov, Preconditioned, newton
from quadsim.moments import moments
from quadsim.noise import Minibatch, NoisyQuadratic, OnlineRegression
from quadsim.per_example import per_example_gradients
from quadsim.problems import LinearRegression, Quadratic, SpectralFrame, Unbounded
from quadsim.response import (
    HypergradientPath,
    ValidationLoss,
    cg_error_bound,
    cg_jacobian,
    finite_difference_jacobian,
    hypergradient_descent,
    neumann_error,
    neumann_jacobian,
    response_jacobian,
    response_jvp,
    response_vjp,
)
from quadsim.results import Ensemble, Moments, Trajectory
from quadsim.sensitivity import (
    LearningRatePath,
    TangentTrajectory,
    closed_form_optimizer_tangents,
    closed_form_tangents,
    simulate_optimizer_tangents,
    simulate_tangents,
    tune_lr,
)
from quadsim.simulation import measured_rate, simulate
from quadsim.subspaces import gradient_subspace
from quadsim.taylor import taylor_model
from quadsim.theory import (
    axis_regimes,
    axis_spectral_radius,
    closed_form,
    closed_form_loss,
    convergence_rate,
    max_stable_lr,
    optimal_gd,
    optimal_momentum,
)

__all__ = [
    "GD",
    "AffineFamily",
    "Ensemble",
    "GradientFlow",
    "HypergradientPath",
    "LearningRatePath",
    "LinearRegression",
    "Minibatch",
    "Moments",
    "Momentum",
    "Nesterov",
    "NoisyQuadratic",
    "OnlineRegression",
    "Preconditioned",
    "Quadratic",
    "SpectralFrame",
    "TangentTrajectory",
    "Trajectory",
    "Unbounded",
    "ValidationLoss",
    "axis_regimes",
    "axis_spectral_radius",
    "cg_error_bound",
    "cg_jacobian",
    "check_grad",
    "closed_form",
    "closed_form_loss",
    "closed_form_optimizer_tangents",
    "closed_form_tangents",
    "convergence_rate",
    "feature_decay_family",
    "finite_difference_jacobian",
    "gradient_subspace",
    "hypergradient_descent",
    "influence",
    "leave_one_out",
    "leverage",
    "max_stable_lr",
    "measured_rate",
    "moments",
    "neumann_error",
    "neumann_jacobian",
    "newton",
    "optimal_gd",
    "optimal_momentum",
    "per_example_gradients",
    "response_jacobian",
    "response_jvp",
    "response_vjp",
    "ridge_family",
    "sample_weight_family",
    "schedules",
    "simulate",
    "simulate_optimizer_tangents",
    "simulate_tangents",
    "target_family",
    "taylor_model",
    "tune_lr",
]
