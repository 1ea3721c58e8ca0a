# %% [markdown]
# # 02 · Embeddings: from one-hot vectors to learned item and user vectors
#
# A model cannot multiply an item id. It needs numbers that *mean* something: items a user is
# likely to interact with together should look alike. An **embedding** is a learned vector per
# id, and an embedding table is nothing more than a matrix whose row *i* belongs to id *i*.
# This notebook builds that idea from one-hot vectors, trains the classic recommender made only
# of embeddings, **matrix factorisation**, and opens up what it learned.
#
# **You will learn to**
# 1. explain why an embedding lookup equals a one-hot vector times a matrix, and why the lookup
#    is what we compute;
# 2. train matrix factorisation on click samples and compare it with popularity and the Bayes
#    limit;
# 3. read learned item vectors: a 2-D map, nearest neighbours, category structure;
# 4. say what happens to a user the model has never seen (cold start).
#
# **Before this notebook:** 01. **Runs in** well under a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score
from torch import nn

from course_lib import (
    UNK,
    MatrixFactorization,
    TrainOptions,
    bundled_window,
    get_device,
    load_bundled_log,
    load_bundled_side_tables,
    make_loader,
    prepare,
    set_seed,
    simulate_bundled,
    train_one_epoch,
)
from course_lib.exercises import embeddings

SEEDS = (0, 1, 2)  # every comparison is repeated over these seeds
DEVICE = get_device()  # a GPU if there is one, else the CPU (notebook 00)
EMBED_DIM = 32  # D: the length of every user and item vector
NUM_NEGATIVES = 4  # sampled negatives per true next item (the click task of notebook 01)
BATCH_SIZE = 1024
# every model trains one epoch (a pass over the training samples) with plain Adam steps
TRAINING = TrainOptions(clip_norm=None, progress=False)
LR = 0.01

# %% [markdown]
# ## 1. One-hot vectors and the lookup that replaces them
# Number the items 0 … V−1. The one-hot vector of item *i* has V entries, all zero except a 1
# at position *i*. Multiplying it by a V × D weight matrix W picks out row *i* of W: every
# other row is multiplied by zero. So the product of a batch of one-hot vectors with W is just
# **a lookup of rows**, which is what `nn.Embedding` computes, without ever building the
# one-hot vectors. On a tiny catalogue of 5 items and D = 3:

# %%
torch.manual_seed(0)
table = nn.Embedding(num_embeddings=5, embedding_dim=3)
items = torch.tensor([4, 0, 2, 2])  # a batch of four item ids
one_hot = nn.functional.one_hot(items, num_classes=5).float()  # (4, 5)
print(one_hot)
by_product = one_hot @ table.weight  # (4, 5) @ (5, 3) -> (4, 3)
by_lookup = table(items)  # (4, 3): rows 4, 0, 2, 2 of the table
torch.testing.assert_close(by_product, by_lookup)
by_lookup

# %% [markdown]
# The two agree exactly. What differs is the cost. For the course's catalogue, a batch of 256
# histories of 50 events each:

# %%
start, end = bundled_window()
data = prepare(load_bundled_log(), start=start, end=end, num_negatives=NUM_NEGATIVES)
num_items = len(data.vocabularies.item)
batch_shape = (256, 50)
sizes = pd.DataFrame(
    {
        "numbers per event": [num_items, EMBED_DIM],
        "batch tensor (MB, float32)": [
            np.prod(batch_shape) * num_items * 4 / 1e6,
            np.prod(batch_shape) * EMBED_DIM * 4 / 1e6,
        ],
        "weights of the first layer": [num_items * EMBED_DIM, num_items * EMBED_DIM],
    },
    index=pd.Index(["one-hot @ W", "embedding lookup"], name="representation"),
)
# NBVAL_CHECK_OUTPUT
sizes.round(1)

# %% [markdown]
# Same weights, same result, but the one-hot batch is V / D, about 60 times, larger than the
# vectors it produces. The time tells the same story (measured on this machine; yours differ):

# %%
assert 55 < num_items / EMBED_DIM < 65

# %%
big_table = nn.Embedding(num_items, EMBED_DIM)
history = torch.randint(2, num_items, batch_shape)
with torch.no_grad():
    begin = time.perf_counter()
    product = nn.functional.one_hot(history, num_items).float() @ big_table.weight
    one_hot_seconds = time.perf_counter() - begin
    begin = time.perf_counter()
    lookup = big_table(history)
    lookup_seconds = time.perf_counter() - begin
