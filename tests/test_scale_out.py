"""Scale-out: `fit` and `sweep` sharded over 8 simulated devices end where one device ends;
under "fsdp" each device holds 1/8 of every leaf it can split; a resumed sharded run is the
uninterrupted one; `python -m nets.compare --sharding data` gives the one-device numbers; and
two processes joined by `python -m nets.launch` train as one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

import nets
import optim

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _env(devices=None):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT)}
    env.pop("DESCENT_COORDINATOR", None)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def _run(args, devices=None, timeout=600, cwd=None):
    return subprocess.run([sys.executable, *map(str, args)], env=_env(devices), cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    done = _run([HERE / "scale_out_child.py", "fit", tmp_path_factory.mktemp("ckpt")], devices=8)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["data", "fsdp"])
def test_a_sharded_fit_ends_where_one_device_ends(report, mode):
    assert report["devices"] == 8 and report["train"] % 32  # a smaller last batch each epoch
    found = report["modes"][mode]
    assert found["params"] < 1e-5 and found["opt_state"] < 1e-5 and found["step_loss"] < 1e-5


@pytest.mark.slow
def test_fsdp_holds_an_eighth_of_every_leaf_it_can_split(report):
    for what in ("state", "param_placement"):
        for leaf in report["modes"]["fsdp"][what]:
            if any(size % 8 == 0 for size in leaf["shape"]):
                assert leaf["share"] == 1 / 8, leaf
            else:  # the bias of 10 outputs, the step count: replicated
                assert leaf["replicated"] and leaf["share"] == 1.0, leaf
    assert any(leaf["share"] == 1 / 8 for leaf in report["modes"]["fsdp"]["state"])
    for leaf in report["modes"]["data"]["state"]:
        assert leaf["replicated"], leaf


@pytest.mark.slow
def test_a_sharded_run_resumes_bit_for_bit_and_stays_sharded(report):
    assert report["resumed"]["params"] == 0.0 and report["resumed"]["opt_state"] == 0.0
    assert report["resumed"]["state"] == report["modes"]["fsdp"]["state"]


@pytest.mark.slow
def test_a_batch_the_devices_do_not_divide_is_refused(report):
    assert report["indivisible"].startswith("batch_size=30 is not divisible by the 8 devices")


@pytest.mark.slow
def test_a_sharded_sweep_gives_the_one_device_numbers(report):
    assert report["sweep"]["step_loss"] < 1e-5 and report["sweep"]["test_metric"] == 0.0


@pytest.mark.slow
def test_compare_with_sharding_gives_the_one_device_numbers(tmp_path):
    options = ["-m", "nets.compare", "--optimizers", "adam", "--seeds", "2", "--grid", "2",
               "--epochs", "2", "--no-plots", "--no-landscapes"]
    alone = _run([*options, "--json", tmp_path / "one.json"], cwd=tmp_path)
    spread = _run([*options, "--sharding", "data", "--json", tmp_path / "eight.json"],
                  devices=8, cwd=tmp_path)
    assert alone.returncode == 0 and spread.returncode == 0, spread.stderr[-2000:]
    one, eight = (json.loads((tmp_path / f"{n}.json").read_text())["results"][0]
                  for n in ("one", "eight"))
    assert one["test_accuracy"] == eight["test_accuracy"]
    assert one["learning_rate"] == eight["learning_rate"]
    bad = _run([*options, "--sharding", "data", "--batch-size", "30"], devices=8, cwd=tmp_path)
    assert bad.returncode == 2 and "must be a multiple of 8" in bad.stderr


TWO_PROCESSES = """
import sys
import nets
several = nets.init_distributed()
import jax, numpy as np, optim
data = nets.load_digits(seed=0)
model = nets.MLP([64, 32, 10])
result = nets.fit(model, model.init(jax.random.key(0)), nets.softmax_cross_entropy,
                  optim.adam(1e-3), data.train, val=data.val, epochs=2, batch_size=32,
                  key=jax.random.key(1), drop_last=False, sharding="data" if several else None)
print("devices", jax.device_count(), "processes", jax.process_count())
if jax.process_index() == 0:
    leaves = [np.asarray(leaf.addressable_data(0)) for leaf in jax.tree.leaves(result.params)]
    np.savez(sys.argv[1], *leaves)
