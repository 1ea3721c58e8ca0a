# %% [markdown]
# # 06 · From scores to recommendation lists, and how to judge them
#
# A shop does not show a user a click probability; it shows a list. This notebook turns a
# trained multi-task model into top-K lists, explains one recommendation, and evaluates the
# lists the ways practitioners do: accuracy at K, coverage of the catalogue, popularity bias,
# cold-start users, calibration. It ends with the evaluation **protocol**, the choice that moves
# published numbers most and is most often got wrong.
#
# **You will learn to**
# 1. produce top-K lists for users (without items they already bought) and read them against
#    their histories;
# 2. compute precision@K, recall@K, NDCG@K, coverage and popularity bias, and break them down
#    by history length;
# 3. check whether predicted probabilities are calibrated;
# 4. measure how much the split and the ranking protocol alone change HR@10 and NDCG@10.
#
# **Before this notebook:** 01–05. **Runs in** about a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import functools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from course_lib import (
    TrainOptions,
    build_model,
    bundled_window,
    calibration_table,
    catalogue_coverage,
    catalogue_table,
    compare_protocols,
    expected_calibration_error,
    explain,
    fit,
    get_device,
    held_out_items,
    history_lengths,
    history_mask,
    label_rates,
    list_metrics,
    load_bundled_log,
    make_loader,
    metrics_by_history_length,
    move_batch,
    per_user_list_metrics,
    popularity_bias,
    prepare,
    random_split,
    recommend,
    set_seed,
    standard_tasks,
)
from course_lib.exercises import lists

SEED = 0
DEVICE = get_device()  # a GPU if there is one, else the CPU (notebook 00)
EMBED_DIM = 32  # D
HIDDEN_DIM = 32  # H
MAX_LEN = 10  # events of history per sample
BATCH_SIZE = 512
EPOCHS = 2
STEPS_PER_EPOCH = 60
# how the training steps run: fit's engineering switches (device, step cap, progress bar, ...)
OPTIONS = TrainOptions(device=DEVICE, max_steps_per_epoch=STEPS_PER_EPOCH, progress=False)
LR = 3e-3
K = 10  # length of a recommendation list
TASK_NAMES = ("click", "buy", "next_item")
NUM_SAMPLED = 100  # negatives of the sampled ranking protocol (section 5)

# %% [markdown]
# ## 1. A model that scores the whole catalogue
# The model of notebooks 04–05 with a **next item** head: it scores every item of the catalogue
# in one pass, which is what a list needs. Click and buy heads score one (user, item) pair
# each; we use them for calibration in section 4. (To use a model trained by
# `python -m course_lib train --tasks next_item,click,buy`, load its `model.pt` with
# `load_checkpoint` instead of training here.)


# %%
def train_model(data, seed=SEED):
    """A shared-bottom model for click, buy and next item, trained on a small budget."""
    vocab = data.vocabularies
    all_tasks = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
    tasks = [all_tasks[name] for name in TASK_NAMES]
    set_seed(seed)
    model = build_model(
        data,
        tasks,
        architecture="shared_bottom",
        encoder="cnn",
        embed_dim=EMBED_DIM,
        hidden_dim=HIDDEN_DIM,
        label_rates=label_rates(tasks, data.train),
    )
    train = make_loader(data.dataset("train", MAX_LEN), BATCH_SIZE, shuffle=True, seed=seed)
    valid = make_loader(data.dataset("valid", MAX_LEN), BATCH_SIZE)
    fit(
        model,
        tasks,
        train,
        valid,
        epochs=EPOCHS,
        lr=LR,
        monitor=("next_item", "NDCG@10"),
        patience=None,
        seed=seed,
        options=OPTIONS,
    )
    return model.eval(), tasks


start, end = bundled_window()
log = load_bundled_log()
data = prepare(log, start=start, end=end)
model, tasks = train_model(data)
catalogue = catalogue_table(data)  # item_id, category_id, popularity (training targets)
print(f"{len(catalogue):,} items in the catalogue, {data.sequences.num_users:,} users")

# %% [markdown]
# ## 2. Lists a learner can judge
# `recommend` scores the catalogue for each user and keeps the K best, leaving out padding,
# unknown items and, by default, what the user already **bought** (`exclude="interacted"`
# leaves out everything they touched, `"none"` nothing). `until="test"` uses each user's
# history up to, not including, their held-out test event, so the lists can be scored against
# it without leaking the answer. Three users, their last events and their lists:


