# %% [markdown]
# # NN · Title: what this notebook teaches, in a few words
#
# <!-- Template notes, invisible when rendered; delete them in a real notebook.
# Copy this file to notebooks/source/NN_name.py and keep its order: goals, setup, numbered
# sections (explanation -> code -> table or plot -> assertion guarding each claim), summary,
# exercises. Build with `python3 course.py notebooks NN`; see CONTRIBUTING.md. -->
#
# **You will learn to**
# 1. state each goal with a verb a learner can check: compute, compare, explain, choose;
# 2. keep it to three or four goals.
#
# **Before this notebook:** notebooks 00 to NN−1. **Runs in** about a minute on a laptop CPU.

# %% [markdown]
# ## Setup
# Every import and every constant the notebook uses lives in this one cell, so a glance shows
# what it needs and one edit changes its size.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from course_lib.exercises import check

SEED = 0  # every random draw below starts from this seed
NUM_USERS = 500
NUM_ITEMS = 100
EVENTS_PER_USER = 20

# %% [markdown]
# ## 1. A few items get most of the clicks
# Explain the idea before the code, on the smallest example that shows it. Here: in a click log,
# the popularity of items is skewed. If the item ranked $r$ is clicked in proportion to $1/r$,
# the top ten items of a hundred collect $H_{10} / H_{100} \approx 56\%$ of all clicks, where
# $H_n = 1 + 1/2 + \dots + 1/n$.

# %%
rng = np.random.default_rng(SEED)
weights = 1.0 / np.arange(1, NUM_ITEMS + 1)  # item r is clicked in proportion to 1/r
num_events = NUM_USERS * EVENTS_PER_USER
log = pd.DataFrame(
    {
        "user_id": rng.integers(NUM_USERS, size=num_events),
        "item_id": rng.choice(NUM_ITEMS, size=num_events, p=weights / weights.sum()),
    }
)
counts = log["item_id"].value_counts()  # events per item, most clicked first
top10_share = counts.head(10).sum() / len(log)

# %% [markdown]
# Numbers that must not drift go in a cell marked `NBVAL_CHECK_OUTPUT` (CI compares them):
# sizes, counts, rounded metrics.

# %%
# NBVAL_CHECK_OUTPUT
pd.DataFrame(
    {
        "events": [len(log)],
        "users": [log["user_id"].nunique()],
        "items": [log["item_id"].nunique()],
        "top-10 share": [round(top10_share, 2)],
    }
)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(np.arange(1, len(counts) + 1), counts.to_numpy(), marker=".", label="simulated log")
ax.set(
    title="Item popularity",
    xlabel="item rank (1 = most clicked)",
    ylabel="events (count)",
    xscale="log",
    yscale="log",
)
ax.legend()
plt.show()

# %% [markdown]
# The ten most clicked items, a tenth of the catalogue, collect more than half of all events.

# %%
# Guards the claim above, with a range wide enough for the spread across seeds.
assert 0.5 < top10_share < 0.62, f"top-10 share is {top10_share:.2f}: update the prose"

# %% [markdown]
# ## Summary
# - One line per idea the learner should keep, in the order the sections taught them.
# - Point to the `course_lib` function that packages each idea and the notebook that uses it next.

# %% [markdown]
# ## Exercises
# Replace each `None` with your answer and run the check cell under it. A check never stops the
# notebook: it says whether your answer is correct, not done yet, or not quite, with a hint.
#
# **Exercise 1.1.** How many distinct users does `log` hold?

# %%
answer_1_1 = None  ### STUB
### BEGIN SOLUTION
answer_1_1 = log["user_id"].nunique()
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
check("1.1", answer_1_1, NUM_USERS, hint="count the distinct values of one column")

# %% [markdown]
# **Exercise 1.2.** Give a list of three item ids that were each clicked fewer than 50 times.
# Many answers are right, so the check tests the property instead of comparing with one value.

# %%
answer_1_2 = None  ### STUB
### BEGIN SOLUTION
answer_1_2 = counts[counts < 50].index[:3].tolist()
### END SOLUTION


# %%
# NBVAL_CHECK_OUTPUT
def three_rare_items(ids: list[int]) -> str | None:
    """None when `ids` are three distinct items with fewer than 50 events, else the reason."""
    if len(set(ids)) != 3:
        return f"expected three distinct item ids, got {ids}"
    too_popular = [i for i in ids if counts.get(i, 0) >= 50]
    return f"items {too_popular} have 50 events or more" if too_popular else None


check("1.2", answer_1_2, hint="filter `counts` with a boolean mask", compare=three_rare_items)
