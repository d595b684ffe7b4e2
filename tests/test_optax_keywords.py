"""optax's keywords that change the numbers (`nesterov`, `bias_correction_mu/nu`,
`decay_rate_fn`, the line searches' tolerances): each against optax 0.2.8 over 20 jitted steps
on a small nested pytree, and shown to change the result; their errors."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import optim
from tests.optax_compare import STEPS, assert_close, compare, start


def moves(history_a, history_b):
    """The keyword changes the numbers: the last updates differ somewhere."""
    last_a, last_b = jax.tree.leaves(history_a[-1][0]), jax.tree.leaves(history_b[-1][0])
    return any(not np.allclose(np.asarray(a), np.asarray(b), rtol=1e-4)
               for a, b in zip(last_a, last_b, strict=True))


def decay_rate_fn(step, rate):
    return 1.0 - (step + 2.0) ** (-rate)


# (ours with the keyword, optax with it, ours without it)
CASES = {
    "adabelief-nesterov": (lambda: optim.adabelief(0.01, nesterov=True),
                           lambda: optax.adabelief(0.01, nesterov=True),
                           lambda: optim.adabelief(0.01)),
    "scale_by_belief-nesterov": (lambda: optim.scale_by_belief(b2=0.99, nesterov=True),
                                 lambda: optax.scale_by_belief(b2=0.99, nesterov=True),
                                 lambda: optim.scale_by_belief(b2=0.99)),
    # b2 = 0.99, not 0.999: there `1 - b2` rounded in float32 (README) is amplified ~1000x by
    # the cancellation in the rectifier's `rho_t - 4` at the first rectified steps.
    "radam-nesterov": (lambda: optim.radam(0.01, b2=0.99, nesterov=True),
                       lambda: optax.radam(0.01, b2=0.99, nesterov=True),
                       lambda: optim.radam(0.01, b2=0.99)),
    "scale_by_radam-nesterov": (lambda: optim.scale_by_radam(b2=0.9, nesterov=True),
                                lambda: optax.scale_by_radam(b2=0.9, nesterov=True),
                                lambda: optim.scale_by_radam(b2=0.9)),
    "nadam-nesterov": (lambda: optim.nadam(0.01, momentum_decay=None, nesterov=True),
                       lambda: optax.nadam(0.01, nesterov=True),
                       lambda: optim.nadam(0.01, momentum_decay=None, nesterov=False)),
    "nadam-plain": (lambda: optim.nadam(0.01, nesterov=False),
                    lambda: optax.nadam(0.01, nesterov=False),
                    lambda: optim.nadam(0.01, momentum_decay=None)),
    "amsgrad-no-mu-correction": (lambda: optim.amsgrad(0.01, b2=0.9, bias_correction_mu=False),
                                 lambda: optax.amsgrad(0.01, b2=0.9, bias_correction_mu=False),
                                 lambda: optim.amsgrad(0.01, b2=0.9)),
    "scale_by_amsgrad-no-nu-correction": (
        lambda: optim.scale_by_amsgrad(b2=0.9, bias_correction_nu=False),
        lambda: optax.scale_by_amsgrad(b2=0.9, bias_correction_nu=False),
        lambda: optim.scale_by_amsgrad(b2=0.9)),
    "amsgrad-paper": (
        lambda: optim.amsgrad(0.01, b2=0.9, bias_correction_mu=False, bias_correction_nu=False),
        lambda: optax.amsgrad(0.01, b2=0.9, bias_correction_mu=False, bias_correction_nu=False),
        lambda: optim.amsgrad(0.01, b2=0.9)),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_keyword_matches_optax(name, dtype):
    ours, theirs, without = CASES[name]
    with jax.enable_x64(dtype == "float64"):
        # rtol 1e-5: hyperparameters are rounded to the params' dtype before `1 - b` (README).
        mine = compare(ours(), theirs(), jnp.dtype(dtype), rtol=1e-5, atol=1e-7,
                       state=lambda s: ())
        assert moves(mine, compare(without(), without(), jnp.dtype(dtype)))


def test_factored_decay_rate_fn_matches_optax():
    kwargs = {"min_dim_size_to_factor": 3, "decay_rate": 0.8}
    mine = compare(optim.scale_by_factored_rms(decay_rate_fn=decay_rate_fn, **kwargs),
                   optax.scale_by_factored_rms(decay_rate_fn=decay_rate_fn, **kwargs),
                   rtol=1e-5, state=lambda s: ())
    # optax's default function and ours (None) agree, and the custom one changes the numbers.
    default = compare(optim.scale_by_factored_rms(**kwargs), optax.scale_by_factored_rms(**kwargs),
                      rtol=1e-5, state=lambda s: ())
    assert moves(mine, default)


def bowl(params):
    """An ill-conditioned quadratic on the nested tree: curvature 1 to 40 across entries."""
    leaves = jax.tree.leaves(params)
    return sum(0.5 * jnp.sum(jnp.linspace(1.0, 40.0, x.size).reshape(x.shape) * x**2)
               for x in leaves)


def search_run(tx):
    """20 line-search steps in one scan; the params after each."""
    params = start(jnp.float32)

    def step(carry, _):
        p, state = carry
        value, grad = jax.value_and_grad(bowl)(p)
        updates, state = tx.update(grad, state, p, value=value, grad=grad, value_fn=bowl)
        p = optax.apply_updates(p, updates)
        return (p, state), p

    _, trajectory = jax.jit(lambda p: jax.lax.scan(step, (p, tx.init(p)), None, STEPS))(params)
    return trajectory


def sgd_then(linesearch):
    lib = optax if type(linesearch).__module__.startswith("optax") else optim
    return lib.chain(lib.sgd(1.0), linesearch)


@pytest.mark.parametrize("kwargs", [{"atol": 0.5}, {"rtol": 0.3}])
def test_backtracking_tolerances_match_optax(kwargs):
    settings = {"max_backtracking_steps": 30, "decrease_factor": 0.5}
    ours = search_run(sgd_then(optim.scale_by_backtracking_linesearch(**settings, **kwargs)))
    theirs = search_run(sgd_then(optax.scale_by_backtracking_linesearch(**settings, **kwargs)))
    assert_close(ours, theirs, rtol=1e-5, atol=1e-6)
    exact = search_run(sgd_then(optim.scale_by_backtracking_linesearch(**settings)))
    assert not np.allclose(np.asarray(exact["w"][-1]), np.asarray(ours["w"][-1]))


def test_zoom_tol_relaxes_the_conditions():
    settings = {"max_linesearch_steps": 30, "curv_rtol": 0.1, "initial_guess_strategy": "one"}
    params = start(jnp.float32)
    value, grad = jax.value_and_grad(bowl)(params)
    direction = jax.tree.map(lambda g: -g / 40, grad)

    def phi(alpha):
        at = jax.tree.map(lambda p, d: p + alpha * d, params, direction)
        f, g = jax.value_and_grad(bowl)(at)
        return float(f), float(optax.tree.vdot(g, direction))

    (f0, s0), (f1, s1) = phi(0.0), phi(1.0)
    # At the first trial, 1, sufficient decrease holds and curvature fails by `miss` > 0.
    miss = abs(s1) - 0.1 * abs(s0)
    assert f1 - f0 - 1e-4 * s0 <= 0 < miss
    steps = {}
    for name, ls in [("ours", optim.scale_by_zoom_linesearch(tol=1.5 * miss, **settings)),
                     ("optax", optax.scale_by_zoom_linesearch(tol=1.5 * miss, **settings)),
                     ("exact", optim.scale_by_zoom_linesearch(**settings))]:
        search = jax.jit(lambda d, s, p, ls=ls: ls.update(d, s, p, value=value, grad=grad,
                                                          value_fn=bowl))
        _, state = search(direction, ls.init(params), params)
        steps[name] = float(optax.tree.get(state, "learning_rate"))
    assert steps["ours"] == steps["optax"] == 1.0
    assert steps["exact"] != 1.0
    f, s = phi(steps["exact"])
    assert abs(s) <= 0.1 * abs(s0) and f <= f0 + 1e-4 * steps["exact"] * s0


def test_verbose_prints_nothing(capfd):
    for ls in (optim.scale_by_backtracking_linesearch(verbose=True),
               optim.scale_by_zoom_linesearch(verbose=True)):
        search_run(sgd_then(ls))
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: optim.adabelief(nesterov=1), "nesterov must be True or False, got 1"),
        (lambda: optim.scale_by_radam(nesterov="yes"), "nesterov must be True or False"),
        (lambda: optim.nadam(nesterov=None), "nesterov must be True or False"),
        (lambda: optim.amsgrad(bias_correction_mu=0), "bias_correction_mu must be True or"),
        (lambda: optim.scale_by_amsgrad(bias_correction_nu="no"), "bias_correction_nu must be"),
        (lambda: optim.nadam(momentum_decay=-1.0, nesterov=False), "momentum_decay"),
        (lambda: optim.scale_by_factored_rms(decay_rate_fn=0.8), "decay_rate_fn must be a func"),
        (lambda: optim.scale_by_backtracking_linesearch(atol=-1.0), "atol"),
        (lambda: optim.scale_by_backtracking_linesearch(rtol=-0.1), "rtol"),
        (lambda: optim.scale_by_backtracking_linesearch(verbose="loud"), "verbose must be True"),
        (lambda: optim.scale_by_zoom_linesearch(tol=-1.0), "tol"),
        (lambda: optim.scale_by_zoom_linesearch(verbose=2), "verbose must be True or False"),
    ],
)
def test_bad_keywords_raise_when_built(build, message):
    with pytest.raises((ValueError, TypeError), match=message):
        build()


def test_renamed_first_arguments_take_optax_names():
    tree = {"a": jnp.array([3.0, 4.0])}
    assert float(optim.global_norm(updates=tree)) == 5.0
    tx = optim.stateless(f=lambda u, p: jax.tree.map(lambda x: 2 * x, u))
    assert_close(tx.update(tree, tx.init(tree))[0], {"a": jnp.array([6.0, 8.0])})
    assert_close(optim.tree.bias_correction(moment=tree, decay=0.5, count=1),
                 {"a": jnp.array([6.0, 8.0])})
    # optax: no learning rate, no scaling (the sign included).
    tx = optim.scale_by_learning_rate()
    assert_close(tx.update(tree, tx.init(tree))[0], tree)


def test_masked_masks_extras_shaped_like_the_params_as_optax():
    """`mask_compatible_extra_args=True`: an extra with the updates' structure reaches `inner`
    masked like the updates; without it, as it is."""

    def shifting(lib):
        def update(updates, state, params=None, *, shift=None, **extra):
            return jax.tree.map(lambda u, s: u + s, updates, shift), state

        return lib.GradientTransformationExtraArgs(lambda params: lib.EmptyState(), update)

    tree = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([3.0])}
    shift = {"a": jnp.array([10.0, 20.0]), "b": jnp.array([30.0])}
    mask = {"a": True, "b": False}
    for flag in (True, False):
        ours = optim.masked(shifting(optim), mask, mask_compatible_extra_args=flag)
        theirs = optax.masked(shifting(optax), mask, mask_compatible_extra_args=flag)
        if flag:
            got = ours.update(tree, ours.init(tree), tree, shift=shift)[0]
            want = theirs.update(tree, theirs.init(tree), tree, shift=shift)[0]
            assert_close(got, want)
            assert_close(got, {"a": jnp.array([11.0, 22.0]), "b": jnp.array([3.0])})
        else:  # the whole `shift` tree does not match the masked updates: both refuse it
            with pytest.raises(ValueError):
                ours.update(tree, ours.init(tree), tree, shift=shift)
