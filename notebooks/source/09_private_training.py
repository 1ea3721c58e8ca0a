# %% [markdown]
# # 09 · Training without collecting users' logs: federated averaging and differential privacy
#
# Every model so far was trained on one big log in one place. But a behavior sequence is
# personal data: what someone viewed, saved and bought. **Federated learning** trains without
# collecting it: each client (a phone, or a group of users) keeps its own log and trains a
# copy of the model locally; only weights travel. **Differential privacy** goes further and
# bounds what even those weights can reveal about any one client. Both cost accuracy; the
# simulator's Bayes limit says exactly how much.
#
# **You will learn to**
# 1. split a log into clients that never share it, and run rounds of federated averaging;
# 2. measure what federation costs against centralised training, and what its knobs (clients
#    per round, local steps) change;
# 3. add differential privacy (clipped updates, Gaussian noise) and read its budget, epsilon;
# 4. explain why private training needs many clients per round.
#
# **Before this notebook:** 01–04. **Runs in** about a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_lib import (
    SimulatorConfig,
    TrainOptions,
    bayes_limit_auc,
    build_model,
    evaluate_tasks,
    fit,
    label_rates,
    make_loader,
    prepare,
    set_seed,
    simulate,
)
from course_lib.exercises import privacy
from course_lib.training import (
    FederatedSettings,
    MultiTaskLoss,
    client_datasets,
    federated_round,
    partition_clients,
    privacy_epsilon,
)

SEED = 0
SEEDS = (0, 1, 2)
WORLD = SimulatorConfig(num_users=1_000, num_items=500, num_categories=20, seed=SEED)
TASKS = ["click", "buy"]
MAX_LEN = 10
NUM_CLIENTS = 100  # each client holds the logs of about ten users
ROUNDS = 15
CLIP_NORM = 1.0  # differential privacy: the most one client's update may move the model
DELTA = 1e-5  # the chance the privacy guarantee may fail; below 1 / number of clients

# %% [markdown]
# ## 1. Clients that keep their logs
# The simulated shop's users are dealt into 100 clients; every user's samples stay with one
# client. In a round of **federated averaging** (FedAvg, McMahan et al., 2017):
#
# 1. the server sends the current weights to a sample of the clients;
# 2. each trains its copy for a few steps on its own samples;
# 3. each sends back only its new weights, and the server averages them, each weighted by
#    the client's number of samples.

# %%
world = simulate(WORLD)
data = prepare(world.log, start=WORLD.window[0], end=WORLD.window[1])
parts = partition_clients(data.train.user, NUM_CLIENTS, seed=SEED)
clients = client_datasets(data.dataset("train", MAX_LEN), parts)
sizes = pd.Series([len(client) for client in clients])
# NBVAL_CHECK_OUTPUT
print(f"{len(data.train):,} training samples of {len(np.unique(data.train.user)):,} users")
print(
    f"{len(clients)} clients; samples per client: {sizes.describe()[['min', '50%', 'max']].to_dict()}"
)

# %% [markdown]
# The yardsticks: the centralised model (the same model, trained the usual way with Adam on
# batches drawn from all the samples in one place, as many samples as the main federated
# variant below sees) and the Bayes limit, the AUC of the simulator's true probabilities on
# the same test samples.


# %%
def new_model(seed: int):
    """The model every variant starts from: shared-bottom, mean-pooling encoder."""
    set_seed(seed)
    model = build_model(data, TASKS, encoder="mean")
    model.init_output_biases(label_rates(model.tasks, data.train))
    return model


test = make_loader(data.dataset("test", MAX_LEN), 512)
limit = bayes_limit_auc(world.truth, data.test, data.vocabularies, num_negatives=4)


def scores(model) -> dict[str, float]:
    """Test click and buy AUC as fractions of their Bayes limits."""
    result = evaluate_tasks(model, model.tasks, test, "cpu")
    return {task: result[task]["roc_auc"] / limit[task] for task in TASKS}


# %% [markdown]
# The encoder is mean pooling (notebook 03) rather than the LSTM: each variant below trains
# three times, and 750 client steps per run are what fits the notebook's minute. The
# comparison is between training schemes, not encoders.
#
# ## 2. What federation costs, and what privacy costs
# Every federated variant runs 15 rounds, each client's steps on batches of 128 with Adam,
# started afresh every round (the paper used plain SGD, which learns these embeddings far
# more slowly in few rounds). The table counts the samples each variant's training saw.
# The private variants clip every client's update to a norm of at most 1 and add Gaussian
# noise to the average, `noise_multiplier` times 1 / (clients per round) in spread (DP-FedAvg,
# McMahan et al., 2018); `privacy_epsilon` gives the budget their 15 rounds spend.

