"""optax.contrib's Muon: `optim.muon` (Jordan et al. 2024) with dimension numbers choosing the
matrix axes of higher-rank weights, the Newton-Schulz preconditionings and coefficient
schedules, the adaptive (dual-norm) scale and the consistent-RMS scale of Liu et al. 2025."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from _descent import validation
from _descent.dtypes import default_float
from optim._core.base import EmptyState, GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim._core.precision import check_state_dtype
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import check_state, check_updates
from optim.aliases.adam import adamw
from optim.transforms.orthogonal import NS_COEFFS, orthogonalize_via_newton_schulz
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.tree import bias_correction, tree_cast, tree_zeros_like, update_moment
from optim.wrappers.partition import partition

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")
NS_COEFFS_PRESETS = {
    "standard": NS_COEFFS,
    # Ahn et al. 2025 (Dion): one (a, b, c) per step, five steps.
    "dion": ((4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037),
             (2.8769, -3.1427, 1.2046), (2.8366, -3.0525, 1.2012)),
}


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a leaf are the matrix's rows (`reduction_axis`, the input of `x @ W`)
    and columns (`output_axis`); every other axis is a batch axis, each slice orthogonalized
    on its own. A (embed, heads, head_dim) weight is `MuonDimensionNumbers(0, (1, 2))`."""

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class MuonState(NamedTuple):
    count: jax.Array
    mu: Any
    ns_coeffs: jax.Array  # (3,) or one row per step (n, 3)


def _is_spec(x: Any) -> bool:
    return x is None or isinstance(x, MuonDimensionNumbers)


def leaf_specs(dims: Any, tree: Any) -> list:
    """One `MuonDimensionNumbers` (or None) per leaf of `tree`, from a single spec, a prefix
    tree of them, or a function of the tree; None (the whole) is the rank-2 rule."""
    chosen = dims(tree) if callable(dims) else dims
    if chosen is None or isinstance(chosen, MuonDimensionNumbers):
        return [chosen or MuonDimensionNumbers()] * len(jax.tree.leaves(tree))
    prefix = jax.tree.structure(chosen, is_leaf=_is_spec)
    try:
        subtrees = prefix.flatten_up_to(tree)
    except (ValueError, TypeError) as error:
        raise ValueError(f"the weight dimension numbers must be a prefix of the params' "
                         f"structure: {error}") from None
    specs = jax.tree.leaves(chosen, is_leaf=_is_spec)
    return [s for s, sub in zip(specs, subtrees, strict=True) for _ in jax.tree.leaves(sub)]


def _axes(x: jax.Array, spec: MuonDimensionNumbers) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if x.ndim < 2:
        raise ValueError(f"Muon orthogonalizes leaves of rank >= 2, got shape {x.shape}")
    as_tuple = lambda a: (a,) if isinstance(a, int) else tuple(a)  # noqa: E731
    rows = tuple(a % x.ndim for a in as_tuple(spec.reduction_axis))
    cols = tuple(a % x.ndim for a in as_tuple(spec.output_axis))
    if set(rows) & set(cols):
        raise ValueError(f"MuonDimensionNumbers' reduction and output axes must be disjoint, "
                         f"got {spec} for shape {x.shape}")
    return rows, cols


def fans(x: jax.Array, spec: MuonDimensionNumbers) -> tuple[int, int]:
    """(fan_in, fan_out): the sizes of the reduction and the output axes."""
    rows, cols = _axes(x, spec)
    return math.prod(x.shape[a] for a in rows), math.prod(x.shape[a] for a in cols)


def _first_step(x, coeffs, preconditioning, eps):
    """The first iteration with AOL (Boissin et al. 2025) or Schatten-4 (Grishina et al.
    2025) rescaling folded in."""
    gram = x @ x.T.conj()
    if preconditioning == "aol":
        s = jax.lax.rsqrt(jnp.maximum(jnp.abs(gram).sum(axis=-1), eps))[:, None]
        x, gram = x * s, gram * s * s.T
    else:
        s = jax.lax.rsqrt(jnp.maximum(jnp.linalg.norm(gram), eps))
        x, gram = x * s, gram * s * s
    return coeffs[0] * x + (coeffs[1] * gram + coeffs[2] * gram @ gram) @ x


def _newton_schulz(x, coeffs, ns_steps, preconditioning, eps):
    """~ U V^T of one matrix: `X <- a X + (b A + c A A) X`, `A = X X^H`, on the wide side."""
    transposed = x.shape[0] > x.shape[1]
    x = x.T if transposed else x
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x) + eps)
    elif preconditioning == "spectral":
        x = x / (jnp.linalg.norm(x, ord=2) + eps)
    coeffs = jnp.asarray(coeffs).astype(x.dtype)
    rows = coeffs[None] if coeffs.ndim == 1 else coeffs
    steps = ns_steps if coeffs.ndim == 1 else rows.shape[0]

    def step(i, m):
        c = rows[jnp.minimum(i, rows.shape[0] - 1)]
        if preconditioning in ("aol", "schatten"):
            return jax.lax.cond(i == 0, lambda: _first_step(m, c, preconditioning, eps),
                                lambda: _plain_step(m, c))
        return _plain_step(m, c)

    x = jax.lax.fori_loop(0, steps, step, x)
    return x.T if transposed else x


