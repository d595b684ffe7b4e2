"""optim.losses against optax.losses 0.2.8: every loss's values and gradients on random
inputs (float32, and float64 under x64), the main ones against plain-NumPy float64 formulas,
stability at large logits, and the errors for bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.special

import optim
from optim import losses

B, C = 4, 5  # examples, classes


def rng(seed=0):
    return np.random.default_rng(seed)


def probs(r, shape):
    return scipy.special.softmax(r.normal(size=shape), axis=-1)


def one_hot(r, shape):
    return np.eye(shape[-1])[r.integers(0, shape[-1], shape[:-1])]


def ctc_inputs(r):
    logits = r.normal(size=(2, 6, 4))
    logit_paddings = np.zeros((2, 6))
    logit_paddings[1, 4:] = 1.0
    labels = np.array([[1, 2, 2], [3, 1, 0]])
    label_paddings = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    return (logits, logit_paddings, labels, label_paddings), {}


# name -> r -> (positional arguments, keywords); the first argument is differentiated.
# Integer arrays stay integers; float arrays take the test's dtype.
CASES = {
    "squared_error": lambda r: ((r.normal(size=(B, 3)), r.normal(size=(B, 3))), {}),
    "l2_loss": lambda r: ((r.normal(size=(B, 3)), r.normal(size=(B, 3))), {}),
    "huber_loss": lambda r: ((3 * r.normal(size=(B, 3)), r.normal(size=(B, 3))), {"delta": 0.7}),
    "log_cosh": lambda r: ((3 * r.normal(size=(B, 3)), r.normal(size=(B, 3))), {}),
    "cosine_similarity": lambda r: ((r.normal(size=(B, 3)), r.normal(size=(B, 3))), {}),
    "cosine_distance": lambda r: ((r.normal(size=(B, 3)), r.normal(size=(B, 3))),
                                  {"epsilon": 1e-6}),
    "sigmoid_binary_cross_entropy": lambda r: ((3 * r.normal(size=(B, 3)),
                                                r.uniform(size=(B, 3))), {}),
    "sigmoid_focal_loss": lambda r: ((3 * r.normal(size=(B, 3)),
                                      r.integers(0, 2, (B, 3)).astype(float)),
                                     {"alpha": 0.25, "gamma": 2.0}),
    "hinge_loss": lambda r: ((r.normal(size=(B,)), np.sign(r.normal(size=(B,)))), {}),
    "perceptron_loss": lambda r: ((r.normal(size=(B,)), np.sign(r.normal(size=(B,)))), {}),
    "multiclass_hinge_loss": lambda r: ((r.normal(size=(B, C)), r.integers(0, C, B)), {}),
    "multiclass_perceptron_loss": lambda r: ((r.normal(size=(B, C)), r.integers(0, C, B)), {}),
    "softmax_cross_entropy": lambda r: ((3 * r.normal(size=(B, C)), probs(r, (B, C))), {}),
    "softmax_cross_entropy_with_integer_labels": lambda r: (
        (3 * r.normal(size=(B, C)), r.integers(0, C, B)), {}),
    "safe_softmax_cross_entropy": lambda r: ((r.normal(size=(B, C)), one_hot(r, (B, C))), {}),
    "poly_loss_cross_entropy": lambda r: ((r.normal(size=(B, C)), probs(r, (B, C))),
                                          {"epsilon": 1.5}),
    "smooth_labels": lambda r: ((one_hot(r, (B, C)), 0.1), {}),
    "kl_divergence": lambda r: ((np.log(probs(r, (B, C))), probs(r, (B, C))), {}),
    "kl_divergence_with_log_targets": lambda r: ((np.log(probs(r, (B, C))),
                                                  np.log(probs(r, (B, C)))), {}),
    "generalized_kl_divergence": lambda r: ((r.normal(size=(B, C)), r.uniform(size=(B, C))), {}),
    "sparsemax_loss": lambda r: ((2 * r.normal(size=(B, 3)), r.integers(0, 2, (B, 3))), {}),
    "multiclass_sparsemax_loss": lambda r: ((r.normal(size=(B, C)), r.integers(0, C, B)), {}),
    "ranking_softmax_loss": lambda r: ((r.normal(size=(B, C)), r.integers(0, 3, (B, C))),
                                       {"where": r.uniform(size=(B, C)) > 0.3}),
    "ntxent": lambda r: ((r.normal(size=(6, 3)), np.array([0, 0, 1, 1, 2, 2])), {}),
    "triplet_margin_loss": lambda r: ((r.normal(size=(B, 3)), r.normal(size=(B, 3)),
                                       r.normal(size=(B, 3))), {}),
    "dice_loss": lambda r: ((r.normal(size=(2, 4, 4, 3)), one_hot(r, (2, 4, 4, 3))),
                            {"alpha": 0.3, "beta": 0.7}),
    "multiclass_generalized_dice_loss": lambda r: ((r.normal(size=(2, 4, 4, 3)),
                                                    one_hot(r, (2, 4, 4, 3))), {}),
    "binary_dice_loss": lambda r: ((r.normal(size=(2, 4, 4)),
                                    r.integers(0, 2, (2, 4, 4)).astype(float)), {}),
    "ctc_loss": ctc_inputs,
}
# optax's deprecated spelling, which warns (warnings are errors here): compared through the
# function it forwards to.
OPTAX_NAMES = {"convex_kl_divergence": "generalized_kl_divergence"}
CASES["convex_kl_divergence"] = CASES["generalized_kl_divergence"]
NOT_HERE = {"make_fenchel_young_loss", "ctc_loss_with_forward_probs"}  # tested below


def test_every_optax_loss_has_a_case():
    names = {n for n in dir(optax.losses) if not n.startswith("_")}
    assert names == set(CASES) | NOT_HERE
    assert set(losses.__all__) == names


def as_dtype(args, dtype):
    return tuple(jnp.asarray(a, dtype) if np.asarray(a).dtype.kind == "f" else jnp.asarray(a)
                 for a in args)


def value_and_grad(fn, args, kwargs):
    """The loss and the gradient of its sum in the first argument, one jitted program (the
    integer arguments and the keywords are closed over)."""
    def run(x, *floats):
        full = list(args)
        for i, value in zip(float_positions, floats, strict=True):
            full[i] = value
        loss = lambda x: fn(x, *full[1:], **kwargs)  # noqa: E731
        return loss(x), jax.grad(lambda x: jnp.sum(loss(x)))(x)

    float_positions = [i for i, a in enumerate(args[1:], 1) if jnp.issubdtype(a.dtype, jnp.floating)]
    return jax.jit(run)(args[0], *(args[i] for i in float_positions))


def both(name, args, kwargs):
    ours = getattr(losses, name)
    theirs = getattr(optax.losses, OPTAX_NAMES.get(name, name))
    with jax.numpy_rank_promotion("allow"):  # optax broadcasts ranks in places
        expected, expected_grad = value_and_grad(theirs, args, kwargs)
    got, got_grad = value_and_grad(ours, args, kwargs)
    return got, expected, got_grad, expected_grad


def check_against_optax(name, dtype, rtol):
    args, kwargs = CASES[name](rng(sum(map(ord, name))))
    args = as_dtype(args, dtype)
    got, expected, got_grad, expected_grad = both(name, args, kwargs)
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(got_grad, expected_grad, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("name", sorted(CASES))
def test_against_optax_float32(name):
    check_against_optax(name, jnp.float32, 2e-5)


@pytest.mark.slow  # two large programs compiled in float64
def test_against_optax_float64(x64):
    inputs = {}
    for name in sorted(CASES):
        args, kwargs = CASES[name](rng(sum(map(ord, name))))
        inputs[name] = (as_dtype(args, jnp.float64), kwargs)

    def all_of(lookup):  # every loss and its gradient, in one program per library
        out = {}
        for name, (args, kwargs) in inputs.items():
            fn = lookup(name)
            loss = lambda x, fn=fn, a=args, kw=kwargs: fn(x, *a[1:], **kw)  # noqa: E731
            out[name] = (loss(args[0]), jax.grad(lambda x, f=loss: jnp.sum(f(x)))(args[0]))
        return out

    got = jax.jit(lambda: all_of(lambda n: getattr(losses, n)))()
    with jax.numpy_rank_promotion("allow"):
        expected = jax.jit(lambda: all_of(
            lambda n: getattr(optax.losses, OPTAX_NAMES.get(n, n))))()
    for name in inputs:
        for a, b in zip(got[name], expected[name], strict=True):
            assert a.dtype == b.dtype == jnp.float64, name
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12, err_msg=name)


def test_under_jit_equals_eager():
    for name in ("softmax_cross_entropy_with_integer_labels", "huber_loss"):
        args, kwargs = CASES[name](rng(1))
        args = as_dtype(args, jnp.float32)
        fn = getattr(losses, name)
        np.testing.assert_allclose(jax.jit(lambda *a, fn=fn, kw=kwargs: fn(*a, **kw))(*args),
                                   fn(*args, **kwargs), rtol=1e-6)


def test_fenchel_young_of_logsumexp_is_the_cross_entropy():
    r = rng(3)
    logits, labels = jnp.asarray(r.normal(size=(B, C))), jnp.asarray(probs(r, (B, C)))
    ours = losses.make_fenchel_young_loss(jax.scipy.special.logsumexp)
    theirs = optax.losses.make_fenchel_young_loss(jax.scipy.special.logsumexp)
    np.testing.assert_allclose(ours(logits, labels), theirs(logits, labels), rtol=1e-6)
    # logsumexp(x) - <y, x> = -sum_j y_j log softmax(x)_j when the labels sum to 1.
    np.testing.assert_allclose(ours(logits, labels), losses.softmax_cross_entropy(logits, labels),
                               rtol=1e-5)
    with pytest.raises(TypeError, match="max_fun must be a function"):
        losses.make_fenchel_young_loss(3.0)


def test_ctc_forward_probs_against_optax():
    args, _ = ctc_inputs(rng(4))
    args = as_dtype(args, jnp.float32)
    ours = jax.jit(losses.ctc_loss_with_forward_probs)(*args)
    theirs = jax.jit(optax.losses.ctc_loss_with_forward_probs)(*args)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-5)
    for a, b in zip(ours[1:], theirs[1:], strict=True):  # the probabilities, not log 0's stand-in
        assert a.shape == b.shape
        np.testing.assert_allclose(np.exp(a), np.exp(b), rtol=1e-4, atol=1e-7)


def test_ctc_against_a_brute_force_sum_over_alignments():
    """A 4-frame, 3-class, label (1, 1) problem: every alignment that collapses to 1 1."""
    logits = rng(5).normal(size=(1, 4, 3))
    p = scipy.special.softmax(logits[0], axis=-1)
    total = 0.0
    for path in np.ndindex(3, 3, 3, 3):
        collapsed = [k for i, k in enumerate(path) if k != 0 and (i == 0 or k != path[i - 1])]
        if collapsed == [1, 1]:
            total += np.prod([p[t, k] for t, k in enumerate(path)])
    loss = losses.ctc_loss(logits, np.zeros((1, 4)), np.array([[1, 1]]), np.zeros((1, 2)))
    np.testing.assert_allclose(loss, [-np.log(total)], rtol=1e-5)


# Plain-NumPy float64 transcriptions of the docstrings' formulas.
def np_log_softmax(x):
    return x - scipy.special.logsumexp(x, axis=-1, keepdims=True)


FORMULAS = {
    "l2_loss": lambda p, t: 0.5 * (p - t) ** 2,
    "squared_error": lambda p, t: (p - t) ** 2,
    "huber_loss": lambda p, t: np.where(np.abs(p - t) <= 0.7, 0.5 * (p - t) ** 2,
                                        0.7 * (np.abs(p - t) - 0.35)),
    "log_cosh": lambda p, t: np.log(np.cosh(p - t)),
    "softmax_cross_entropy": lambda x, y: -np.sum(y * np_log_softmax(x), -1),
    "softmax_cross_entropy_with_integer_labels":
        lambda x, k: -np_log_softmax(x)[np.arange(len(k)), k],
    "sigmoid_binary_cross_entropy": lambda x, y: -y * np.log(scipy.special.expit(x))
        - (1 - y) * np.log(1 - scipy.special.expit(x)),
    "hinge_loss": lambda s, y: np.maximum(0, 1 - s * y),
    "kl_divergence": lambda log_p, q: np.sum(q * (np.log(q) - log_p), -1),
    "cosine_similarity": lambda a, b: np.sum(a * b, -1)
        / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)),
}


@pytest.mark.parametrize("name", sorted(FORMULAS))
def test_against_numpy_formula(name, x64):
    args, kwargs = CASES[name](rng(6))
    got = getattr(losses, name)(*as_dtype(args, jnp.float64), **kwargs)
    np.testing.assert_allclose(got, FORMULAS[name](*args), rtol=1e-12, atol=1e-14)


def test_large_logits_stay_finite_and_exact():
    @jax.jit
    def run(x):
        ce = losses.softmax_cross_entropy(x, jnp.array([[0.0, 1.0, 0.0]]))
        integer = losses.softmax_cross_entropy_with_integer_labels(x, jnp.array([2]))
        grad = jax.grad(lambda x: losses.softmax_cross_entropy_with_integer_labels(
            x, jnp.array([1]))[0])(x)
        binary = losses.sigmoid_binary_cross_entropy(x[0, :2], jnp.array([0.0, 1.0]))
        focal = losses.sigmoid_focal_loss(x[0, :1], jnp.array([0.0]))
        return ce, integer, grad, binary, losses.log_cosh(x[0, :1]), focal

    ce, integer, grad, binary, log_cosh, focal = run(jnp.array([[1000.0, -1000.0, 0.0]]))
    np.testing.assert_allclose(ce, [2000.0])
    np.testing.assert_allclose(integer, [1000.0])
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0]])
    np.testing.assert_allclose(binary, [1000.0, 1000.0])
    np.testing.assert_allclose(log_cosh, [1000.0 - np.log(2.0)])
    np.testing.assert_allclose(focal, [1000.0])  # (1 - p_t) = 1: the cross-entropy itself


def test_safe_softmax_cross_entropy_ignores_masked_classes():
    logits = jnp.array([[0.0, -jnp.inf, 1.0]])
    labels = jnp.array([[0.3, 0.0, 0.7]])
    loss, grad = jax.value_and_grad(
        lambda x: losses.safe_softmax_cross_entropy(x, labels)[0])(logits)
    expected = -np.sum(np.array([0.3, 0.7]) * np_log_softmax(np.array([0.0, 1.0])))
    np.testing.assert_allclose(loss, expected, rtol=1e-6)
    assert np.isfinite(np.asarray(grad)).all()


def test_per_example_not_batch_mean():
    args, _ = CASES["softmax_cross_entropy"](rng(7))
    assert losses.softmax_cross_entropy(*as_dtype(args, jnp.float32)).shape == (B,)
    assert optim.l2_loss(jnp.ones((B, 3))).shape == (B, 3)


def test_top_level_names_are_optax_top_level_losses():
    top = {n for n in dir(optax) if n in set(losses.__all__)}
    assert top and all(getattr(optim, n) is getattr(losses, n) for n in top)


BAD = [
    (lambda: losses.l2_loss(jnp.ones(3), jnp.ones(4)),
     ValueError, r"predictions and targets must have the same shape.*\(3,\).*\(4,\)"),
    (lambda: losses.squared_error(jnp.ones(3, jnp.int32)), TypeError, "floating dtype, got int32"),
    (lambda: losses.huber_loss(jnp.ones(3), delta=0.0), ValueError, r"delta must be in \(0"),
    (lambda: losses.huber_loss(jnp.ones(3), delta=-1.0), ValueError, "got -1.0"),
    (lambda: losses.sigmoid_focal_loss(jnp.ones(3), jnp.ones(3), gamma=-1.0),
     ValueError, r"gamma must be in \[0"),
    (lambda: losses.sigmoid_focal_loss(jnp.ones(3), jnp.ones(3), alpha=1.5),
     ValueError, r"alpha must be in \[0, 1\], got 1.5"),
    (lambda: losses.smooth_labels(jnp.ones((2, 3)), alpha=2.0), ValueError, "alpha must be"),
    (lambda: losses.softmax_cross_entropy(jnp.ones((2, 3)), jnp.ones((2, 4))),
     ValueError, "logits and labels must have the same shape"),
    (lambda: losses.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)),
                                                              jnp.array([0, 3])),
     ValueError, r"labels must be class indices in \[0, 3\), got 3"),
    (lambda: losses.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)),
                                                              jnp.array([-1, 0])),
     ValueError, "got -1"),
    (lambda: losses.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)),
                                                              jnp.array([0.0, 1.0])),
     TypeError, "labels must be an array of integer dtype"),
    (lambda: losses.softmax_cross_entropy_with_integer_labels(jnp.ones((2, 3)),
                                                              jnp.array([0, 1, 2])),
     ValueError, r"without the class axis, \(2,\), got \(3,\)"),
    (lambda: losses.multiclass_hinge_loss(jnp.ones((2, 3)), jnp.array([0, 5])),
     ValueError, r"\[0, 3\), got 5"),
    (lambda: losses.hinge_loss(jnp.ones(3), jnp.ones(4)), ValueError, "broadcastable shapes"),
    (lambda: losses.kl_divergence(jnp.ones(3), jnp.ones(2)), ValueError,
     "log_predictions and targets"),
    (lambda: losses.ntxent(jnp.ones((4, 2)), jnp.ones(3)), ValueError, "labels"),
    (lambda: losses.ntxent(jnp.ones((4, 2)), jnp.ones(4), temperature=0.0), ValueError,
     "temperature must be"),
    (lambda: losses.triplet_margin_loss(jnp.ones(3), jnp.ones(3), jnp.ones(2)), ValueError,
     "anchors and negatives"),
    (lambda: losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 3))), ValueError,
     "predictions and targets"),
    (lambda: losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2)), reduction="max"),
     ValueError, "reduction"),
    (lambda: losses.dice_loss(jnp.ones((1, 2, 2)), jnp.ones((1, 2, 2)), apply_softmax=False),
     ValueError, "probabilities summing to 1"),
    (lambda: losses.ctc_loss(jnp.ones((2, 3)), jnp.ones(2), jnp.ones((2, 1), int),
                             jnp.ones((2, 1))), ValueError, "logits must have 3 dimensions"),
    (lambda: losses.ctc_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3)), jnp.ones((1, 1), int),
                             jnp.ones((1, 1))), ValueError, "batch size"),
    (lambda: losses.ctc_loss(jnp.ones((2, 3, 4)), jnp.ones((2, 3)), jnp.ones((2, 1), int),
                             jnp.ones((2, 1)), blank_id=4), ValueError, "blank_id"),
]


@pytest.mark.parametrize("index", range(len(BAD)))
def test_bad_input_raises(index):
    call, error, match = BAD[index]
    with pytest.raises(error, match=match):
        call()


def test_shape_checks_run_under_jit_and_traced_values_pass():
    with pytest.raises(ValueError, match="same shape"):
        jax.jit(losses.l2_loss)(jnp.ones(3), jnp.ones(4))
    # A traced label cannot be read: out of range it gives NaN (past the end), as in optax.
    out = jax.jit(losses.softmax_cross_entropy_with_integer_labels)(jnp.zeros((1, 3)),
                                                                    jnp.array([3]))
    assert np.isnan(np.asarray(out)).all()
    traced_delta = jax.jit(lambda d: losses.huber_loss(jnp.ones(2), delta=d))(0.5)
    np.testing.assert_allclose(traced_delta, [0.375, 0.375])


def test_where_masks_and_tuple_axes_against_optax():
    r = rng(8)
    logits = jnp.asarray(r.normal(size=(B, C)), jnp.float32)
    mask = jnp.asarray(r.uniform(size=(B, C)) > 0.3).at[:, 0].set(True)
    labels = jnp.asarray(r.integers(0, C, B)).at[:].set(0)  # class 0 is never masked
    soft = jnp.asarray(probs(r, (B, C)), jnp.float32) * mask
    per_example = jnp.array([True, False, True, True])
    grid = jnp.asarray(r.normal(size=(B, 2, 3)), jnp.float32)
    flat_labels = jnp.asarray(r.integers(0, 6, B))
    calls = [
        ("softmax_cross_entropy", (logits, soft), {"where": mask}),
        ("softmax_cross_entropy", (logits, soft), {"where": per_example}),
        ("softmax_cross_entropy_with_integer_labels", (logits, labels), {"where": mask}),
        ("softmax_cross_entropy_with_integer_labels", (grid, flat_labels), {"axis": (1, 2)}),
        ("softmax_cross_entropy_with_integer_labels", (jnp.moveaxis(logits, 1, 0), labels),
         {"axis": 0}),
        ("smooth_labels", (soft, 0.2), {"where": mask}),
        ("cosine_similarity", (logits, soft), {"where": mask, "epsilon": 1e-6}),
        ("kl_divergence", (jax.nn.log_softmax(logits), soft), {"where": mask}),
        ("poly_loss_cross_entropy", (logits, soft), {"where": mask}),
        ("ranking_softmax_loss", (logits, soft), {"where": mask, "reduce_fn": None,
                                                  "weights": jnp.ones_like(logits) * 2}),
        ("dice_loss", (jnp.asarray(r.normal(size=(2, 3, 3))), jnp.asarray(
            one_hot(r, (2, 3, 3)))), {"reduction": "none", "ignore_background": True}),
    ]
    def all_of(module):  # one program per library
        return [getattr(module, name)(*args, **kwargs) for name, args, kwargs in calls]

    with jax.numpy_rank_promotion("allow"):
        expected = jax.jit(lambda: all_of(optax.losses))()
    for (name, _, _), got, want in zip(calls, jax.jit(lambda: all_of(losses))(), expected,
                                       strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=name)


def test_documented_departures_from_optax_against_numpy(x64):
    r = rng(9)
    p, t = r.uniform(size=(2, 3, 3)), r.integers(0, 2, (2, 3, 3)).astype(float)
    overlap = np.sum(p * t, axis=(1, 2))
    dice = 1 - (overlap + 1.0) / (0.5 * (p.sum(axis=(1, 2)) + t.sum(axis=(1, 2))) + 1.0)
    np.testing.assert_allclose(losses.binary_dice_loss(p, t, apply_sigmoid=False), dice,
                               rtol=1e-12)
    a, b, c = (r.normal(size=(B, 3)) for _ in range(3))
    distance = lambda u, v: np.sum(np.abs(u - v), -1) + 1e-6  # noqa: E731 - the 1-norm
    np.testing.assert_allclose(losses.triplet_margin_loss(a, b, c, norm_degree=1),
                               np.maximum(distance(a, b) - distance(a, c) + 1.0, 0), rtol=1e-12)
