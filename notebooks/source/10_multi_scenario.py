# %% [markdown]
# # 10 · One model, several scenarios: home feed, search, item page
#
# A shop recommends on many surfaces at once: the home feed, the search results, the "you may
# also like" row of an item page. Each is a **scenario**, and users behave differently in
# each: browsing a feed they follow what is generally appealing, searching they follow their
# own taste and compare prices. The surfaces also differ in traffic, and a small one has few
# events to learn from. Train one model per scenario, and the small one starves; train one
# model on everything, and it mixes up behaviors that differ. **Multi-scenario learning**
# shares what the scenarios have in common and keeps apart what differs. The simulator can
# make scenarios that differ by a known amount, and its truth says how well each could be
# predicted.
#
# **You will learn to**
# 1. describe a multi-scenario log: traffic and behavior per scenario;
# 2. measure a model per scenario, as a fraction of that scenario's Bayes limit;
# 3. compare separate models per scenario, one model that ignores scenarios, and two
#    scenario-aware designs (a scenario embedding; STAR's star-topology layer);
# 4. explain where sharing pays: in the small scenario; and serve each surface its own list.
#
# **Before this notebook:** 01–04. **Runs in** about a minute and a half on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import functools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from course_lib import (
    BehaviorDataset,
    SimulatorConfig,
    TrainOptions,
    build_model,
    fit,
    label_rates,
    make_loader,
    prepare,
    recommend,
    set_seed,
    simulate,
    time_cut,
)
from course_lib.exercises import scenarios as exercises
from course_lib.simulate.config import SCENARIO_PROFILES
from course_lib.simulate.limits import true_probabilities
from course_lib.training import predict_outputs

SEED = 0
SEEDS = (0, 1, 2)
WORLD = SimulatorConfig(
    num_users=1_500,
    num_items=500,
    num_categories=15,
    events_per_user=40,
    buy_rate=0.05,
    num_scenarios=3,
    scenario_shares=(0.6, 0.3, 0.1),  # home feed, search, item page
    scenario_strength=1.5,
    seed=SEED,
)
TASKS = ["click", "buy"]
MAX_LEN = 20
STEPS = 250  # training steps of 512 samples for every model
DAY = 86_400

# %% [markdown]
# ## 1. One shop, three surfaces
# `SimulatorConfig(num_scenarios=3)` gives every event a scenario, drawn by the traffic
# shares, in a `scenario` column of the log. Each scenario reweighs the hidden drivers of
# clicks and buys (notebook 01) by its profile times `scenario_strength`: a weight of
# $e^{w}$ on an item's general appeal (quality) and on the match with the user's taste
# (clicks), on the item's value and its price (buys), and a shift $w$ of the buy level.
# Categories and times are drawn as before: the same users, in the same sessions, now on
# several surfaces.

# %%
profiles = pd.DataFrame(
    SCENARIO_PROFILES, index=["quality", "taste", "value", "price", "buy level"]
).T.head(WORLD.num_scenarios)
# NBVAL_CHECK_OUTPUT
profiles

# %% [markdown]
# On the home feed general appeal counts more than taste; in search taste counts more, and
# prices are compared; on an item page, reached from one specific item, taste counts most and
# people buy less. The log:

# %%
world = simulate(WORLD)
log = world.log
surfaces = log.groupby("scenario", sort=False).agg(
    events=("item_id", "size"), buy_rate=("behavior", lambda b: (b == "buy").mean())
)
surfaces["share"] = surfaces["events"] / len(log)
# NBVAL_CHECK_OUTPUT
print(f"{len(log):,} events of {log['user_id'].nunique():,} users")
surfaces.round(3)

# %% [markdown]
# The item page has a tenth of the traffic. Search converts about three times as often as the
# feed: its searchers come with a purpose (the level) and compare prices. A user moves
# between surfaces within a session:

# %%
# NBVAL_CHECK_OUTPUT
log.loc[log["user_id"] == 1, ["item_id", "behavior", "scenario"]].head(8)

# %% [markdown]
# ## 2. Samples, and the limit of each scenario
# A temporal split (notebook 01): days 1–6 train, day 7 validates, days 8–9 test. Every
# sample carries the scenario of its target event, the surface where the request came from,
# and every history event its own (`history_scenario`): the scenario is an **event feature**
# that the pipeline keeps from the log to the batch.

