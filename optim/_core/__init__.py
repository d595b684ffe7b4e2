"""The contract every transform keeps, and the helpers every room of `optim` shares.

- `base`: `GradientTransformation`, `ElementwiseTransformation`, the types, `apply_updates`;
- `combine`: `chain`, `named_chain`, `identity`, `stateless`, `with_extra_args_support`;
- `hyperparams`: `inject_hyperparams`;
- `state`: reading and setting fields of a nested state, finding a state by type;
- `structure`: tree, shape and params checks (`ParamsRequiredError`);
- `masks`: masks and labels over params (trees, prefixes, functions);
- `steps`: step counters and a hyperparameter's value at a step.

Everything public is re-exported by `optim`; import it from there.
"""
