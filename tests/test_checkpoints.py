"""Checkpoints: pytrees round-trip exactly into their template's types, a wrong template is
named at its first differing path, `fit` and `sweep` resume bit for bit, `keep` bounds what is
kept, and a process killed with SIGKILL while it checkpoints loses nothing but the epochs since
its last complete checkpoint."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import nets
import optim
import schedules


def _same(a, b):
    """Bit for bit: equal structure, dtypes, weak types and values (NaN equal to NaN)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        assert np.asarray(x).dtype == np.asarray(y).dtype
        assert getattr(x, "weak_type", False) == getattr(y, "weak_type", False)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


PARAMS = {"dense": {"w": jnp.arange(6.0).reshape(3, 2), "b": jnp.zeros(2)},
          "empty": jnp.zeros((0, 3)), "scale": jnp.asarray(1.5, jnp.bfloat16)}

STATES = {
    "adam": lambda: optim.adam(1e-3),
    "injected_adamw": lambda: optim.inject_hyperparams(optim.adamw)(learning_rate=1e-3),
    "optax_adam": lambda: optax.adam(1e-3),
    "scale_by_lbfgs": lambda: optim.scale_by_lbfgs(),
    "noisy_sgd": lambda: optim.noisy_sgd(0.1, key=jax.random.key(3)),
    "chain": lambda: optim.chain(optim.clip_by_global_norm(1.0), optim.sgd(0.1, momentum=0.9)),
    "lookahead": lambda: optim.lookahead(optim.sgd(0.1), sync_period=5, slow_step_size=0.5),
}


@pytest.mark.parametrize("name", [n if n in ("adam", "injected_adamw") else
                                  pytest.param(n, marks=pytest.mark.slow) for n in STATES])
def test_a_state_round_trips_exactly_into_its_types(name, tmp_path):
    optimizer = STATES[name]()
    state = optimizer.init(PARAMS)
    _, state = optimizer.update(jax.tree.map(jnp.ones_like, PARAMS), state, PARAMS)
    tree = {"params": PARAMS, "state": state, "epoch": 3, "loss": 0.25, "host": np.arange(4)}
    nets.save_checkpoint(tmp_path / "ckpt", tree)
    template = {"params": PARAMS, "state": optimizer.init(PARAMS), "epoch": 0, "loss": 0.0,
                "host": np.zeros(4, np.int64)}
    _same(nets.restore_checkpoint(tmp_path / "ckpt", like=template), tree)


def test_restore_takes_an_abstract_template(tmp_path):
    state = optim.adam(1e-3).init(PARAMS)
    nets.save_checkpoint(tmp_path / "ckpt", state)
    abstract = jax.eval_shape(optim.adam(1e-3).init, PARAMS)
    _same(nets.restore_checkpoint(tmp_path / "ckpt", like=abstract), state)


def test_a_weakly_typed_hyperparameter_stays_weak_so_the_program_is_the_same(tmp_path):
    optimizer = optim.inject_hyperparams(optim.sgd)(learning_rate=0.1)
    state = optimizer.init(PARAMS)
    weak = [leaf for leaf in jax.tree.leaves(state) if leaf.weak_type]
    assert weak, "the test needs a weakly typed leaf"
    nets.save_checkpoint(tmp_path / "ckpt", state)
    back = nets.restore_checkpoint(tmp_path / "ckpt", like=state)
    assert [leaf.weak_type for leaf in jax.tree.leaves(back)] == \
        [leaf.weak_type for leaf in jax.tree.leaves(state)]


def test_another_optimizers_state_is_named_at_the_first_differing_path(tmp_path):
    nets.save_checkpoint(tmp_path / "ckpt", optim.adam(1e-3).init(PARAMS))
    with pytest.raises(ValueError, match=r"does not match the template \(like=\): .*\.mu\["):
        nets.restore_checkpoint(tmp_path / "ckpt", like=optim.sgd(0.1, momentum=0.9).init(PARAMS))


