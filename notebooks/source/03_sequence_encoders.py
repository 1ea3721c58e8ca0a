# %% [markdown]
# # 03 · Sequence encoders: reading a behavior history in order
#
# Matrix factorisation (notebook 02) knows *who* a user is, not what they are doing *now*. A
# **sequence encoder** reads the user's recent events in time order and summarises them in one
# vector, the user state, from which a head scores every item as the possible next one. This
# notebook opens up the LSTM, the classic encoder, and then races it against four alternatives
# on the course's next-item task.
#
# **You will learn to**
# 1. pad and pack a batch of histories so that padding never enters the recurrence;
# 2. compute an LSTM step by hand and say what its final state summarises;
# 3. train next-item models with five encoders on the same budget and compare them over seeds
#    with HR@10 and NDCG@10, against popularity and a strong heuristic;
# 4. explain why order-aware encoders beat mean pooling on this data.
#
# **Before this notebook:** 01 and 02. **Runs in** about a minute on a laptop CPU.

# %% [markdown]
# ## Setup

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_sequence
from tqdm.auto import tqdm

from course_lib import (
    CNNEncoder,
    GRUEncoder,
    LSTMEncoder,
    MeanPoolEncoder,
    NextItemConfig,
    NextItemModel,
    PopularityBaseline,
    RepeatLastCategoryBaseline,
    SelfAttentionEncoder,
    TrainOptions,
    bundled_window,
    evaluate_ranking,
    get_device,
    load_bundled_log,
    make_loader,
    move_batch,
    prepare,
    repeat_batches,
    set_seed,
    train_one_epoch,
)
from course_lib.exercises import sequences

SEEDS = (0, 1, 2)  # every encoder is trained once per seed
DEVICE = get_device()  # a GPU if there is one, else the CPU (notebook 00)
EMBED_DIM = 32  # D
HIDDEN_DIM = 32  # H
MAX_LEN = 20  # events of history each sample keeps
BATCH_SIZE = 256
NUM_STEPS = 120  # the same training budget for every encoder: 120 batches of 256
TRAINING = TrainOptions(max_steps_per_epoch=NUM_STEPS, clip_norm=None, progress=False)
LR = 3e-3

# %% [markdown]
# ## 1. Padding and packing
# Histories have different lengths; a batch is a rectangle. Notebook 01 padded short histories
# on the right with zeros. A recurrent network, though, reads *every* position it is given: on
# a padded batch it would keep updating a short history's state through the padding, and the
# "final" state would be the state after a run of zeros. **Packing** tells the LSTM each
# history's length, so it stops every sequence at its own last event. Three histories of
# lengths 3, 1 and 2, with 2 numbers per event:

# %%
torch.manual_seed(0)
lstm = nn.LSTM(input_size=2, hidden_size=3, batch_first=True)
histories = [torch.randn(3, 2), torch.randn(1, 2), torch.randn(2, 2)]
lengths = torch.tensor([len(h) for h in histories])
padded = pad_sequence(histories, batch_first=True)  # (B=3, L=3, D=2), zeros after each end
packed = pack_padded_sequence(padded, lengths, batch_first=True, enforce_sorted=False)
print("packed data:", tuple(packed.data.shape), "= one row per real event, 6 in all")
print("batch sizes per step:", packed.batch_sizes.tolist(), "(3 histories at step 0, then 2, 1)")

# %%
with torch.no_grad():
    _, (final_packed, _) = lstm(packed)  # final_packed: (1, B, H)
    _, (final_padded, _) = lstm(padded)  # the LSTM also reads the padding
    final_alone = torch.stack([lstm(h[None])[1][0][0, 0] for h in histories])  # one at a time
packing_table = pd.DataFrame(
    {
        "length": lengths.numpy(),
        "packed vs alone (max abs diff)": (final_packed[0] - final_alone).abs().amax(1).numpy(),
        "padded vs alone (max abs diff)": (final_padded[0] - final_alone).abs().amax(1).numpy(),
    }
)
packing_table.round(4)

# %% [markdown]
# Packed, every final state is exactly the state after the history's own last event. Unpacked,
# the full-length history is right but the short ones are not. `course_lib.LSTMEncoder` packs.

# %%
torch.testing.assert_close(final_packed[0], final_alone)
assert (packing_table["padded vs alone (max abs diff)"].iloc[1:] > 1e-3).all()

