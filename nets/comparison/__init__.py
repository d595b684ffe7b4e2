"""Fair comparisons of optimizers: tuned learning rates, several seeds, intervals, ties.

- `protocol`: `compare_optimizers`, the protocol, and its `Comparison` result;
- `contenders`: the optimizers it can enter, by name;
- `statistics`: mean, spread, Student's 95% interval, Welch's t-test (scipy.stats);
- `report`: the comparison as a table and as JSON.

Everything public is re-exported by `nets`; import it from there.
"""
