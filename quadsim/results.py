"""Result objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike

import numpy as np


def _shape(shape: list[int]) -> str:
    """``dim=d`` for vector weights, ``shape=(m, d)`` for matrix weights."""
    return f"dim={shape[0]}" if len(shape) == 1 else f"shape={tuple(shape)}"


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Iterates and losses of one run, at the recorded steps only.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The recorded step indices (int64), or times for gradient flow (float64).
    w : ndarray, shape (K, d), or (K, m, d) for matrix weights
        Iterates ``w_t`` in the original coordinates.
    loss : ndarray, shape (K,)
        ``J(w_t)``.
    diverged_at : int or None
        First step at which the iterate was not finite (records from there on are
        NaN), or None if the run stayed finite. A closed form visits only the
        recorded steps, so there it is the first recorded step that is not finite.
    ema, ema_loss : ndarray of shape (K, d) and (K,), or None
        The moving average of the iterates and its loss, when the method has ``ema``.
    """

    steps: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    diverged_at: int | None = None
    ema: np.ndarray | None = field(default=None, repr=False, kw_only=True)
    ema_loss: np.ndarray | None = field(default=None, repr=False, kw_only=True)

    def __repr__(self) -> str:
        K, *shape = self.w.shape
        return (f"Trajectory(records={K}, {_shape(shape)}, last_step={self.steps[-1]}, "
                f"diverged_at={self.diverged_at})")

    @property
    def diverged(self) -> bool:
        """Whether the run left the finite range."""
        return self.diverged_at is not None

    def save(self, path: str | PathLike[str]) -> None:
        """Write to a ``.npz`` file (read back with :meth:`load`)."""
        diverged_at = np.int64(-1 if self.diverged_at is None else self.diverged_at)
        if self.ema is None or self.ema_loss is None:
            np.savez(path, steps=self.steps, w=self.w, loss=self.loss, diverged_at=diverged_at)
        else:
            np.savez(path, steps=self.steps, w=self.w, loss=self.loss, diverged_at=diverged_at,
                     ema=self.ema, ema_loss=self.ema_loss)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Trajectory:
        """Read a trajectory written by :meth:`save`."""
        with np.load(path) as data:
            diverged_at = int(data["diverged_at"])
            return cls(data["steps"], data["w"], data["loss"],
                       None if diverged_at < 0 else diverged_at,
                       ema=data["ema"] if "ema" in data else None,
                       ema_loss=data["ema_loss"] if "ema_loss" in data else None)