def test_another_models_params_name_the_shape_that_differs(tmp_path):
    nets.save_checkpoint(tmp_path / "ckpt", PARAMS)
    wider = {**PARAMS, "dense": {"w": jnp.zeros((3, 4)), "b": jnp.zeros(2)}}
    with pytest.raises(ValueError, match=r"at \['dense'\]\['w'\] it holds shape \(3, 2\), the "
                                         r"template \(3, 4\)"):
        nets.restore_checkpoint(tmp_path / "ckpt", like=wider)
    with pytest.raises(ValueError, match=r"at \['dense'\]\['b'\] it holds dtype float32, the "
                                         r"template float16"):
        nets.restore_checkpoint(tmp_path / "ckpt", like={
            **PARAMS, "dense": {"w": PARAMS["dense"]["w"], "b": jnp.zeros(2, jnp.float16)}})
    fewer = {"dense": PARAMS["dense"], "empty": PARAMS["empty"]}
    with pytest.raises(ValueError, match=r"4 leaves, the template 3; the first only the "
                                         r"checkpoint has is at \['scale'\]"):
        nets.restore_checkpoint(tmp_path / "ckpt", like=fewer)


def test_missing_existing_and_bad_paths(tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete checkpoint at .*nothing"):
        nets.restore_checkpoint(tmp_path / "nothing", like=PARAMS)
    nets.save_checkpoint(tmp_path / "ckpt", PARAMS)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        nets.save_checkpoint(tmp_path / "ckpt", PARAMS)
    doubled = jax.tree.map(lambda x: 2 * x, PARAMS)
    nets.save_checkpoint(tmp_path / "ckpt", doubled, overwrite=True)
    _same(nets.restore_checkpoint(tmp_path / "ckpt", like=PARAMS), doubled)
    with pytest.raises(TypeError, match="path must be a path"):
        nets.save_checkpoint(3, PARAMS)
    with pytest.raises(TypeError, match="overwrite must be True or False"):
        nets.save_checkpoint(tmp_path / "other", PARAMS, overwrite="yes")


# --- fit and sweep ----------------------------------------------------------------------------

DATA = nets.load_digits(seed=0)
MODEL = nets.MLP([64, 16, 10])
# A schedule (the learning rate depends on the step) and early stopping's memory both have to
# survive the resume for the runs to agree.
OPTIMIZER = optim.inject_hyperparams(optim.adam)(
    learning_rate=schedules.cosine_decay(1e-2, 200))
FIT = dict(batch_size=64, key=jax.random.key(1), val=DATA.val, patience=50)


def _fit(**kwargs):
    return nets.fit(MODEL, MODEL.init(jax.random.key(0)), nets.softmax_cross_entropy, OPTIMIZER,
                    DATA.train, **{**FIT, **kwargs})


def _same_run(a, b):
    _same(a.params, b.params)
    _same(a.opt_state, b.opt_state)
    np.testing.assert_array_equal(a.history.step_loss, b.history.step_loss)
    np.testing.assert_array_equal(a.history.step_learning_rate, b.history.step_learning_rate)
    for field in ("train_loss", "train_metric", "val_loss", "val_metric", "learning_rate"):
        assert getattr(a.history, field) == getattr(b.history, field), field
    assert (a.num_steps, a.epochs_run, a.reason, a.best_epoch) == \
        (b.num_steps, b.epochs_run, b.reason, b.best_epoch)


def test_fit_resumed_ends_bit_for_bit_where_the_uninterrupted_run_ends(tmp_path):
    whole = _fit(epochs=5)
    first = _fit(epochs=2, checkpoint_dir=tmp_path)
    assert first.epochs_run == 2
    _same_run(_fit(epochs=5, checkpoint_dir=tmp_path, resume=True), whole)
    # Resuming a finished run gives its result again without training.
    _same_run(_fit(epochs=5, checkpoint_dir=tmp_path, resume=True), whole)
    assert len(whole.history.seconds) == 5


@pytest.mark.slow
def test_fit_keeps_the_last_keep_checkpoints_and_the_final_one(tmp_path):
    _fit(epochs=5, checkpoint_dir=tmp_path / "a", keep=2)
    assert sorted(int(p) for p in os.listdir(tmp_path / "a")) == [4, 5]
    _fit(epochs=5, checkpoint_dir=tmp_path / "b", checkpoint_every=2, keep=None)
    assert sorted(int(p) for p in os.listdir(tmp_path / "b")) == [2, 4, 5]


@pytest.mark.slow
def test_fit_resume_from_an_empty_directory_starts_afresh(tmp_path):
    _same_run(_fit(epochs=2, checkpoint_dir=tmp_path / "new", resume=True), _fit(epochs=2))


@pytest.mark.slow
def test_fit_early_stopping_state_survives_the_resume(tmp_path):
    kwargs = dict(patience=2, min_delta=0.5)  # stops after 3 epochs, restoring epoch 0's params
    whole = _fit(epochs=8, **kwargs)
    assert whole.reason == "early_stopping" and whole.epochs_run < 8
    _fit(epochs=2, checkpoint_dir=tmp_path, **kwargs)
    _same_run(_fit(epochs=8, checkpoint_dir=tmp_path, resume=True, **kwargs), whole)


def test_fit_refuses_to_mix_runs(tmp_path):
    _fit(epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(FileExistsError, match="already holds checkpoints .* pass resume=True"):
        _fit(epochs=2, checkpoint_dir=tmp_path)
    with pytest.raises(ValueError, match="batch_size=64, this call has batch_size=32"):
        _fit(epochs=3, checkpoint_dir=tmp_path, resume=True, batch_size=32)
    with pytest.raises(ValueError, match="of a run with key="):
        _fit(epochs=3, checkpoint_dir=tmp_path, resume=True, key=jax.random.key(2))
    with pytest.raises(ValueError, match="has done 2 epochs, more than epochs=1"):
        _fit(epochs=1, checkpoint_dir=tmp_path, resume=True)
    with pytest.raises(ValueError, match=r"does not match this call's params and optimizer "
                                         r"state: .*\['opt_state'\]"):
        nets.fit(MODEL, MODEL.init(jax.random.key(0)), nets.softmax_cross_entropy,
                 optim.sgd(0.1), DATA.train, epochs=3, checkpoint_dir=tmp_path, resume=True,
                 **FIT)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(resume=True), ValueError, "resume=True continues from checkpoints: pass checkpoint_dir="),
    (dict(checkpoint_dir="x", checkpoint_every=0), ValueError, "checkpoint_every must be"),
    (dict(checkpoint_dir="x", keep=0), ValueError, "keep must be"),
    (dict(checkpoint_dir="x", resume="yes"), TypeError, "resume must be True or False"),
    (dict(checkpoint_dir=3), TypeError, "checkpoint_dir must be a path"),
])
def test_fit_checkpoint_arguments_are_checked_before_training(kwargs, error, match, tmp_path,
                                                              monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match=match):
        _fit(epochs=1, **kwargs)
    assert not (tmp_path / "x").exists() or not os.listdir(tmp_path / "x")


