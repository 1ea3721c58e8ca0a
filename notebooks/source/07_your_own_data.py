# %% [markdown]
# # 07 · Bring your own data: the whole pipeline on your log
#
# Everything so far ran on the course's simulated shop. This notebook runs the same pipeline
# on a log the way it arrives from a real system: an event export with its own column names,
# milliseconds, its own funnel of behaviors and a few bad rows. It uses only the calls a
# practitioner would use on their company's log, then the command line with a config file,
# then the public data sets (MovieLens, Taobao UserBehavior, RetailRocket), and ends with
# explicit feedback: ratings, likes and the floor a model of them must beat.
#
# **You will learn to**
# 1. map an event export into the data contract and read the validator's errors;
# 2. run clean → prepare → train → evaluate → recommend → checkpoint on it, with its own funnel;
# 3. train the same from the command line with a config file;
# 4. load a public data set when you have it, and know how to get it when you do not;
# 5. prepare a ratings log, train like and rating tasks, and compare them with the classic
#    user + item bias baseline and the best achievable score;
# 6. declare side features (who the user is, what the item is) and measure what each adds.
#
# **Before this notebook:** 01–06. **Runs in** about a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.metrics import roc_auc_score

from course_lib import (
    TAOBAO_BEHAVIORS,
    BiasBaseline,
    Feature,
    LogValidationError,
    SimulatorConfig,
    TrainOptions,
    build_model,
    evaluate_tasks,
    explicit_tasks,
    fit,
    get_cache_dir,
    get_device,
    label_rates,
    load_checkpoint,
    make_loader,
    metrics_table,
    move_batch,
    predict,
    prepare,
    rating_limits,
    recommend,
    save_checkpoint,
    set_seed,
    simulate,
    standard_tasks,
    validate_log,
)
from course_lib.datasets import (
    MOVIELENS_BEHAVIORS,
    MOVIELENS_FEATURES,
    RETAILROCKET_BEHAVIORS,
    DatasetNotFoundError,
    load_movielens,
    load_movielens_side_tables,
    load_retailrocket,
    load_taobao_user_behavior,
)
from course_lib.exercises import own_data

SEED = 0
DEVICE = get_device()  # a GPU if there is one, else the CPU (notebook 00)
FUNNEL = ("view", "addtocart", "transaction")  # this shop's behaviors, in funnel order
WORK_DIR = Path(tempfile.mkdtemp(prefix="course_07_"))  # every file of this notebook goes here
MAX_LEN = 10
BATCH_SIZE = 512
STEPS_PER_EPOCH = 60
# how the training steps run: fit's engineering switches (device, step cap, progress bar, ...)
OPTIONS = TrainOptions(device=DEVICE, max_steps_per_epoch=STEPS_PER_EPOCH, progress=False)
DOWNLOAD = False  # True: let section 4 download MovieLens (about 5 MB; needs internet)
SEEDS = (0, 1, 2)  # sections 5 and 6 compare models over three seeds

# %% [markdown]
# ## 1. Your log, in the data contract
# A shop's event export rarely matches anyone's schema. Ours (written here, so the notebook
# runs anywhere) has RetailRocket's layout: `timestamp` in milliseconds, `visitorid`, `event`
# (view, addtocart, transaction), `itemid`, and the item's `categoryid`. Behind it is a
# simulated shop smaller than the bundled one, with a three-step funnel.

# %%
shop = simulate(SimulatorConfig(num_users=1_500, num_items=800, num_categories=12, seed=7)).log
to_funnel = {"pv": "view", "fav": "addtocart", "cart": "addtocart", "buy": "transaction"}
export = pd.DataFrame(
    {
        "timestamp": shop["timestamp"] * 1000,  # milliseconds, as many exports
        "visitorid": shop["user_id"],
        "event": shop["behavior"].map(to_funnel),
        "itemid": shop["item_id"],
        "categoryid": shop["category_id"],
    }
)
export.loc[[10, 11], "event"] = "add_to_cart"  # the kind of typo a real export carries
export_path = WORK_DIR / "shop_events.csv"
export.to_csv(export_path, index=False)
print(f"{len(export):,} events written to {export_path.name}")
export.head()

# %% [markdown]
# Mapping it into the contract is a rename and a unit change. `validate_log` then checks every
# column against the contract and the shop's funnel, and says exactly what is wrong:

