"""Small, explicit models, losses, data and training loops for comparing optimizers."""

# models, losses, data, training, sweeps, comparisons
from nets.comparison.contenders import LECTURES, Contender, available_contenders, contenders
from nets.comparison.protocol import (
    Comparison,
    GridPoint,
    Outcome,
    compare_optimizers,
    learning_rate_grid,
)
from nets.comparison.statistics import Summary, summarize, welch_p_value
from nets.checkpoints import restore_checkpoint, save_checkpoint
from nets.distributed import init_distributed
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
from nets.plots.curves import moving_average, plot_epoch_curves, plot_loss_panels, plot_step_losses
from nets.plots.history import plot_history

# plots
from nets.plots.comparison import (
    draw_comparison_curves,
    draw_test_metric,
    draw_tuning_curves,
    plot_comparison_curves,
    plot_test_metric,
    plot_tuning_curves,
)
from nets.plots.landscapes import (
    draw_landscape_trajectories,
    draw_value_curves,
    plot_landscape_trajectories,
)
from nets.training.callbacks import (
    Callback,
    EarlyStopping,
    EpochMetrics,
    StepMetrics,
    StopTraining,
    TrainingStart,
)
from nets.training.fit import compile_fit, evaluate, fit
from nets.training.loggers import MetricLogger, TensorBoardLogger
from nets.training.results import DivergenceError, FitResult, History
from nets.training.step import make_objective, make_train_step
from nets.training.sweep import SweepResult, compile_sweep, seed_keys, sweep

__all__: list[str] = [
    # models, losses, data, training, sweeps, comparisons
    "Comparison",
    "Contender",
    "GridPoint",
    "LECTURES",
    "Outcome",
    "Summary",
    "available_contenders",
    "compare_optimizers",
    "compile_sweep",
    "contenders",
    "learning_rate_grid",
    "summarize",
    "welch_p_value",
    "ACTIVATIONS",
    "Dataset",
    "DivergenceError",
    "FitResult",
    "History",
    "Callback",
    "EarlyStopping",
    "EpochMetrics",
    "MetricLogger",
    "StepMetrics",
    "StopTraining",
    "TensorBoardLogger",
    "TrainingStart",
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
    "save_checkpoint",
    "init_distributed",
    "restore_checkpoint",
    "split_indices",
    "standard_normal",
    "sweep",
    "zeros",
    # plots
    "draw_comparison_curves",
    "draw_landscape_trajectories",
    "draw_test_metric",
    "draw_tuning_curves",
    "draw_value_curves",
    "plot_comparison_curves",
    "plot_epoch_curves",
    "plot_history",
    "plot_loss_panels",
    "plot_step_losses",
    "plot_landscape_trajectories",
    "plot_test_metric",
    "plot_tuning_curves",
]
