"""The trained recommender inside the simulated world: policies, slates, rounds (notebook 08)."""

from course_lib.loop.outcomes import gini
from course_lib.loop.policies import (
    Boltzmann,
    EpsilonGreedy,
    FixedScores,
    ModelPolicy,
    OraclePolicy,
    Policy,
    PopularityPolicy,
    RandomPolicy,
    top_k,
)
from course_lib.loop.rounds import LoopResult, LoopSettings, deploy, run_loop

__all__ = [
    "Boltzmann",
    "EpsilonGreedy",
    "FixedScores",
    "LoopResult",
    "LoopSettings",
    "ModelPolicy",
    "OraclePolicy",
    "Policy",
    "PopularityPolicy",
    "RandomPolicy",
    "deploy",
    "gini",
    "run_loop",
    "top_k",
]