# %%
raw = pd.read_csv(export_path)
log = pd.DataFrame(
    {
        "user_id": raw["visitorid"],
        "item_id": raw["itemid"],
        "category_id": raw["categoryid"],
        "behavior": raw["event"],
        "timestamp": raw["timestamp"] // 1000,  # the contract counts seconds
    }
)
try:
    validate_log(log, source=export_path.name, behaviors=FUNNEL)
except LogValidationError as error:
    message = str(error)
print(message)

# %%
assert "add_to_cart" in message and "behavior" in message and export_path.name in message

# %% [markdown]
# The message names the file, the column, the offending values with their rows, and the fix.
# Here the fix is a mapping, not a deletion: the two events were meant as `addtocart`.

# %%
log["behavior"] = log["behavior"].replace({"add_to_cart": "addtocart"})
log = validate_log(log, source=export_path.name, behaviors=FUNNEL)
# NBVAL_CHECK_OUTPUT
log["behavior"].value_counts(normalize=True).round(4)

# %% [markdown]
# ## 2. The pipeline, as a practitioner calls it
# `prepare` cleans (with a report of every removed row), encodes, builds the sequences, splits
# leave-last-out and makes the samples; `behaviors=FUNNEL` tells it the funnel, so the **buy**
# task means "the last behavior of the funnel", here a transaction.

# %%
data = prepare(log, behaviors=FUNNEL, source=export_path.name, seed=SEED)
vocab = data.vocabularies
# NBVAL_CHECK_OUTPUT
data.cleaning.summary()

# %%
tasks_by_name = standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)
tasks = [tasks_by_name[name] for name in ("click", "buy", "next_behavior", "next_item")]
rates = label_rates(tasks, data.train)
print(f"funnel {data.behaviors}: buy (= transaction) rate {rates['buy'].item():.4f}")
print(f"next behavior classes: {vocab.num_behaviors}, items {len(vocab.item) - 2:,}")

# %% [markdown]
# The model is built by name, the way the command line builds it, so a checkpoint can record
# how to rebuild it. Training, evaluation and the lists are the calls of notebooks 04–06:

# %%
ARCHITECTURE, ENCODER = "mmoe", "cnn"
set_seed(SEED)
model = build_model(data, tasks, architecture=ARCHITECTURE, encoder=ENCODER, label_rates=rates)
loaders = {
    part: make_loader(data.dataset(part, MAX_LEN), BATCH_SIZE, part == "train", SEED)
    for part in ("train", "valid", "test")
}
result = fit(
    model,
    tasks,
    loaders["train"],
    loaders["valid"],
    epochs=2,
    lr=3e-3,
    patience=None,
    seed=SEED,
    options=OPTIONS,
)
test = evaluate_tasks(model, tasks, loaders["test"], DEVICE)
table = metrics_table(test)[["roc_auc", "pr_auc", "accuracy", "HR@10", "NDCG@10"]]
table.round(3)

# %%
assert test["click"]["roc_auc"] > 0.75 and test["buy"]["roc_auc"] > 0.7  # "it learns"
print(f"trained in {result.seconds:.1f} s")

# %%
some_users = [int(user) for user in log["user_id"].drop_duplicates().head(2)]
lists = recommend(model, data, some_users, k=5, max_len=MAX_LEN, device=DEVICE)
lists[["user_id", "rank", "item_id", "category_id", "score"]].round(4)

# %% [markdown]
# A checkpoint holds the weights, the config, the tasks and the vocabularies; loading it is
# safe (`weights_only=True`: no arbitrary objects are unpickled) and gives the same model:

# %%
checkpoint = WORK_DIR / "shop_model.pt"
save_checkpoint(
    checkpoint,
    model,
    architecture=ARCHITECTURE,
    encoder=ENCODER,
    vocabularies=vocab,
    metrics=test,
)
loaded = load_checkpoint(checkpoint, vocabularies=vocab, device=DEVICE)
batch = move_batch(next(iter(loaders["test"])), DEVICE)
with torch.no_grad():
    same = all(
        torch.equal(loaded.model(batch)[t.name], model.eval()(batch)[t.name]) for t in tasks
    )
print(f"identical predictions after loading: {same}; funnel {loaded.vocabularies.behaviors}")
assert same