@dataclass(frozen=True, eq=False)
class Ensemble:
    """Independent stochastic runs recorded at the same steps.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The recorded step indices.
    w : ndarray, shape (R, K, d), or (R, K, m, d) for matrix weights
        Iterates of each run.
    loss : ndarray, shape (R, K)
        ``J(w_t)`` of each run: the full objective (for a :class:`~quadsim.Minibatch`
        model the training loss on all the data).
    diverged_at : ndarray of int64, shape (R,)
        First step at which each run left the finite range, or −1; records from there
        on are NaN.
    ema, ema_loss : ndarray of shape (R, K, d) and (R, K), or None
        The moving average of the iterates and its loss, when the method has ``ema``.
    """

    steps: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    diverged_at: np.ndarray = field(repr=False)
    ema: np.ndarray | None = field(default=None, repr=False)
    ema_loss: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        R, K, *shape = self.w.shape
        return (f"Ensemble(runs={R}, records={K}, {_shape(shape)}, last_step={self.steps[-1]}, "
                f"diverged={int(np.count_nonzero(self.diverged))})")

    @property
    def runs(self) -> int:
        """Number of runs ``R``."""
        return int(self.w.shape[0])

    @property
    def diverged(self) -> np.ndarray:
        """Which runs left the finite range, shape (R,)."""
        return self.diverged_at >= 0

    def _losses(self, ema: bool) -> np.ndarray:
        if not ema:
            return self.loss
        if self.ema_loss is None:
            raise ValueError("this ensemble has no moving average: give the method `ema`")
        return self.ema_loss

    def mean_loss(self, *, ema: bool = False) -> np.ndarray:
        """The Monte Carlo estimate of ``E[J(w_t)]``, shape (K,) (NaN once a run diverged)."""
        return np.mean(self._losses(ema), axis=0)

    def loss_stderr(self, *, ema: bool = False) -> np.ndarray:
        """The standard error of :meth:`mean_loss`, ``std/√R`` (``ddof = 1``), shape (K,)."""
        losses = self._losses(ema)
        if self.runs < 2:
            return np.full(losses.shape[1], np.nan)
        return np.std(losses, axis=0, ddof=1) / np.sqrt(self.runs)

    def loss_quantiles(self, q: object, *, ema: bool = False) -> np.ndarray:
        """Quantiles of the loss over runs, shape ``(len(q), K)`` (``q`` in [0, 1])."""
        return np.quantile(self._losses(ema), np.asarray(q, dtype=np.float64), axis=0)

    def run(self, r: int) -> Trajectory:
        """Run ``r`` as a :class:`Trajectory`."""
        if isinstance(r, bool) or not isinstance(r, (int, np.integer)):
            raise TypeError(f"`r` must be an integer run index; got {r!r}")
        if not -self.runs <= r < self.runs:
            raise ValueError(f"`r` must index one of the {self.runs} runs; got {r}")
        diverged_at = int(self.diverged_at[r])
        return Trajectory(self.steps, self.w[r], self.loss[r],
                          None if diverged_at < 0 else diverged_at,
                          ema=None if self.ema is None else self.ema[r],
                          ema_loss=None if self.ema_loss is None else self.ema_loss[r])

    def save(self, path: str | PathLike[str]) -> None:
        """Write to a ``.npz`` file (read back with :meth:`load`)."""
        if self.ema is None or self.ema_loss is None:
            np.savez(path, steps=self.steps, w=self.w, loss=self.loss,
                     diverged_at=self.diverged_at)
        else:
            np.savez(path, steps=self.steps, w=self.w, loss=self.loss,
                     diverged_at=self.diverged_at, ema=self.ema, ema_loss=self.ema_loss)

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Ensemble:
        """Read an ensemble written by :meth:`save`."""
        with np.load(path) as data:
            ema = data["ema"] if "ema" in data else None
            ema_loss = data["ema_loss"] if "ema_loss" in data else None
            return cls(data["steps"], data["w"], data["loss"], data["diverged_at"],
                       ema, ema_loss)


@dataclass(frozen=True, eq=False)
class Moments:
    """Exact first and second moments of a stochastic run, at the recorded steps.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The recorded step indices.
    mean : ndarray, shape (K, d), or (K, m, d) for matrix weights
        ``E[w_t]`` (the deterministic trajectory of the mean recursion).
    loss : ndarray, shape (K,)
        ``E[J(w_t)]``.
    loss_var : ndarray of shape (K,), or None
        ``Var J(w_t)`` where it is known in closed form (Gaussian noise uncorrelated
        across the method's axes), else None.
    diverged_at : int or None
        First recorded step whose expected loss is not finite, or None.
    ema_mean, ema_loss, ema_loss_var : ndarray or None
        The same for the moving average of the iterates, when the method has ``ema``.
    """

    steps: np.ndarray = field(repr=False)
    mean: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    loss_var: np.ndarray | None = field(default=None, repr=False)
    diverged_at: int | None = None
    ema_mean: np.ndarray | None = field(default=None, repr=False)
    ema_loss: np.ndarray | None = field(default=None, repr=False)
    ema_loss_var: np.ndarray | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        K, *shape = self.mean.shape
        return (f"Moments(records={K}, {_shape(shape)}, last_step={self.steps[-1]}, "
                f"diverged_at={self.diverged_at})")

    @property
    def loss_std(self) -> np.ndarray | None:
        """The standard deviation of ``J(w_t)`` over runs, where known."""
        return None if self.loss_var is None else np.sqrt(self.loss_var)
