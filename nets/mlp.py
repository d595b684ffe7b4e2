"""A multi-layer perceptron as plain functions over a plain pytree.

    params = mlp.init(key, [64, 256, 256, 10])          # [{"w": (64, 256), "b": (256,)}, ...]
    logits = mlp.apply(params, x)                        # x: (batch, 64) -> (batch, 10)

The forward pass of the lectures, batched: `y0 = x`, `z_k = y_{k-1} @ W_k + b_k`,
`y_k = g(z_k)` for the hidden layers, and the last layer left linear (its outputs are logits
for the losses of `nets.losses`). `MLP(layer_sizes, activation)` bundles the choices in a small
frozen description with `init(key)` and `apply(params, x)`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike, DTypeLike

from nets import init as initializers
from nets.init import Initializer

Params = list[dict[str, jax.Array]]

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    # The exact (erf) form; the tanh approximation differs by up to ~1e-3.
    "gelu": lambda z: jax.nn.gelu(z, approximate=False),
}

# Glorot for the saturating units it was derived for, He for the rectifiers (lecture advice).
_DEFAULT_W_INIT: dict[str, Initializer] = {
    "sigmoid": initializers.glorot_uniform,
    "tanh": initializers.glorot_uniform,
    "relu": initializers.he_normal,
    "gelu": initializers.he_normal,
}


def activation_fn(activation: str | Callable[[jax.Array], jax.Array]) -> Callable:
    """The activation function named `activation` (or `activation` itself if callable)."""
    if callable(activation):
        return activation
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _per_layer(value: Any, num_layers: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != num_layers:
            raise ValueError(
                f"{name} gives {len(value)} initializers for {num_layers} layers; give one, "
                f"or one per layer"
            )
        return list(value)
    return [value] * num_layers


def init(
    key: jax.Array,
    layer_sizes: Sequence[int],
    *,
    activation: str | Callable = "relu",
    w_init: Initializer | Sequence[Initializer] | None = None,
    b_init: Initializer | Sequence[Initializer] = initializers.zeros,
    dtype: DTypeLike = jnp.float32,
) -> Params:
    """Params of an MLP with `layer_sizes = [inputs, hidden..., outputs]`.

    Returns a list with one `{"w": (n_in, n_out), "b": (n_out,)}` dict per layer. `w_init` and
    `b_init` are one initializer for every layer or a sequence with one per layer; `w_init`
    defaults by activation to He normal (relu, gelu) or Glorot uniform (sigmoid, tanh, other).
    `activation` is used only to choose that default.
    """
    sizes = [int(n) for n in layer_sizes]
    if len(sizes) < 2 or any(n < 1 for n in sizes):
        raise ValueError(
            f"layer_sizes must list at least two positive sizes (inputs, outputs), got "
            f"{list(layer_sizes)}"
        )
    num_layers = len(sizes) - 1
    if w_init is None:
        default = initializers.glorot_uniform
        if isinstance(activation, str):
            default = _DEFAULT_W_INIT.get(activation, default)
        w_init = default
    w_inits = _per_layer(w_init, num_layers, "w_init")
    b_inits = _per_layer(b_init, num_layers, "b_init")
    keys = jax.random.split(key, 2 * num_layers)
    return [
        {
            "w": w_inits[i](keys[2 * i], (sizes[i], sizes[i + 1]), dtype),
            "b": b_inits[i](keys[2 * i + 1], (sizes[i + 1],), dtype),
        }
        for i in range(num_layers)
    ]


def apply(
    params: Params,
    x: ArrayLike,
    *,
    activation: str | Callable = "relu",
    output_activation: str | Callable | None = None,
) -> jax.Array:
    """The network's outputs for inputs `x` of shape `(..., n_in)`.

    Hidden layers apply `activation`; the last layer is linear unless `output_activation` is
    given (leave it None to feed logits to the losses of `nets.losses`).
    """
    g = activation_fn(activation)
    y = jnp.asarray(x)
    for i, layer in enumerate(params):
        w, b = layer["w"], layer["b"]
        if y.shape[-1] != w.shape[0]:
            raise ValueError(
                f"layer {i} expects {w.shape[0]} inputs, got an input of shape {y.shape}"
            )
        z = y @ w
        # Explicit broadcast: the bias gets the batch axes (rank promotion may be disabled).
        y = z + jnp.reshape(b, (1,) * (z.ndim - 1) + b.shape)
        if i < len(params) - 1:
            y = g(y)
    if output_activation is not None:
        y = activation_fn(output_activation)(y)
    return y


@dataclasses.dataclass(frozen=True)
class MLP:
    """A description of an MLP: `MLP([64, 256, 10]).init(key)`, `.apply(params, x)`.

    Frozen and hashable, so it can be closed over by jitted code and used as a static argument.
    """

    layer_sizes: tuple[int, ...]
    activation: str | Callable = "relu"
    w_init: Initializer | tuple[Initializer, ...] | None = None
    b_init: Initializer | tuple[Initializer, ...] = initializers.zeros
    output_activation: str | Callable | None = None
    dtype: Any = jnp.float32

    def __post_init__(self):
        object.__setattr__(self, "layer_sizes", tuple(int(n) for n in self.layer_sizes))
        for name in ("w_init", "b_init"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))
        activation_fn(self.activation)  # fail now on an unknown name

    def init(self, key: jax.Array) -> Params:
        return init(
            key,
            self.layer_sizes,
            activation=self.activation,
            w_init=self.w_init,
            b_init=self.b_init,
            dtype=self.dtype,
        )

    def apply(self, params: Params, x: ArrayLike) -> jax.Array:
        return apply(
            params, x, activation=self.activation, output_activation=self.output_activation
        )
