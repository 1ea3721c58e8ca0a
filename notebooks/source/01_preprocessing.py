# %% [markdown]
# # 01 · Preprocessing: from a raw behavior log to model-ready tensors
#
# A model never sees a log file. It sees tensors: for each *sample*, the user's recent history
# (item, category and behavior ids, padded to a common length), a candidate item, and one label
# per task. Between the two lies the pipeline this notebook builds, one step at a time:
#
# ```
# raw file ─► validate ─► clean (with a report) ─► encode ids ─► per-user sequences
#          ─► temporal split ─► samples with every task's label ─► padded tensor batches
# ```
#
# **You will learn to**
# 1. validate and clean a log, and account for every row you drop;
# 2. encode ids with a vocabulary that reserves padding and unknown ids;
# 3. split sequences in time, and measure how a random split leaks the future;
# 4. build samples for five tasks and batch them into padded tensors with masks.
#
# **Before this notebook:** 00. **Runs in** well under a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from course_lib import (
    BehaviorDataset,
    LogValidationError,
    Vocabularies,
    build_sequences,
    build_vocabularies,
    bundled_window,
    clean_log,
    encode_log,
    item_category_table,
    leave_last_out,
    load_bundled_log,
    make_loader,
    make_samples,
    random_split,
    simulate_bundled,
    time_cut,
    validate_log,
)
from course_lib.exercises import preprocessing

SEED = 0  # seeds negative sampling and the random split
MIN_EVENTS_PER_USER = 5  # shorter users are dropped: too little history to learn from
NUM_NEGATIVES = 4  # sampled negative items per true next item (click task)
MAX_LEN = 50  # events of history a sample keeps (the most recent ones)
BATCH_SIZE = 256

# %% [markdown]
# ## 1. The raw log
# The log follows the data contract of the whole course: the five columns of the public Taobao
# UserBehavior data set. `load_bundled_log` reads the course's simulated log and validates it.

# %%
raw = load_bundled_log()
raw.head()

# %%
# NBVAL_CHECK_OUTPUT
raw.dtypes

# %% [markdown]
# Two views of the same log: how many events each user has (a long tail: a few users are very
# active), and how the events spread over the nine days of the window.

# %%
events_per_user = raw.groupby("user_id").size()
events_per_day = pd.to_datetime(raw["timestamp"], unit="s").dt.strftime("%m-%d").value_counts()
events_per_day = events_per_day.sort_index()
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
left.hist(events_per_user, bins=60, color="tab:blue")
left.set(title="Events per user", xlabel="events (count)", ylabel="users (count)")
right.bar(events_per_day.index, events_per_day.to_numpy(), color="tab:orange")
right.set(title="Events per day (UTC)", xlabel="day (month-day)", ylabel="events (count)")
right.tick_params(axis="x", labelrotation=45)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 2. Validation: bad input fails early, with a message that says how to fix it
# Real logs arrive with misspelt headers, unexpected behavior names, timestamps in milliseconds.
# `validate_log` checks the contract and names the column, the offending values with their rows
# and the fix. Three broken copies of the log show what a learner would see:

# %%
broken_copies = {
    "misspelt column": raw.rename(columns={"timestamp": "time_stamp"}),
    "unknown behavior": raw.assign(
        behavior=raw["behavior"].replace({"pv": "view", "buy": "purchase"})
    ),
    "milliseconds": raw.assign(timestamp=raw["timestamp"] * 1000),
}
for problem, frame in broken_copies.items():
    try:
        validate_log(frame, source=f"broken copy ({problem})")
    except LogValidationError as error:
        print(f"{problem}:\n  {error}\n")
    else:
        raise AssertionError(f"validate_log accepted the log with a {problem}")

# %% [markdown]
# ## 3. Cleaning, with a report of every row removed
# Three kinds of rows go: exact duplicates (the tracker fired twice), events outside the
# collection window (a wrong clock), and users with fewer than `MIN_EVENTS_PER_USER` events (too
# little history to learn from or to test on). `clean_log` never drops a row silently: the
# report lists each removed row with its reason.

# %%
window_start, window_end = bundled_window()
clean, report = clean_log(
    raw, start=window_start, end=window_end, min_events_per_user=MIN_EVENTS_PER_USER
)
print(report)

# %%
# NBVAL_CHECK_OUTPUT
report.summary().round(4)

# %%
report.dropped.groupby("reason").head(2)

# %%
assert report.rows_in == report.rows_out + len(report.dropped) == len(raw)
assert not clean.duplicated().any()
assert clean["timestamp"].between(window_start, window_end - 1).all()
assert clean.groupby("user_id").size().min() >= MIN_EVENTS_PER_USER

