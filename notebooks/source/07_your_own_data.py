# %% [markdown]
# # 07 · Bring your own data: the whole pipeline on your log
#
# Everything so far ran on the course's simulated shop. This notebook runs the same pipeline
# on a log the way it arrives from a real system: an event export with its own column names,
# milliseconds, its own funnel of behaviors and a few bad rows. It uses only the calls a
# practitioner would use on their company's log, then the command line with a config file,
# and ends with the public data sets (MovieLens, Taobao UserBehavior, RetailRocket).
#
# **You will learn to**
# 1. map an event export into the data contract and read the validator's errors;
# 2. run clean → prepare → train → evaluate → recommend → checkpoint on it, with its own funnel;
# 3. train the same from the command line with a config file;
# 4. load a public data set when you have it, and know how to get it when you do not.
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

import pandas as pd
import torch

from course_lib import (
    TAOBAO_BEHAVIORS,
    LogValidationError,
    SimulatorConfig,
    TrainOptions,
    build_model,
    evaluate_tasks,
    fit,
    get_cache_dir,
    get_device,
    label_rates,
    load_checkpoint,
    make_loader,
    metrics_table,
    move_batch,
    prepare,
    recommend,
    save_checkpoint,
    set_seed,
    simulate,
    standard_tasks,
    validate_log,
)
from course_lib.datasets import (
    MOVIELENS_BEHAVIORS,
    RETAILROCKET_BEHAVIORS,
    DatasetNotFoundError,
    load_movielens,
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
