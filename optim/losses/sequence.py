"""Connectionist temporal classification (Graves et al. 2006) under optax's names: the loss
of a label sequence given per-frame logits, summed over every alignment, one value per sequence.

    ctc_loss(logits, logit_paddings, labels, label_paddings, *, blank_id=0, log_epsilon=-1e5)
    ctc_loss_with_forward_probs(...)  -> (loss, log alpha of the blank states,
                                          log alpha of the label states)

The forward algorithm runs over the extended sequence `blank, l_1, blank, l_2, ..., blank`
(2N + 1 states) in log space, one `lax.scan` over the frames:

    alpha_t(s) = logsumexp(alpha_{t-1}(s), alpha_{t-1}(s-1), [alpha_{t-1}(s-2)]) + log p_t(l'_s)

the skip `s-2 -> s` allowed into a label that differs from the previous label. `log_epsilon`
stands for log 0 (optax's choice: a finite number keeps the gradients finite, and an impossible
sequence costs about `-log_epsilon` rather than infinity).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from _descent import validation
from optim.losses.inputs import as_floating, rank, same_shape


def _check(logits, logit_paddings, labels, label_paddings, blank_id) -> tuple:
    logits = as_floating("logits", logits)
    logit_paddings, labels = jnp.asarray(logit_paddings), jnp.asarray(labels)
    label_paddings = jnp.asarray(label_paddings)
    rank("logits", logits, 3)
    rank("labels", labels, 2)
    same_shape("labels", labels, "label_paddings", label_paddings)
    same_shape("logits[..., 0]", logits[..., 0], "logit_paddings", logit_paddings)
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"labels must have the batch size of logits, {logits.shape[0]}, got {labels.shape[0]}"
        )
    validation.integer("blank_id", blank_id, 0, logits.shape[-1] - 1)
    return logits, logit_paddings, labels, label_paddings


def ctc_loss_with_forward_probs(
    logits: ArrayLike, logit_paddings: ArrayLike, labels: ArrayLike, label_paddings: ArrayLike,
    *, blank_id: int = 0, log_epsilon: ArrayLike = -1e5,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The CTC loss `[batch]` and the forward log-probabilities: `[frames, batch, N + 1]` for
    being in the blank after `n` labels, `[frames, batch, N]` for being on label `n + 1`. At
    the last frame the blank entry also holds the label state before it (the total probability
    of `n` labels emitted), as optax returns them.

    `logits` is `[batch, frames, classes]`, `logit_paddings` `[batch, frames]` (1.0 for a
    padded frame, which leaves the state as it is), `labels` `[batch, N]` integers with
    `label_paddings` 1.0 after each sequence's end. Labels equal to `blank_id` or outside
    [0, classes) are not checked (they cannot be under `jit`).
    """
    logits, logit_paddings, labels, label_paddings = _check(
        logits, logit_paddings, labels, label_paddings, blank_id)
    batch, _, classes = logits.shape
    length = labels.shape[1]
    log_probs = jax.nn.log_softmax(logits)
    states = 2 * length + 1
    # l'_s: the blank on even states, label n on state 2n + 1.
    extended = jnp.full((batch, states), blank_id, labels.dtype).at[:, 1::2].set(labels)
    emit = jnp.einsum("btk,bsk->tbs", log_probs, jax.nn.one_hot(extended, classes,
                                                                dtype=log_probs.dtype))
    distinct = jnp.pad(labels[:, 1:] != labels[:, :-1], ((0, 0), (1, 0)))
    skip = jnp.zeros((batch, states), bool).at[:, 1::2].set(distinct)
    floor = jnp.asarray(log_epsilon, log_probs.dtype)
    start = jnp.full((batch, states), floor).at[:, 0].set(0.0)

    def step(alpha, frame):
        emit_t, pad = frame
        one_back = jnp.pad(alpha[:, :-1], ((0, 0), (1, 0)), constant_values=floor)
        two_back = jnp.pad(alpha[:, :-2], ((0, 0), (2, 0)), constant_values=floor)
        two_back = jnp.where(skip, two_back, floor)
        new = jnp.logaddexp(jnp.logaddexp(alpha, one_back), two_back) + emit_t
        new = jnp.where(pad[:, None] > 0, alpha, new)
        return new, new

    _, alphas = jax.lax.scan(step, start, (emit, logit_paddings.T.astype(log_probs.dtype)))
    blanks, label_states = alphas[:, :, 0::2], alphas[:, :, 1::2]
    last = jnp.concatenate(
        [blanks[-1][:, :1], jnp.logaddexp(blanks[-1][:, 1:], label_states[-1])], axis=-1)
    blanks = blanks.at[-1].set(last)
    lengths = length - jnp.sum(label_paddings, axis=1).astype(jnp.int32)
    loss = -jnp.take_along_axis(last, lengths[:, None], axis=1)[:, 0]
    return loss, blanks, label_states


def ctc_loss(
    logits: ArrayLike, logit_paddings: ArrayLike, labels: ArrayLike, label_paddings: ArrayLike,
    *, blank_id: int = 0, log_epsilon: ArrayLike = -1e5,
) -> jax.Array:
    """The CTC loss of each sequence, `-log sum_alignments prod_t p_t(a_t)` (Graves et al.
    2006); arguments as in `ctc_loss_with_forward_probs`."""
    return ctc_loss_with_forward_probs(
        logits, logit_paddings, labels, label_paddings, blank_id=blank_id,
        log_epsilon=log_epsilon)[0]
