"""A closed-loop quadratic for the rules whose later gradients depend on earlier steps
(schedule-free, SAM): a 7-D quadratic on a small pytree, the jitted loop that runs an optimizer
on it, and its NumPy gradient for the references of tests/reference/wrappers.py."""

import jax
import jax.numpy as jnp
import numpy as np

import optim


def quadratic_problem():
    rng = np.random.default_rng(23)
    q = rng.standard_normal((7, 7))
    a = q @ q.T / 7 + 0.2 * np.eye(7)
    b = rng.standard_normal(7)
    return a, b


def unflatten(x, dtype=jnp.float32):
    return {"a": jnp.asarray(x[:6].reshape(3, 2), dtype), "b": [jnp.asarray(x[6], dtype)]}


def closed_loop(tx, x0, steps, dtype=jnp.float32, eval_fn=None):
    a, b = quadratic_problem()
    a_j, b_j = jnp.asarray(a, dtype), jnp.asarray(b, dtype)

    def loss(params):
        x = jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(params)])
        return 0.5 * x @ a_j @ x - b_j @ x

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params)
            params = optim.apply_updates(params, updates)
            seen = eval_fn(state, params) if eval_fn else params
            return (params, state), (params, seen)

        return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]

    trajectory, evaluated = run(unflatten(x0, dtype))
    return rows_of(trajectory, steps), rows_of(evaluated, steps)


def rows_of(tree_sequence, steps):
    """(steps, n): each step's params flattened."""
    leaves = [np.asarray(leaf, np.float64).reshape(steps, -1) for leaf in jax.tree.leaves(tree_sequence)]
    return np.concatenate(leaves, axis=1)


def numpy_grad():
    a, b = quadratic_problem()
    return lambda x: a @ x - b


X0 = np.linspace(-1.0, 1.5, 7)


def quadratic_gap(x):
    a, b = quadratic_problem()
    error = x - np.linalg.solve(a, b)
    return 0.5 * error @ a @ error


def minimize_quadratic(tx, steps):
    rows, _ = closed_loop(tx, X0, steps)
    return quadratic_gap(rows[-1])


def flat_j(params):
    return jnp.concatenate([jnp.ravel(leaf) for leaf in jax.tree.leaves(params)])
