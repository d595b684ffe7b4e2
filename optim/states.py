"""Every optimizer state type, by name: `optim.states.ScaleByAdamState`, ...

States are NamedTuples of arrays (the step `count` first, then the moment trees), so they jit,
vmap, shard and save as they are; read their fields by name with `optim.get_field`. Each type
is defined beside its transform.
"""

from optim._core.hyperparams import InjectHyperparamsState, InjectStatefulHyperparamsState
from optim.second_order.backtracking import ScaleByBacktrackingLinesearchState
from optim.second_order.newton import ScaleByNewtonState
from optim.second_order.quasi_newton import ScaleByBfgsState, ScaleByLbfgsState
from optim.second_order.zoom import ScaleByZoomLinesearchState
from optim.transforms.accumulation import ApplyEvery
from optim.transforms.adam import ScaleByAdamState, ScaleByNadamState
from optim.transforms.adam_variance import (
    ScaleByAdamaxState,
    ScaleByAmsgradState,
    ScaleByBeliefState,
    ScaleByRadamState,
)
from optim.transforms.adan import ScaleByAdanState
from optim.transforms.adaptive import ScaleByAdaDeltaState, ScaleByRmsState, ScaleByRssState
from optim.transforms.block_norms import ShrinkParamsState
from optim.transforms.constraints import NonNegativeParamsState, ZeroNansState
from optim.transforms.distance_over_gradients import ScaleByDistanceOverGradientsState
from optim.transforms.factored import FactoredState
from optim.transforms.layerwise import ScaleByLarsState
from optim.transforms.momentum import EmaState, TraceState
from optim.transforms.noise import AddNoiseState
from optim.transforms.novograd import ScaleByNovogradState
from optim.transforms.optimistic import ScaleByOptimisticGradientState
from optim.transforms.orthogonal import ScaleByMuonState
from optim.transforms.regularization import AddDecayedWeightsState
from optim.transforms.scaling import ScaleByScheduleState
from optim.transforms.sign_based import (
    ScaleByAdaptiveGainsState,
    ScaleByLionState,
    ScaleByRpropState,
)
from optim.transforms.sm3 import ScaleBySM3State
from optim.transforms.variance import ScaleByRStdDevState, ScaleByRStdDevWithCountState
from optim.wrappers.accumulate import MultiStepsState
from optim.wrappers.averaging import EmaParamsState
from optim.wrappers.conditional import ConditionallyMaskState, ConditionallyTransformState
from optim.wrappers.finite import ApplyIfFiniteState
from optim.wrappers.lookahead import LookaheadPairState, LookaheadState
from optim.wrappers.monitoring import MonitorState, SnapshotState
from optim.wrappers.partition import MaskedState, PartitionState
from optim.wrappers.plateau import ReduceLROnPlateauState
from optim.wrappers.sam import AdversarialSAMState, SAMState
from optim.wrappers.schedule_free import ScheduleFreeState

__all__ = [
    "AddDecayedWeightsState",
    "AddNoiseState",
    "AdversarialSAMState",
    "ApplyEvery",
    "ApplyIfFiniteState",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "EmaParamsState",
    "EmaState",
    "FactoredState",
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "LookaheadPairState",
    "LookaheadState",
    "MaskedState",
    "MonitorState",
    "MultiStepsState",
    "NonNegativeParamsState",
    "PartitionState",
    "ReduceLROnPlateauState",
    "SAMState",
    "ScaleByAdaDeltaState",
    "ScaleByAdamState",
    "ScaleByAdamaxState",
    "ScaleByAdaptiveGainsState",
    "ScaleByAmsgradState",
    "ScaleByBacktrackingLinesearchState",
    "ScaleByBeliefState",
    "ScaleByBfgsState",
    "ScaleByLarsState",
    "ScaleByLbfgsState",
    "ScaleByLionState",
    "ScaleByMuonState",
    "ScaleByNadamState",
    "ScaleByNewtonState",
    "ScaleByRadamState",
    "ScaleByRStdDevState",
    "ScaleByRStdDevWithCountState",
    "ScaleByRmsState",
    "ScaleByRpropState",
    "ScaleByRssState",
    "ScaleByScheduleState",
    "ScaleByZoomLinesearchState",
    # optax's optimizers that had no counterpart (adan, novograd, sm3, optimistic, DoG, fromage)
    "ScaleByAdanState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByNovogradState",
    "ScaleByOptimisticGradientState",
    "ScaleBySM3State",
    "ShrinkParamsState",
    "ScheduleFreeState",
    "SnapshotState",
    "TraceState",
    "ZeroNansState",
]
