"""Running a transform of ours and optax's side by side: 20 jitted steps on a small nested
pytree, the updates and states of every step compared leaf by leaf."""

import jax
import jax.numpy as jnp
import numpy as np

STEPS = 20


def tree(make):
    return {"w": make((3, 4)), "rest": [make((4,)), (make(()),)]}


def grads_at(step, dtype, *, nans=False):
    rng = np.random.default_rng(100 + step)
    out = tree(lambda shape: rng.normal(size=shape))
    if nans and step % 3 == 0:
        out["w"][0, 1] = np.nan
        out["rest"][0][2] = np.nan
    if nans and step % 4 == 1:
        out["rest"][1] = (np.asarray(np.nan),)
    return jax.tree.map(lambda x: jnp.asarray(x, dtype), out)


def start(dtype):
    rng = np.random.default_rng(7)
    return tree(lambda shape: jnp.asarray(rng.uniform(0.1, 1.0, shape), dtype))


def assert_close(a, b, rtol=1e-6, atol=1e-7):
    leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(leaves_a) == len(leaves_b)
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert jnp.shape(x) == jnp.shape(y)
        assert jnp.result_type(x) == jnp.result_type(y), (jnp.result_type(x), jnp.result_type(y))
        np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64),
                                   rtol=rtol, atol=atol)


def run(tx, dtype, *, nans=False, apply=True, scale_grads=1.0, state=None, value=None,
        select=lambda tree: tree):
    """20 jitted steps; the updates and states of each step. `value` (params -> loss), when
    given, is passed to every update as `value=`; `select` picks part of the params and
    gradients (a transform of optax's that cannot take a scalar leaf, say)."""
    params = select(start(dtype))
    state = tx.init(params)
    if value is None:
        step = jax.jit(tx.update)
    else:
        step = jax.jit(lambda g, s, p: tx.update(g, s, p, value=value(p)))
    history = []
    for t in range(STEPS):
        g = jax.tree.map(lambda x: x * scale_grads, select(grads_at(t, dtype, nans=nans)))
        updates, state = step(g, state, params)
        history.append((updates, state))
        if apply:
            params = jax.tree.map(lambda p, u: jnp.where(jnp.isfinite(u), p + u, p), params,
                                  updates)
    return history


def compare(ours, theirs, dtype=jnp.float32, rtol=1e-6, state=lambda s: s, atol=1e-7,
            **kwargs):
    mine, reference = run(ours, dtype, **kwargs), run(theirs, dtype, **kwargs)
    for (u, s), (ru, rs) in zip(mine, reference, strict=True):
        assert_close(u, ru, rtol, atol)
        assert_close(state(s), state(rs), rtol, atol)
    return mine