# %% [markdown]
# ## 4. Encoding ids: a vocabulary with room for padding and the unknown
# Embedding tables are indexed by dense integers 0, 1, 2, …, but raw ids are arbitrary
# (item 4,386,297). A `Vocabulary` maps each raw id to an index and reserves two:
# **0 = padding** (the filler that makes histories the same length; its embedding stays zero)
# and **1 = unknown** (any id the vocabulary never saw: a new item at serving time). Users, items
# and categories are ordered by frequency; behaviors keep their funnel order, so
# `behavior index − 2` is the class of the next-behavior task (pv 0, fav 1, cart 2, buy 3).

# %%
# NBVAL_CHECK_OUTPUT
vocabularies = build_vocabularies(clean)
pd.Series(
    {name: len(getattr(vocabularies, name)) for name in ("user", "item", "category", "behavior")},
    name="size incl. PAD and UNK",
)

# %%
most_frequent_item = vocabularies.item.tokens[0]
never_seen_item = 999_999_999
vocabularies.item.encode([most_frequent_item, never_seen_item])

# %% [markdown]
# A vocabulary is part of a trained model: the model's embedding row 17 means *this* item only
# under *this* vocabulary. So vocabularies are saved as plain JSON next to the model, and loading
# gives back the same mapping.

# %%
with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "vocabularies.json"
    vocabularies.save(path)
    assert Vocabularies.load(path) == vocabularies

encoded = encode_log(clean, vocabularies)
item_category = item_category_table(encoded, len(vocabularies.item))
encoded.head()

# %% [markdown]
# ## 5. Sequences: each user's events in time order
# `build_sequences` sorts each user's events by time and stores all users one after the other in
# flat arrays, with `offsets` marking where each user starts. A sample's history is then just a
# slice of these arrays, never a copy.

# %%
sequences = build_sequences(encoded)
busy_user = int(np.argmax(sequences.lengths))
sequences.user_frame(busy_user).head(8)

# %% [markdown]
# Why a *sequence* and not a bag of past items? Users browse in bursts: consecutive events often
# stay in one category, and their interests drift over the days. The plot shows one user's
# categories over time; the table compares how often an event repeats the previous event's
# category with what chance would give.

# %%
one_user = sequences.user_frame(busy_user)
fig, ax = plt.subplots(figsize=(9, 3))
ax.scatter(
    pd.to_datetime(one_user["timestamp"], unit="s"), one_user["category"], s=8, c="tab:blue"
)
ax.set(
    title=f"Categories visited by one user ({len(one_user)} events)",
    xlabel="time (UTC)",
    ylabel="category index",
)
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
same_user_as_previous = sequences.event_user[1:] == sequences.event_user[:-1]
repeats_previous = (sequences.category[1:] == sequences.category[:-1])[same_user_as_previous]
category_share = clean["category_id"].value_counts(normalize=True)
order_table = pd.Series(
    {
        "next event in the previous event's category": repeats_previous.mean(),
        "same, if events were shuffled (chance)": (category_share**2).sum(),
    },
    name="share",
)
order_table.round(3)

# %%
assert repeats_previous.mean() > 5 * (category_share**2).sum()

# %% [markdown]
# ## 6. Splitting without leaking the future
# A recommender is trained on the past and used on the future. The evaluation must do the same,
# or its scores describe a situation that never happens in production. Each sample predicts a
# *target* event from the events before it, so a split chooses which events are targets of
# training, validation and test:
#
# - **leave-last-out**: each user's last event is a test target and the one before it a
#   validation target; all earlier events are training targets;
# - **time cut**: one global clock: targets before day X train, the next day validates, the last
#   days test;
# - **random split** (don't): each event goes to a part at random.
#
# How much does the random split leak? We count the test targets whose user has a *training*
# target *later* in time, and measure what that buys a simple predictor: guess a test event's
# category as the category of the nearest training target of the same user, either looking
# both ways in time (what a random split allows) or only back (what production allows).


# %%
# NBVAL_CHECK_OUTPUT
def leak_report(split) -> pd.Series:
    """Leakage of a split: future training targets, and what peeking is worth."""
    last_train = np.full(sequences.num_users, -1)
    np.maximum.at(last_train, sequences.event_user[split.train], split.train)
    leaked = last_train[sequences.event_user[split.test]] > split.test

    def frame(targets: np.ndarray) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "position": targets,
                "user": sequences.event_user[targets],
                "category": sequences.category[targets],
            }
        )

    accuracy = {}
    for direction in ("nearest", "backward"):
        matched = pd.merge_asof(
            frame(split.test),
            frame(split.train),
            on="position",
            by="user",
            direction=direction,
            suffixes=("", "_guess"),
        )
        accuracy[direction] = (matched["category"] == matched["category_guess"]).mean()
    return pd.Series(
        {
            "test targets": len(split.test),
            "with a later training target": leaked.mean(),
            "accuracy, nearest target either way": accuracy["nearest"],
            "accuracy, nearest earlier target": accuracy["backward"],
        }
    )


