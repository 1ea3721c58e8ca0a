"""Tests for course_lib.models: embeddings, the five sequence encoders, next-item model, MF."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from course_lib.data.dataset import collate_batch
from course_lib.data.vocab import PAD, UNK
from course_lib.models import (
    BehaviorEmbedding,
    CNNEncoder,
    GRUEncoder,
    LSTMEncoder,
    MatrixFactorization,
    MeanPoolEncoder,
    NextItemConfig,
    NextItemModel,
    SelfAttentionEncoder,
    SequenceEncoder,
)

D, H = 8, 12  # embed_dim, hidden_dim of every tiny model
NUM_ITEMS, NUM_CATEGORIES, NUM_BEHAVIORS, NUM_USERS = 10, 5, 6, 7
LENGTHS = [6, 3, 1, 5]  # B = 4 histories; the longest fills the batch, L = 6

ENCODERS: dict[str, Callable[[], SequenceEncoder]] = {
    "mean_pool": lambda: MeanPoolEncoder(D, H),
    "lstm": lambda: LSTMEncoder(D, H),
    "gru": lambda: GRUEncoder(D, H),
    "cnn": lambda: CNNEncoder(D, H),
    "attention": lambda: SelfAttentionEncoder(D, H),
}
ITEM_CATEGORY = torch.tensor([PAD, UNK, 2, 2, 3, 3, 4, 4, 2, 3])  # (NUM_ITEMS,)


def make_encoder(name: str, seed: int = 0) -> SequenceEncoder:
    torch.manual_seed(seed)
    return ENCODERS[name]().eval()


def embedded_histories(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random (B, L, D) embeddings, zero at padding, and their (B,) lengths."""
    lengths = torch.tensor(LENGTHS)
    generator = torch.Generator().manual_seed(seed)
    embedded = torch.randn(len(LENGTHS), max(LENGTHS), D, generator=generator)
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    return embedded * mask[..., None], lengths


def make_batch(seed: int = 0, lengths: list[int] = LENGTHS) -> dict[str, torch.Tensor]:
    """A padded batch with every key of ``collate_batch``, random within the tiny vocabularies."""
    rng = np.random.default_rng(seed)
    examples = []
    for length in lengths:
        items = torch.as_tensor(rng.integers(2, NUM_ITEMS, length))
        examples.append(
            {
                "history_item": items,
                "history_category": ITEM_CATEGORY[items],
                "history_behavior": torch.as_tensor(rng.integers(2, NUM_BEHAVIORS, length)),
                "user": torch.as_tensor(rng.integers(2, NUM_USERS)),
                "candidate": torch.as_tensor(rng.integers(2, NUM_ITEMS)),
                "click": torch.as_tensor(rng.integers(0, 2), dtype=torch.float32),
                "next_item": torch.as_tensor(rng.integers(2, NUM_ITEMS)),
            }
        )
    return collate_batch(examples)


def make_model(encoder: str, tie_weights: bool = True, seed: int = 0) -> NextItemModel:
    config = NextItemConfig(NUM_ITEMS, NUM_CATEGORIES, NUM_BEHAVIORS, D, H, tie_weights)
    torch.manual_seed(seed)
    return NextItemModel(config, ENCODERS[encoder](), ITEM_CATEGORY)


# ------------------------------------------------------------------------------- embedding


def test_behavior_embedding_sums_tables_and_padding_is_zero() -> None:
    embedding = BehaviorEmbedding(NUM_ITEMS, NUM_CATEGORIES, NUM_BEHAVIORS, D)
    batch = make_batch()
    out = embedding(batch["history_item"], batch["history_category"], batch["history_behavior"])
    assert out.shape == (len(LENGTHS), max(LENGTHS), D)
    expected = (
        embedding.item.weight[batch["history_item"]]
        + embedding.category.weight[batch["history_category"]]
        + embedding.behavior.weight[batch["history_behavior"]]
    )
    torch.testing.assert_close(out, expected)
    assert (out[~batch["mask"]] == 0).all()
    assert embedding.items(batch["candidate"], ITEM_CATEGORY[batch["candidate"]]).shape == (4, D)
    catalogue = embedding.all_items(ITEM_CATEGORY)
    assert catalogue.shape == (NUM_ITEMS, D)
    assert (catalogue[PAD] == 0).all()
    torch.testing.assert_close(catalogue[5], embedding.items(torch.tensor(5), ITEM_CATEGORY[5]))