"""


@pytest.mark.slow
def test_two_processes_train_as_one(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TWO_PROCESSES)
    two = _run(["-m", "nets.launch", "--processes", "2", "--", sys.executable, script,
                tmp_path / "two.npz"])
    assert two.returncode == 0, two.stdout[-3000:]
    assert "[0] devices 2 processes 2" in two.stdout and "[1] devices 2 processes 2" in two.stdout
    one = _run([script, tmp_path / "one.npz"])
    assert one.returncode == 0, one.stderr[-2000:]
    with np.load(tmp_path / "two.npz") as a, np.load(tmp_path / "one.npz") as b:
        for name in a.files:
            np.testing.assert_allclose(a[name], b[name], atol=1e-5)


def test_the_launcher_passes_on_a_failure_and_refuses_bad_options(tmp_path):
    failing = tmp_path / "fail.py"
    failing.write_text("import os, sys\nprint('rank', os.environ['DESCENT_PROCESS_ID'])\n"
                       "sys.exit(3 if os.environ['DESCENT_PROCESS_ID'] == '1' else 0)\n")
    done = _run(["-m", "nets.launch", "--processes", "2", "--", sys.executable, failing])
    assert done.returncode == 3 and "[0] rank 0" in done.stdout and "[1] rank 1" in done.stdout
    for options, said in [(["--processes", "2"], "give the command to run after --"),
                          (["--processes", "0", "--", "true"], "--processes must be a positive"),
                          (["--processes", "2", "--cpu-devices", "0", "--", "true"],
                           "--cpu-devices must be a positive")]:
        bad = _run(["-m", "nets.launch", *options])
        assert bad.returncode == 2 and said in bad.stderr, bad.stderr


def test_init_distributed_does_nothing_alone_and_names_a_malformed_variable(monkeypatch):
    for name in ("DESCENT_COORDINATOR", "DESCENT_NUM_PROCESSES", "DESCENT_PROCESS_ID"):
        monkeypatch.delenv(name, raising=False)
    assert nets.init_distributed() is False
    monkeypatch.setenv("DESCENT_COORDINATOR", "127.0.0.1:1234")
    monkeypatch.setenv("DESCENT_NUM_PROCESSES", "1")
    monkeypatch.setenv("DESCENT_PROCESS_ID", "0")
    assert nets.init_distributed() is False  # one process: nothing to join
    monkeypatch.setenv("DESCENT_NUM_PROCESSES", "two")
    with pytest.raises(ValueError, match="DESCENT_NUM_PROCESSES must be an integer, got 'two'"):
        nets.init_distributed()
    monkeypatch.setenv("DESCENT_NUM_PROCESSES", "2")
    monkeypatch.setenv("DESCENT_PROCESS_ID", "2")
    with pytest.raises(ValueError, match=r"DESCENT_PROCESS_ID=2 must be in \[0, "):
        nets.init_distributed()


def _fit(**kwargs):
    data = nets.load_digits(seed=0)
    model = nets.MLP([64, 8, 10])
    return nets.fit(model, model.init(jax.random.key(0)), nets.softmax_cross_entropy,
                    optim.sgd(0.1), data.train, epochs=1, batch_size=32, **kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(sharding="model"), ValueError, "sharding must be one of 'data', 'fsdp', got 'model'"),
    (dict(mesh=Mesh(np.asarray(jax.devices()), ("data",))), ValueError,
     "mesh= is used with sharding='data' or 'fsdp'"),
    (dict(sharding="data", mesh=Mesh(np.asarray(jax.devices()), ("model",))), ValueError,
     "mesh must have a 'data' axis"),
    (dict(sharding="data", mesh="all"), TypeError, "mesh must be a jax.sharding.Mesh, got str"),
])
def test_bad_sharding_arguments_are_refused_before_training(kwargs, error, match):
    with pytest.raises(error, match=match):
        _fit(**kwargs)


def test_one_device_data_parallel_is_the_plain_run():
    np.testing.assert_array_equal(_fit(sharding="data").history.step_loss,
                                  _fit().history.step_loss)
