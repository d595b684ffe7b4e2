"""optax.contrib's optimizers under optax's names: newer methods from recent papers, each
tested against its paper's update rule and against optax 0.2.8.

    tx = optim.contrib.prodigy()          # as optax.contrib.prodigy()
"""
# ruff: noqa: F401  (every import here is a re-export; `__all__` is computed below)

import types as _types

# the Adam family and the parameter-free methods
from optim.aliases.schedule_free import schedule_free_adamw, schedule_free_sgd
from optim.contrib.asynchronous_moments import acprop, adopt, scale_by_acprop, scale_by_adopt
from optim.contrib.coin_betting import (
    COCOBState,
    MechanicState,
    cocob,
    mechanize,
    scale_by_cocob,
)
from optim.contrib.mixed_momentum import (
    ScaleByAdemamixState,
    ScaleBySimplifiedAdEMAMixState,
    ademamix,
    scale_by_ademamix,
    scale_by_simplified_ademamix,
    simplified_ademamix,
)
from optim.contrib.dadaptation import DAdaptAdamWState, ProdigyState, dadapt_adamw, prodigy
from optim.contrib.distance_over_gradients import (
    DoGState,
    DoWGState,
    dog,
    dowg,
    scale_by_dog,
    scale_by_dowg,
)
from optim.contrib.dual_averaging import MadgradState, madgrad, scale_by_madgrad
from optim.wrappers.plateau import ReduceLROnPlateauState, reduce_on_plateau
from optim.wrappers.sam import SAMState, sam
from optim.wrappers.schedule_free import (
    ScheduleFreeState,
    schedule_free,
    schedule_free_eval_params,
)

# momo, sophia, galore, muon's dimension numbers, complex and private aggregation
from optim.contrib.complex_valued import SplitRealAndImaginaryState, split_real_and_imaginary
from optim.contrib.low_rank import GaLoreDimensionNumbers, GaLoreState, galore, scale_by_galore
from optim.contrib.model_step_sizes import MomoAdamState, MomoState, momo, momo_adam
from optim.contrib.muon_dimensions import MuonDimensionNumbers, MuonState, muon, scale_by_muon
from optim.contrib.normalization import NormalizeState, normalize
from optim.contrib.privacy import (
    DifferentiallyPrivateAggregateState,
    differentially_private_aggregate,
    dpsgd,
)
from optim.contrib.diagonal_hessian import (
    HutchinsonState,
    SophiaState,
    hutchinson_estimator_diag_hessian,
    sophia,
)

# The public surface: every name imported above.
__all__ = sorted(
    name
    for name, value in globals().items()
    if not name.startswith("_") and not isinstance(value, _types.ModuleType)
)
