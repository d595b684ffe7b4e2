"""The pieces the fused-path tests share (test_fused.py, test_fused_layout.py, test_fusable.py):
nested example trees of several dtypes, gradient sequences, a jitted run leaf by leaf or fused,
bitwise and rounding-close tree comparisons, and the transforms compared bit for bit."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

import optim
from optim import FlatTree

STEPS = 25


def make_tree(key, dtypes=(jnp.float32, jnp.float32, jnp.float32), scale=1.0):
    """A nested tree (dict, list, tuple) of several shapes; dtypes of its three kinds of leaf."""
    k = jax.random.split(key, 5)
    a, b, c = dtypes
    return {
        "dense": {
            "w": (scale * jax.random.normal(k[0], (6, 5))).astype(a),
            "b": (scale * jax.random.normal(k[1], (5,))).astype(b),
        },
        "blocks": [
            (scale * jax.random.normal(k[2], (3, 2, 2))).astype(a),
            (scale * jax.random.normal(k[3], (7,))).astype(c),
        ],
        "out": ((scale * jax.random.normal(k[4], ())).astype(c),),
    }


DTYPES = {
    "float32": (jnp.float32,) * 3,
    "bfloat16": (jnp.bfloat16,) * 3,
    "mixed": (jnp.float32, jnp.bfloat16, jnp.float32),
}


def cosine(count):
    return 1e-2 * 0.5 * (1 + jnp.cos(jnp.pi * jnp.minimum(count, 100) / 100))


TRANSFORMS = {
    "sgd": lambda: optim.sgd(0.05),
    "momentum": lambda: optim.sgd(0.05, momentum=0.9),
    "nesterov": lambda: optim.sgd(0.05, momentum=0.9, nesterov=True),
    "adam": lambda: optim.adam(1e-2),
    "adam_nesterov": lambda: optim.adam(1e-2, nesterov=True),
    "adam_bf16_mu": lambda: optim.adam(1e-2, mu_dtype=jnp.bfloat16),
    "adamw": lambda: optim.adamw(1e-2, weight_decay=0.1),
    "nadam": lambda: optim.nadam(1e-2),
    "amsgrad": lambda: optim.amsgrad(1e-2),
    "adamax": lambda: optim.adamax(1e-2),
    "radam": lambda: optim.radam(1e-2),
    "adabelief": lambda: optim.adabelief(1e-2),
    "rmsprop": lambda: optim.rmsprop(1e-2, centered=True, momentum=0.9, bias_correction=True),
    "adagrad": lambda: optim.adagrad(1e-1),
    "adadelta": lambda: optim.adadelta(),
    "rprop": lambda: optim.rprop(1e-2),
    "adaptive_gains": lambda: optim.adaptive_gains(1e-2),
    "lion": lambda: optim.lion(1e-3),
    "schedule_free_sgd": lambda: optim.schedule_free_sgd(1e-2),
    "schedule_free_adamw": lambda: optim.schedule_free_adamw(1e-2),
    "ema": lambda: optim.chain(optim.ema(0.9, debias=True), optim.scale(-0.1)),
    # The 4-transform chain; max_norm above the gradients' norm: the clip is a no-op by value
    # (its norm is still computed), see test_global_norm_clip_is_the_same_norm otherwise.
    "chain": lambda: optim.chain(
        optim.clip_by_global_norm(1e4),
        optim.scale_by_adam(),
        optim.add_decayed_weights(1e-2),
        optim.scale_by_learning_rate(cosine),
    ),
    "inject_adam": lambda: optim.inject_hyperparams(optim.adam)(learning_rate=1e-2),
    "optax_adamw": lambda: optax.adamw(1e-2, weight_decay=0.1),
}

# Where XLA's code generation itself rounds a last bit differently from one program to another
# (measured on XLA:CPU, jax 0.10.2): a multiply-add may be contracted into an FMA on either
# product (`ema`'s `d*m + (1-d)*g` when the gathered grads are fused in), and a short leaf's last
# entries run in scalar code rather than vector code (`adagrad`). A few entries then differ in
# their last bit, and the moments carry that into the next steps (the same happens leaf by leaf
# between two trees); these cases are held to a few units in the last place. optax's transforms
# divide by a shared scalar, which XLA turns into a product with its reciprocal or not depending
# on the program. Everything else is equal to the last bit.
ROUNDING = {("ema", "tree"), ("adagrad", "flat"), ("nadam", "tree"), ("optax_adamw", "tree"),
           ("optax_adamw", "flat")}


def make_grads(key, dtypes, steps=STEPS):
    keys = jax.random.split(key, steps)
    return [make_tree(k, dtypes, scale=3.0) for k in keys]


def run(tx, params, grads_seq):
    """`len(grads_seq)` jitted steps; returns the params, the state and the number of traces."""
    state = tx.init(params)
    traces = []

    @jax.jit
    def step(params, state, grads):
        traces.append(1)
        updates, state = tx.update(grads, state, params)
        return optim.apply_updates(params, updates), state

    for grads in grads_seq:
        params, state = step(params, state, grads)
    return params, state, len(traces)


def assert_bitwise(expected, actual, what):
    chex.assert_trees_all_equal_structs(expected, actual)
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True
    ):
        assert x.dtype == y.dtype, (what, jax.tree_util.keystr(path), x.dtype, y.dtype)
        assert jnp.array_equal(x, y), (what, jax.tree_util.keystr(path))


def assert_rounding_close(expected, actual, what, ulps=4):
    """Equal up to rounding: within `ulps` units in the last place of each leaf's largest entry.

    Differences of one last bit in a step are carried by the moments into the next steps; over
    25 steps the worst seen is about 2 such units (ema, float32), an error in a rule far more.
    """
    chex.assert_trees_all_equal_structs(expected, actual)
    for (path, x), y in zip(
        jax.tree_util.tree_leaves_with_path(expected), jax.tree.leaves(actual), strict=True
    ):
        assert x.dtype == y.dtype, (what, jax.tree_util.keystr(path), x.dtype, y.dtype)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            assert jnp.array_equal(x, y), (what, jax.tree_util.keystr(path))
            continue
        x64, y64 = (np.asarray(v, np.float64) for v in (x, y))
        bound = ulps * float(jnp.finfo(x.dtype).eps) * max(np.abs(x64).max(), 1e-30)
        assert np.abs(x64 - y64).max() <= bound, (what, jax.tree_util.keystr(path))


def moments_as_trees(state):
    return jax.tree.map(
        lambda x: x.unflatten() if isinstance(x, FlatTree) else x,
        state,
        is_leaf=lambda x: isinstance(x, FlatTree),
    )