# %% [markdown]
# ## 3. The same from the command line
# A config file holds the options (the names of `python -m course_lib train --help`); flags on
# the command line override it. Pointing it at the export is one line, `"data"`, plus the
# funnel; it writes `metrics.json` and a checkpoint to `--out`.

# %%
contract_path = WORK_DIR / "shop_log.csv"
log.to_csv(contract_path, index=False)  # the log in the contract, with a header row
options = {
    "data": contract_path.name,  # paths are relative to the folder the command runs in
    "behaviors": ",".join(FUNNEL),
    "architecture": "mmoe",
    "encoder": "cnn",
    "tasks": "click,buy,next_behavior",
    "epochs": 2,
    "max-steps-per-epoch": 60,
    "lr": 3e-3,
    "max-len": MAX_LEN,
    "seed": SEED,
    "device": str(DEVICE),  # the notebook's device
}
config_path = WORK_DIR / "shop_options.json"
config_path.write_text(json.dumps(options, indent=2))
command = ["-m", "course_lib", "train", "--config", config_path.name, "--out", "cli_run"]
command += ["--no-progress"]
print("$ python", " ".join(command))
done = subprocess.run([sys.executable, *command], cwd=WORK_DIR, capture_output=True, text=True)
print(done.stdout if done.returncode == 0 else done.stderr)
report = json.loads((WORK_DIR / "cli_run" / "metrics.json").read_text())
assert done.returncode == 0 and report["options"]["behaviors"] == list(FUNNEL)

# %% [markdown]
# ## 4. Public data sets
# The loaders of `course_lib.datasets` map four public logs into the contract. None is
# bundled: their licenses forbid redistribution. MovieLens downloads from GroupLens (checked
# against a SHA-256, cached); Taobao and RetailRocket need a login on their sites, so you
# download them by hand and put the files in the cache folder, whose location is:

# %%
print(get_cache_dir())

# %% [markdown]
# | data set | size | funnel (last = conversion) | get it |
# | --- | --- | --- | --- |
# | MovieLens 100K / 1M | 100,000 / 1,000,209 ratings | rate, like (rating ≥ 4; the rating is kept in `value`) | `load_movielens("100k", download=True)` |
# | Taobao UserBehavior | 100,150,807 events | pv, fav, cart, buy | Tianchi (login): `UserBehavior.csv` into `<cache>/taobao/` |
# | RetailRocket | 2,756,101 events | view, addtocart, transaction | Kaggle (login): `events.csv`, `item_properties_part1.csv`, `item_properties_part2.csv` into `<cache>/retailrocket/` |
#
# The cell below tries each loader. When the data is there it prepares a slice and shows its
# size (a few seconds; then the rest of this notebook runs on it if you set `log` and `FUNNEL`
# to it); when it is not, it prints what to do, and the notebook goes on.

# %%
LOADERS = {
    "MovieLens 100K": (lambda: load_movielens("100k", download=DOWNLOAD), MOVIELENS_BEHAVIORS),
    "Taobao UserBehavior": (lambda: load_taobao_user_behavior(nrows=1_000_000), TAOBAO_BEHAVIORS),
    "RetailRocket": (lambda: load_retailrocket(nrows=1_000_000), RETAILROCKET_BEHAVIORS),
}
available = {}
for name, (load, funnel) in LOADERS.items():
    try:
        public = load()
    except (DatasetNotFoundError, OSError) as error:
        print(f"{name}: not available here.\n  {error}\n")
        continue
    prepared = prepare(public, behaviors=funnel)
    available[name] = prepared
    print(f"{name}: {len(public):,} events -> {len(prepared.train.click):,} training samples")

# %% [markdown]
# ## 5. Explicit feedback: ratings, likes and the floor to beat
# Every log so far was *implicit* feedback: what users did, never what they thought of it.
# MovieLens is *explicit*: each event is a rating of 1 to 5 stars, kept in the contract's
# optional `value` column. Two tasks come from it, declared by `explicit_tasks()`: **rating**
# (regression on the stars) and **like** (binary: 4 stars or more). There are no negatives to
# sample: `prepare(log, feedback="explicit")` makes every event one sample of its own item,
# labelled by its value.
#
# The simulator can leave ratings too (`SimulatorConfig(rating_rate=...)`): a rating is the
# hidden utility that drives the funnel, plus noise, rounded to whole stars. So, as for click
# and buy, the truth gives the best achievable score: the RMSE of each rating's expected value
# and the AUC of each like's true probability (`rating_limits`). This world's users also have
# an age group and a region that shape their tastes (`attribute_strength`), for section 6.

