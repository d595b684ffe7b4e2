"""Can plain JAX get Adam's step down to one pass over memory on XLA:CPU? Three attempts, timed.

    python -m benchmarks.single_pass

Adam reads params, grads and two moments and writes params and two moments: 28 bytes per
float32 parameter if done in one pass. Written the ordinary way, XLA:CPU compiles it to three
kernels (new first moment, new second moment, new params), which move 40 bytes per parameter
(XLA's cost analysis says so too), so a step can reach at most 28/40 = 70% of the
bandwidth limit. XLA:CPU has no multi-output fusion switch per program. This script times
the ways to a single pass that plain JAX offers against that three-kernel step, on 10M
float32 parameters, params and state donated, every variant checked equal to the last bit:

  three kernels   the ordinary step (what optax, the per-leaf path and `optim.fused` compile to)
  chunks          a `fori_loop` over chunks: each chunk's moments, then its params, written in
                  place with `dynamic_update_slice` (so the chunk is still in cache)
  chunks, staged  the same with the params of chunk i-1 updated after the moments of chunk i,
                  so that no kernel reads a buffer another kernel of the loop writes in place
  stacked moments both moments in one (n, 2) buffer, written by one kernel

Measured on the 2-core machine of benchmarks/RESULTS.md (see there): none is reliably faster
than the three kernels. XLA copies the carried buffers when a kernel of the loop reads what
another writes in place (hundreds of times slower); the staged loop avoids that, but its
per-iteration cost eats the cache reuse (0.94-1.36x over chunk sizes); the stacked buffer
gets its moments recomputed in the params kernel, and copied (5-7x).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
from jax import lax

B1, B2, EPS, LR = 0.9, 0.999, 1e-8, 1e-3


def _corrections(count):
    t = (count + 1).astype(jnp.float32)
    return 1 / (1 - B1**t), 1 / (1 - B2**t)


def _first(m, g):
    return B1 * m + (1 - B1) * g


def _second(v, g):
    return B2 * v + (1 - B2) * g * g


def _params(p, m, v, c1, c2):
    return p + (-LR * ((m * c1) / (jnp.sqrt(v * c2) + EPS)))


def three_kernels(p, m, v, count, g):
    c1, c2 = _corrections(count)
    m, v = _first(m, g), _second(v, g)
    return _params(p, m, v, c1, c2), m, v, count + 1


def _slicers(chunk):
    def take(x, start):
        return lax.dynamic_slice(x, (start,), (chunk,))

    def put(x, y, start):
        return lax.dynamic_update_slice(x, y, (start,))

    return take, put


def chunks(chunk):
    take, put = _slicers(chunk)

    def step(p, m, v, count, g):
        c1, c2 = _corrections(count)

        def body(i, carry):
            p, m, v = carry
            s = i * chunk
            gc = take(g, s)
            mc, vc = _first(take(m, s), gc), _second(take(v, s), gc)
            return put(p, _params(take(p, s), mc, vc, c1, c2), s), put(m, mc, s), put(v, vc, s)

        p, m, v = lax.fori_loop(0, g.shape[0] // chunk, body, (p, m, v))
        return p, m, v, count + 1

    return step


def chunks_staged(chunk):
    take, put = _slicers(chunk)

    def step(p, m, v, count, g):
        c1, c2 = _corrections(count)
        k = g.shape[0] // chunk

        def moments(carry, s):
            m, v = carry
            gc = take(g, s)
            return put(m, _first(take(m, s), gc), s), put(v, _second(take(v, s), gc), s)

        def params(p, m, v, s):
            return put(p, _params(take(p, s), take(m, s), take(v, s), c1, c2), s)

        def body(i, carry):
            # Iteration i: the moments of chunk i, then the params of chunk i - 1 (k + 1 turns).
            p, m, v = carry
            now, before = jnp.minimum(i, k - 1) * chunk, jnp.maximum(i - 1, 0) * chunk
            m, v = lax.cond(i < k, lambda c: moments(c, now), lambda c: c, (m, v))
            p = lax.cond(i > 0, lambda p: params(p, m, v, before), lambda p: p, p)
            return p, m, v

        p, m, v = lax.fori_loop(0, k + 1, body, (p, m, v))
        return p, m, v, count + 1

    return step


def stacked_moments(p, mv, count, g):
    c1, c2 = _corrections(count)
    mv = jnp.stack([_first(mv[:, 0], g), _second(mv[:, 1], g)], axis=1)
    return _params(p, mv[:, 0], mv[:, 1], c1, c2), mv, count + 1


def _time(step, args, calls):
    """The median seconds per call, and a copy of the result of the first three steps."""
    step = jax.jit(step, donate_argnums=tuple(range(len(args) - 1)))
    out = jax.block_until_ready(step(*args))
    for _ in range(2):
        out = jax.block_until_ready(step(*out, args[-1]))
    checked = [jnp.copy(x) for x in out]
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        out = jax.block_until_ready(step(*out, args[-1]))
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), checked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000_000)
    parser.add_argument("--calls", type=int, default=40)
    args = parser.parse_args(argv)
    n = args.size

    def start(stacked=False):
        g = jnp.full((n,), 0.1, jnp.float32)
        count = jnp.zeros((), jnp.int32)
        if stacked:
            return jnp.ones((n,), jnp.float32), jnp.zeros((n, 2), jnp.float32), count, g
        return jnp.ones((n,), jnp.float32), jnp.zeros(n), jnp.zeros(n), count, g

    base, reference = _time(three_kernels, start(), args.calls)
    print(f"three kernels          {1e3 * base:8.2f} ms  1.00x")
    chunk = 50_000
    while n % chunk:
        chunk -= 1
    variants = {
        f"chunks of {chunk}": (chunks(chunk), False),
        f"chunks of {chunk}, staged": (chunks_staged(chunk), False),
        "stacked moments": (stacked_moments, True),
    }
    for name, (step, stacked) in variants.items():
        seconds, out = _time(step, start(stacked), max(4, args.calls // 4))
        if stacked:
            out = (out[0], out[1][:, 0], out[1][:, 1], out[2])
        same = all(bool(jnp.array_equal(a, b)) for a, b in zip(out, reference, strict=True))
        print(f"{name:<22} {1e3 * seconds:8.2f} ms  {seconds / base:.2f}x  bitwise equal: {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
