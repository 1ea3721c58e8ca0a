"""The behavior-log simulator: the course's own laboratory (see the module ``simulator``)."""

from course_lib.simulate.config import SimulatorConfig
from course_lib.simulate.limits import bayes_limit_auc, rating_limits
from course_lib.simulate.simulator import Simulation, simulate
from course_lib.simulate.truth import GroundTruth

__all__ = [
    "GroundTruth",
    "Simulation",
    "SimulatorConfig",
    "bayes_limit_auc",
    "rating_limits",
    "simulate",
]