split = leave_last_out(sequences)
leaky_split = random_split(sequences, seed=SEED)
leakage = pd.DataFrame(
    {"leave-last-out": leak_report(split), "random split": leak_report(leaky_split)}
)
leakage.round(3)

# %% [markdown]
# Under the random split almost every test event has training events of the same user *after*
# it, and a predictor that may peek at them gains several points of accuracy, for free and only
# offline. Under leave-last-out nothing leaks, and looking both ways is the same as looking
# back.

# %%
random_gain = (
    leakage.loc["accuracy, nearest target either way", "random split"]
    - leakage.loc["accuracy, nearest earlier target", "random split"]
)
assert leakage.loc["with a later training target", "random split"] > 0.9
assert leakage.loc["with a later training target", "leave-last-out"] == 0
assert random_gain > 0.02, f"peeking gains only {random_gain:.3f}: update the text"

# %% [markdown]
# From here on: leave-last-out. The sizes of its three parts:

# %%
# NBVAL_CHECK_OUTPUT
split.sizes()

# %% [markdown]
# ## 7. Samples: one row per (target, candidate), a label per task
# The course's model answers five questions about a user's next event:
#
# | task | kind | label |
# | --- | --- | --- |
# | click | binary | is the candidate the item the user turns to next? |
# | buy | binary, rare | …and does that interaction end in a purchase? |
# | next behavior | 4 classes | how far does the next interaction go: pv, fav, cart, buy? |
# | next item | ranking over all items | which item is next? |
# | next category | multiclass | which category is next? |
#
# The click task needs negatives: for each true next item, `NUM_NEGATIVES` items drawn
# uniformly from the catalogue. Buy is defined on the same samples (a negative candidate is
# never bought), so buy = click *and* purchase. The other three labels describe the target
# event itself, so a positive and its negatives share them.

# %%
samples = {
    part: make_samples(sequences, targets, item_category, NUM_NEGATIVES, seed=SEED + offset)
    for offset, (part, targets) in enumerate(
        [("train", split.train), ("valid", split.valid), ("test", split.test)]
    )
}
samples["train"].to_frame().head(NUM_NEGATIVES + 1)

# %%
# NBVAL_CHECK_OUTPUT
train = samples["train"]
label_rates = pd.Series(
    {
        "click = 1 (all samples)": train.click.mean(),
        "buy = 1 (all samples)": train.buy.mean(),
        "buy = 1 (clicked samples)": train.buy[train.click == 1].mean(),
        "next behavior = buy": (train.next_behavior[train.click == 1] == 3).mean(),
    },
    name="rate",
)
label_rates.round(4)

# %% [markdown]
# One click in five samples by construction; buys are rarer still: about 3% of the true next
# events, so well under 1% of all samples. Notebook 05 deals with that imbalance.

# %%
assert train.click.mean() == 1 / (NUM_NEGATIVES + 1)
assert train.buy.mean() < 0.01
assert (train.candidate[train.click == 0] != train.next_item[train.click == 0]).all()

# %% [markdown]
# ## 8. Tensors: padded histories, lengths and masks
# Histories have different lengths, but a tensor batch is a rectangle. `BehaviorDataset` slices
# the `MAX_LEN` most recent events before each target; `collate_batch` (used by `make_loader`)
# pads them on the right with 0 and returns each history's length and a mask that is `True` at
# real events. The sequence encoders of notebook 03 use the lengths to skip the padding.
# `target` says where each sample's target event sits in the flat sequences, for code that
# must look further back than the history (excluding everything a user has seen, say).

# %%
# NBVAL_CHECK_OUTPUT
train_set = BehaviorDataset(sequences, samples["train"], max_len=MAX_LEN)
loader = make_loader(train_set, batch_size=BATCH_SIZE, shuffle=True, seed=SEED)
batch = next(iter(loader))
pd.DataFrame(
    {
        "shape": [tuple(t.shape) for t in batch.values()],
        "dtype": [t.dtype for t in batch.values()],
    },
    index=list(batch),
)

# %%
# Three rows of the batch with short histories: the first with at least 1, 4 and 8 events.
by_length = batch["lengths"].argsort()
rows = by_length[torch.searchsorted(batch["lengths"][by_length], torch.tensor([1, 4, 8]))]
print("lengths:", batch["lengths"][rows].tolist())
print("history_item (first 12 positions):")
print(batch["history_item"][rows, :12])
print("mask:")
print(batch["mask"][rows, :12].int())