def _plain_step(m, c):
    gram = m @ m.T.conj()
    return c[0] * m + (c[1] * gram + c[2] * gram @ gram) @ m


def orthogonalize(x, spec, ns_coeffs, ns_steps, preconditioning, eps):
    """Newton-Schulz on each batch slice of `x` viewed as a matrix by `spec`."""
    rows, cols = _axes(x, spec)
    batch = tuple(a for a in range(x.ndim) if a not in rows + cols)
    order = batch + rows + cols
    shape = tuple(x.shape[a] for a in order)
    fan_in, fan_out = fans(x, spec)
    flat = x.transpose(order).reshape(math.prod(shape[:len(batch)]), fan_in, fan_out)
    if preconditioning == "frobenius" and isinstance(ns_coeffs, tuple):
        # this library's iteration (optim.scale_by_muon's), the common case
        coeffs = tuple(float(c) for c in ns_coeffs)
        one = lambda m: orthogonalize_via_newton_schulz(m, coeffs, ns_steps, eps)  # noqa: E731
    else:
        one = lambda m: _newton_schulz(m, ns_coeffs, ns_steps, preconditioning, eps)  # noqa: E731
    out = jax.vmap(one)(flat).reshape(shape)
    return out.transpose(tuple(sorted(range(x.ndim), key=lambda i: order[i])))


def _check_coeffs(ns_coeffs: Any, ns_steps: Any) -> Any:
    try:
        coeffs = jnp.asarray(ns_coeffs, jnp.float32)
    except (TypeError, ValueError):
        coeffs = None
    if coeffs is None or coeffs.ndim not in (1, 2) or coeffs.shape[-1] != 3 or not bool(
            jnp.all(jnp.isfinite(coeffs))):
        raise ValueError(f"ns_coeffs must be three finite numbers (a, b, c) or one such row per "
                         f"step, shape (n, 3), got {ns_coeffs!r}")
    if coeffs.ndim == 2 and coeffs.shape[0] > ns_steps:
        raise ValueError(f"ns_coeffs has {coeffs.shape[0]} rows, more than ns_steps={ns_steps}")
    if coeffs.ndim == 1:
        return tuple(float(c) for c in coeffs.tolist()) if not isinstance(ns_coeffs, tuple) else (
            ns_coeffs)
    return tuple(tuple(row) for row in np.asarray(ns_coeffs, np.float64).tolist())