torch.testing.assert_close(product, lookup)
print(f"one-hot @ W: {1000 * one_hot_seconds:.1f} ms, lookup: {1000 * lookup_seconds:.2f} ms")

# %%
assert lookup_seconds < one_hot_seconds

# %% [markdown]
# ## 2. `nn.Embedding`: a trainable table with a padding row
# Two details matter for behavior sequences. `padding_idx=0` keeps row 0 (PAD, the filler of
# short histories, notebook 01) at zero and never updates it. And a backward pass only gives
# gradient to the rows the batch looked up: the other items' vectors do not move in this step.

# %%
table = nn.Embedding(num_embeddings=6, embedding_dim=2, padding_idx=0)
history = torch.tensor([[3, 5, 0, 0]])  # two real events, two padding positions
table(history).sum().backward()
pd.DataFrame(
    {"row": table.weight.detach().numpy().tolist(), "gradient": table.weight.grad.tolist()},
    index=pd.Index(range(6), name="item index"),
)

# %%
rows_with_gradient = table.weight.grad.abs().sum(dim=1).nonzero().flatten().tolist()
assert rows_with_gradient == [3, 5]
assert table.weight[0].abs().sum() == 0

# %% [markdown]
# ## 3. Matrix factorisation: a recommender made of two embedding tables
# Give every user a vector $p_u$ and every item a vector $q_i$, both of length D, and score a
# (user, item) pair by their dot product plus three biases:
#
# $$\text{score}(u, i) = p_u \cdot q_i + b_u + b_i + b .$$
#
# The dot product is large when the user's and the item's vectors point the same way: the
# model learns D hidden "taste" directions. The biases absorb how active a user is ($b_u$) and
# how popular an item is ($b_i$). Stacking all $p_u$ as rows gives a matrix P, all $q_i$ a
# matrix Q, and the scores of all pairs are $PQ^\top$: a low-rank factorisation of the
# user × item matrix, hence the name.
#
# We train it on the click samples of notebook 01: each true next item (label 1) with four
# random items (label 0), and binary cross-entropy on the score as a logit. Matrix
# factorisation only sees *who* and *what*, not the order of events: it learns long-term taste.


# %%
def train_mf(seed: int) -> tuple[MatrixFactorization, list[float], float]:
    """Train matrix factorisation from seed `seed`; returns the model, its losses, seconds."""
    set_seed(seed)
    model = MatrixFactorization(len(data.vocabularies.user), num_items, EMBED_DIM).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    # max_len=1: matrix factorisation reads no history, so keep the batches small
    loader = make_loader(data.dataset("train", max_len=1), BATCH_SIZE, shuffle=True, seed=seed)
    begin = time.perf_counter()
    log = train_one_epoch(model, model.loss, loader, optimizer, options=TRAINING)
    seconds = time.perf_counter() - begin
    losses = log.losses["click"].tolist()  # the loss of every step
    return model.cpu().eval(), losses, seconds  # on the CPU: read below with NumPy


test_set = data.dataset("test", max_len=1)
test_batch = test_set.batch(np.arange(len(test_set)))  # all test samples in one batch


def click_auc(model: MatrixFactorization, batch: dict[str, torch.Tensor]) -> float:
    """ROC-AUC of the model's click scores on a batch of samples."""
    with torch.no_grad():
        scores = model(batch)["click"]
    return roc_auc_score(batch["click"].numpy(), scores.numpy())


runs = {seed: train_mf(seed) for seed in SEEDS}
mf_auc = pd.Series({seed: click_auc(model, test_batch) for seed, (model, _, _) in runs.items()})
print("training time per model (s):", [round(seconds, 1) for _, _, seconds in runs.values()])

# %%
model, losses, _ = runs[SEEDS[0]]
smooth = pd.Series(losses).rolling(50).mean()
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.plot(losses, color="tab:blue", alpha=0.3, label="every step")
ax.plot(smooth, color="tab:blue", label="mean of 50 steps")
ax.set(title="Matrix factorisation: training loss", xlabel="step", ylabel="BCE loss (nats)")
ax.legend()
plt.show()

# %% [markdown]
# How good is it? Two yardsticks from notebook 01: item popularity (how often an item was a
# true next item in training) and the Bayes limit, the AUC of the simulator's true
# probabilities, which no model can beat except by luck.

