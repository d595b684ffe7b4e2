"""Annealed gradient noise (optim/transforms/noise.py): noisy_sgd adds the documented samples of
its key, and the noise variance decays as eta / t^gamma."""

import jax
import jax.numpy as jnp
import numpy as np
import reference as ref
from optim_helpers import flat, run_sequence, sequence

import optim

STEPS = 30


def test_noisy_sgd_adds_the_annealed_noise_of_its_key():
    g64, g = sequence(STEPS, seed=22)
    updates, _ = run_sequence(optim.noisy_sgd(0.1, eta=0.3, gamma=0.55, key=jax.random.key(3)), g)
    # The documented key use: split the state's key each step, one subkey per leaf.
    rng, noise = jax.random.key(3), []
    shapes = [leaf.shape[1:] for leaf in jax.tree.leaves(g)]
    for _ in range(STEPS):
        rng, sample = jax.random.split(rng)
        keys = jax.random.split(sample, len(shapes))
        noise.append(np.concatenate([np.ravel(jax.random.normal(k, s)) for k, s in zip(keys, shapes, strict=True)]))
    expected = ref.noisy_sgd(flat(g64), np.array(noise), 0.1, 0.3, 0.55)
    np.testing.assert_allclose(flat(updates), expected, rtol=1e-5, atol=1e-7)


def test_noise_variance_decays_as_eta_over_t_to_the_gamma():
    grads = {"a": jnp.zeros((8, 4000))}
    updates, _ = run_sequence(optim.add_noise(eta=0.5, gamma=0.55, key=1), grads)
    variance = np.asarray(updates["a"], np.float64).var(axis=1)
    expected = 0.5 / np.arange(1, 9) ** 0.55
    np.testing.assert_allclose(variance, expected, rtol=0.1)
