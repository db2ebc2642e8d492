"""Result objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from os import PathLike

import numpy as np


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Iterates and losses of one run, at the recorded steps only.

    Attributes
    ----------
    steps : ndarray, shape (K,)
        The recorded step indices (int64), or times for gradient flow (float64).
    w : ndarray, shape (K, d)
        Iterates ``w_t`` in the original coordinates.
    loss : ndarray, shape (K,)
        ``J(w_t)``.
    diverged_at : int or None
        First step at which the iterate was not finite (records from there on are
        NaN), or None if the run stayed finite. A closed form visits only the
        recorded steps, so there it is the first recorded step that is not finite.
    """

    steps: np.ndarray = field(repr=False)
    w: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    diverged_at: int | None = None

    def __repr__(self) -> str:
        K, d = self.w.shape
        return (f"Trajectory(records={K}, dim={d}, last_step={self.steps[-1]}, "
                f"diverged_at={self.diverged_at})")

    @property
    def diverged(self) -> bool:
        """Whether the run left the finite range."""
        return self.diverged_at is not None

    def save(self, path: str | PathLike[str]) -> None:
        """Write to a ``.npz`` file (read back with :meth:`load`)."""
        diverged_at = -1 if self.diverged_at is None else self.diverged_at
        np.savez(path, steps=self.steps, w=self.w, loss=self.loss,
                 diverged_at=np.int64(diverged_at))

    @classmethod
    def load(cls, path: str | PathLike[str]) -> Trajectory:
        """Read a trajectory written by :meth:`save`."""
        with np.load(path) as data:
            diverged_at = int(data["diverged_at"])
            return cls(data["steps"], data["w"], data["loss"],
                       None if diverged_at < 0 else diverged_at)
