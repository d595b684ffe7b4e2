"""Training loops: one compiled epoch, scanned over the minibatches, shared by `fit` and `sweep`.

- `inputs`: checking and normalizing what a loop is given (model, splits, metric, counts);
- `step`: the objective and one step of any gradient transformation;
- `epoch`: the pure epoch (shuffle, scan the step, stopping rules) and the evaluation;
- `results`: `History`, `FitResult`, `DivergenceError`;
- `fit`: `fit`, `compile_fit`, `evaluate`, the host loop around the compiled epoch;
- `callbacks`: what `fit` calls between epochs, `EarlyStopping`; `loggers`: `MetricLogger`,
  `TensorBoardLogger`; `progress`: the compile line and the epoch bar;
- `sweep`: `sweep`, hyperparameter grids x seeds vmapped into one program (`vmapped`: its
  compiled programs);
- `parallel`: the plans of `sharding="data"` and `"fsdp"`, placing a run on several devices;
- `resume`: the checkpoints `fit` and `sweep` write with `checkpoint_dir=`, and resuming.

Everything public is re-exported by `nets`; import it from there.
"""
