"""What every multi-task model shares: embeddings, encoder, the candidate features and the heads.

Taught in notebook 04 (single-task versus multi-task). A multi-task model is
embedding -> sequence encoder -> *sharing architecture* -> one head per declared task. Only the
middle part differs between shared-bottom, MMoE, PLE and ESMM, so each architecture's file
holds a dataclass of its own sizes (its settings) and implements one method,
``task_representations``: how the shared features ``x`` become one vector per candidate task.
Everything else lives here, written once; ``factory.build_model`` builds any of them by name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from course_lib.data.vocab import NUM_RESERVED
from course_lib.models.embedding import BehaviorEmbedding
from course_lib.models.encoder_base import SequenceEncoder
from course_lib.models.scenarios import SCENARIO_DESIGNS, ScenarioEmbedding, ScenarioStar
from course_lib.models.side_features import FeatureSpec, SideFeatureEmbedding
from course_lib.tasks import Batch, Task


@dataclass
class MultiTaskConfig:
    """What every architecture has: sizes, towers, dropout; vocabulary sizes include PAD and UNK.

    The sizes of an architecture's own part (experts, levels) are in its settings, e.g.
    ``MMoESettings``; ``build_model`` fills the vocabulary sizes in from the data.
    """

    num_items: int  # V: item vocabulary, also the number of logits of a ranking task
    num_categories: int  # category vocabulary
    num_behaviors: int  # behavior vocabulary (6 with PAD, UNK), not the 4 next_behavior classes
    embed_dim: int = 32  # D: must equal the encoder's input_dim
    hidden_dim: int = 32  # H: must equal the encoder's output_dim
    tower_dims: tuple[int, ...] = (32,)  # per-task tower MLP; its last size feeds the head
    dropout: float = 0.0  # dropout after every hidden layer of the MLPs
    next_item_prior: bool = False  # candidate logits add a learned multiple of the next-item lift
    pair_biases: bool = False  # single-output candidate tasks add a user and an item offset
    history_values: bool = False  # each history event's value (a rating) enters its vector
    num_users: int = 0  # user vocabulary (PAD and UNK included); needed by pair_biases
    features: tuple[FeatureSpec, ...] = ()  # side features (SideFeatureEmbedding); () for none
    num_scenarios: int = 0  # scenario vocabulary (PAD and UNK included); 0: scenario-blind
    scenario_design: str = "none"  # how scenarios enter: "none", "embedding" or "star"

    def __post_init__(self) -> None:
        # a checkpoint stores the specs as dicts and the tower sizes as a list
        self.features = tuple(
            FeatureSpec(**spec) if isinstance(spec, dict) else spec for spec in self.features
        )
        self.tower_dims = tuple(self.tower_dims)
        if self.scenario_design not in SCENARIO_DESIGNS:
            raise ValueError(
                f"scenario_design must be one of {SCENARIO_DESIGNS}, got {self.scenario_design!r}"
            )
        if (self.scenario_design != "none") != (self.num_scenarios > NUM_RESERVED):
            raise ValueError(
                f"scenario_design={self.scenario_design!r} with num_scenarios="
                f"{self.num_scenarios}: a scenario-aware design needs the scenario vocabulary "
                "(build_model fills it in from data whose log has a scenario column), and "
                'scenario_design="none" none'
            )


def mlp(in_dim: int, dims: Sequence[int], dropout: float = 0.0) -> nn.Sequential:
    """Linear + ReLU (+ Dropout) blocks, one per entry of ``dims``; no layers if it is empty.

    Shape:
        (B, in_dim) -> (B, dims[-1])
    """
    layers: list[nn.Module] = []
    for dim in dims:
        layers += [nn.Linear(in_dim, dim), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        in_dim = dim
    return nn.Sequential(*layers)


def mlp_output_dim(in_dim: int, dims: Sequence[int]) -> int:
    """The output size of ``mlp(in_dim, dims)``."""
    return dims[-1] if dims else in_dim


class MultiTaskModel(nn.Module):
    """Base of the multi-task models: features once, ``task_representations``, one head per task.

    Candidate tasks (``task.uses_candidate``: click, buy) read the features ``x`` through the
    subclass's sharing architecture and a linear head. Candidate-free tasks read the user state
    alone, so they cannot see the answer: a ranking task scores the whole catalogue against the
    item embeddings (tied weights, as ``NextItemModel``), any other gets a linear head.

    With ``config.next_item_prior`` (needs the next_item task) every binary candidate logit
    also adds a learned multiple of the next-item head's lift for the candidate
    (``candidate_log_lift``); a regression output (a rating) is left as it is:
    the softmax over the whole catalogue learns from every item at each step, the click head
    from four random negatives, and a click on a shown candidate is mostly the question "is
    this the next item?".

    With ``config.pair_biases`` every single-output candidate task (a like, a rating, click,
    buy) also adds a learned offset of the user and one of the candidate item: the classic
    ``mean + b_user + b_item`` of rating prediction (``baselines.BiasBaseline``), which a
    network on histories alone learns only slowly. The offsets start at 0.

    With ``config.history_values`` every history event's vector also adds a learned linear
    function of its value and of whether it has one (``batch["history_value"]``, NaN where
    not): what the user said about the items, not only which items they were.

    With ``config.features`` (side features, ``SideFeatureEmbedding``) every item vector
    (history events, the candidate, the catalogue) adds the item's features, and the user
    state adds the user's: the history says what the user did, the features who they are.

    With ``config.scenario_design`` "embedding" or "star" the model knows which scenario
    (surface) each event and each request comes from (``batch["history_scenario"]``,
    ``batch["scenario"]``); ``models.scenarios`` explains the two designs.

    Args:
        config: the sizes and options.
        tasks: the declared tasks; the output dict has one entry per task, keyed by name.
        encoder: any ``SequenceEncoder`` with ``output_dim = hidden_dim``.
        item_category: the category index of every item index (``item_category_table``).
    """

    settings_class: ClassVar[type]  # each architecture's dataclass of its own sizes

    def __init__(
        self,
        config: MultiTaskConfig,
        tasks: Sequence[Task],
        encoder: SequenceEncoder,
        item_category: torch.Tensor,
    ) -> None:
        super().__init__()
        item_category = torch.as_tensor(item_category, dtype=torch.long)
        check_inputs(config, tasks, encoder, item_category)
        self.config, self.tasks = config, list(tasks)
        self.candidate_tasks = [task.name for task in tasks if task.uses_candidate]
        self.prior_tasks = [  # the logits that next_item_prior lifts
            task.name for task in tasks if task.uses_candidate and task.kind == "binary"
        ]
        D, H = config.embed_dim, config.hidden_dim
        self.feature_dim = H + 2 * D  # size of x: [state, candidate, match]
        self.embedding = BehaviorEmbedding(
            config.num_items, config.num_categories, config.num_behaviors, D
        )
        self.encoder = encoder
        if config.history_values:  # [value or 0, has a value] -> D
            self.value_embedding = nn.Linear(2, D)
        self.project = nn.Linear(H, D)  # user state -> item space
        self.register_buffer("item_category", item_category)
        all_items = torch.arange(config.num_items)  # (V,) every item index: the catalogue
        self.register_buffer("all_items", all_items, persistent=False)
        self.register_buffer("reserved_items", all_items < NUM_RESERVED, persistent=False)
        self.heads = nn.ModuleDict()
        self.item_bias = nn.ParameterDict()  # popularity bias of each ranking task
        self.prior_weight = nn.ParameterDict()  # next_item_prior: one weight per candidate task
        if config.next_item_prior:  # starts at 1, the Bayes slope (see candidate_log_lift)
            self.prior_weight.update(
                {name: nn.Parameter(torch.ones(())) for name in self.prior_tasks}
            )
        self.offset_tasks = [  # the outputs that pair_biases shifts, one offset column each
            task.name for task in tasks if task.uses_candidate and task.num_classes == 1
        ]
        if config.pair_biases:  # zero tables (from_pretrained draws no random numbers)
            shape = len(self.offset_tasks)
            self.user_offset = nn.Embedding.from_pretrained(
                torch.zeros(config.num_users, shape), freeze=False
            )
            self.item_offset = nn.Embedding.from_pretrained(
                torch.zeros(config.num_items, shape), freeze=False
            )
        for task in tasks:
            if task.uses_candidate:
                self.heads[task.name] = nn.Linear(config.tower_dims[-1], task.num_classes)
            elif task.kind == "ranking":
                self.item_bias[task.name] = nn.Parameter(torch.zeros(config.num_items))
            else:
                self.heads[task.name] = nn.Linear(H, task.num_classes)
        if config.features:
            self.side_features = SideFeatureEmbedding(config.features, D, H)
        if config.scenario_design == "embedding":
            self.scenarios = ScenarioEmbedding(config.num_scenarios, D, H)
        elif config.scenario_design == "star":
            self.scenarios = ScenarioStar(
                self.candidate_tasks,
                self.offset_tasks,
                config.tower_dims[-1],
                config.num_scenarios,
            )

    @torch.no_grad()
    def init_output_biases(self, rates: dict[str, torch.Tensor]) -> None:
        """Start every output layer at its task's prior, from ``tasks.label_rates``.

        With zero biases a binary head first predicts 0.5 and a softmax head a uniform
        distribution; the first steps then go into learning base rates (a buy rate of 0.6%
        is a logit of -5), and in a multi-task model those large early gradients run through
        the shared layers and disturb the other tasks. Biases at the log-odds (binary) or the
        log-frequencies (softmax) remove that transient.
        """
        for task in self.tasks:
            rate = rates[task.name].to(self.project.weight.device)
            if task.kind == "binary":
                rate = rate.clamp(1e-6, 1 - 1e-6)
                bias = torch.log(rate / (1 - rate))
            elif task.kind == "regression":
                bias = rate
            else:
                bias = torch.log(rate.clamp(min=1e-6))  # softmax: log-frequencies
            if task.name in self.item_bias:
                self.item_bias[task.name].copy_(bias)
            else:
                self.heads[task.name].bias.copy_(bias)

    def user_state(self, batch: Batch) -> torch.Tensor:
        """Each user's state: the encoded history (with its values), plus the user features.

        Shape:
            batch -> (B, H)
        """
        if self.config.scenario_design != "none" and "scenario" not in batch:
            raise ValueError(
                f"this model is scenario-aware (scenario_design={self.config.scenario_design!r}),"
                " so every batch needs 'scenario' and 'history_scenario': batches of data whose"
                " log has a scenario column (BehaviorDataset adds them)"
            )
        embedded = self.embedding(
            batch["history_item"], batch["history_category"], batch["history_behavior"]
        )  # (B, L, D)
        if self.config.features:  # zero at padding: a PAD item has PAD features
            embedded = embedded + self.side_features.items(batch["history_item"])
        if self.config.scenario_design == "embedding":  # where each event happened
            embedded = embedded + self.scenarios.events(batch["history_scenario"])
        if self.config.history_values:
            value = batch["history_value"]  # (B, L), NaN where an event has no value
            known = ~torch.isnan(value)
            inputs = torch.stack([torch.where(known, value, 0.0), known.to(value.dtype)], -1)
            embedded = embedded + self.value_embedding(inputs) * batch["mask"][..., None]
        state = self.encoder(embedded, batch["lengths"]).state  # (B, H)
        if self.config.features:  # who the user is, added to what they did
            state = state + self.side_features.users(batch["user"])  # (B, H)
        if self.config.scenario_design == "embedding":  # where the request comes from
            state = state + self.scenarios.requests(batch["scenario"])  # (B, H)
        return state

    def features(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The user state and the features ``x`` shared by the candidate tasks.

        ``x`` holds the state, the candidate's item vector and their elementwise product with
        the projected state: the sum of that product is the dot-product match of matrix
        factorization, which an MLP on the concatenation alone learns only slowly.

        Shape:
            batch -> state (B, H), x (B, H + 2D)
        """
        state = self.user_state(batch)  # (B, H)
        candidate = self.item_vectors(batch["candidate"], batch["candidate_category"])  # (B, D)
        match = self.project(state) * candidate  # (B, D)
        return state, torch.cat([state, candidate, match], dim=-1)  # (B, H + 2D)

    def item_vectors(self, item: torch.Tensor, category: torch.Tensor) -> torch.Tensor:
        """Items on their own (candidates, the catalogue): item + category + side features.

        Shape:
            item, category: (...) int64 -> (..., D)
        """
        vectors = self.embedding.items(item, category)  # (..., D)
        if self.config.features:
            vectors = vectors + self.side_features.items(item)
        return vectors

    def task_representations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One vector per candidate task; each architecture implements this.

        Shape:
            x: (B, H + 2D) -> {name: (B, tower_dims[-1])}
        """
        raise NotImplementedError

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Logits of every declared task (values for regression), keyed by task name.

        Shape:
            batch -> binary, regression: (B,); multiclass: (B, K); ranking: (B, V), with the
            PAD and UNK columns at the dtype's most negative value
        """
        state, x = self.features(batch)  # (B, H), (B, H + 2D)
        representations = self.task_representations(x)  # {name: (B, tower_dims[-1])}
        if self.config.scenario_design == "star":  # the scenario's weights on each task
            representations = self.scenarios(representations, batch["scenario"])
        outputs = {}
        for task in self.tasks:
            if task.uses_candidate:
                output = self.heads[task.name](representations[task.name])  # (B, K)
            elif task.kind == "ranking":
                catalogue = self.item_vectors(self.all_items, self.item_category)  # (V, D)
                output = self.project(state) @ catalogue.T + self.item_bias[task.name]
                output = output.masked_fill(self.reserved_items, torch.finfo(output.dtype).min)
            else:
                output = self.heads[task.name](state)  # (B, K)
            outputs[task.name] = output.squeeze(-1) if task.num_classes == 1 else output
        if self.config.pair_biases:
            offsets = self.user_offset(batch["user"]) + self.item_offset(batch["candidate"])
            for column, name in enumerate(self.offset_tasks):  # offsets: (B, offset tasks)
                outputs[name] = outputs[name] + offsets[:, column]
        if self.config.scenario_design == "star":
            for name, offset in self.scenarios.logit_offsets(batch["scenario"]).items():
                outputs[name] = outputs[name] + offset
        if self.config.next_item_prior:
            lift = self.candidate_log_lift(outputs["next_item"], batch["candidate"])  # (B,)
            for name in self.prior_tasks:
                outputs[name] = outputs[name] + self.prior_weight[name] * lift
        return outputs

    @staticmethod
    def candidate_log_lift(next_item: torch.Tensor, candidate: torch.Tensor) -> torch.Tensor:
        """log(p(next item = candidate) · n): how much likelier than a uniform pick of n items.

        Why a click head wants it: a shown candidate is the true next item or one of the
        random negatives, so the Bayes click probability is p / (p + k (1 - p) / (n - 1)) for
        k negatives, whose logit is log p plus a constant while p is small, a slope of 1. The
        same holds for buy (click and purchase). Measured against a uniform pick it is 0 for
        an untrained model, so the output biases set by ``init_output_biases`` stay right.
        It is floored at -20 so that a PAD or UNK candidate (its logit masked) stays finite.

        Shape:
            next_item: (B, V) logits, candidate: (B,) -> (B,)
        """
        log_proba = next_item.float().log_softmax(dim=-1)  # (B, V)
        chosen = log_proba.gather(1, candidate[:, None]).squeeze(1)  # (B,)
        num_items = next_item.shape[-1] - NUM_RESERVED  # n: the items a model can predict
        return (chosen + math.log(num_items)).clamp(min=-20.0)

    @torch.no_grad()
    def predict(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Probabilities of every task (``Task.probabilities``); call ``model.eval()`` first."""
        outputs = self.forward(batch)
        return {task.name: task.probabilities(outputs[task.name]) for task in self.tasks}


def check_inputs(
    config: MultiTaskConfig,
    tasks: Sequence[Task],
    encoder: SequenceEncoder,
    item_category: torch.Tensor,
) -> None:
    """Raise a clear ValueError when the tasks, encoder or item table do not fit the config."""
    names, V = [task.name for task in tasks], config.num_items
    if not names or len(set(names)) != len(names):
        raise ValueError(f"a multi-task model needs at least one task, names unique; got {names}")
    if not config.tower_dims:
        raise ValueError("tower_dims needs at least one layer: its last size feeds the heads")
    if encoder.output_dim != config.hidden_dim:
        raise ValueError(
            f"encoder.output_dim={encoder.output_dim} but config.hidden_dim={config.hidden_dim}; "
            f"build the encoder with hidden_dim={config.hidden_dim}"
        )
    if item_category.shape != (V,):
        raise ValueError(f"item_category needs shape ({V},); got {tuple(item_category.shape)}")
    ranking = [task.name for task in tasks if task.kind == "ranking"]
    if config.next_item_prior and "next_item" not in ranking:
        raise ValueError(
            f"next_item_prior=True reads the next_item task's log-probability of the candidate, "
            f"but the tasks are {names}; add the next_item task or set next_item_prior=False"
        )
    binary = [task.name for task in tasks if task.uses_candidate and task.kind == "binary"]
    if config.next_item_prior and not binary:
        raise ValueError(
            f"next_item_prior=True adds a lift to the logit of each binary task that sees the "
            f"candidate, and the tasks {names} have none; add one (click, say) or set "
            f"next_item_prior=False"
        )
    single_output = [task.name for task in tasks if task.uses_candidate and task.num_classes == 1]
    if config.pair_biases and (config.num_users <= NUM_RESERVED or not single_output):
        raise ValueError(
            f"pair_biases=True adds a user and an item offset to each single-output task that "
            f"sees the candidate, so it needs num_users (the user vocabulary, {config.num_users} "
            f"here; build_model fills it in) and such a task among {names}"
        )
    for task in tasks:
        if (task.num_classes == 1) != (task.kind in ("binary", "regression")):
            raise ValueError(
                f"task {task.name!r}: binary and regression tasks have num_classes=1, multiclass "
                f"and ranking tasks more; got {task.kind} with {task.num_classes}"
            )
        if task.kind == "ranking" and (task.num_classes != V or task.uses_candidate):
            raise ValueError(
                f"task {task.name!r}: a ranking task scores every item without a candidate, so "
                f"num_classes must be config.num_items={V} and uses_candidate False; got "
                f"{task.num_classes} and {task.uses_candidate}"
            )