# %%
start, end = WORLD.window
split = functools.partial(time_cut, valid_start=start + 6 * DAY, test_start=start + 8 * DAY)
data = prepare(log, start=start, end=end, splitter=split)
names = data.vocabularies.scenario.tokens  # scenario index 2, 3, 4 (0 PAD, 1 UNK)
batch = data.dataset("train", MAX_LEN).batch([0, 1])
# NBVAL_CHECK_OUTPUT
print("scenarios in the vocabulary:", names)
print("batch fields:", sorted(batch))
print(
    f"train / valid / test samples: {len(data.train):,} / {len(data.valid):,} / {len(data.test):,}"
)

# %% [markdown]
# Each test sample's true click and buy probabilities come from the simulator, in the
# sample's own scenario; their AUC within a scenario is the best any model can reach there.
# The pooled AUC over all scenarios would let a model score by telling scenarios apart, so
# every number below is **per scenario**, as a fraction of that scenario's limit.

# %%
test_scenario = np.asarray(names)[data.test.scenario - 2]
truth = true_probabilities(world.truth, data.test, data.vocabularies, num_negatives=4)


def per_scenario_auc(scores: dict[str, np.ndarray]) -> dict[tuple[str, str], float]:
    """ROC-AUC of each task's scores within each scenario's test samples."""
    return {
        (task, name): roc_auc_score(
            getattr(data.test, task)[test_scenario == name], scores[task][test_scenario == name]
        )
        for task in TASKS
        for name in names
    }


limit = per_scenario_auc(truth)
test_counts = pd.DataFrame(
    {
        "test samples": pd.Series(test_scenario).value_counts(),
        "test buys": pd.Series(test_scenario[data.test.buy == 1]).value_counts(),
    }
).loc[names]
# NBVAL_CHECK_OUTPUT
test_counts

# %% [markdown]
# How much does knowing the scenario matter at all? `truth.as_if_in("home")` is the truth of
# a world where every event happened on the home feed. Scoring every test sample with it is
# a perfect model that ignores scenarios and follows the busiest one:

# %%
as_home = true_probabilities(
    world.truth.as_if_in("home"), data.test, data.vocabularies, num_negatives=4
)
blind_truth = per_scenario_auc(as_home)
limits = pd.DataFrame({"Bayes limit": limit, "home's rules everywhere": blind_truth})
limits["fraction of the limit"] = limits["home's rules everywhere"] / limits["Bayes limit"]
# NBVAL_IGNORE_OUTPUT
limits.round(3)

# %% [markdown]
# Even the truth loses when it ignores the surface: on the item page it keeps about 93% of
# the limit on clicks and 95% on buys, on search about 95% and 90% (search weighs prices
# most differently from the feed). That loss is what a scenario-aware model can win back,
# at most.

# %%
fraction_home = limits["fraction of the limit"]
assert fraction_home[("click", "home")] == 1.0 and fraction_home[("buy", "home")] == 1.0
for task in TASKS:
    assert fraction_home[(task, "item_page")] < 0.97 and fraction_home[(task, "search")] < 0.97

# %% [markdown]
# ## 3. Four ways to serve three scenarios
# - **Separate models**: one per scenario, each trained on its scenario's samples only
#   (their histories still hold every surface's events).
# - **One blind model**: all samples, no idea which scenario a request comes from.
# - **Scenario embedding** (`scenario_design="embedding"`): each history event adds a vector
#   of its scenario, and the user state adds a vector of the request's scenario. The state is
#   the input of every shared layer, expert and gate, so they all see where the request comes
#   from.
# - **STAR** (`scenario_design="star"`; Sheng et al., "One Model to Serve All: Star Topology
#   Adaptive Recommender for Multi-Domain CTR Prediction", CIKM 2021): after the sharing
#   architecture, each task's vector passes a layer whose weight is the shared weight times
#   the scenario's own, entry by entry, $W \odot W_s$, with bias $b + b_s$; and each task's
#   logit adds a per-scenario offset. The scenario weights start at 1, so a scenario with few
#   samples stays near what all scenarios learned together.
#
# Both aware designs start out as the blind model (`course_lib/models/scenarios.py`); every
# model is the shared-bottom with mean pooling (notebook 03), trained for the same 250 steps
# (each separate model too), three seeds each.

# %%
valid = make_loader(data.dataset("valid", MAX_LEN), 1024)
test = make_loader(data.dataset("test", MAX_LEN), 1024)