# %%
RATINGS = SimulatorConfig(
    num_users=2_000, num_items=1_000, rating_rate=1.0, attribute_strength=0.8, seed=SEED
)
rated = simulate(RATINGS)
ratings_data = prepare(
    rated.log, start=RATINGS.window[0], end=RATINGS.window[1], feedback="explicit"
)
train, test = ratings_data.train, ratings_data.test
stars = pd.Series(train.rating).value_counts(normalize=True).sort_index()
# NBVAL_CHECK_OUTPUT
print(f"{len(train):,} training samples, {len(test):,} test samples (each user's last rating)")
print("share of training ratings by stars:", stars.round(3).to_dict())
print(f"likes: {np.mean(train.like):.3f} of the training ratings")

# %% [markdown]
# **Floors first.** Before a network, the baseline every recommender paper of the Netflix
# Prize era started from: the mean rating, plus how generous each user is, plus how good each
# item is, each bias shrunk towards 0 when it rests on few ratings (`BiasBaseline`). It has
# no idea of order or taste, and it is hard to beat. Its versions with fewer parts, the global
# mean and each item's (damped) mean, show what each part is worth.

# %%
rows = []
floors = {
    "global mean": BiasBaseline(users=False, items=False),
    "item mean": BiasBaseline(users=False),
    "user + item biases": BiasBaseline(),
}
for name, floor in floors.items():
    floor.fit(train.user, train.candidate, train.rating)
    guess = floor.predict(test.user, test.candidate)
    rmse = float(np.sqrt(np.mean((test.rating - guess) ** 2)))
    rows.append({"model": name, "rating RMSE": rmse, "like AUC": roc_auc_score(test.like, guess)})
limit = rating_limits(
    rated.truth,
    ratings_data.vocabularies.user.decode(test.user).astype(np.int64),
    ratings_data.vocabularies.item.decode(test.candidate).astype(np.int64),
    test.rating,
)
pd.DataFrame(rows).set_index("model").round(3)

# %% [markdown]
# Now the course's model: the LSTM over each user's last events, with three heads, like,
# rating and next item, all sharing the layers below (shared-bottom). Its second version adds
# the same biases as the floor, learned with the rest (`pair_biases=True`: every like and
# rating output adds a per-user and a per-item offset). Three seeds each, the budget of the
# sections above; `fit` keeps the epoch with the best like AUC minus rating RMSE.

# %%
item_vocab = ratings_data.vocabularies
RATING_TASKS = [
    explicit_tasks()["like"],
    explicit_tasks()["rating"],
    standard_tasks(len(item_vocab.item), len(item_vocab.category), item_vocab.num_behaviors)[
        "next_item"
    ],
]


def train_rating_model(data, tasks: list, seed: int, **model_options) -> tuple:
    """The LSTM model on a ratings log, trained for three short epochs, and its test scores.

    ``model_options`` go to ``build_model`` (``pair_biases``, ``features``); ``fit`` keeps the
    epoch with the best like AUC minus rating RMSE.
    """
    set_seed(seed)
    model = build_model(data, tasks, label_rates=label_rates(tasks, data.train), **model_options)
    loaders = {
        part: make_loader(data.dataset(part, MAX_LEN), BATCH_SIZE, part == "train", seed)
        for part in ("train", "valid", "test")
    }
    fit(
        model,
        tasks,
        loaders["train"],
        loaders["valid"],
        epochs=3,
        lr=3e-3,
        monitor={("like", "roc_auc"): 1.0, ("rating", "rmse"): -1.0},
        patience=None,
        seed=seed,
        options=OPTIONS,
    )
    scores = evaluate_tasks(model, tasks, loaders["test"], DEVICE)
    return model, {"rating RMSE": scores["rating"]["rmse"], "like AUC": scores["like"]["roc_auc"]}


for pair_biases in (False, True):
    for seed in SEEDS:
        rating_model, scores = train_rating_model(
            ratings_data, RATING_TASKS, seed, pair_biases=pair_biases
        )
        name = "LSTM + pair biases" if pair_biases else "LSTM"
        rows.append({"model": name, "seed": seed, **scores})
