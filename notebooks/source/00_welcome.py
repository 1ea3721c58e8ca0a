# %% [markdown]
# # 00 · Welcome: multi-task recommendation from user behavior sequences
#
# A shop logs what every user does: they **view** an item (`pv`), add it to their favourites
# (`fav`) or their cart (`cart`), and sometimes **buy** it. From such a log this course builds a
# recommender that reads a user's recent behavior as a sequence and predicts several things at
# once: which item they turn to next, whether they will click a candidate item, whether that
# click ends in a purchase, what kind of interaction comes next. Learning these *tasks* together,
# and keeping the rare ones (buys) from being drowned by the frequent ones (views), is the craft
# the course teaches.
#
# **You will learn to**
# 1. find your way around the course: the notebooks, the library `course_lib`, the data;
# 2. check that your environment is ready;
# 3. load the course's behavior log and say what one row means;
# 4. answer an exercise and read the check's verdict.
#
# **Runs in** a few seconds on a laptop CPU.

# %% [markdown]
# ## Setup
# Every notebook starts with one cell holding all imports and constants.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from tqdm.auto import tqdm

from course_lib import environment_report, load_bundled_log
from course_lib.exercises import welcome

# %% [markdown]
# ## 1. The course map
#
# | notebook | you learn | `course_lib` part |
# | --- | --- | --- |
# | **00 welcome** | the map, the environment, the data | `environment_report`, `load_bundled_log` |
# | **01 preprocessing** | validate, clean, encode, sequence and split a raw log into tensors without leaking the future | `course_lib.data` |
# | **02 embeddings** | from one-hot vectors to `nn.Embedding`; matrix factorisation; what learned embeddings look like | `MatrixFactorization`, `BehaviorEmbedding` |
# | **03 sequence encoders** | an LSTM reads a behavior sequence; pooling, GRU, CNN and self-attention compared | `course_lib.models`, `evaluate_ranking` |
# | **04 single- vs multi-task** | shared-bottom, MMoE, PLE and the ESMM cascade; when sharing helps and when it hurts | `Task`, the multi-task models, `fit` |
# | **05 task imbalance** | rare labels and unbalanced losses: pos_weight, focal loss, oversampling, GradNorm, PCGrad… | `Task(pos_weight=...)`, `TaskWeighting` rules, `TrainOptions(diagnose_every=...)` |
# | **06 recommendation lists** | top-K lists, explanations, list metrics, cold start, calibration, the evaluation protocol | `recommend`, `explain`, `course_lib.metrics` |
# | **07 your own data** | the whole pipeline on your company's log or a public one, from code and from the command line; ratings as explicit feedback against the bias floor; side features | `prepare(behaviors=..., feedback=..., features=...)`, `Feature`, `course_lib.datasets`, `BiasBaseline` |
# | **08 the recommender in the world** | the model shows slates to simulated users; the feedback loop, exploration, offline against online | `course_lib.loop`, `course_lib.simulate.slates` |
# | **09 private training** | federated averaging over clients that keep their logs; differential privacy and its budget | `federated_round`, `privacy_epsilon` |
# | **10 several scenarios** | one model for the home feed, search and an item page: separate, blind and scenario-aware models, per scenario against its Bayes limit | `SimulatorConfig(num_scenarios=...)`, `build_model(scenario_design=...)` |
# | **11 from Keras** (appendix) | the usual Keras multi-task example rebuilt in PyTorch and in `course_lib`, and what the course does differently | `build_model`, `FixedWeights` |
#
# **How each notebook works.** An explanation comes first, then code you can read, then a table
# or a plot, then a cell starting with `assert` that checks what the text claims about the
# numbers (if a change ever made the text untrue, that cell would fail). Exercises at the end
# come with a check cell that tells you whether your answer is right.
# `notebooks/solutions/` holds the same notebooks with the exercises solved: try first, then
# compare.
#
# **How to run it.** From the repository's folder, `python3 course.py lab` sets everything up
# and opens JupyterLab; `python3 course.py test` runs every test and every notebook. See the
# README for the plain-pip way (Windows) and for GPUs.
#
# **中文读者：** 课程的中文入口（课程地图、两条命令、术语表、主题索引）在
# `docs/zh/README.md`。

