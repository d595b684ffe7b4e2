"""The averaging wrappers (optim/wrappers/lookahead.py, averaging.py): lookahead against the
paper's Algorithm 1 and ema_params against NumPy, in closed loop on a quadratic; eval_params's
errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import reference as ref
from optim_helpers import flat

import optim

STEPS = 25


def quadratic():
    rng = np.random.default_rng(6)
    q = rng.standard_normal((5, 5))
    return q @ q.T / 5 + 0.3 * np.eye(5), rng.standard_normal(5)


def quadratic_loss(params):
    a, b = quadratic()
    x = jnp.concatenate([params["u"], params["v"][0]])
    return 0.5 * x @ jnp.asarray(a, jnp.float32) @ x - jnp.asarray(b, jnp.float32) @ x


def to_tree(x):
    return {"u": jnp.asarray(x[:3], jnp.float32), "v": [jnp.asarray(x[3:], jnp.float32)]}


def trajectory(tx, x0, steps, read=None):
    @jax.jit
    def run(params):
        def step(carry, _):
            params, state = carry
            updates, state = tx.update(jax.grad(quadratic_loss)(params), state, params)
            params = optim.apply_updates(params, updates)
            return (params, state), (params, read(state) if read else params)

        return jax.lax.scan(step, (params, tx.init(params)), None, length=steps)[1]

    params, seen = run(to_tree(x0))
    return flat(params), flat(seen)


X0 = np.array([1.0, -2.0, 0.5, 3.0, -1.0])


@pytest.mark.parametrize("sync_period, alpha", [(5, 0.5), (3, 0.8)])
def test_lookahead_matches_the_paper(sync_period, alpha):
    a, b = quadratic()
    fast, slow = trajectory(
        optim.lookahead(optim.sgd(0.2), sync_period, alpha), X0, 30, read=lambda s: optim.eval_params(s)
    )
    fast_ref, slow_ref = ref.lookahead_sgd(lambda x: a @ x - b, X0, 30, 0.2, sync_period, alpha)
    np.testing.assert_allclose(fast, fast_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(slow, slow_ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(fast[sync_period - 1 :: sync_period], slow[sync_period - 1 :: sync_period])


@pytest.mark.parametrize(
    "decay, debias",
    [(0.9, True), (0.8, False), (None, True), (lambda step: 0.5 + 0.4 * jnp.minimum(step / 10.0, 1.0), True)],
    ids=["debiased", "from-initial-params", "uniform", "scheduled"],
)
def test_ema_params_matches_numpy(decay, debias):
    tx = optim.chain(optim.sgd(0.1, momentum=0.5), optim.ema_params(decay, debias=debias))
    params, averaged = trajectory(tx, X0, 30, read=optim.eval_params)
    reference_decay = (lambda t: 0.5 + 0.4 * min(t / 10.0, 1.0)) if callable(decay) else decay
    if callable(decay) and debias:
        # A scheduled decay: the weights of p_1..p_t are (1 - d_i) prod_{j > i} d_j.
        expected = np.zeros_like(params)
        for t in range(len(params)):
            d = [reference_decay(i) for i in range(t + 1)]
            w = np.array([(1 - d[i]) * np.prod(d[i + 1 :]) for i in range(t + 1)])
            expected[t] = w @ params[: t + 1] / w.sum()
    else:
        expected = ref.ema_params(params, X0, reference_decay, debias)
    np.testing.assert_allclose(averaged, expected, rtol=1e-5, atol=1e-6)


def test_eval_params_errors():
    params = {"w": jnp.zeros(2)}
    with pytest.raises(ValueError, match="found 0"):
        optim.eval_params(optim.sgd().init(params))
    two = optim.chain(optim.ema_params(0.9), optim.ema_params(0.5)).init(params)
    with pytest.raises(ValueError, match="found 2"):
        optim.eval_params(two)
    with pytest.raises(ValueError, match="needs the params"):
        optim.ema_params().update(params, optim.ema_params().init(params))