# %%
def recent_categories(user_id, n=6):
    """Raw categories of a user's last n events before their test event."""
    sequences = data.sequences
    row = np.flatnonzero(sequences.users == data.vocabularies.user.encode([user_id])[0])[0]
    test_event = sequences.offsets[row + 1] - 1  # leave-last-out: the last event is the test
    window = slice(max(sequences.offsets[row], test_event - n), test_event)
    return data.vocabularies.category.decode(sequences.category[window]).tolist()


relevant = held_out_items(data, "test")  # user_id, item_id of every test event
test_users = relevant["user_id"].to_numpy()
users = [int(user) for user in test_users[:3]]
shown = recommend(model, data, users, k=5, until="test", max_len=MAX_LEN, device=DEVICE)
for user in users:
    print(f"user {user}: categories of the last events {recent_categories(user)}")
    print(shown[shown["user_id"] == user][["rank", "item_id", "category_id", "score"]].round(4))

# %% [markdown]
# The lists lean on the categories of the last few events: the model learned from notebook 03's
# lesson that interest is sticky. Which history events weigh most for a recommendation?
# `explain` gives each event a weight: gradient × input on its embedding, the first-order
# change in the item's score if that event were removed. It is an **approximation** (a local,
# linear reading of a nonlinear model), a hint for a learner, not the model's reasoning.

# %%
user, item = users[0], int(shown.loc[shown["user_id"] == users[0], "item_id"].iloc[0])
weights = explain(model, data, user, item, until="test", max_len=MAX_LEN, device=DEVICE)
weights.round(3)

# %%
oldest_seen = weights["position"].max() - model.encoder.receptive_field + 1
assert (weights.loc[weights["position"] < oldest_seen, "weight"] == 0).all()
assert weights.iloc[0]["category_id"] == shown.iloc[0]["category_id"]  # top event: same category

fig, ax = plt.subplots(figsize=(7, 2.8))
ordered = weights.sort_values("position")
ax.bar(ordered["position"], ordered["weight"], color="tab:blue")
ax.set(
    title=f"Which events push item {item} up for user {user}",
    xlabel="position in the history (oldest left)",
    ylabel="gradient × input",
)
plt.show()

# %% [markdown]
# The weight concentrates on the most recent events of the recommended item's category. The
# oldest events get exactly zero: the CNN encoder sees only its receptive field, the last
# `num_layers × (kernel_size − 1) + 1` events (`model.encoder.receptive_field`), and nothing
# older can move the score. A
# first-order reading has limits: it says how the score changes for a small nudge of an event's
# embedding, not what would happen without the event.
#
# ## 3. Judging lists: accuracy, coverage, popularity, cold start
# For every test user: a list of K = 10 from the history before their test event, scored
# against that event. With one held-out item per user, precision@K is HR@K / K, and recall@K
# equals HR@K; with several relevant items (a time-based split), they differ. Against it, the
# simplest list: the ten best sellers, the same for everyone.

# %%
model_lists = recommend(model, data, test_users, k=K, until="test", max_len=MAX_LEN, device=DEVICE)
best_sellers = catalogue.nlargest(K, "popularity")["item_id"].to_numpy()
popular_lists = pd.DataFrame(
    {
        "user_id": np.repeat(test_users, K),
        "rank": np.tile(np.arange(1, K + 1), len(test_users)),
        "item_id": np.tile(best_sellers, len(test_users)),
    }
)
popularity = catalogue.set_index("item_id")["popularity"]
evaluation = {}
for name, lists_ in {"model": model_lists, "best sellers": popular_lists}.items():
    evaluation[name] = list_metrics(lists_, relevant, K) | {
        "coverage": catalogue_coverage(lists_, len(catalogue)),
        "popularity percentile": popularity_bias(lists_, relevant, popularity)["recommended"],
    }
evaluation = pd.DataFrame(evaluation).T
evaluation.round(3)

# %%
held_percentile = popularity_bias(model_lists, relevant, popularity)["relevant"]
print(f"mean popularity percentile of the held-out items: {held_percentile:.1f}")
assert evaluation.loc["model", "HR@10"] > 5 * evaluation.loc["best sellers", "HR@10"]
assert evaluation.loc["model", "coverage"] > 20 * evaluation.loc["best sellers", "coverage"]
assert evaluation["popularity percentile"].min() > held_percentile + 10  # "both lean popular"

