"""optax's wrappers under their optax names, continued: bad arguments raise when the wrapper is
built, naming the argument; a multi_transform that freezes a layer of an MLP trains only the
others; the old calling forms of lookahead and sam still work; and the README's porting
examples run as written and print what they show."""

import contextlib
import io
import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_readme import expected_output, line_matches

import optim

PARAMS = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}


@pytest.mark.parametrize("build, error, words", [
    (lambda: optim.multi_transform({"a": optim.sgd(0.1)}, {"w": "a", "b": "c"}), ValueError,
     "param_labels uses labels 'c' that have no transform"),
    (lambda: optim.multi_transform({}, {"w": "a"}), TypeError, "transforms must be a non-empty"),
    (lambda: optim.multi_transform({"a": 3}, {"w": "a"}), TypeError, "transforms['a']"),
    (lambda: optim.multi_transform({"a": optim.sgd(0.1)}, {"w": "a", "b": "a"},
                                   mask_compatible_extra_args=1), TypeError,
     "mask_compatible_extra_args must be True or False"),
    (lambda: optim.conditionally_mask(optim.sgd(0.1), 3), TypeError, "should_transform_fn"),
    (lambda: optim.conditionally_transform(optim.sgd(0.1), lambda s: True, "yes"), TypeError,
     "forward_extra_args"),
    (lambda: optim.conditionally_transform("sgd", lambda s: True), TypeError, "inner"),
    (lambda: optim.snapshot("norm", 3), TypeError, "measure must be a function"),
    (lambda: optim.snapshot(3, jnp.sum), TypeError, "measure_name must be a string"),
    (lambda: optim.monitor({"n": "norm"}), TypeError, "measures['n']"),
    (lambda: optim.measure_with_ema(jnp.sum, 1.5), ValueError, "decay must be in [0, 1)"),
    (lambda: optim.flatten(None), TypeError, "flatten's inner"),
    (lambda: optim.MultiSteps(optim.sgd(0.1), 2, should_skip_update_fn=3), TypeError,
     "should_skip_update_fn must be a function"),
    (lambda: optim.lookahead(optim.sgd(0.1), 0, 0.5), ValueError, "sync_period"),
    (lambda: optim.lookahead(optim.sgd(0.1), 2, 1.5), ValueError, "slow_step_size"),
    (lambda: optim.lookahead(optim.sgd(0.1), 2, 0.5, reset_state=1), TypeError, "reset_state"),
    (lambda: optim.lookahead(fast_optimizer=3, sync_period=2, slow_step_size=0.5), TypeError,
     "fast optimizer"),
    (lambda: optim.sam(optim.sgd(0.1), optim.sgd(0.1), sync_period=0), ValueError,
     "sync_period"),
    (lambda: optim.sam(optim.sgd(0.1), optim.sgd(0.1), reset_state=None), TypeError,
     "reset_state"),
    (lambda: optim.sam(optim.sgd(0.1), 0.05, sync_period=3), ValueError,
     "sync_period and batch_axis_name belong to sam(optimizer, adv_optimizer"),
    (lambda: optim.inject_hyperparams(optim.sgd, hyperparam_dtype=jnp.int32), TypeError,
     "hyperparam_dtype must be a float dtype"),
    (lambda: optim.inject_stateful_hyperparams(optim.sgd, static_args="lr"), ValueError,
     "static_args names ['lr']"),
    (lambda: optim.WrappedSchedule(0.1), TypeError, "schedule_fn must be a function"),
    (lambda: optim.value_and_grad_from_state(1.0), TypeError, "value_fn must be a function"),
])
def test_bad_arguments_raise_when_built(build, error, words):
    with pytest.raises(error, match=re.escape(words)):
        build()


def test_bad_values_raise_at_the_first_trace():
    tx = optim.conditionally_mask(optim.sgd(0.1), lambda step: jnp.ones(3) > 0)
    with pytest.raises(ValueError, match="should_transform_fn must return a bool scalar"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS)
    tx = optim.MultiSteps(optim.sgd(0.1), 2, should_skip_update_fn=lambda u, s, p: (1.0, ()))
    with pytest.raises(ValueError, match="should_skip_update_fn must return"):
        tx.init(PARAMS)
    tx = optim.lookahead(optim.sgd(0.1), 2, lambda step: 0.5)
    with pytest.raises(TypeError, match="slow_step_size as a number"):
        tx.init(optim.LookaheadParams.init_synced(PARAMS))
    with pytest.raises(ValueError, match="one field 'value'"):
        optim.value_and_grad_from_state(jnp.sum)(PARAMS, state=optim.adam(0.1).init(PARAMS))
    tx = optim.multi_transform({"a": optim.sgd(0.1)}, lambda p: {"w": "a", "b": "z"})
    with pytest.raises(ValueError, match="labels 'z' that have no transform"):
        tx.init(PARAMS)


