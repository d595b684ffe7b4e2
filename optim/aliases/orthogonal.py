"""Muon (Jordan et al. 2024): orthogonalized momentum for matrices, AdamW for the rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from _descent import validation
from optim._core.base import GradientTransformation, ScalarOrSchedule
from optim._core.combine import chain
from optim._core.masks import MaskOrFn, broadcast_prefix, is_function
from optim.aliases.adam import adamw
from optim.transforms.orthogonal import NS_COEFFS, scale_by_muon
from optim.transforms.regularization import add_decayed_weights
from optim.transforms.scaling import scale_by_learning_rate
from optim.wrappers.partition import partition


def _muon_labels(muon_mask: MaskOrFn) -> Callable[[Any], Any]:
    def labels(params: Any) -> Any:
        if muon_mask is None:
            return jax.tree.map(lambda p: "muon" if jnp.ndim(p) == 2 else "adam", params)
        chosen = muon_mask(params) if is_function(muon_mask) else muon_mask
        return jax.tree.map(
            lambda m: "muon" if m else "adam", broadcast_prefix(chosen, params, "muon_mask")
        )

    return labels


def muon(
    learning_rate: ScalarOrSchedule = 0.02,
    ns_coeffs: tuple[float, float, float] = NS_COEFFS,
    ns_steps: int = 5,
    beta: ScalarOrSchedule = 0.95,
    eps: float = 1e-8,
    weight_decay: ScalarOrSchedule = 0.0,
    mu_dtype: Any = None,
    *,
    nesterov: bool = True,
    adam_b1: ScalarOrSchedule = 0.9,
    adam_b2: ScalarOrSchedule = 0.999,
    adam_eps_root: float = 0.0,
    adam_weight_decay: ScalarOrSchedule = 0.0,
    adam_learning_rate: ScalarOrSchedule | None = None,
    muon_mask: MaskOrFn = None,
) -> GradientTransformation:
    """Muon: `partition({"muon": chain(scale_by_muon, add_decayed_weights,
    scale_by_learning_rate), "adam": adamw}, by rank)`.

    Matrices (rank-2 leaves, or the leaves where `muon_mask` is True) take Muon's
    orthogonalized steps; every other leaf (biases, scales, and whatever the mask leaves out:
    Jordan advises AdamW for embeddings and the output layer) takes AdamW. Learning rate 0.02
    and beta 0.95 from the reference; optax's keyword names.

    Args:
      learning_rate: the step size of both groups, a number or a schedule (0.02).
      ns_coeffs, ns_steps: the quintic Newton-Schulz iteration's (a, b, c) and its length (5).
      beta: the momentum's decay (0.95).
      eps: the Newton-Schulz normalisation's eps and AdamW's (1e-8).
      weight_decay: the matrices' decoupled weight decay (0).
      mu_dtype: the momenta's dtype (default the params').
      nesterov: Nesterov's momentum for the matrices (Jordan's default).
      adam_b1, adam_b2, adam_eps_root, adam_weight_decay: AdamW's for the other leaves.
      adam_learning_rate: AdamW's step size (default `learning_rate`).
      muon_mask: which leaves are Muon's (a tree of booleans, a prefix, a function); None for
        the rank-2 leaves.
    """
    matrices = chain(
        scale_by_muon(ns_coeffs, ns_steps, beta, eps, mu_dtype, nesterov=nesterov),
        add_decayed_weights(weight_decay),
        scale_by_learning_rate(learning_rate),
    )
    names = {"b1": "adam_b1", "b2": "adam_b2", "eps_root": "adam_eps_root",
             "weight_decay": "adam_weight_decay", "learning_rate": "adam_learning_rate"}
    with validation.renamed(**names):
        others = adamw(
            learning_rate=learning_rate if adam_learning_rate is None else adam_learning_rate,
            b1=adam_b1,
            b2=adam_b2,
            eps=eps,
            eps_root=adam_eps_root,
            mu_dtype=mu_dtype,
            weight_decay=adam_weight_decay,
        )
    return partition({"muon": matrices, "adam": others}, _muon_labels(muon_mask))
