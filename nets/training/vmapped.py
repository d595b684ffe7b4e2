"""The programs a sweep compiles: `nets.fit`'s epoch and evaluation vmapped over the runs,
and the final test evaluation; cached per setup, so a refined grid of as many runs compiles
nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

import optim
from nets.training.epoch import EpochConfig, build_epoch, build_evaluator, cached


def evaluation_params(state: Any, params: Any, use_eval_params: bool) -> Any:
    """The params to evaluate: `optim.eval_params` of the state where it has some."""
    if not use_eval_params:
        return params
    try:
        return optim.eval_params(state, params)
    except ValueError:  # the optimizer keeps no evaluation params of its own
        return params


@cached
def program(config: EpochConfig, options: tuple[bool, bool]) -> Callable:
    """One epoch of every run, jitted; cached, so a refined grid of the same size (the same
    setup) compiles nothing."""
    return jax.jit(epoch_of_all(config, *options), donate_argnums=(0, 1))


def epoch_of_all(config: EpochConfig, evaluate_train: bool, use_eval_params: bool) -> Callable:
    """`nets.fit`'s epoch and evaluation, vmapped over the runs (params, state, counters and
    shuffle key per run; the data shared)."""
    epoch_fn = build_epoch(config)
    evaluate_fn = build_evaluator(config.apply_fn, config.loss_fn, config.metric_fn)

    def all_runs(params, states, counters, shuffle_keys, epoch, train, val):
        def one_run(params, state, counters, shuffle_key):
            key = jax.random.fold_in(shuffle_key, epoch)
            params, state, counters, losses, _ = epoch_fn(params, state, counters, key, train)
            evaluated = evaluation_params(state, params, use_eval_params)
            if evaluate_train:
                scores = evaluate_fn(evaluated, train, val)
            else:
                nan = jnp.asarray(jnp.nan, losses.dtype)
                scores = (nan, nan, *evaluate_fn(evaluated, val, None)[:2]) if val is not None \
                    else (nan, nan, nan, nan)
            return params, state, counters, losses, scores

        return jax.vmap(one_run)(params, states, counters, shuffle_keys)

    return all_runs


@cached
def test_program(config: EpochConfig, use_eval_params: bool) -> Callable:
    """`(loss, metric)` of every run on a test split, vmapped."""
    evaluate_fn = build_evaluator(config.apply_fn, config.loss_fn, config.metric_fn)

    def all_runs(params, states, test):
        def one_run(params, state):
            return evaluate_fn(evaluation_params(state, params, use_eval_params), test, None)[:2]

        return jax.vmap(one_run)(params, states)

    return jax.jit(all_runs)
