"""GaLore: an optimizer's state kept in a low-rank projection of each matrix's gradient
(Zhao, Zhang, Chen, Wang, Anandkumar & Tian 2024, "GaLore: Memory-Efficient LLM Training by
Gradient Low-Rank Projection")."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn
from optim._core.steps import safe_increment, step_counter
from optim._core.structure import as_transform, check_state, check_update_dtypes
from optim.transforms.adam import scale_by_adam
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate


class GaLoreDimensionNumbers(NamedTuple):
    """Which axes of a leaf are the rows (`reduction_axis`, the input of `x @ W`) and which
    the columns (`output_axis`) of the matrix GaLore projects; together they must name every
    axis. A (embed, heads, head_dim) attention weight is `GaLoreDimensionNumbers(0, (1, 2))`."""

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class GaLoreState(NamedTuple):
    count: jax.Array
    base_optimizer_state: Any
    projector: Any  # per leaf: the (m, r) or (n, r) orthonormal basis; (0, 0) when unprojected


def _is_spec(x: Any) -> bool:
    return x is None or isinstance(x, GaLoreDimensionNumbers)


def _axes(axis: Sequence[int] | int, ndim: int) -> tuple[int, ...]:
    return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _matrix_view(x: jax.Array, spec: GaLoreDimensionNumbers
                 ) -> tuple[int, int, Callable, Callable]:
    """The leaf's matrix shape (m, n) and functions taking it to that matrix and back."""
    if x.ndim < 2:
        raise ValueError(f"GaLore projects leaves of rank >= 2, got shape {x.shape} with {spec}")
    rows, cols = _axes(spec.reduction_axis, x.ndim), _axes(spec.output_axis, x.ndim)
    if set(rows) & set(cols) or len(set(rows) | set(cols)) != x.ndim:
        raise ValueError(f"GaLoreDimensionNumbers must split the axes of shape {x.shape} into "
                         f"disjoint reduction and output axes naming all of them, got {spec}")
    order = rows + cols
    back = tuple(sorted(range(x.ndim), key=lambda i: order[i]))
    shape = tuple(x.shape[a] for a in order)
    m, n = math.prod(shape[:len(rows)]), math.prod(shape[len(rows):])
    return (m, n, lambda y: y.transpose(order).reshape(m, n),
            lambda y: y.reshape(shape).transpose(back))