# -------------------------------------------------------------------------------- encoders


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_shapes_and_state_is_last_real_step(name: str) -> None:
    encoder = make_encoder(name)
    embedded, lengths = embedded_histories()
    out = encoder(embedded, lengths)
    assert encoder.output_dim == H
    assert out.state.shape == (len(LENGTHS), H)
    assert out.steps.shape == (len(LENGTHS), max(LENGTHS), H)
    assert torch.isfinite(out.steps).all()
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    assert (out.steps[~mask] == 0).all()
    for b, length in enumerate(LENGTHS):
        torch.testing.assert_close(out.state[b], out.steps[b, length - 1])


# no_grad: torch's Transformer takes its fused "fast path" in eval mode without gradients
@pytest.mark.parametrize("grad", [True, False], ids=["grad", "no_grad"])
@pytest.mark.parametrize("name", ENCODERS)
def test_padding_changes_nothing(name: str, grad: bool) -> None:
    encoder = make_encoder(name)
    embedded, lengths = embedded_histories()
    mask = torch.arange(max(LENGTHS)) < lengths[:, None]
    # garbage at the padded positions
    noisy = torch.where(mask[..., None], embedded, 100 * torch.randn_like(embedded))
    # and three more padding columns
    longer = torch.cat([embedded, torch.zeros(len(LENGTHS), 3, D)], dim=1)
    with torch.set_grad_enabled(grad):
        reference = encoder(embedded, lengths)
        variants = (encoder(noisy, lengths), encoder(longer, lengths))
    for variant in variants:
        torch.testing.assert_close(variant.state, reference.state, atol=1e-6, rtol=0)
        real = variant.steps[:, : max(LENGTHS)][mask]
        torch.testing.assert_close(real, reference.steps[mask], atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ENCODERS)
def test_encoders_are_causal(name: str) -> None:
    encoder = make_encoder(name)
    embedded, lengths = embedded_histories()
    t = 2  # a real step of rows 0, 1 and 3
    changed = embedded.clone()
    changed[:, t] += torch.randn(len(LENGTHS), D) * (lengths > t)[:, None]
    before, after = encoder(embedded, lengths).steps, encoder(changed, lengths).steps
    torch.testing.assert_close(after[:, :t], before[:, :t], atol=1e-6, rtol=0)
    assert not torch.allclose(after[0, t], before[0, t])  # the change itself is seen


def test_cnn_state_sees_exactly_its_receptive_field() -> None:
    encoder = CNNEncoder(D, H, kernel_size=3, num_layers=2)
    assert encoder.receptive_field == 5
    embedded, lengths = torch.randn(1, 8, D), torch.tensor([8])
    reference = encoder(embedded, lengths).state
    for t, seen in [(2, False), (3, True)]:  # the state at step 7 sees steps 3..7
        changed = embedded.clone()
        changed[0, t] += 1.0
        assert torch.allclose(encoder(changed, lengths).state, reference) is not seen, t


def test_attention_refuses_histories_longer_than_max_len() -> None:
    encoder = SelfAttentionEncoder(D, H, max_len=4)
    embedded, lengths = embedded_histories()
    with pytest.raises(ValueError, match="max_len=4"):
        encoder(embedded, lengths)


@pytest.mark.parametrize("name", ENCODERS)
def test_same_seed_same_output(name: str) -> None:
    embedded, lengths = embedded_histories()
    first = make_encoder(name, seed=1)(embedded, lengths).steps
    second = make_encoder(name, seed=1)(embedded, lengths).steps
    torch.testing.assert_close(first, second, atol=0, rtol=0)
    assert not torch.equal(make_encoder(name, seed=2)(embedded, lengths).steps, first)


