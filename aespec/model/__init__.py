"""The spec model: the validated spec as plain data (frozen pydantic models).

`Spec` is what the resolve stage produces and every later stage reads; `settings` holds the
`train` and `report` tables. Nothing here imports a later stage, torch or numpy.
"""

from aespec.model.settings import ReportSpec, TrainSpec
from aespec.model.spec import (
    ADVERSARIAL_TRAIN,
    BLOCKS,
    LAYER_BLOCKS,
    REPEATABLE,
    STATEMENTS,
    AdversarialSpec,
    ConditionSpec,
    DataSpec,
    InputSpec,
    LatentSpec,
    LossTermSpec,
    Mirror,
    OpCall,
    PhaseSpec,
    RegSpec,
    Spec,
    phase_spec,
)

__all__ = ["ADVERSARIAL_TRAIN", "BLOCKS", "LAYER_BLOCKS", "REPEATABLE", "STATEMENTS",
           "AdversarialSpec", "ConditionSpec", "DataSpec", "InputSpec", "LatentSpec",
           "LossTermSpec", "Mirror", "OpCall", "PhaseSpec", "RegSpec", "ReportSpec", "Spec",
           "TrainSpec", "phase_spec"]