def test_mask_compatible_extra_args_reach_each_group_masked():
    seen = {}

    def recorder(name):
        def update(updates, state, params=None, *, weights=None):
            seen[name] = weights
            return updates, state
        return optim.GradientTransformation(lambda p: optim.EmptyState(), update)

    tx = optim.multi_transform({"a": recorder("a"), "b": recorder("b")}, {"w": "a", "b": "b"},
                               mask_compatible_extra_args=True)
    tx.update(PARAMS, tx.init(PARAMS), PARAMS, weights=PARAMS)
    assert isinstance(seen["a"]["b"], optim.MaskedNode) and seen["a"]["w"].shape == (2, 3)
    assert isinstance(seen["b"]["w"], optim.MaskedNode) and seen["b"]["b"].shape == (3,)


def test_multi_transform_freezing_a_layer_trains_only_the_others():
    key_w1, key_w2, key_x = jax.random.split(jax.random.key(0), 3)
    params = {"hidden": {"w": jax.random.normal(key_w1, (4, 8)), "b": jnp.zeros(8)},
              "out": {"w": jax.random.normal(key_w2, (8, 1)), "b": jnp.zeros(1)}}
    x = jax.random.normal(key_x, (32, 4))
    y = jnp.sin(x[:, :1])

    def loss(p):
        h = jnp.tanh(x @ p["hidden"]["w"] + p["hidden"]["b"][None, :])
        return jnp.mean((h @ p["out"]["w"] + p["out"]["b"][None, :] - y) ** 2)

    tx = optim.multi_transform({"train": optim.adam(0.05), "frozen": optim.set_to_zero()},
                               {"hidden": "frozen", "out": "train"})

    def step(carry, _):
        p, state = carry
        updates, state = tx.update(jax.grad(loss)(p), state, p)
        return (optim.apply_updates(p, updates), state), loss(p)

    (trained, state), losses = jax.jit(lambda c: jax.lax.scan(step, c, None, length=20))(
        (params, tx.init(params)))
    np.testing.assert_array_equal(trained["hidden"]["w"], params["hidden"]["w"])
    np.testing.assert_array_equal(trained["hidden"]["b"], params["hidden"]["b"])
    assert not np.allclose(trained["out"]["w"], params["out"]["w"])
    assert losses[-1] < 0.7 * losses[0]
    # The frozen group holds no state at all, Adam's moments only the trained layer.
    assert jax.tree.leaves(state.inner_states["frozen"]) == []
    assert set(state.inner_states["train"][0].mu) == {"hidden", "out"}
    assert jax.tree.leaves(state.inner_states["train"][0].mu["hidden"]) == []


def test_the_old_calling_forms_still_work():
    params, grads = {"w": jnp.ones(3)}, {"w": jnp.full(3, 0.5)}
    tx = optim.lookahead(optim.sgd(0.1), 2, 0.5)
    state = tx.init(params)
    assert type(state).__name__ == "LookaheadState" and hasattr(state, "slow_params")
    tx = optim.sam(optim.sgd(0.1), 0.05)
    updates, state = tx.update(grads, tx.init(params), params)
    np.testing.assert_allclose(updates["w"], 0.05 * 0.5 / np.sqrt(3 * 0.25), rtol=1e-6)
    tx = optim.sam(optim.sgd(0.1), adv_optimizer=optim.sgd(0.1))
    assert type(tx.init(params)).__name__ == "AdversarialSAMState"


def readme_porting_blocks():
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = text.split("### Porting optax code", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.slow
@pytest.mark.parametrize("module", ["optim", "optax"])
def test_readme_porting_examples_run_and_print_what_they_show(module):
    """Each block prints what it shows, as written and with optax itself imported instead."""
    blocks = readme_porting_blocks()
    assert len(blocks) == 3
    for code in blocks:
        assert "import optim as optax" in code
        shown = expected_output(code)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            exec(compile(code.replace("import optim as optax", f"import {module} as optax"),
                         "README.md", "exec"), {})
        printed = out.getvalue().splitlines()
        assert len(printed) == len(shown), (printed, shown)
        for want, have in zip(shown, printed, strict=True):
            assert line_matches(want, have), (module, want, have)