def test_a_checkpoint_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is a file"):
        _fit(epochs=1, checkpoint_dir=tmp_path / "file")


SWEEP = dict(grid={"learning_rate": [3e-3, 3e-2]}, seeds=[0, 1], batch_size=64, val=DATA.val,
             test=DATA.test)


def _sweep(**kwargs):
    return nets.sweep(MODEL, nets.softmax_cross_entropy, optim.adam, DATA.train,
                      **{**SWEEP, **kwargs})


@pytest.mark.slow
def test_sweep_resumed_ends_bit_for_bit_where_the_uninterrupted_sweep_ends(tmp_path):
    whole = _sweep(epochs=3)
    _sweep(epochs=1, checkpoint_dir=tmp_path, keep=1)
    assert os.listdir(tmp_path) == ["1"]
    resumed = _sweep(epochs=3, checkpoint_dir=tmp_path, resume=True, keep=1)
    assert os.listdir(tmp_path) == ["3"]
    _same(resumed.params, whole.params)
    for field in ("step_loss", "train_loss", "val_loss", "val_metric", "test_loss",
                  "test_metric", "num_steps"):
        np.testing.assert_array_equal(getattr(resumed, field), getattr(whole, field))
    assert resumed.table == whole.table and resumed.best == whole.best
    with pytest.raises(ValueError, match=r"seeds=\[0, 1\], this call has seeds=\[0, 2\]"):
        _sweep(epochs=3, checkpoint_dir=tmp_path, resume=True, seeds=[0, 2])