# %%
VARIANTS = {
    "FedAvg: 10 clients a round, 5 local steps": FederatedSettings(10, 5),
    "FedAvg: 10 clients a round, 1 local step": FederatedSettings(10, 1),
    "FedAvg: 5 clients a round, 5 local steps": FederatedSettings(5, 5),
    "DP-FedAvg, noise 0.5": FederatedSettings(10, 5, clip_norm=CLIP_NORM, noise_multiplier=0.5),
    "DP-FedAvg, noise 1.0": FederatedSettings(10, 5, clip_norm=CLIP_NORM, noise_multiplier=1.0),
}
seen = {  # samples each variant's training reads: rounds x clients x local steps x batch
    name: ROUNDS * s.clients_per_round * s.local_steps * s.batch_size
    for name, s in VARIANTS.items()
}
seen["centralised"] = seen["FedAvg: 10 clients a round, 5 local steps"]
rows = []
for seed in SEEDS:
    model = new_model(seed)
    train = make_loader(data.dataset("train", MAX_LEN), 512, True, seed)
    valid = make_loader(data.dataset("valid", MAX_LEN), 512)
    options = TrainOptions(max_steps_per_epoch=seen["centralised"] // 512, progress=False)
    fit(model, model.tasks, train, valid, epochs=1, lr=3e-3, patience=None, seed=seed,
        options=options)  # fmt: skip
    rows.append({"variant": "centralised", "seed": seed, **scores(model)})
    for name, settings in VARIANTS.items():
        model, rng = new_model(seed), np.random.default_rng(seed)
        for _ in range(ROUNDS):
            federated_round(model, MultiTaskLoss(model.tasks), clients, settings, rng)
        rows.append({"variant": name, "seed": seed, **scores(model)})
results = pd.DataFrame(rows).groupby("variant", sort=False)[TASKS].agg(["mean", "std"])
epsilon = {
    name: privacy_epsilon(s.noise_multiplier, s.clients_per_round / NUM_CLIENTS, ROUNDS, DELTA)
    for name, s in VARIANTS.items()
    if s.noise_multiplier > 0
}
results[("samples seen", "")] = pd.Series(seen)
results[("epsilon", "")] = pd.Series(epsilon)
results.round(3)

# %%
fig, ax = plt.subplots(figsize=(7.5, 3.2))
names = list(results.index)
ax.barh(names, results[("click", "mean")], xerr=results[("click", "std")], capsize=3)
for row, name in enumerate(names):  # each private variant's budget, beside its bar
    if name in epsilon:
        end = results.loc[name, ("click", "mean")] + results.loc[name, ("click", "std")]
        ax.text(end + 0.01, row, f"epsilon = {epsilon[name]:.1f}", va="center", fontsize=8)
ax.axvline(1.0, color="black", linestyle="--", label="Bayes limit")
ax.set(xlabel="test click AUC / Bayes limit (mean ± std, 3 seeds)", xlim=(0.5, 1.02))
ax.invert_yaxis()
ax.legend(loc="lower right", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# **Federation costs accuracy even at the same number of samples**: about 0.85 of the limit
# against 0.90 for centralised training. Each client's steps follow its own ten users, and
# the average of such diverging updates is a worse step than one on batches drawn from
# everyone. One local step per round learns far less in the same 15 rounds (a fifth of the
# samples): local steps are how federated averaging saves communication. Five clients a
# round, half the samples, did about as well as ten here (within the seeds' spread).
#
# **Differential privacy costs most.** With noise 0.5 the budget is an epsilon near 16, a
# weak guarantee, and the model keeps under two thirds of the limit; with noise 1.0 (epsilon
# near 4) it is barely better than a guess (a random ranking scores about 0.52 on this scale).
# The reason is arithmetic: the noise added to the average has a spread of noise x clip / 10
# per weight, on every one of the model's tens of thousands of weights, while each client's
# update is at most `clip` long in all of them together. Averaging more clients per round
# divides the noise's share, which is why the paper that introduced the method asks for "a
# sufficiently large number of users"; a hundred clients are not enough for a private model
# of this size.

# %%
click = results[("click", "mean")]
central, fedavg = click["centralised"], click["FedAvg: 10 clients a round, 5 local steps"]
assert central > fedavg + 0.02
assert fedavg > click["FedAvg: 10 clients a round, 1 local step"] + 0.1
assert abs(click["FedAvg: 5 clients a round, 5 local steps"] - fedavg) < 0.04
assert click["DP-FedAvg, noise 0.5"] < fedavg - 0.1
assert click["DP-FedAvg, noise 1.0"] < click["DP-FedAvg, noise 0.5"] - 0.03
assert click["DP-FedAvg, noise 1.0"] < 0.62  # "barely better than a guess"
assert epsilon["DP-FedAvg, noise 0.5"] > 10 and epsilon["DP-FedAvg, noise 1.0"] < 5

# %% [markdown]
# ## Summary
# - Federated averaging trains on logs that never leave their clients: local steps on each
#   sampled client, then the sample-weighted mean of their weights
#   (`course_lib.training.federated_round`).
# - Federation costs accuracy for the same amount of training; fewer local steps or fewer
#   clients per round cost more.
# - Differential privacy clips every client's update and adds noise; `privacy_epsilon` turns
#   the noise, the sampling rate and the rounds into the budget epsilon. With only ten
#   clients a round, the noise that buys a small epsilon swamps what the clients learned:
#   private training needs thousands of clients per round.

# %% [markdown]
# ## Exercises
#
# **Exercise 9.1.** Two clients send back their weights `w_a` and `w_b` (below); client a
# trained on 200 samples, client b on 600. What does the server's average hold?

# %%
w_a, w_b = np.array([0.2, -1.0, 0.5]), np.array([0.6, 1.0, -0.5])
server_average = None  ### STUB
### BEGIN SOLUTION
server_average = (200 * w_a + 600 * w_b) / 800
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
privacy.check_weighted_average(server_average, [w_a, w_b], [200, 600])

# %% [markdown]
# **Exercise 9.2.** Your organisation allows a budget of epsilon at most 3 (delta 1e-5) for
# 20 rounds at 10 of 100 clients a round. Which is the smallest of the noise multipliers
# `CANDIDATES` that stays within it? (Use `privacy_epsilon`.)

# %%
CANDIDATES = (0.5, 1.0, 1.5, 2.0, 3.0)
smallest_noise = None  ### STUB
### BEGIN SOLUTION
smallest_noise = next(
    noise for noise in CANDIDATES if privacy_epsilon(noise, 10 / 100, 20, 1e-5) <= 3
)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
budgets = {noise: privacy_epsilon(noise, 10 / 100, 20, 1e-5) for noise in CANDIDATES}
privacy.check_smallest_noise(smallest_noise, budgets, 3.0)