def train(design: str, seed: int, only: str | None = None):
    """A model trained on all training samples, or on one scenario's (``only``)."""
    samples = data.train
    if only is not None:
        samples = samples.take(np.flatnonzero(samples.scenario == names.index(only) + 2))
    set_seed(seed)
    model = build_model(data, TASKS, encoder="mean", scenario_design=design)
    model.init_output_biases(label_rates(model.tasks, samples))
    loader = make_loader(BehaviorDataset(data.sequences, samples, MAX_LEN), 512, True, seed)
    options = TrainOptions(max_steps_per_epoch=STEPS, progress=False)
    fit(model, model.tasks, loader, valid, epochs=1, lr=3e-3, patience=None, seed=seed,
        options=options)  # fmt: skip
    return model


def test_scores(model) -> dict[str, np.ndarray]:
    """Each task's test logits, in the order of ``data.test``."""
    outputs = [out for out, _ in predict_outputs(model, test, "cpu")]
    return {task: np.concatenate([out[task].numpy() for out in outputs]) for task in TASKS}


rows = []
for seed in SEEDS:
    for label, design in [("one blind model", "none"), ("embedding", "embedding"),
                          ("STAR", "star")]:  # fmt: skip
        auc = per_scenario_auc(test_scores(train(design, seed)))
        rows.append({"model": label, "seed": seed, **auc})
    separate = {}
    for name in names:  # each scenario's own model, scored on its own samples
        auc = per_scenario_auc(test_scores(train("none", seed, only=name)))
        separate.update({key: value for key, value in auc.items() if key[1] == name})
    rows.append({"model": "separate models", "seed": seed, **separate})

runs = pd.DataFrame(rows).set_index(["model", "seed"])
runs.columns = pd.MultiIndex.from_tuples(runs.columns, names=["task", "scenario"])
fraction = runs / pd.Series(limit)  # AUC as a fraction of each scenario's limit
summary = fraction.groupby("model", sort=False).agg(["mean", "std"])
# NBVAL_IGNORE_OUTPUT
summary.T.unstack(-1).round(3)

# %%
MODELS = ["separate models", "one blind model", "embedding", "STAR"]
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), sharey=True)
width = 0.2
for ax, task in zip(axes, TASKS, strict=True):
    for k, model in enumerate(MODELS):
        means = [summary.loc[model, (task, name, "mean")] for name in names]
        spreads = [summary.loc[model, (task, name, "std")] for name in names]
        positions = np.arange(len(names)) + (k - 1.5) * width
        ax.bar(positions, means, width, yerr=spreads, capsize=2, label=model)
    ax.set_xticks(np.arange(len(names)), [f"{n}\n({s:.0%} of traffic)" for n, s in
                                          zip(names, surfaces.loc[names, "share"], strict=True)])  # fmt: skip
    ax.set(title=f"{task}: test AUC / Bayes limit", ylim=(0.6, 1.06))
axes[0].set_ylabel("mean ± std over 3 seeds")
axes[1].legend(loc="upper right", fontsize=8, ncol=2)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Where sharing pays.** On the home feed, with 60% of the traffic, every model is about as
# good on clicks: a scenario that large has data enough on its own. On the item page, a tenth
# of the traffic, its own model falls far behind on clicks and buys: it has too few samples
# to learn who likes what, which the other scenarios' samples teach the shared models.
#
# **Where scenario awareness pays.** The blind model learns one average behavior, weighted by
# traffic, close to the home feed's. Telling it which surface a request comes from lets it
# score differently where users behave differently: the scenario embedding gains on the
# clicks of both smaller surfaces and on the feed's buys. STAR gains less: its scenario
# weights rescale the units of each task's vector after the shared layers, while what
# differs between these scenarios is how much each hidden driver (appeal, taste, price)
# counts, which the embedding feeds into the shared layers that weigh them.
#
# **Where sharing costs.** Search's buys are best predicted by search's own model: searchers
# weigh prices unlike anyone else (section 1), and with 30% of the traffic search has data
# enough for a model of its own; the shared models, even told the scenario, stay pulled
# towards the feed. And the item page's 20 test buys (section 2) are few: the small scenario
# is hard to learn and hard to measure, so its buy numbers have the widest spread.

