"""Transforms around another optimizer.

- `partition`: a transform per group of params, `masked`, `set_to_zero`;
- `accumulate`: `MultiSteps`, gradient accumulation;
- `finite`: `apply_if_finite`, skipping NaN and Inf steps;
- `averaging`: `ema_params` and `eval_params`;
- `lookahead`: slow and fast weights;
- `schedule_free`: schedule-free averaging;
- `sam`: sharpness-aware minimization;
- `plateau`: `reduce_on_plateau`;
- `conditional`: `conditionally_transform`, `conditionally_mask`;
- `monitoring`: `snapshot`, `monitor`, `measure_with_ema`;
- `layouts`: `flatten`, a transform run on one concatenated vector.

Everything public is re-exported by `optim`; import it from there.
"""