# %% [markdown]
# ## 2. An LSTM step by hand
# At every step an LSTM keeps two vectors: a cell state $c$ (its memory) and a hidden state
# $h$ (what it shows the next layer). From the event's input $x_t$ and the previous $h_{t-1}$ it
# computes four vectors at once, with learned weights $W$, $U$ and biases $b$:
#
# $$
# \begin{aligned}
# i_t &= \sigma(W_i x_t + U_i h_{t-1} + b_i) & &\text{input gate: how much new to write}\\
# f_t &= \sigma(W_f x_t + U_f h_{t-1} + b_f) & &\text{forget gate: how much memory to keep}\\
# g_t &= \tanh(W_g x_t + U_g h_{t-1} + b_g) & &\text{the candidate content}\\
# o_t &= \sigma(W_o x_t + U_o h_{t-1} + b_o) & &\text{output gate}\\
# c_t &= f_t \odot c_{t-1} + i_t \odot g_t, & h_t &= o_t \odot \tanh(c_t).
# \end{aligned}
# $$
#
# PyTorch stores the four $W$ stacked in `weight_ih_l0` (order i, f, g, o), the four $U$ in
# `weight_hh_l0`, and two bias vectors. Written out:


# %%
def lstm_step(
    x: torch.Tensor, h: torch.Tensor, c: torch.Tensor, lstm: nn.LSTM
) -> tuple[torch.Tensor, torch.Tensor]:
    """One LSTM step for one event: x (D,), h and c (H,) -> new h, new c."""
    pre = lstm.weight_ih_l0 @ x + lstm.bias_ih_l0 + lstm.weight_hh_l0 @ h + lstm.bias_hh_l0
    i, f, g, o = pre.chunk(4)  # each (H,)
    i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
    c = f * c + i * g
    return o * torch.tanh(c), c


with torch.no_grad():
    h = c = torch.zeros(3)
    by_hand = []
    for x in histories[0]:  # the length-3 history, event by event
        h, c = lstm_step(x, h, c, lstm)
        by_hand.append(h)
    by_torch, _ = lstm(histories[0][None])  # (1, 3, H): h after every step
torch.testing.assert_close(torch.stack(by_hand), by_torch[0])
torch.stack(by_hand)

# %% [markdown]
# The hand-written steps match `nn.LSTM` exactly. What does the final state summarise? The
# whole history, but not evenly: at every step the old memory is multiplied by the forget gate
# (a number between 0 and 1), so an event's influence fades as newer events arrive, unless the
# network learns to keep it. Section 4 measures this fade on a trained model.
#
# ## 3. Five encoders, one task: the next item
# The task: given a user's last `MAX_LEN` events, score all items; the true next item should
# rank near the top. The model is `embedding → encoder → a score for every item` (a softmax
# over the catalogue, trained with cross-entropy). Only the encoder changes:
#
# | encoder | how it reads the history |
# | --- | --- |
# | mean pooling | the average of the event embeddings: order is ignored |
# | LSTM, GRU | recurrent: a state updated event by event (GRU: a lighter gated cell) |
# | CNN | causal convolutions over windows of neighbouring events |
# | self-attention | every event looks at all earlier ones, with position embeddings (SASRec) |
#
# Two baselines give the floor: **popularity** (the same list for everyone) and
# **repeat last category** (the popular items of the category the user is browsing now).
# Each encoder is trained for the same `NUM_STEPS` batches, from each of three seeds.

# %%
start, end = bundled_window()
data = prepare(load_bundled_log(), start=start, end=end, num_negatives=0)  # next item only
vocab = data.vocabularies
item_category = torch.as_tensor(data.item_category)
test_loader = make_loader(data.dataset("test", max_len=MAX_LEN), batch_size=1024)
encoders = {
    "mean pooling": lambda: MeanPoolEncoder(EMBED_DIM, HIDDEN_DIM),
    "LSTM": lambda: LSTMEncoder(EMBED_DIM, HIDDEN_DIM),
    "GRU": lambda: GRUEncoder(EMBED_DIM, HIDDEN_DIM),
    "CNN": lambda: CNNEncoder(EMBED_DIM, HIDDEN_DIM),
    "self-attention": lambda: SelfAttentionEncoder(EMBED_DIM, HIDDEN_DIM, max_len=MAX_LEN),
}


