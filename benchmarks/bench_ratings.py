"""The full model on a simulated ratings world, against its floors and its Bayes limits.

The world of notebook 07, sections 5 and 6 (2,000 users, 1,000 items, every interaction rated,
user attributes with ``attribute_strength`` 0.8), prepared as explicit feedback with
leave-last-out. The full model is the LSTM shared-bottom with like, rating and next item,
per-user and per-item offsets (``pair_biases``) and each past event's rating in the history
(``history_values``), trained with early stopping on like AUC minus rating RMSE; it is run
without and with every side feature (age group, region, membership, price, the user id),
over three seeds, and compared on the test set with:

- the floors: the damped user + item bias baseline (``BiasBaseline``), whose prediction also
  ranks likes; and popularity for next-item HR@10 (full ranking, the user's past excluded);
- the Bayes limits: the RMSE of each rating's true expected value and the AUC of each like's
  true probability (``rating_limits``).

Quality, not speed, so it prints no ratio; its wall time is printed for the note.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from course_lib import (
    BiasBaseline,
    Feature,
    PopularityBaseline,
    SimulatorConfig,
    TrainOptions,
    build_model,
    evaluate_ranking,
    evaluate_tasks,
    explicit_tasks,
    fit,
    label_rates,
    make_loader,
    prepare,
    rating_limits,
    set_seed,
    simulate,
    standard_tasks,
)

WORLD = SimulatorConfig(
    num_users=2_000, num_items=1_000, rating_rate=1.0, attribute_strength=0.8, seed=0
)
FEATURES = (
    Feature("age_group", "user"),
    Feature("region", "user"),
    Feature("member", "user", column="is_member"),
    Feature("price", "item", "numeric"),
    Feature("user_id", "user"),
)
MAX_LEN, BATCH_SIZE = 20, 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="at most; early stopping")
    parser.add_argument("--seeds", default="0,1,2")
    options = parser.parse_args()
    world = simulate(WORLD)
    data = prepare(
        world.log,
        start=WORLD.window[0],
        end=WORLD.window[1],
        feedback="explicit",
        features=FEATURES,
        users=world.users,
        items=world.items,
    )
    train, test, vocab = data.train, data.test, data.vocabularies
    tasks = [
        explicit_tasks()["like"],
        explicit_tasks()["rating"],
        standard_tasks(len(vocab.item), len(vocab.category), vocab.num_behaviors)["next_item"],
    ]
    loaders = {
        part: make_loader(data.dataset(part, MAX_LEN), BATCH_SIZE) for part in ("valid", "test")
    }
    floor = BiasBaseline().fit(train.user, train.candidate, train.rating)
    guess = floor.predict(test.user, test.candidate)
    popularity = PopularityBaseline().fit(train.next_item, len(vocab.item))
    rows = [
        {
            "model": "damped user + item biases; popularity",
            "rating RMSE": float(np.sqrt(np.mean((test.rating - guess) ** 2))),
            "like AUC": roc_auc_score(test.like, guess),
            "HR@10": evaluate_ranking(
                popularity.scores, loaders["test"], "cpu", exclude_seen=data.sequences
            )["HR@10"],
        }
    ]
    for names in ((), data.features.names):
        for seed in map(int, options.seeds.split(",")):
            start = time.perf_counter()
            set_seed(seed)
            model = build_model(
                data,
                tasks,
                pair_biases=True,
                history_values=True,
                features=names,
                label_rates=label_rates(tasks, train),
            )
            train_loader = make_loader(data.dataset("train", MAX_LEN), BATCH_SIZE, True, seed)
            fit(
                model,
                tasks,
                train_loader,
                loaders["valid"],
                epochs=options.epochs,
                lr=3e-3,
                monitor={("like", "roc_auc"): 1.0, ("rating", "rmse"): -1.0},
                patience=2,
                seed=seed,
                options=TrainOptions(progress=False),
            )
            scores = evaluate_tasks(model, tasks, loaders["test"], "cpu")
            ranking = evaluate_ranking(
                lambda batch, model=model: model(batch)["next_item"],
                loaders["test"],
                "cpu",
                exclude_seen=data.sequences,
            )
            rows.append(
                {
                    "model": "full model" + (" + side features" if names else ""),
                    "seed": seed,
                    "rating RMSE": scores["rating"]["rmse"],
                    "like AUC": scores["like"]["roc_auc"],
                    "HR@10": ranking["HR@10"],
                    "seconds": time.perf_counter() - start,
                }
            )
            print(rows[-1], flush=True)
    limit = rating_limits(
        world.truth,
        vocab.user.decode(test.user).astype(np.int64),
        vocab.item.decode(test.candidate).astype(np.int64),
        test.rating,
    )
    table = pd.DataFrame(rows).groupby("model", sort=False).agg(["mean", "std"])
    print(table.round(4).to_string())
    print(
        f"Bayes limits: rating RMSE {limit['rating_rmse']:.4f}, like AUC {limit['like_auc']:.4f}"
    )
    models = table.index[1:]
    rmse, auc = table[("rating RMSE", "mean")], table[("like AUC", "mean")]
    for name in models:
        print(
            f"{name}: RMSE {rmse[name] / limit['rating_rmse'] - 1:+.1%} over its limit, "
            f"like AUC {auc[name] / limit['like_auc']:.3f} of its limit"
        )


if __name__ == "__main__":
    main()