# %%
simulation = simulate_bundled()
vocab = data.vocabularies
raw_users = vocab.user.decode(test_batch["user"].numpy()).astype(np.int64)
raw_items = vocab.item.decode(test_batch["candidate"].numpy()).astype(np.int64)
true_click = simulation.truth.click_proba(
    data.test.event_index, raw_items, NUM_NEGATIVES, num_items - 2
)
popularity = np.bincount(data.train.next_item[data.train.click == 1], minlength=num_items)
labels = test_batch["click"].numpy()
click_table = pd.DataFrame(
    {
        "test AUC": [
            roc_auc_score(labels, popularity[test_batch["candidate"].numpy()]),
            mf_auc.mean(),
            roc_auc_score(labels, true_click),
        ],
        "std over seeds": [0.0, mf_auc.std(), 0.0],
    },
    index=["popularity", f"matrix factorisation ({len(SEEDS)} seeds)", "Bayes limit"],
)
click_table.round(3)

# %% [markdown]
# Matrix factorisation clearly beats popularity, by far more than its spread over seeds, yet
# stays well short of the Bayes limit: it knows a user's long-term taste but not what they are
# doing *now*. The simulated users stay in a category for a while and their interests drift
# (notebook 01), so the recent events carry much of the signal. Reading them in order is the
# job of the sequence encoders in notebook 03.

# %%
mf_row, pop_row, limit_row = click_table.iloc[1], click_table.iloc[0], click_table.iloc[2]
assert mf_row["test AUC"] - 3 * mf_row["std over seeds"] > pop_row["test AUC"] + 0.03
assert limit_row["test AUC"] > mf_row["test AUC"] + 0.05

# %% [markdown]
# ## 4. What the item vectors learned
# Nothing told the model which category an item belongs to. Yet users tend to like whole
# categories, so items of one category are clicked by the same users and their vectors should
# end up close. A 2-D picture (the first two principal components of the 32-D vectors), with
# the eight largest categories coloured:

# %%
item_vectors = model.item_vectors.numpy()  # (V, D); rows 0 and 1 are PAD and UNK
item_category = data.item_category
real = np.arange(2, num_items)  # real items only
points = PCA(n_components=2, random_state=0).fit_transform(item_vectors[real])
largest = pd.Series(item_category[real]).value_counts().index[:8]
fig, ax = plt.subplots(figsize=(6.5, 5))
other = ~np.isin(item_category[real], largest)
ax.scatter(*points[other].T, s=4, color="lightgrey", label="other categories")
for category in largest:
    members = item_category[real] == category
    ax.scatter(*points[members].T, s=6, label=f"category {category}")
ax.set(
    title="Item vectors of matrix factorisation (PCA)",
    xlabel="principal component 1 (no unit)",
    ylabel="principal component 2 (no unit)",
)
ax.legend(fontsize=7, markerscale=2, loc="best")
plt.show()

# %% [markdown]
# Two dimensions squeeze 32 into a picture. A number that uses all 32: for each item, the share
# of its 10 nearest neighbours (by cosine similarity) that are in its own category, against the
# share expected if neighbours were picked at random.

# %%
unit = item_vectors[real] / np.linalg.norm(item_vectors[real], axis=1, keepdims=True)
similarity = unit @ unit.T  # (V - 2, V - 2) cosine similarities
np.fill_diagonal(similarity, -np.inf)  # an item is not its own neighbour
neighbours = np.argsort(-similarity, axis=1)[:, :10]
same_category = (item_category[real][neighbours] == item_category[real][:, None]).mean()
category_share = np.bincount(item_category[real]) / len(real)
structure = pd.Series(
    {
        "neighbours in the same category": same_category,
        "same, if neighbours were random": (category_share**2).sum(),
    },
    name="share",
)
structure.round(3)

# %%
assert structure.iloc[0] > 5 * structure.iloc[1]

# %% [markdown]
# ## 5. Nearest neighbours you can judge
# The five items closest to the most popular item, with their category and price from the
# item side table: a recommender built on these vectors would suggest items like these.

# %%
_, items_table = load_bundled_side_tables()
items_table = items_table.set_index("item_id")
anchor = int(popularity.argmax())
order = np.argsort(-similarity[anchor - 2])[:5] + 2  # back to item indices


def describe(indices: np.ndarray) -> pd.DataFrame:
    """Raw id, category, price and training popularity of item indices."""
    raw = vocab.item.decode(indices).astype(np.int64)
    return pd.DataFrame(
        {
            "item_id": raw,
            "category_id": items_table.loc[raw, "category_id"].to_numpy(),
            "price": items_table.loc[raw, "price"].to_numpy(),
            "times a next item in training": popularity[indices],
        }
    )