def train_next_item(make_encoder, seed: int) -> tuple[NextItemModel, float]:
    """Train a next-item model with a fresh encoder from `seed`; returns it and the seconds."""
    set_seed(seed)
    config = NextItemConfig(
        len(vocab.item), len(vocab.category), len(vocab.behavior), EMBED_DIM, HIDDEN_DIM
    )
    model = NextItemModel(config, make_encoder(), item_category).to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    train_set = data.dataset("train", max_len=MAX_LEN)
    batches = repeat_batches(make_loader(train_set, BATCH_SIZE, shuffle=True, seed=seed))
    begin = time.perf_counter()
    train_one_epoch(model, model.loss, batches, optimizer, options=TRAINING)
    return model.eval(), time.perf_counter() - begin


rows, models = [], {}
runs = [(name, seed) for name in encoders for seed in SEEDS]
for name, seed in tqdm(runs, desc="training every encoder from every seed"):
    model, seconds = train_next_item(encoders[name], seed)
    metrics = evaluate_ranking(lambda b, m=model: m(b)["next_item"], test_loader, DEVICE)
    rows.append({"encoder": name, "seed": seed, "seconds": seconds, **metrics})
    models[name, seed] = model
results = pd.DataFrame(rows)

popularity = PopularityBaseline().fit(data.train.next_item, len(vocab.item))
last_category = RepeatLastCategoryBaseline().fit(data.train.next_item, data.item_category)
baselines = {
    "popularity": evaluate_ranking(popularity.scores, test_loader, DEVICE),
    "repeat last category": evaluate_ranking(last_category.scores, test_loader, DEVICE),
}
print("training seconds per model:")
print(results.groupby("encoder", sort=False)["seconds"].mean().round(1).to_string())

# %%
summary = results.groupby("encoder", sort=False)[["HR@10", "NDCG@10"]].agg(["mean", "std"])
for name, metrics in baselines.items():
    summary.loc[name] = [metrics["HR@10"], 0.0, metrics["NDCG@10"], 0.0]
summary.round(3)

# %%
fig, ax = plt.subplots(figsize=(8, 3.6))
names = list(encoders)
x = np.arange(len(names))
for offset, metric, color in ((-0.2, "HR@10", "tab:blue"), (0.2, "NDCG@10", "tab:orange")):
    ax.bar(
        x + offset,
        summary.loc[names, (metric, "mean")],
        width=0.4,
        yerr=summary.loc[names, (metric, "std")],
        capsize=3,
        color=color,
        label=f"{metric} (mean ± std, {len(SEEDS)} seeds)",
    )
for (name, metrics), style in zip(baselines.items(), (":", "--"), strict=True):
    ax.axhline(metrics["HR@10"], color="black", linestyle=style, label=f"{name}, HR@10")
ax.set_xticks(x, names)
ax.set(title="Next-item prediction on the test users", ylabel="metric value (0 to 1)")
ax.set_ylim(0, 0.45)  # room for the legend above the bars
ax.legend(fontsize=8, loc="upper center", ncol=2)
plt.show()

# %% [markdown]
# Every order-aware encoder (LSTM, GRU, CNN, self-attention) roughly doubles the HR@10 of mean
# pooling, with seed spreads far smaller than the gap, and is several times better than
# popularity. With this short training budget they reach, but do not pass, the repeat-last-
# category heuristic: what they have learned so far is mostly that heuristic, discovered from
# data. Mean pooling cannot learn it: an average over the last 20 events does not know which one
# came last.

# %%
means, stds = summary[("HR@10", "mean")], summary[("HR@10", "std")]
for name in ("LSTM", "GRU", "CNN", "self-attention"):
    margin = means[name] - means["mean pooling"]
    assert margin > 5 * (stds[name] + stds["mean pooling"]), name
    assert means[name] > 1.7 * means["mean pooling"], name
    assert means[name] > 4 * means["popularity"], name
    assert means[name] < means["repeat last category"] + 0.02, name

# %% [markdown]
# ## 4. What the encoders look at
# Why does order matter here? The simulated users (notebook 01) stay in a category with
# probability 0.6 at each event, and their interests drift: the *last* events say most about the
# next one. We can ask a trained model how much each position of the history moves its user
# state: the size of the gradient of the state with respect to each event's embedding, averaged
# over test users with full 20-event histories (a sensitivity, not an exact attribution).


