"""Small, explicit models, losses, data and training loops for comparing optimizers."""

# models, losses, data, training, sweeps
from nets.data import (
    Dataset,
    Split,
    epoch_batches,
    fit_standardization,
    iterate_minibatches,
    load,
    load_breast_cancer,
    load_digits,
    make_dataset,
    make_regression,
    make_spirals,
    num_batches,
    split_indices,
)
from nets.ensemble import (
    SnapshotEnsemble,
    ensemble_accuracy,
    ensemble_predict,
    snapshot_ensemble,
)
from nets.init import (
    Initializer,
    fans,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    lecun_normal,
    normal,
    standard_normal,
    zeros,
)
from nets.losses import (
    accuracy,
    binary_cross_entropy,
    l2_loss,
    l2_regularizer,
    multiclass_hinge,
    softmax_cross_entropy,
)
from nets.mlp import ACTIVATIONS, MLP
from nets.plots import moving_average

# plots (landscape trajectories)
from nets.plots import (
    draw_landscape_trajectories,
    draw_value_curves,
    plot_landscape_trajectories,
)
from nets.sweep import SweepResult, seed_keys, sweep
from nets.train import (
    DivergenceError,
    FitResult,
    History,
    compile_fit,
    evaluate,
    fit,
    make_objective,
    make_train_step,
)

__all__: list[str] = [
    # models, losses, data, training, sweeps
    "ACTIVATIONS",
    "Dataset",
    "DivergenceError",
    "FitResult",
    "History",
    "Initializer",
    "MLP",
    "SnapshotEnsemble",
    "Split",
    "SweepResult",
    "accuracy",
    "binary_cross_entropy",
    "compile_fit",
    "ensemble_accuracy",
    "ensemble_predict",
    "epoch_batches",
    "evaluate",
    "fans",
    "fit",
    "fit_standardization",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "iterate_minibatches",
    "l2_loss",
    "l2_regularizer",
    "lecun_normal",
    "load",
    "load_breast_cancer",
    "load_digits",
    "make_dataset",
    "make_objective",
    "make_regression",
    "make_spirals",
    "make_train_step",
    "moving_average",
    "multiclass_hinge",
    "normal",
    "num_batches",
    "seed_keys",
    "snapshot_ensemble",
    "softmax_cross_entropy",
    "split_indices",
    "standard_normal",
    "sweep",
    "zeros",
    # plots (landscape trajectories)
    "draw_landscape_trajectories",
    "draw_value_curves",
    "plot_landscape_trajectories",
]