# %%
assert (batch["history_item"][~batch["mask"]] == 0).all()
assert (batch["mask"].sum(dim=1) == batch["lengths"]).all()

# %% [markdown]
# ## 9. The truth behind the labels
# Because the log is simulated, `simulate_bundled()` can regenerate it, together with the true
# probability of every label given the user's hidden state. Scoring the test samples with these
# true probabilities gives the **Bayes limit**: the highest AUC any model could reach on average.
# Item popularity (how often an item was a true next item in training) gives a first floor.
# The models of notebooks 02–05 will sit between the two, and we will report them as a fraction
# of the limit.

# %%
# NBVAL_CHECK_OUTPUT
simulation = simulate_bundled()
assert simulation.log.equals(raw), "the regenerated log differs from the bundled file"

test = samples["test"]
raw_users = vocabularies.user.decode(test.user).astype(np.int64)
raw_candidates = vocabularies.item.decode(test.candidate).astype(np.int64)
num_candidates = len(vocabularies.item) - 2  # items negatives are drawn from
true_click = simulation.truth.click_proba(
    test.event_index, raw_candidates, NUM_NEGATIVES, num_candidates
)
true_buy = true_click * simulation.truth.buy_proba(raw_users, raw_candidates)
popularity = np.bincount(train.next_item[train.click == 1], minlength=len(vocabularies.item))
limits = pd.DataFrame(
    {
        "popularity": [
            roc_auc_score(test.click, popularity[test.candidate]),
            roc_auc_score(test.buy, popularity[test.candidate]),
        ],
        "Bayes limit": [roc_auc_score(test.click, true_click), roc_auc_score(test.buy, true_buy)],
    },
    index=pd.Index(["click", "buy"], name="test AUC"),
)
limits.round(3)

# %%
assert (limits["Bayes limit"] > limits["popularity"] + 0.1).all()

# %% [markdown]
# ## Summary
# - `validate_log` rejects a bad log with the column, the offending rows and the fix;
#   `clean_log` removes duplicates, out-of-window events and short users, and reports each row.
# - A `Vocabulary` maps raw ids to indices with 0 = padding and 1 = unknown, and is saved with
#   the model.
# - Sequences are stored flat; a split picks target events. Leave-last-out and time cuts keep
#   the future out of training; a random split leaks it and inflates offline scores.
# - `make_samples` gives every task's label; `BehaviorDataset` + `make_loader` give padded
#   tensors with lengths and masks.
# - `course_lib.prepare(log)` runs this whole pipeline in one call; later notebooks use it.
#
# Next: **02 embeddings**, where the ids become vectors.

# %% [markdown]
# ## Exercises
# Replace each `None` with your answer, run the cell, then the check cell below it.
#
# **Exercise 1.1.** What share of the users in `clean` bought at least once? (A float between
# 0 and 1.)

# %%
buyer_share = None  ### STUB
### BEGIN SOLUTION
buyer_share = (
    clean.loc[clean["behavior"] == "buy", "user_id"].nunique() / clean["user_id"].nunique()
)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
preprocessing.check_buyer_share(buyer_share, clean)

# %% [markdown]
# **Exercise 1.2.** Set up a *time cut* instead of leave-last-out: the last two days of the
# window are the test period and the day before them the validation period. Give
# `cut_starts = (valid_start, test_start)` in unix seconds (`window_start` and `window_end` are
# defined in section 3), then look at the sizes of `time_cut(sequences, *cut_starts)`: why do
# the three parts compare so differently from leave-last-out's?

# %%
cut_starts = None  ### STUB
### BEGIN SOLUTION
cut_starts = (window_end - 3 * 86_400, window_end - 2 * 86_400)
print(time_cut(sequences, *cut_starts).sizes())
# Each part now holds every event of its days, not one event per user: three days of events
# make much larger validation and test sets, and users active only early are trained on only.
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
preprocessing.check_time_cut(cut_starts, (window_start, window_end))

# %% [markdown]
# **Exercise 1.3.** Write `history_of(index)`, returning the item indices (a NumPy array) of the
# history `train_set[index]` holds: the at most `MAX_LEN` events of the same user just before
# the sample's target, oldest first. Use `samples["train"].target`, `sequences.offsets`,
# `sequences.event_user` and `sequences.item`.

# %%
history_of = None  ### STUB


### BEGIN SOLUTION
def history_of(index: int) -> np.ndarray:
    """Item indices of the history of training sample `index`."""
    target = samples["train"].target[index]
    user_start = sequences.offsets[sequences.event_user[target]]
    return sequences.item[max(user_start, target - MAX_LEN) : target]


### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
preprocessing.check_history_function(history_of, train_set)