def scale_by_galore(
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """GaLore's projected update (Zhao et al. 2024, Algorithm 2), for each matrix G (m x n):

        every update_proj_gap steps (t - 1 = 0, gap, 2 gap, ...):  U S V^T = svd(G_t)
            P = U[:, :r] if m >= n else V[:, :r]             (r = min(rank, m, n))
        R_t = P^T G_t (m >= n)  or  G_t P (m < n)           (the low-rank gradient)
        N_t = base_optimizer(R_t)                           (its state has R's shape)
        u_t = scale * P N_t  or  scale * N_t P^T

    The SVD runs in float32. Leaves that are not projected (rank < 2 by default) go through
    `base_optimizer` at full size. `weight_dimension_numbers` chooses the matrices: None (the
    rank-2 leaves), one `GaLoreDimensionNumbers` for every leaf of rank >= 2, a tree of them
    with None for the leaves to leave alone, or a function params -> such a tree.
    `base_optimizer` (default `scale_by_adam()`) sees no params, so it must not need them:
    weight decay goes in `galore`'s `weight_decay`. As optax 0.2.8.
    """
    validation.integer("rank", rank, 1)
    validation.integer("update_proj_gap", update_proj_gap, 1)
    validation.fixed_number("scale", scale)
    validation.finite("scale", scale)
    inner = scale_by_adam() if base_optimizer is None else as_transform(
        base_optimizer, "base_optimizer")
    if not (weight_dimension_numbers is None or callable(weight_dimension_numbers)
            or isinstance(weight_dimension_numbers, (GaLoreDimensionNumbers, dict, list, tuple))):
        raise TypeError(f"weight_dimension_numbers must be None, a GaLoreDimensionNumbers, a "
                        f"tree of them or a function of the params, got "
                        f"{weight_dimension_numbers!r}")

    def specs(tree):
        if weight_dimension_numbers is None:
            return jax.tree.map(lambda p: GaLoreDimensionNumbers() if p.ndim == 2 else None, tree)
        if isinstance(weight_dimension_numbers, GaLoreDimensionNumbers):
            return jax.tree.map(lambda p: weight_dimension_numbers if p.ndim >= 2 else None, tree)
        chosen = (weight_dimension_numbers(tree) if callable(weight_dimension_numbers)
                  else weight_dimension_numbers)
        try:
            jax.tree.map(lambda s, p: None, chosen, tree, is_leaf=_is_spec)
        except ValueError as error:
            raise ValueError(f"weight_dimension_numbers must have the params' structure: "
                             f"{error}") from None
        return chosen

    def layout(p, spec):
        """(use the left factor, r, the matrix view) of a projected leaf."""
        m, n, to_matrix, from_matrix = _matrix_view(p, spec)
        return m >= n, min(rank, m, n), m, n, to_matrix, from_matrix

    def shapes(p, spec):
        if spec is None:
            return jnp.zeros((0, 0), p.dtype), jnp.zeros_like(p)
        left, r, m, n, _, _ = layout(p, spec)
        return (jnp.zeros((m, r) if left else (n, r), p.dtype),
                jnp.zeros((r, n) if left else (m, r), p.dtype))

    def init(params):
        treedef = jax.tree.structure(params)
        pairs = jax.tree.map(shapes, params, specs(params), is_leaf=_is_spec)
        projectors, proxies = jax.tree.transpose(treedef, jax.tree.structure((0, 0)), pairs) if (
            treedef.num_leaves) else (params, params)
        return GaLoreState(step_counter(), inner.init(proxies), projectors)

    def update(updates, state, params=None, **extra):
        check_state(state, GaLoreState, "scale_by_galore")
        check_update_dtypes(updates)
        refresh = state.count % update_proj_gap == 0
        treedef = jax.tree.structure(updates)
        spec_tree = specs(updates)

        def project(g, projector, spec):
            if spec is None:
                return g, projector
            left, r, _, _, to_matrix, _ = layout(g, spec)
            matrix = to_matrix(g)

            def basis():
                u, _, vt = jnp.linalg.svd(matrix.astype(jnp.float32), full_matrices=False)
                return (u[:, :r] if left else vt[:r, :].T).astype(g.dtype)

            projector = jax.lax.cond(refresh, basis, lambda: projector)
            return (projector.T @ matrix if left else matrix @ projector), projector

        if not treedef.num_leaves:
            return updates, GaLoreState(safe_increment(state.count), state.base_optimizer_state,
                                        state.projector)
        pairs = jax.tree.map(project, updates, state.projector, spec_tree, is_leaf=_is_spec)
        low, projectors = jax.tree.transpose(treedef, jax.tree.structure((0, 0)), pairs)
        steps, inner_state = inner.update(low, state.base_optimizer_state, None)

        def lift(n, projector, g, spec):
            if spec is None:
                return n
            left, _, _, _, _, from_matrix = layout(g, spec)
            full = projector @ n if left else n @ projector.T
            return (scale * from_matrix(full)).astype(g.dtype)

        out = jax.tree.map(lift, steps, projectors, updates, spec_tree, is_leaf=_is_spec)
        return out, GaLoreState(safe_increment(state.count), inner_state, projectors)

    return GradientTransformation(init, update)


def galore(
    learning_rate: ScalarOrSchedule,
    rank: int = 128,
    update_proj_gap: int = 200,
    scale: float = 1.0,
    base_optimizer: GradientTransformation | None = None,
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
    weight_dimension_numbers: Any = None,
) -> GradientTransformation:
    """GaLore: `chain(scale_by_galore(rank, update_proj_gap, scale, base_optimizer,
    weight_dimension_numbers), add_decayed_weights(weight_decay, mask),
    scale_by_learning_rate(learning_rate))` (decoupled weight decay in the full space)."""
    return chain(
        scale_by_galore(rank, update_proj_gap, scale, base_optimizer, weight_dimension_numbers),
        add_decayed_weights(weight_decay, mask),
        scale_by_learning_rate(learning_rate),
    )