def scale_by_muon(
    ns_coeffs: Any = NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """optax.contrib's Muon direction (Jordan et al. 2024; Bernstein & Newhouse 2024):

        m_t = beta m_{t-1} + (1 - beta) g_t
        n_t = beta m_t / (1 - beta^(t+1)) + (1 - beta) g_t / (1 - beta^t)   (nesterov)
              or m_t / (1 - beta^t)
        u_t = NewtonSchulz(n_t)        per matrix of `weight_dimension_numbers`
        u_t <- <n_t, u_t> u_t          with `adaptive` (scaled by the dual norm)

    Unlike `optim.scale_by_muon` the momentum is bias-corrected and no shape factor is applied
    (the `muon` alias applies it after), as optax 0.2.8. `preconditioning` scales before or
    in the first iteration: 'frobenius' (`X / ||X||_F`), 'spectral' (`X / ||X||_2`), 'aol'
    (Boissin et al. 2025), 'schatten' (Schatten-4, Grishina et al. 2025). `ns_coeffs` is one
    (a, b, c) for all `ns_steps` or one row per step. `weight_dimension_numbers`: None (every
    leaf a matrix), a `MuonDimensionNumbers`, a prefix tree of them, or a function of the
    updates; batch axes are orthogonalized slice by slice.
    """
    validation.boolean("nesterov", nesterov)
    validation.boolean("adaptive", adaptive)
    validation.choice("preconditioning", preconditioning, PRECONDITIONINGS)
    check_state_dtype("mu_dtype", mu_dtype)
    validation.fixed_number("beta", beta)
    validation.decay_rate("beta", beta)
    validation.non_negative("eps", eps)
    steps = validation.integer("ns_steps", ns_steps, 1)
    coeffs = _check_coeffs(ns_coeffs, steps)

    def init(params):
        specs = leaf_specs(weight_dimension_numbers, params)
        for leaf, spec in zip(jax.tree.leaves(params), specs, strict=True):
            fans(leaf, spec or MuonDimensionNumbers())
        return MuonState(step_counter(), tree_zeros_like(params, mu_dtype),
                         jnp.asarray(coeffs, default_float()))

    def update(updates, state, params=None, **extra):
        check_state(state, MuonState, "scale_by_muon")
        check_updates(updates, state.mu, "state.mu")
        count = safe_increment(state.count)
        mu = update_moment(updates, state.mu, beta, 1)
        if nesterov:
            direction = jax.tree.map(lambda m, g: beta * m + (1 - beta) * g,
                                     bias_correction(mu, beta, safe_increment(count)),
                                     bias_correction(updates, beta, count))
        else:
            direction = bias_correction(mu, beta, count)
        leaves, treedef = jax.tree.flatten(direction)
        specs = leaf_specs(weight_dimension_numbers, updates)
        table = coeffs if jnp.ndim(state.ns_coeffs) == 1 else state.ns_coeffs
        out = [orthogonalize(n, spec or MuonDimensionNumbers(), table, steps, preconditioning,
                             eps) for n, spec in zip(leaves, specs, strict=True)]
        if adaptive:
            out = [jnp.sum(n.conj() * o) * o for n, o in zip(leaves, out, strict=True)]
        out = [o.astype(g.dtype) for o, g in zip(out, jax.tree.leaves(updates), strict=True)]
        return treedef.unflatten(out), MuonState(count, tree_cast(mu, mu_dtype), state.ns_coeffs)

    return GradientTransformation(init, update)


def _scale_by_shape(dims: Any, consistent_rms: float | None) -> GradientTransformation:
    """`sqrt(max(1, fan_out / fan_in))` (Jordan's width transfer), or with `consistent_rms`
    `consistent_rms * sqrt(max(fan_in, fan_out))` (Liu et al. 2025), per matrix."""

    def factor(x, spec):
        fan_in, fan_out = fans(x, spec or MuonDimensionNumbers())
        if consistent_rms is not None:
            return consistent_rms * math.sqrt(max(fan_in, fan_out))
        return math.sqrt(max(1.0, fan_out / max(fan_in, 1)))

    def update(updates, state, params=None, **extra):
        leaves, treedef = jax.tree.flatten(updates)
        specs = leaf_specs(dims, updates)
        return treedef.unflatten([(factor(u, s) * u).astype(u.dtype)
                                  for u, s in zip(leaves, specs, strict=True)]), state

    return GradientTransformation(lambda params: EmptyState(), update)


def muon(
    learning_rate: ScalarOrSchedule,
    ns_coeffs: Any = NS_COEFFS,
    ns_steps: int = 5,
    beta: float = 0.95,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    weight_decay_mask: MaskOrFn = None,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adaptive: bool = False,
    preconditioning: str = "frobenius",
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_weight_dimension_numbers: Any = None,
    consistent_rms: float | None = None,
) -> GradientTransformation:
    """optax.contrib.muon: `partition({"muon": chain(scale_by_muon, shape scale,
    add_decayed_weights(weight_decay, weight_decay_mask), scale_by_learning_rate),
    "adam": adamw(..., nesterov=nesterov)})`.

    The leaves given a `MuonDimensionNumbers` by `muon_weight_dimension_numbers` (a spec, a
    prefix tree with None for AdamW's leaves, or a function of the params; None: the rank-2
    leaves) are Muon's, the others AdamW's. `ns_coeffs` may be a preset name, 'standard' or
    'dion'. As optax 0.2.8, keywords and defaults included; `optim.muon` is this library's
    own version (no bias correction, a default learning rate).
    """
    if isinstance(ns_coeffs, str):
        validation.choice("ns_coeffs", ns_coeffs, tuple(NS_COEFFS_PRESETS))
        ns_coeffs = NS_COEFFS_PRESETS[ns_coeffs]
    if consistent_rms is not None:
        validation.fixed_number("consistent_rms", consistent_rms)
        validation.positive("consistent_rms", consistent_rms)
    dims = muon_weight_dimension_numbers

    def labels(params):
        if dims is None:
            return jax.tree.map(lambda p: "muon" if jnp.ndim(p) == 2 else "adam", params)
        specs = leaf_specs(dims, params)
        return jax.tree.structure(params).unflatten(
            ["muon" if s is not None else "adam" for s in specs])

    matrices = chain(
        scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov,
                      adaptive=adaptive, preconditioning=preconditioning,
                      weight_dimension_numbers=dims),
        _scale_by_shape(dims, consistent_rms),
        add_decayed_weights(weight_decay, weight_decay_mask),
        scale_by_learning_rate(learning_rate),
    )
    names = {"b1": "adam_b1", "b2": "adam_b2", "eps_root": "adam_eps_root",
             "weight_decay": "adam_weight_decay", "learning_rate": "adam_learning_rate"}
    with validation.renamed(**names):
        others = adamw(learning_rate if adam_learning_rate is None else adam_learning_rate,
                       b1=adam_b1, b2=adam_b2, eps=eps, eps_root=adam_eps_root,
                       mu_dtype=mu_dtype, weight_decay=adam_weight_decay, nesterov=nesterov)
    return partition({"muon": matrices, "adam": others}, labels)