comparison = pd.DataFrame(rows).groupby("model", sort=False)[["rating RMSE", "like AUC"]]
comparison = comparison.agg(["mean", "std"])
comparison.loc["Bayes limit"] = [limit["rating_rmse"], np.nan, limit["like_auc"], np.nan]
comparison.round(3)

# %%
fig, ax = plt.subplots(figsize=(7, 2.8))
names = list(comparison.index[:-1])
ax.barh(
    names,
    comparison.loc[names, ("rating RMSE", "mean")],
    xerr=comparison.loc[names, ("rating RMSE", "std")].fillna(0),
    capsize=3,
    color=["#bbbbbb"] * 3 + ["#4c72b0"] * 2,
)
ax.axvline(limit["rating_rmse"], color="black", linestyle="--", label="Bayes limit")
ax.set(xlabel="test rating RMSE (lower is better; mean ± std over 3 seeds for the networks)")
ax.set_xlim(0.7, 1.12)
ax.invert_yaxis()
ax.legend(loc="lower right", fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# Each part of the floor pays: the item means beat the global mean, and the user biases add
# more. The networks do **not** beat that floor on this budget, on rating nor on like: 180
# steps of an LSTM over item histories learn less about how generous a user is than a bias
# counted from all of that user's ratings. The pair biases give the network exactly that and
# lower its RMSE, and it stays below the floor all the same. That
# is the lesson of this section: on a ratings log, compare every model with the bias floor
# before you believe it; a network that does not beat it has not learned what it claims to.
# All of them stay far from the Bayes limit: what is left is the taste of each user for each
# item, which needs many more ratings per user (or the user and item attributes a real log
# offers) to learn.

# %%
mean_rmse = comparison[("rating RMSE", "mean")]
assert mean_rmse["global mean"] > mean_rmse["item mean"] > mean_rmse["user + item biases"]
assert mean_rmse["LSTM + pair biases"] < mean_rmse["LSTM"]  # the pair biases help
like_auc = comparison[("like AUC", "mean")]
for network in ("LSTM", "LSTM + pair biases"):  # "do not beat that floor"
    assert mean_rmse[network] > mean_rmse["user + item biases"], network
    assert like_auc[network] < like_auc["user + item biases"], network
assert (mean_rmse.drop("Bayes limit") > limit["rating_rmse"] + 0.05).all()  # "far from"

# %% [markdown]
# What a practitioner ships is not a metric but predictions: `predict` gives every task's for
# each sample, keyed by the raw ids of the log (the last model trained above):

# %%
predict(rating_model, ratings_data, "test", max_len=MAX_LEN).head()

# %% [markdown]
# ## 6. Who the user is and what the item is: side features
# Every network so far knew a user only by the items in their history (and, with pair
# biases, by an offset per id). A real log comes with **side tables**: the users' attributes
# (MovieLens: gender, age, occupation) and the items' (genres, a price). This world has them
# too: an age group, a region and a membership flag per user, a price per item.
#
# A side feature is declared once, as data, like a task: `Feature(name, source, kind)`, with
# `source` "user" or "item" and `kind` "categorical", "multi" (several values in one string,
# such as MovieLens' genres) or "numeric". `prepare` checks each side table, encodes every
# feature with the rules the log's ids follow (a vocabulary with PAD and UNK; a number is
# standardised) into one table per feature indexed by the user or item index, and counts
# the users and items the table lacks instead of dropping them. The user id itself is a
# feature too: `Feature("user_id", "user")`.

# %%
SIDE_FEATURES = [
    Feature("age_group", "user"),
    Feature("region", "user"),
    Feature("member", "user", column="is_member"),
    Feature("price", "item", kind="numeric"),
    Feature("user_id", "user"),
]
featured = prepare(
    rated.log,
    start=RATINGS.window[0],
    end=RATINGS.window[1],
    feedback="explicit",
    features=SIDE_FEATURES,
    users=rated.users,
    items=rated.items,
)
# NBVAL_CHECK_OUTPUT
print(rated.users.head(3).to_string(index=False), end="\n\n")
for name, table in featured.features.tables.items():
    values = featured.features.vocabularies.get(name)
    print(
        f"{name:9} table {table.shape!s:9} {table.dtype}, "
        f"{len(values) - 2 if values is not None else 'no'} values, "
        f"{featured.features.missing[name]} users or items without a row"
    )

# %% [markdown]
# A model reads the features named in `build_model(features=...)`, through one input module
# shared by every architecture (`SideFeatureEmbedding`): an item feature is embedded and added
# to the item's vector wherever an item appears (each history event, the candidate, the
# catalogue of the next-item head), as the category already is; a user feature is added to
# the user state the LSTM read from the history. A model without features is the model of
# section 5.
#
# Which features pay? Below, the model of section 5 with pair biases gains the user
# attributes, then every feature (the attributes, the item price and the user id), three
# seeds each on the same samples: only the features differ.

# %%
VARIANTS = {
    "+ user attributes": ("age_group", "region", "member"),
    "+ all side features": featured.features.names,
}
for variant, names in VARIANTS.items():
    for seed in SEEDS:
        _, scores = train_rating_model(
            featured, RATING_TASKS, seed, pair_biases=True, features=names
        )
        rows.append({"model": f"LSTM + pair biases {variant}", "seed": seed, **scores})
ablation = pd.DataFrame(rows).groupby("model", sort=False)[["rating RMSE", "like AUC"]]
ablation = ablation.agg(["mean", "std"]).drop(["global mean", "item mean", "LSTM"])
ablation.round(3)

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8), sharey=True)
for ax, metric in zip(axes, ("rating RMSE", "like AUC"), strict=True):
    ax.barh(
        ablation.index,
        ablation[(metric, "mean")],
        xerr=ablation[(metric, "std")].fillna(0),
        capsize=3,
        color=["#bbbbbb"] + ["#4c72b0"] * (len(ablation) - 1),
    )
    low = ablation[(metric, "mean")].min() - 0.02
    ax.set(xlabel=f"test {metric} (mean ± std, 3 seeds)", xlim=(low, low + 0.08))
