"""optax's keywords on every shared name: for each public callable of optax 0.2.8 that this
library also exports, optax's parameter names are among ours, and every parameter with a
default in optax has one here, of the same value unless the README's conventions say otherwise.
Signatures only, nothing compiled; one test listing every gap at once."""

import importlib
import inspect

import optax

NAMESPACES = [
    ("optax", "optim"),
    ("optax.contrib", "optim.contrib"),
    ("optax.losses", "optim.losses"),
    ("optax.projections", "optim.projections"),
    ("optax.tree", "optim.tree"),
    ("optax.schedules", "schedules"),
]

BEING_ADDED: dict[str, str] = {}

# (name, parameter) -> why our default differs from optax's (README, "Conventions").
KNOWN_DEFAULTS = {
    # "MultiSteps' accumulator": the sum in the params' dtype, not optax's float32 mean.
    ("MultiSteps", "accumulator_dtype"): "the params' dtype unless asked",
    # "learning rates: every alias has a default; optax requires one" / "AdaDelta: 1.0".
    ("adadelta", "learning_rate"): "Zeiler's rule descends with 1.0",
    # optax's default is a transform instance; ours names the same search, built per call.
    ("lbfgs", "linesearch"): "'zoom', a fresh zoom line search per optimizer",
    # optax's default is its private function 1 - (i + 1)**(-decay_rate); None is that rule.
    ("scale_by_factored_rms", "decay_rate_fn"): "None is the same schedule",
    # relative to the step here, an absolute interval width in optax.
    ("scale_by_zoom_linesearch", "stepsize_precision"): "relative, not absolute",
    # optax's default is a lambda computing count**0.25; ours names that function.
    ("adopt", "clip_value_fn"): "the same count**0.25, named",
    ("scale_by_adopt", "clip_value_fn"): "the same count**0.25, named",
    # optax's 0.0; None means no decay (the same numbers), without building the decay.
    ("schedule_free_sgd", "weight_decay"): "None and 0.0 both mean no decay",
    # optax's default is a Hutchinson estimator instance built at import; ours builds one per
    # optimizer from its key.
    ("sophia", "hessian_diagonal_fn"): "None builds the same Hutchinson estimator",
    # optax's AccumulationType.SUM and ours: the same member of two enums.
    ("microbatch", "accumulator"): "AccumulationType.SUM, optim.microbatching's enum",
}


def plain(value):
    """A default that can be compared by value (numbers, strings, flags, None, dtypes)."""
    return value is None or isinstance(value, (bool, int, float, str, tuple)) or (
        isinstance(value, type) and value.__module__.startswith("jax"))


def is_state(obj):
    """NamedTuple states: read by field name, their layout is this library's own."""
    return isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields")


def shared_callables():
    for theirs_name, ours_name in NAMESPACES:
        theirs = importlib.import_module(theirs_name)
        try:
            ours = importlib.import_module(ours_name)
        except ImportError:  # a namespace not provided yet
            continue
        for name in sorted(dir(theirs)):
            if name.startswith("_") or not hasattr(ours, name):
                continue
            a, b = getattr(theirs, name), getattr(ours, name)
            if callable(a) and callable(b) and not is_state(a) and not inspect.ismodule(b):
                yield f"{ours_name}.{name}", name, a, b


def gaps_of(name, theirs, ours):
    try:
        a, b = inspect.signature(theirs), inspect.signature(ours)
    except (TypeError, ValueError):  # builtins without a signature
        return []
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    out = []
    for key, p in a.parameters.items():
        if p.kind in variadic:
            continue
        if key not in b.parameters:
            out.append(f"lacks {key!r}")
            continue
        q = b.parameters[key]
        if p.default is inspect.Parameter.empty:
            continue
        if q.default is inspect.Parameter.empty:
            out.append(f"{key!r} has no default (optax: {p.default!r})")
        elif (name, key) in KNOWN_DEFAULTS:
            continue
        elif p.default is not q.default and (
                not (plain(p.default) and plain(q.default)) or p.default != q.default):
            out.append(f"{key!r} defaults to {q.default!r} (optax: {p.default!r})")
    return out


def test_known_differences_are_still_differences():
    """Each entry of KNOWN_DEFAULTS names a shared callable whose default still differs."""
    shared = {name: (theirs, ours) for _, name, theirs, ours in shared_callables()}
    for name, key in KNOWN_DEFAULTS:
        theirs, ours = shared[name]
        a = inspect.signature(theirs).parameters[key].default
        b = inspect.signature(ours).parameters[key].default
        assert a is not b and not (plain(a) and plain(b) and a == b), (name, key)


def test_optax_keywords_are_ours():
    gaps = []
    for label, name, theirs, ours in shared_callables():
        if name in BEING_ADDED:
            continue
        gaps += [f"{label}: {gap}" for gap in gaps_of(name, theirs, ours)]
    assert not gaps, "optax's keywords missing or defaulting otherwise:\n" + "\n".join(gaps)


def test_the_check_sees_a_gap():
    def ours(learning_rate, b1=0.9):
        return learning_rate, b1

    assert gaps_of("adam", optax.adam, ours) == [
        "lacks 'b2'", "lacks 'eps'", "lacks 'eps_root'", "lacks 'mu_dtype'", "lacks 'nesterov'"]
    assert gaps_of("adam", optax.scale_by_adam, lambda b1, b2=0.5, eps=1e-8, eps_root=0.0,
                   mu_dtype=None, *, nesterov=False: None) == [
        "'b1' has no default (optax: 0.9)", "'b2' defaults to 0.5 (optax: 0.999)"]
