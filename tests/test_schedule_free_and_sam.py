"""Schedule-free SGD and AdamW and SAM (optim/wrappers/schedule_free.py, sam.py) against their
papers' iterations (tests/reference/wrappers.py) in closed loop on a quadratic (closed_loop.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from closed_loop import (
    X0,
    closed_loop,
    flat_j,
    numpy_grad,
    quadratic_gap,
    quadratic_problem,
    rows_of,
    unflatten,
)

import optim


@pytest.mark.parametrize(
    "kwargs", [dict(learning_rate=0.3), dict(learning_rate=0.5, warmup_steps=5, weight_decay=0.05, b1=0.8)]
)
def test_schedule_free_sgd_matches_the_paper(kwargs):
    ys, xs = closed_loop(optim.schedule_free_sgd(**kwargs), X0, 40, eval_fn=optim.eval_params)
    y_ref, x_ref = ref.schedule_free_sgd(numpy_grad(), X0, 40, **kwargs)
    np.testing.assert_allclose(ys, y_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xs, x_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs",
    [dict(learning_rate=0.05), dict(learning_rate=0.1, warmup_steps=8, weight_decay=0.1, b2=0.99, weight_lr_power=1.0)],
)
def test_schedule_free_adamw_matches_the_paper(kwargs, x64):
    ys, xs = closed_loop(
        optim.schedule_free_adamw(**kwargs), X0, 40, jnp.float64, eval_fn=optim.schedule_free_eval_params
    )
    y_ref, x_ref = ref.schedule_free_adamw(numpy_grad(), X0, 40, **kwargs)
    np.testing.assert_allclose(ys, y_ref, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(xs, x_ref, rtol=1e-6, atol=1e-8)


def test_schedule_free_eval_params_converge_without_a_schedule():
    _, xs = closed_loop(optim.schedule_free_sgd(1.0), X0, 300, eval_fn=optim.eval_params)
    assert quadratic_gap(xs[-1]) < 1e-6 * quadratic_gap(X0)


# ----------------------------------------------------------------- SAM


def test_sam_two_calls_and_opaque_mode_match_the_paper():
    a, b = quadratic_problem()
    expected = ref.sam_momentum(numpy_grad(), X0, 20, rho=0.1, learning_rate=0.1, momentum=0.9)
    rows, _ = closed_loop(optim.sam(optim.sgd(0.1, momentum=0.9), rho=0.1), X0, 40)
    np.testing.assert_allclose(rows[1::2], expected, rtol=1e-4, atol=1e-5)

    a_j, b_j = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    loss = lambda p: 0.5 * flat_j(p) @ a_j @ flat_j(p) - b_j @ flat_j(p)
    tx = optim.sam(optim.sgd(0.1, momentum=0.9), rho=0.1, opaque_mode=True)

    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(loss)(params), state, params, grad_fn=jax.grad(loss))
            params = optim.apply_updates(params, updates)
            return (params, state), params

        return jax.lax.scan(step, (params, tx.init(params)), None, length=20)[1]

    trajectory = run(unflatten(X0))
    rows = rows_of(trajectory, 20)
    np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="grad_fn"):
        tx.update(unflatten(X0), tx.init(unflatten(X0)), unflatten(X0))