axes[0].invert_yaxis()
plt.tight_layout()
plt.show()

# %% [markdown]
# The user attributes pay on both tasks: the age group and region carry part of each user's
# taste, which a history of a few dozen ratings shows only slowly. Every feature together
# does at least as well (the table shows by how much, next to the seeds' spread). And the
# floor still holds: with every feature the network comes closer to the user + item
# bias floor on this budget, but does not pass it.

# %%
featured_rmse = ablation[("rating RMSE", "mean")]
featured_auc = ablation[("like AUC", "mean")]
plain = "LSTM + pair biases"
assert featured_rmse[plain + " + user attributes"] < featured_rmse[plain] - 0.005
assert featured_auc[plain + " + user attributes"] > featured_auc[plain] + 0.005
assert featured_rmse[plain + " + all side features"] < featured_rmse[plain] - 0.01
assert (
    featured_rmse[plain + " + all side features"]
    < featured_rmse[plain + " + user attributes"] + 0.005
)
assert featured_rmse[plain + " + all side features"] > featured_rmse["user + item biases"]

# %% [markdown]
# The same on MovieLens 100K, when you have it (section 4; `DOWNLOAD = True` fetches it):
# gender, age group, occupation and every genre of the movie, declared once in
# `MOVIELENS_FEATURES`. It trains one seed per model, so it runs only where the data is.

# %%
if "MovieLens 100K" in available:
    movielens_users, movies = load_movielens_side_tables("100k", download=False)
    movielens = prepare(
        load_movielens("100k", download=False),
        behaviors=MOVIELENS_BEHAVIORS,
        feedback="explicit",
        features=MOVIELENS_FEATURES,
        users=movielens_users,
        items=movies,
    )
    for names in ((), movielens.features.names):
        _, scores = train_rating_model(
            movielens, RATING_TASKS[:2], SEED, pair_biases=True, features=names
        )  # like and rating
        print(f"features {list(names) or 'none'}:", {k: round(v, 3) for k, v in scores.items()})
else:
    print("MovieLens 100K is not here (see section 4), so this comparison is skipped.")

