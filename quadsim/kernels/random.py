"""Random numbers inside the kernels: xoshiro256** streams, one per run.

Each run of an ensemble owns a 256-bit xoshiro256** state (four uint64, Blackman and
Vigna, 2018). Run ``r``'s state is the root state advanced by ``r`` jumps of ``2^128``
draws (:func:`jump`), so the streams never overlap and run ``r`` draws the same numbers
whatever the ensemble size or the thread count. On top of the raw 64-bit outputs:

- :func:`uniform`: a double in ``[0, 1)`` from the top 53 bits;
- :func:`bounded`: an integer uniform on ``[0, n)``, exactly (Lemire's multiply-shift
  with rejection, 32-bit, so ``n < 2^32``);
- :func:`fill_normal`: standard normals by the Box–Muller transform, two per pair of
  uniforms (the second uniform in ``(0, 1]`` so that the logarithm is finite).

Every function updates the state in place; numba compiles them for uint64 state arrays.
"""

import numpy as np

from quadsim.kernels._jit import jit, jit_inline

_TWO_PI = 2.0 * np.pi
_DOUBLE_UNIT = 1.0 / 9007199254740992.0  # 2^-53

#: The polynomial of xoshiro256**'s jump function (advances 2^128 draws).
JUMP = np.array([0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA,
                 0x39ABDC4529B1661C], dtype=np.uint64)


@jit_inline
def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


@jit_inline
def next_uint64(state):
    """The next 64-bit output of xoshiro256** (``state`` is a uint64 array of 4)."""
    s0, s1, s2, s3 = state[0], state[1], state[2], state[3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = _rotl(s3, 45)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3
    return result


@jit_inline
def uniform(state):
    """A double uniform on ``[0, 1)`` (53 random bits)."""
    return np.float64(next_uint64(state) >> np.uint64(11)) * _DOUBLE_UNIT


@jit_inline
def bounded(state, n):
    """An integer uniform on ``[0, n)`` for ``0 < n < 2^32``, without bias."""
    bound = np.uint64(n)
    product = (next_uint64(state) >> np.uint64(32)) * bound
    low = product & np.uint64(0xFFFFFFFF)
    if low < bound:
        threshold = (np.uint64(0x100000000) - bound) % bound
        while low < threshold:
            product = (next_uint64(state) >> np.uint64(32)) * bound
            low = product & np.uint64(0xFFFFFFFF)
    return np.int64(product >> np.uint64(32))


@jit_inline
def fill_normal(state, out):
    """Fill ``out`` with independent standard normals (Box–Muller, pairs of uniforms)."""
    n = out.shape[0]
    i = 0
    while i < n:
        radius = np.sqrt(-2.0 * np.log(1.0 - uniform(state)))
        angle = _TWO_PI * uniform(state)
        out[i] = radius * np.cos(angle)
        if i + 1 < n:
            out[i + 1] = radius * np.sin(angle)
        i += 2


@jit
def jump(state):
    """Advance ``state`` by 2^128 draws, in place (xoshiro256**'s jump function)."""
    s0 = np.uint64(0)
    s1 = np.uint64(0)
    s2 = np.uint64(0)
    s3 = np.uint64(0)
    for word in range(4):
        bits = JUMP[word]
        for b in range(64):
            if (bits >> np.uint64(b)) & np.uint64(1):
                s0 ^= state[0]
                s1 ^= state[1]
                s2 ^= state[2]
                s3 ^= state[3]
            next_uint64(state)
    state[0], state[1], state[2], state[3] = s0, s1, s2, s3


@jit
def run_states(root, first, count):
    """States of runs ``first .. first + count − 1``: run r is `root` jumped r times."""
    out = np.empty((count, 4), dtype=np.uint64)
    state = root.copy()
    for _ in range(first):
        jump(state)
    for r in range(count):
        for i in range(4):  # a loop, not a slice assignment: no shape-check code to compile
            out[r, i] = state[i]
        jump(state)
    return out


@jit
def draw_uniform(state, count):
    """`count` uniforms from `state` (in place): the test hook for the stream."""
    out = np.empty(count)
    for i in range(count):
        out[i] = uniform(state)
    return out


@jit
def draw_bounded(state, n, count):
    """`count` integers uniform on ``[0, n)`` from `state` (in place)."""
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        out[i] = bounded(state, n)
    return out


@jit
def draw_normal(state, count):
    """`count` standard normals from `state` (in place)."""
    out = np.empty(count)
    fill_normal(state, out)
    return out