# --- a process killed while it checkpoints ----------------------------------------------------

CHILD = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    import nets, optim, schedules

    directory, resume, out = sys.argv[1], sys.argv[2] == "resume", sys.argv[3]
    data = nets.load_digits(seed=0)
    model = nets.MLP([64, 512, 512, 10])  # about 2 MB of state: each checkpoint takes a while
    optimizer = optim.inject_hyperparams(optim.adam)(
        learning_rate=schedules.exponential_decay(3e-3, 0.5, 100))
    result = nets.fit(model, model.init(jax.random.key(0)), nets.softmax_cross_entropy,
                      optimizer, data.train, val=data.val, epochs=EPOCHS, batch_size=32,
                      key=jax.random.key(1), patience=100,
                      checkpoint_dir=None if directory == "-" else directory, keep=2,
                      resume=resume)
    leaves = jax.tree.leaves((result.params, result.opt_state))
    np.savez(out, *[np.asarray(leaf) for leaf in leaves],
             step_loss=result.history.step_loss)
    h = result.history
    with open(out + ".json", "w") as f:
        json.dump({"val_loss": h.val_loss, "train_loss": h.train_loss, "lr": h.learning_rate,
                   "steps": result.num_steps, "epochs": result.epochs_run}, f)
""")
EPOCHS = 12


def _child(script, *args, **popen):
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env, **popen)


def _outputs(path):
    with np.load(str(path) + ".npz") as arrays:
        tensors = {name: arrays[name] for name in arrays.files}
    with open(str(path) + ".json") as f:
        return tensors, json.load(f)


@pytest.mark.slow
def test_a_run_killed_while_it_checkpoints_resumes_to_the_uninterrupted_result(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD.replace("EPOCHS", str(EPOCHS)))
    whole = _child(script, "-", "fresh", tmp_path / "whole")
    directory = tmp_path / "ckpt"
    killed_mid_write = False
    for _ in range(3):  # the kill has to land inside a write; a write lasts a few ms
        child = _child(script, directory, "fresh" if not directory.exists() else "resume",
                       tmp_path / "partial")
        deadline = time.monotonic() + 300
        while child.poll() is None and time.monotonic() < deadline:
            names = os.listdir(directory) if directory.exists() else []
            complete = [n for n in names if n.isdigit()]
            if complete and any("tmp" in n for n in names):
                child.send_signal(signal.SIGKILL)
                child.wait()
                killed_mid_write = True
                break
            time.sleep(0.0005)
        if killed_mid_write:
            break
        child.wait()
    assert killed_mid_write, "never caught the run inside a checkpoint write"
    names = os.listdir(directory)
    complete = sorted(int(n) for n in names if n.isdigit())
    assert 1 <= len(complete) <= 2 and complete[-1] < EPOCHS  # keep=2, killed before the end
    # Every checkpoint orbax lists is complete (the resume below restores the latest).
    from nets.checkpoints import RunCheckpoints
    with RunCheckpoints(directory, keep=2) as run:
        assert run.numbers() == complete
        assert [run.meta(n)["epochs_run"] for n in complete] == complete
    resumed = _child(script, directory, "resume", tmp_path / "resumed")
    assert resumed.wait(timeout=600) == 0 and whole.wait(timeout=600) == 0
    (want, want_meta), (got, got_meta) = _outputs(tmp_path / "whole"), _outputs(tmp_path / "resumed")
    assert want_meta == got_meta and want.keys() == got.keys()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