# %% [markdown]
# ## Summary
# - Map an export into the contract with a rename and unit changes; `validate_log(...,
#   behaviors=FUNNEL)` names the file, the column, the bad values and the fix.
# - `prepare(log, behaviors=FUNNEL)` runs the whole preprocessing with your funnel; its last
#   behavior is the conversion the buy task predicts.
# - `build_model`, `fit`, `evaluate_tasks`, `recommend`, `save_checkpoint` /
#   `load_checkpoint` are the same calls as on the bundled data; `python -m course_lib train
#   --config FILE` does it all from a file of options.
# - Public data sets load into the same contract; downloads are checked and cached, and the
#   loaders say where to put files that need a login.
# - A log with ratings in `value` is explicit feedback: `prepare(log, feedback="explicit")`
#   and the like and rating tasks of `explicit_tasks()`. Compare every model with the damped
#   user + item bias floor (`BiasBaseline`); `pair_biases=True` gives a network the same
#   biases.
# - Side features are declared once (`Feature("age_group", "user")`), encoded by
#   `prepare(..., features=, users=, items=)` and read by any model through
#   `build_model(features=...)`. Measure each one: a feature helps where it says what the
#   ids have not learned yet.

# %% [markdown]
# ## Exercises
#
# **Exercise 7.1.** Another export calls its behaviors `impression`, `click`, `order`, in that
# order of the funnel, and uses the columns `uid`, `sku`, `cat`, `action`, `ts_ms`. Build the
# contract log from `other_export` below (a DataFrame with the five contract columns, in any
# order, timestamps in seconds).

# %%
other_export = pd.DataFrame(
    {
        "uid": [1, 1, 2],
        "sku": [10, 11, 10],
        "cat": [5, 5, 5],
        "action": ["impression", "order", "click"],
        "ts_ms": [1_700_000_000_000, 1_700_000_060_000, 1_700_000_120_000],
    }
)
other_log = None  ### STUB
### BEGIN SOLUTION
other_log = pd.DataFrame(
    {
        "user_id": other_export["uid"],
        "item_id": other_export["sku"],
        "category_id": other_export["cat"],
        "behavior": other_export["action"],
        "timestamp": other_export["ts_ms"] // 1000,
    }
)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
own_data.check_contract_log(other_log, other_export)

# %% [markdown]
# **Exercise 7.2.** In that funnel, which behavior does the **buy** task predict (a string)?

# %%
conversion = None  ### STUB
### BEGIN SOLUTION
conversion = "order"
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
own_data.check_conversion(conversion, ("impression", "click", "order"))

# %% [markdown]
# **Exercise 7.3.** `BiasBaseline` damps its biases. An item's bias is the sum of its ratings'
# deviations from the mean of all training ratings, divided by its number of ratings *plus*
# the damping (10), so an item rated twice keeps only a small part of its average deviation.
# Compute, without `BiasBaseline`, the bias it learns for item `RARE_ITEM` (an item index of
# section 5, one of the least rated), from `train.rating` and `train.candidate`.

# %%
RARE_ITEM = int(pd.Series(train.candidate).value_counts(sort=True).index[-1])
item_bias = None  ### STUB
### BEGIN SOLUTION
its_ratings = train.rating[train.candidate == RARE_ITEM]
item_bias = (its_ratings - train.rating.mean()).sum() / (len(its_ratings) + 10)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
own_data.check_damped_item_bias(item_bias, train.rating, train.candidate, RARE_ITEM)

# %% [markdown]
# **Exercise 7.4.** A film site's side tables are `film_users` and `films` below. Declare, as
# a list of `Feature`s, every side feature a model should read from them: each column worth
# reading, with the right source and kind (section 6 lists the kinds). Leave out what would
# tell a model nothing its ids do not already say.

# %%
film_users = pd.DataFrame(
    {"user_id": [1, 2, 3], "gender": ["F", "M", "F"], "occupation": ["artist", "lawyer", "nurse"]}
)
films = pd.DataFrame(
    {
        "item_id": [10, 11, 12],
        "title": ["Heat (1995)", "Fargo (1996)", "Alien (1979)"],
        "genres": ["Action|Crime|Thriller", "Crime|Drama", "Horror|Sci-Fi"],
        "year": [1995, 1996, 1979],
    }
)
film_features = None  ### STUB
### BEGIN SOLUTION
film_features = [
    Feature("gender", "user"),
    Feature("occupation", "user"),
    Feature("genres", "item", kind="multi"),
    Feature("year", "item", kind="numeric"),
]
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
own_data.check_side_features(film_features, film_users, films)