# %% [markdown]
# The model's lists hit the held-out item more than five times as often as the best sellers,
# and cover far more of the catalogue (the best sellers, by construction, cover 10 items).
# Both lean to popular items: the items users actually turn to sit more than 10 percentile
# points lower in popularity than what either list offers, a **popularity bias** that an
# average accuracy hides. Next, who is served well? The same metrics by the length of the
# user's history before the test event; the short histories are the **cold-start** users.

# %%
per_user = per_user_list_metrics(model_lists, relevant, K)
lengths = history_lengths(data, test_users, until="test")
by_length = metrics_by_history_length(per_user, lengths, edges=(1, 10, 20, 40))
by_length.round(3)

# %%
short, long = by_length["HR@10"].iloc[:2], by_length["HR@10"].iloc[2:]
assert (short.max() < long.min()) and by_length["users"].iloc[0] < 0.1 * by_length["users"].sum()

fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(by_length.index.astype(str), by_length["HR@10"], color="tab:green")
ax.set(title="HR@10 by history length", xlabel="events before the test event", ylabel="HR@10")
plt.show()

# %% [markdown]
# Users with fewer than 20 events before the test event are hit less often than those with
# more; the shortest histories are under a tenth of the users here, so the average barely
# shows them. On real logs, where most users are new, that segment decides the average.

# %% [markdown]
# ## 4. Are the probabilities calibrated?
# A click probability of 0.3 should come true 30% of the time: a shop that ranks, bids or
# budgets on the numbers needs that, and AUC cannot tell (it only ranks). A reliability
# diagram bins the test samples by predicted probability and compares each bin's mean
# prediction with its observed rate; the expected calibration error (ECE) is the
# count-weighted mean gap. Buys are rare, so their bins hold equal counts (quantiles).

# %%
test_set = data.dataset("test", MAX_LEN)
test_batch = test_set.batch(np.arange(len(test_set)))
with torch.no_grad():
    on_device = model.predict(move_batch(test_batch, DEVICE))
probabilities = {task: probability.cpu() for task, probability in on_device.items()}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
calibration = {}
for ax, (task, strategy) in zip(axes, [("click", "uniform"), ("buy", "quantile")], strict=True):
    label, probability = test_batch[task].numpy(), probabilities[task].numpy()
    table = calibration_table(label, probability, n_bins=10, strategy=strategy)
    calibration[task] = expected_calibration_error(label, probability, 10, strategy)
    ax.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model")
    limit = table[["mean_predicted", "observed_rate"]].to_numpy().max() * 1.05
    ax.plot([0, limit], [0, limit], "k--", linewidth=0.8, label="perfect calibration")
    ax.set(title=f"{task}: ECE {calibration[task]:.4f}", xlabel="mean predicted probability")
    ax.legend(fontsize=8)
axes[0].set_ylabel("observed rate")
plt.tight_layout()
plt.show()

# %%
print({task: round(value, 4) for task, value in calibration.items()})
assert calibration["click"] < 0.03 and calibration["buy"] < 0.01  # "close to the diagonal"

# %% [markdown]
# Both sit close to the diagonal: the model was trained with cross-entropy on the true label
# rates (no oversampling or positive weighting, which inflate probabilities; notebook 05), and
# its output layers started at the rates. Calibration is a property to check after every such
# remedy, not to assume.

# %% [markdown]
# ## 5. The protocol moves the numbers
# Two choices that have nothing to do with the model change its HR@10 and NDCG@10:
#
# - **the split**: the temporal leave-last-out split of notebook 01, or a random split of the
#   events (which lets the model train on a user's future);
# - **the ranking**: among the whole catalogue, or among 100 sampled items the user has not
#   touched plus the target (a shortcut common in published results).
#
# Same architecture, same budget, trained once on each split; each scored both ways on its own
# test targets.


# %%
def next_item_scores(model, data, part="test"):
    """Next-item scores, targets and history masks of the clicked samples of a part."""
    dataset = data.dataset(part, MAX_LEN)
    positives = np.flatnonzero(getattr(data, part).click > 0.5)
    batch = dataset.batch(positives)
    with torch.no_grad():
        scores = model(move_batch(batch, DEVICE))["next_item"].cpu()
    mask = history_mask(batch["history_item"], scores.shape[1], batch["next_item"])
    return scores, batch["next_item"], mask