# %%
def sensitivity_by_position(model: NextItemModel) -> np.ndarray:
    """Mean gradient norm of the user state w.r.t. each event's embedding, oldest first."""
    batch = move_batch(next(iter(test_loader)), DEVICE)
    full = batch["lengths"] == MAX_LEN
    embedded = (
        model.embedding(
            batch["history_item"][full],
            batch["history_category"][full],
            batch["history_behavior"][full],
        )
        .detach()
        .requires_grad_()
    )  # (B, L, D)
    state = model.encoder(embedded, batch["lengths"][full]).state  # (B, H)
    (gradient,) = torch.autograd.grad(state.pow(2).sum(), embedded)  # (B, L, D)
    per_position = gradient.norm(dim=-1).mean(dim=0).cpu().numpy()  # (L,)
    return per_position / per_position.sum()


steps_back = np.arange(MAX_LEN, 0, -1)  # position 0 is 20 events before the target
fig, ax = plt.subplots(figsize=(7, 3.2))
sensitivity = {}
for name in ("mean pooling", "LSTM", "self-attention"):
    sensitivity[name] = sensitivity_by_position(models[name, SEEDS[0]])
    ax.plot(steps_back, sensitivity[name], marker=".", label=name)
ax.invert_xaxis()
ax.set(
    title="How much each past event moves the user state",
    xlabel="events before the prediction (1 = the last one)",
    ylabel="share of gradient norm",
)
ax.legend()
plt.show()

# %% [markdown]
# Mean pooling weighs every position alike, by construction. The LSTM and self-attention have
# learned to look mostly at the last few events, which is exactly what the data rewards.

# %%
for name in ("LSTM", "self-attention"):
    assert sensitivity[name][-1] > 3 * sensitivity[name][0], name
assert sensitivity["mean pooling"].max() < 1.5 * sensitivity["mean pooling"].min()

# %% [markdown]
# ## Summary
# - Pad histories to a rectangle, then pack them, so a recurrent encoder stops at each
#   history's own end; `course_lib.LSTMEncoder` does this.
# - An LSTM step is four gates and two states; old events fade through the forget gate unless
#   the network learns to keep them.
# - On the same budget, every order-aware encoder beats mean pooling by far more than the seed
#   spread, and popularity several times over, because this data rewards recency.
# - Gradients show what the models learned: trained encoders look at the last few events.
#
# Next: **04 multi-task models**, where one encoder feeds several task heads.

# %% [markdown]
# ## Exercises
#
# **Exercise 3.1.** How many trainable numbers does `nn.LSTM(EMBED_DIM, HIDDEN_DIM)` have?
# Work it out from the equations in section 2 (then you may check with `.parameters()`).

# %%
lstm_parameters = None  ### STUB
### BEGIN SOLUTION
lstm_parameters = 4 * (HIDDEN_DIM * EMBED_DIM + HIDDEN_DIM * HIDDEN_DIM + 2 * HIDDEN_DIM)
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
sequences.check_lstm_parameters(lstm_parameters, EMBED_DIM, HIDDEN_DIM)

# %% [markdown]
# **Exercise 3.2.** Two users, catalogue of items 2 to 6 (columns 0 and 1 are PAD and UNK and
# never count). Compute HR@3 by hand: the share of rows whose target has fewer than 3 real
# items scoring higher.

# %%
toy_scores = torch.tensor(
    [
        [9.0, 9.0, 0.1, 0.5, 0.9, 0.3, 0.7],  # target 3: items 4 and 6 score higher
        [9.0, 9.0, 0.8, 0.6, 0.4, 0.2, 0.9],  # target 5: four items score higher
    ]
)
toy_target = torch.tensor([3, 5])
hr_at_3 = None  ### STUB
### BEGIN SOLUTION
hr_at_3 = 0.5  # row 0: rank 2 < 3, a hit; row 1: rank 4, a miss
### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
sequences.check_hit_rate(hr_at_3, toy_scores, toy_target)

# %% [markdown]
# **Exercise 3.3.** Mean pooling must leave padding out of the average. Write
# `masked_mean(embedded, mask)` for `embedded` of shape (B, L, D) and a bool `mask` (B, L) that
# is True at real events, returning (B, D).

# %%
masked_mean = None  ### STUB


### BEGIN SOLUTION
def masked_mean(embedded: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real events of each history: (B, L, D), (B, L) -> (B, D)."""
    summed = (embedded * mask[..., None]).sum(dim=1)  # (B, D)
    return summed / mask.sum(dim=1, keepdim=True)  # (B, D)


### END SOLUTION

# %%
# NBVAL_CHECK_OUTPUT
sequences.check_masked_mean(masked_mean)