@pytest.mark.parametrize("name", ENCODERS)
def test_an_empty_history_gets_the_learned_empty_state(name: str) -> None:
    encoder = make_encoder(name)
    with torch.no_grad():
        encoder.empty_state.normal_()  # learned, so not the zero it starts at
    embedded, lengths = embedded_histories()
    lengths_with_empty = torch.cat([lengths, torch.tensor([0])])
    with_empty = torch.cat([embedded, torch.zeros(1, max(LENGTHS), D)])  # an all-padding row
    out, reference = encoder(with_empty, lengths_with_empty), encoder(embedded, lengths)
    torch.testing.assert_close(out.state[-1], encoder.empty_state, atol=0, rtol=0)
    assert (out.steps[-1] == 0).all()
    torch.testing.assert_close(out.state[:-1], reference.state, atol=1e-6, rtol=0)
    torch.testing.assert_close(out.steps[:-1], reference.steps, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", ENCODERS)
def test_a_batch_of_empty_histories_only(name: str) -> None:
    encoder = make_encoder(name)
    out = encoder(torch.zeros(3, 0, D), torch.zeros(3, dtype=torch.int64))
    assert out.steps.shape == (3, 0, H)
    torch.testing.assert_close(out.state, encoder.empty_state.expand(3, H), atol=0, rtol=0)


@pytest.mark.parametrize("name", ENCODERS)
def test_the_empty_state_learns_from_empty_histories_only(name: str) -> None:
    embedded, lengths = embedded_histories()
    encoder = make_encoder(name)
    encoder(embedded, lengths).state.sum().backward()
    # a zero gradient, not None: DistributedDataParallel needs every parameter in every step
    assert encoder.empty_state.grad is not None and (encoder.empty_state.grad == 0).all()
    encoder.zero_grad()
    lengths_with_empty = torch.tensor([*LENGTHS[:-1], 0])
    encoder(embedded, lengths_with_empty).state.sum().backward()
    torch.testing.assert_close(encoder.empty_state.grad, torch.ones(H))


# ------------------------------------------------------------------------- next-item model


@pytest.mark.parametrize("tie_weights", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("name", ENCODERS)
def test_gradient_reaches_every_parameter(name: str, tie_weights: bool) -> None:
    model = make_model(name, tie_weights)
    batch = make_batch(lengths=[6, 3, 0, 5])  # an empty history reaches the empty state
    model.loss(model(batch), batch)["next_item"].backward()
    for param_name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, param_name


@pytest.mark.parametrize("name", ENCODERS)
def test_padding_rows_stay_zero_and_get_no_gradient(name: str) -> None:
    model = make_model(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    for seed in range(3):
        batch = make_batch(seed)
        optimizer.zero_grad()
        model.loss(model(batch), batch)["next_item"].backward()
        tables = (model.embedding.item, model.embedding.category, model.embedding.behavior)
        for table in tables:
            assert (table.weight.grad[PAD] == 0).all()
        optimizer.step()
        for table in tables:
            assert (table.weight[PAD] == 0).all()


@pytest.mark.parametrize("tie_weights", [True, False], ids=["tied", "untied"])
def test_heads_and_reserved_columns(tie_weights: bool) -> None:
    model = make_model("lstm", tie_weights)
    logits = model(make_batch())["next_item"]
    assert logits.shape == (len(LENGTHS), NUM_ITEMS)
    assert hasattr(model, "project") == tie_weights
    assert hasattr(model, "output") != tie_weights
    assert (logits[:, [PAD, UNK]] < -1e30).all()
    assert (logits.argmax(dim=-1) >= 2).all()
    assert torch.isfinite(logits).all()
    probabilities = model.eval().predict(make_batch())
    assert not probabilities.requires_grad
    assert (probabilities[:, [PAD, UNK]] == 0).all()
    torch.testing.assert_close(probabilities.sum(dim=-1), torch.ones(len(LENGTHS)))


def test_loss_leaves_out_reserved_targets() -> None:
    model = make_model("gru")
    batch = make_batch()
    outputs = model(batch)
    batch["next_item"][[1, 3]] = torch.tensor([PAD, UNK])
    expected = torch.nn.functional.cross_entropy(
        outputs["next_item"][[0, 2]], batch["next_item"][[0, 2]]
    )
    torch.testing.assert_close(model.loss(outputs, batch)["next_item"], expected)
    batch["next_item"][:] = UNK
    assert model.loss(outputs, batch)["next_item"].item() == 0


def test_mismatched_sizes_are_refused() -> None:
    config = NextItemConfig(NUM_ITEMS, NUM_CATEGORIES, NUM_BEHAVIORS, D, H)
    with pytest.raises(ValueError, match="hidden_dim=12"):
        NextItemModel(config, LSTMEncoder(D, H + 1), ITEM_CATEGORY)
    with pytest.raises(ValueError, match="one entry per item"):
        NextItemModel(config, LSTMEncoder(D, H), ITEM_CATEGORY[:5])


def test_model_runs_on_a_prepared_batch(small_prepared) -> None:
    vocabularies = small_prepared.vocabularies
    config = NextItemConfig(
        len(vocabularies.item), len(vocabularies.category), len(vocabularies.behavior), D, H
    )
    model = NextItemModel(config, LSTMEncoder(D, H), torch.as_tensor(small_prepared.item_category))
    dataset = small_prepared.dataset("train", max_len=20)
    batch = collate_batch([dataset[i] for i in range(16)])
    loss = model.loss(model(batch), batch)["next_item"]
    assert loss.item() == pytest.approx(np.log(len(vocabularies.item) - 2), rel=0.1)


def test_next_item_model_learns() -> None:
    """Next item = last item + 1 (cyclic): an LSTM learns it from the last event."""
    torch.manual_seed(0)
    num_real = NUM_ITEMS - 2
    rng = np.random.default_rng(0)
    batches = []
    for seed in range(4):
        batch = make_batch(seed, lengths=list(rng.integers(1, 8, 32)))
        last = batch["history_item"][torch.arange(32), batch["lengths"] - 1]
        batch["next_item"] = (last - 2 + 1) % num_real + 2
        batches.append(batch)
    model = make_model("lstm")
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(200):
        batch = batches[step % len(batches)]
        loss = model.loss(model(batch), batch)["next_item"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(num_real), rel=0.1)  # starts near uniform
    assert np.mean(losses[-4:]) < 0.2 * losses[0]  # mean pooling, blind to order, stalls


# --------------------------------------------------------------------- matrix factorization


def test_matrix_factorization_shapes_gradients_and_padding() -> None:
    torch.manual_seed(0)
    model = MatrixFactorization(NUM_USERS, NUM_ITEMS, D)
    batch = make_batch()
    batch["user"][0], batch["candidate"][1] = PAD, PAD
    outputs = model(batch)
    assert outputs["click"].shape == (len(LENGTHS),)
    model.loss(outputs, batch)["click"].backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    for table in (model.user, model.item, model.user_bias, model.item_bias):
        assert (table.weight[PAD] == 0).all()
        assert (table.weight.grad[PAD] == 0).all()
    assert model.user_vectors.shape == (NUM_USERS, D)
    assert model.item_vectors.shape == (NUM_ITEMS, D)
    assert not model.item_vectors.requires_grad


def test_matrix_factorization_learns_a_planted_pattern() -> None:
    """Users and items come in two groups; a user clicks the items of their own group."""
    num_users, num_items = 22, 22
    users, items = torch.meshgrid(
        torch.arange(2, num_users), torch.arange(2, num_items), indexing="ij"
    )
    batch = {"user": users.flatten(), "candidate": items.flatten()}
    batch["click"] = (batch["user"] % 2 == batch["candidate"] % 2).float()
    torch.manual_seed(0)
    model = MatrixFactorization(num_users, num_items, embed_dim=4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        outputs = model(batch)
        loss = model.loss(outputs, batch)["click"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(np.log(2), rel=0.05)
    assert losses[-1] < 0.5 * losses[0]
    scores = model(batch)["click"].detach().numpy()
    assert roc_auc_score(batch["click"].numpy(), scores) > 0.9