# %%
mean = summary.xs("mean", axis=1, level=2)
spread = summary.xs("std", axis=1, level=2)
SHARED = ["one blind model", "embedding", "STAR"]


def beats(a: str, b: str, task: str, name: str) -> bool:
    """Model a's mean beats model b's by more than their seeds' spreads together."""
    margin = spread.loc[a, (task, name)] + spread.loc[b, (task, name)]
    return mean.loc[a, (task, name)] - mean.loc[b, (task, name)] > margin


small = names[-1]
assert small == "item_page" and surfaces.loc[small, "share"] < 0.15
for model in SHARED:  # the small scenario's own model is far behind every shared one
    assert mean.loc[model, ("click", small)] > mean.loc["separate models", ("click", small)] + 0.05
    assert beats(model, "separate models", "buy", small)
assert mean[("click", "home")].max() - mean[("click", "home")].min() < 0.02
for task, name in [("click", small), ("click", "search"), ("buy", "home")]:
    assert beats("embedding", "one blind model", task, name), (task, name)
gains = mean.loc[["embedding", "STAR"]] - mean.loc["one blind model"]
assert gains.loc["STAR"].mean() < gains.loc["embedding"].mean() - 0.005
for model in SHARED:
    assert beats("separate models", model, "buy", "search"), model

# %% [markdown]
# ## 4. One model, a list per surface
# Serving, a scenario-aware model needs to know where the request comes from:
# `recommend(..., scenario="search")` asks for the lists a surface would show (without it, the
# model refuses). The same users, the same model, ranked by predicted buys on the home feed
# and in search:

# %%
model = train("embedding", SEED)
users = data.vocabularies.user.decode(np.unique(data.test.user))[:200]
lists = {
    name: recommend(model, data, users, k=10, score_task="buy", until="test", scenario=name)
    for name in ("home", "search")
}
home, search = (lists[name].groupby("user_id")["item_id"].apply(set) for name in lists)
shared = pd.Series([len(home[u] & search[u]) for u in home.index], index=home.index)
# NBVAL_IGNORE_OUTPUT
print(
    f"items in both top-10 lists, per user: mean {shared.mean():.1f}, median {shared.median():.0f}"
)
lists["search"].head(5)

# %% [markdown]
# A user's two lists share about three items of ten: on search the model puts the user's own
# taste and the price first, on the feed generally appealing items, as the profiles of
# section 1 say.

# %%
assert 1 < shared.mean() < 6

# %% [markdown]
# ## Summary
# - A scenario is an event feature: the log's `scenario` column reaches every sample (the
#   request's scenario) and every history event (`history_scenario`).
# - Report a multi-scenario model per scenario, against each scenario's own Bayes limit: a
#   pooled AUC rewards telling scenarios apart, not ranking within one.
# - Separate models starve the small scenario; one shared model feeds it with the others'
#   data. Telling the shared model the scenario (`scenario_design="embedding"` or `"star"`)
#   lets it also keep their behaviors apart.

# %% [markdown]
# ## Exercises
#
# **Exercise 10.1.** From `log`, build a DataFrame with one row per scenario (the index: the
# scenario names) and two columns: `share`, the scenario's share of all events, and
# `buy_rate`, the share of its events that are buys.

# %%
scenario_table = None  ### STUB
### BEGIN SOLUTION
scenario_table = pd.DataFrame(
    {
        "share": log["scenario"].value_counts(normalize=True),
        "buy_rate": log.groupby("scenario")["behavior"].apply(lambda b: (b == "buy").mean()),
    }
)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
exercises.check_scenario_table(scenario_table, log)

# %% [markdown]
# **Exercise 10.2.** A star-topology layer has a shared weight `W` (3 × 2) and bias `b`, and
# the item page's weight `W_s` and bias `b_s`. Compute the layer's output for the input `x`
# of a request from the item page, with numpy.

# %%
x = np.array([1.0, -2.0])
W, b = np.array([[0.5, 1.0], [-1.0, 0.0], [2.0, 0.5]]), np.array([0.1, 0.0, -0.2])
W_s, b_s = np.array([[2.0, 1.0], [1.0, 3.0], [0.0, 1.0]]), np.array([0.0, 0.5, 0.0])
star_output = None  ### STUB
### BEGIN SOLUTION
star_output = (W * W_s) @ x + b + b_s
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
exercises.check_star_output(star_output, x, (W, b), (W_s, b_s))