print("the anchor item:\n", describe(np.array([anchor])).to_string(index=False))
neighbour_table = describe(order).assign(cosine=similarity[anchor - 2, order - 2].round(3))
neighbour_table

# %%
anchor_category = items_table.loc[int(vocab.item.decode([anchor])[0]), "category_id"]
assert (neighbour_table["category_id"] == anchor_category).sum() >= 4

# %% [markdown]
# ## 6. Cold start: the user the model has never seen
# A new user arrives with an id missing from the vocabulary, so it encodes to UNK (index 1,
# notebook 01). UNK never appeared in training: its vector is still the random one it started
# with and its bias is zero. Its scores then come from the item biases, which learned
# popularity, plus noise from the random vector. Scoring the test set as if every user were new
# shows the cost:

# %%
as_new_users = dict(test_batch, user=torch.full_like(test_batch["user"], UNK))
cold = pd.Series(
    {
        "known users": mf_auc.mean(),
        "every user new (UNK)": np.mean([click_auc(m, as_new_users) for m, _, _ in runs.values()]),
        "popularity": click_table.iloc[0]["test AUC"],
    },
    name="test AUC",
)
cold.round(3)

# %% [markdown]
# For new users the model drops to about the level of popularity: the user vector was the part
# that knew them. Remedies a real system uses: fall back to popularity or to the user's
# *current session* (a sequence model needs no user id at all, notebook 03), or describe users
# by features they bring with them (the `is_member` flag of the user side table), whose
# embeddings are shared by many users.

# %%
assert cold["known users"] > cold["every user new (UNK)"] + 0.05
assert abs(cold["every user new (UNK)"] - cold["popularity"]) < 0.05

# %% [markdown]
# ## Summary
# - An embedding lookup is a one-hot vector times a matrix, computed without the zeros;
#   `nn.Embedding(padding_idx=0)` keeps padding at zero, and a step only moves the rows it used.
# - Matrix factorisation scores a pair by a dot product plus biases; trained on click samples
#   it beats popularity clearly but stays far from the Bayes limit, because it ignores order.
# - Its item vectors discover the categories on their own: neighbours share a category far more
#   often than chance.
# - A new user maps to UNK and gets popularity-like scores: the cold-start problem.
#
# Next: **03 sequence encoders**, where an LSTM reads the history in order.

# %% [markdown]
# ## Exercises
#
# **Exercise 2.1.** How many megabytes (10⁶ bytes) would a float32 one-hot batch of 512
# histories of 20 events take for this catalogue (`num_items` columns)?

# %%
one_hot_megabytes = None  ### STUB
### BEGIN SOLUTION
one_hot_megabytes = 512 * 20 * num_items * 4 / 1e6
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
embeddings.check_one_hot_megabytes(one_hot_megabytes, 512, 20, num_items)

# %% [markdown]
# **Exercise 2.2.** Compute the score of user index 5 and item index 7 under `model` by hand
# from its tables `model.user`, `model.item`, `model.user_bias`, `model.item_bias` and
# `model.bias`, as a Python float.

# %%
mf_score = None  ### STUB
### BEGIN SOLUTION
with torch.no_grad():
    mf_score = (
        model.user.weight[5] @ model.item.weight[7]
        + model.user_bias.weight[5, 0]
        + model.item_bias.weight[7, 0]
        + model.bias
    ).item()
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
embeddings.check_mf_score(mf_score, model, user=5, item=7)

# %% [markdown]
# **Exercise 2.3.** Write `nearest_items(item, k)` returning the indices of the `k` items whose
# vectors in `item_vectors` have the highest cosine similarity with `item`'s, most similar
# first, leaving out PAD (0), UNK (1) and `item` itself.

# %%
nearest_items = None  ### STUB


### BEGIN SOLUTION
def nearest_items(item: int, k: int) -> np.ndarray:
    """The k items most cosine-similar to `item`, most similar first."""
    unit = item_vectors / np.linalg.norm(item_vectors, axis=1, keepdims=True).clip(1e-12)
    similarity = unit @ unit[item]
    similarity[[0, 1, item]] = -np.inf
    return np.argsort(-similarity, kind="stable")[:k]


### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
embeddings.check_nearest_items(nearest_items, item_vectors)