random_data = prepare(
    log, start=start, end=end, splitter=functools.partial(random_split, seed=SEED)
)
random_model, _ = train_model(random_data)
protocols = []
for split, (split_model, split_data) in {
    "leave-last-out (temporal)": (model, data),
    "random split": (random_model, random_data),
}.items():
    scores, target, seen = next_item_scores(split_model, split_data)
    table = compare_protocols(scores, target, NUM_SAMPLED, ks=(10,), exclude=seen, seed=SEED)
    protocols.append(table[["HR@10", "NDCG@10"]].assign(split=split))
protocols = pd.concat(protocols).reset_index().set_index(["split", "protocol"])
protocols.round(3)

# %%
hr, ndcg = protocols["HR@10"], protocols["NDCG@10"]
sampled = f"{NUM_SAMPLED} sampled negatives"
for split in ("leave-last-out (temporal)", "random split"):  # "more than doubles"
    assert hr[split, sampled] > 2 * hr[split, "full catalogue"]
    assert ndcg[split, sampled] > 2.5 * ndcg[split, "full catalogue"]
temporal, random_ = hr["leave-last-out (temporal)"], hr["random split"]
assert abs(random_["full catalogue"] / temporal["full catalogue"] - 1) < 0.1  # "within 10%"

# %% [markdown]
# Ranking among 100 sampled negatives more than doubles HR@10 and multiplies NDCG@10 by
# about three, for the same model and the same test events: most sampled items are easy to
# beat, so the target lands near the top far more often. The split, here, moves HR@10 by
# less than 10%: this model reads only the history in front of each sample and has no user
# vector that could memorise a user's future, so the random split's leak has little to feed
# on (it also tests different events: random positions, with shorter histories). A model
# that looks up what a user did *around* the test event can profit much more: notebook 01
# measured that for a nearest-event predictor. Neither number is wrong; they answer different
# questions. A paper or a dashboard that does not state its protocol cannot be compared with
# another, and sampled metrics can even rank two models differently from the full ranking
# (Krichene and Rendle, KDD 2020).
#
# ## 6. What offline metrics miss
# Every number above scores lists against what users did while *another* system chose what
# they saw. Offline metrics cannot see: items the old system never showed (no click is not a
# "no"), the position a list puts an item in (higher items get clicked more whatever they
# are), the feedback loop of recommending the popular and making it more popular, diversity
# and novelty within a list, and whether a user comes back next week. An online A/B test
# answers those; offline metrics decide which models deserve one.

# %% [markdown]
# ## Summary
# - `recommend` turns a model into top-K lists (excluding what was bought); `explain` gives a
#   first-order, approximate reading of which history events pushed an item up.
# - Judge lists by accuracy at K and also by coverage, popularity bias and per-segment results:
#   cold-start users are served worst.
# - Check calibration before using probabilities as rates.
# - State the protocol: ranking among 100 sampled negatives more than doubles HR@10; a random
#   split leaks the future, by how much depends on the model.
#
# Next: **07 bring your own data**.

# %% [markdown]
# ## Exercises
#
# **Exercise 6.1.** A list of five items for one user, `[7, 3, 9, 1, 4]`, and the items the user
# turned to afterwards, `{3, 4, 8}`. Compute precision@5 and recall@5 (a tuple of two floats).

# %%
recommended, turned_to = [7, 3, 9, 1, 4], {3, 4, 8}
precision_recall = None  ### STUB
### BEGIN SOLUTION
hits = len(set(recommended) & turned_to)
precision_recall = (hits / len(recommended), hits / len(turned_to))
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
lists.check_precision_recall(precision_recall, recommended, turned_to)

# %% [markdown]
# **Exercise 6.2.** From `model_lists`, how many distinct items does the model recommend to at
# least one test user (an int)?

# %%
distinct_items = None  ### STUB
### BEGIN SOLUTION
distinct_items = model_lists["item_id"].nunique()
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
lists.check_distinct_items(distinct_items, model_lists)

# %% [markdown]
# **Exercise 6.3.** From `protocols`, by what factor does sampling 100 negatives multiply the
# HR@10 of the temporal split (sampled HR@10 divided by full-catalogue HR@10, a float)?

# %%
sampling_factor = None  ### STUB
### BEGIN SOLUTION
temporal = protocols.loc["leave-last-out (temporal)", "HR@10"]
sampling_factor = temporal[f"{NUM_SAMPLED} sampled negatives"] / temporal["full catalogue"]
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
lists.check_sampling_factor(sampling_factor, protocols, NUM_SAMPLED)