# %% [markdown]
# ## 2. Is the environment ready?
# `environment_report` lists the versions the course found, the device models will train on
# (`cuda` for an NVIDIA GPU, `mps` for an Apple GPU, else `cpu`: every notebook is sized to run
# on a laptop CPU) and whether the bundled data is in place.

# %%
report = environment_report()
report

# %%
data_rows = report.loc[report.index.str.startswith("data: "), "value"]
assert (data_rows == "found").all(), f"bundled data missing:\n{data_rows}"

# %% [markdown]
# ## 3. The data: a behavior log
# The course ships a log in the format of the public *Taobao UserBehavior* data set, so
# everything you build here also runs on the real 100-million-row file (notebook 07). Each
# row is one interaction: a user, an item, the item's category, the behavior and a unix
# timestamp in seconds. The log is **simulated** by `course_lib.simulate` from a documented
# process (notebook 01 opens it up): that lets us know the true probability behind every
# label, and so the best score any model could reach.

# %%
log = load_bundled_log()
log.head()

# %%
# NBVAL_CHECK_OUTPUT
pd.Series(
    {
        "rows": len(log),
        "users": log["user_id"].nunique(),
        "items": log["item_id"].nunique(),
        "categories": log["category_id"].nunique(),
    },
    name="count",
)

# %% [markdown]
# Most interactions are views; purchases are a few percent. This imbalance is one of the two
# problems notebook 05 is about.

# %%
behavior_share = log["behavior"].value_counts(normalize=True).reindex(["pv", "fav", "cart", "buy"])
fig, ax = plt.subplots(figsize=(5, 3))
ax.bar(behavior_share.index, 100 * behavior_share.to_numpy(), color="tab:blue")
ax.set(title="What users do", xlabel="behavior", ylabel="share of events (%)")
plt.show()

# %%
assert behavior_share["pv"] > 0.8 and behavior_share["buy"] < 0.05

# %% [markdown]
# Cells that take more than a few seconds (training models, mostly) show a **progress bar**, so
# you can tell a busy cell from a stuck one. This quick one counts, for each behavior, how many
# users ever did it: buying is rare per event, yet about half of the users buy something at some point.

# %%
users_per_behavior = {}
for behavior in tqdm(["pv", "fav", "cart", "buy"], desc="counting users per behavior"):
    users_per_behavior[behavior] = log.loc[log["behavior"] == behavior, "user_id"].nunique()
users_per_behavior = pd.Series(users_per_behavior, name="users")

# %%
# NBVAL_CHECK_OUTPUT
users_per_behavior

# %%
assert 0.45 < users_per_behavior["buy"] / users_per_behavior["pv"] < 0.55  # "about half"

# %% [markdown]
# ## Summary
# - The course turns a behavior log into a multi-task recommender, one notebook per step.
# - `course_lib` holds the code the notebooks teach; `environment_report()` checks your setup.
# - A row of the log is (user, item, category, behavior, time); views dominate, buys are rare.
#
# Next: **01 preprocessing** turns this raw log into model-ready tensors.

# %% [markdown]
# ## Exercises
# Replace each `None` with your answer, run the cell, then run the check cell below it. A check
# never stops the notebook: it says *correct*, *not done yet* or *not quite*, with a hint.
#
# **Exercise 0.1.** How many rows does `log` have?

# %%
rows = None  ### STUB
### BEGIN SOLUTION
rows = len(log)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
welcome.check_row_count(rows, log)

# %% [markdown]
# **Exercise 0.2.** On which day (UTC, as a `"YYYY-MM-DD"` string) were users most active?

# %%
busiest_day = None  ### STUB
### BEGIN SOLUTION
busiest_day = (
    pd.to_datetime(log["timestamp"], unit="s").dt.strftime("%Y-%m-%d").value_counts().idxmax()
)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
welcome.check_busiest_day(busiest_day, log)
