"""rectools' SASRec on an exchange folder written by ``benchmarks/sequential_peer.py`` (the peer side).

Runs in its own virtual environment (``.venv-seqpeer``, pins in ``requirements.txt`` beside this
file): it imports nothing of deeprecs. Reads from ``FOLDER``:

- ``interactions.npz``: ``users``, ``items`` (our indices), ``position`` (each row's place in our time
  order of train + validation: the ``datetime`` rectools sorts by, so its order of every history is
  ours, ties included) and ``valid`` (the row is the user's validation item);
- ``test_users.npy``: the users of the test rows, in test-row order;
- ``config.json``: ``n_items``, ``threads``, ``seed``, ``max_epochs``, ``max_minutes`` (a wall-time
  budget of the training, Lightning's ``max_time``; ``null``: none), ``patience`` and ``params``
  (keyword arguments of ``SASRecModel``).

Trains with the validation rows held out as rectools' validation targets (``get_val_mask_func``),
early stopping on rectools' validation loss (``val_loss``) with ``patience`` epochs and the best
epoch's weights restored (each epoch's losses are appended to ``progress.log``); then scores every item for each test user from the user's whole history
(train + validation item) and writes ``scores.npy`` (float32 ``(n_test, n_items)``; ``-inf`` for an
item the model never saw in training) and ``result.json`` (times, epochs, losses, versions).

    .venv-seqpeer/bin/python benchmarks/seqpeer/rectools_sasrec.py FOLDER
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path


def valid_rows(interactions, positions):  # noqa: ANN001, ANN201 - rectools' val-mask callable
    """The rows whose ``datetime`` (our time-order position in seconds, unique per row) is a validation row's."""
    import numpy as np

    return np.isin(interactions["datetime"].values.astype("datetime64[s]").astype(np.int64), positions)


def main(folder: Path) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    import torch

    torch.set_num_threads(cfg["threads"])
    torch.set_num_interop_threads(cfg["threads"])
    import numpy as np
    import pandas as pd
    import pytorch_lightning as pl
    import rectools
    from rectools.dataset import Dataset
    from rectools.models import SASRecModel

    data = np.load(folder / "interactions.npz")
    df = pd.DataFrame({"user_id": data["users"], "item_id": data["items"], "weight": 1.0,
                       "datetime": pd.to_datetime(data["position"], unit="s")})
    valid_positions = [int(p) for p in data["position"][data["valid"]]]  # plain ints: rectools keeps its kwargs in its config
    test_users = np.load(folder / "test_users.npy")

    epochs: list[dict] = []
    best: dict = {"loss": float("inf"), "state": None, "epoch": -1}

    class Track(pl.Callback):
        """Each epoch's losses and seconds; the best validation loss's weights kept in memory."""

        def on_train_epoch_start(self, trainer, module) -> None:  # noqa: ANN001
            self.t0 = time.perf_counter()

        def on_validation_epoch_end(self, trainer, module) -> None:  # noqa: ANN001
            if trainer.sanity_checking:
                return
            loss = float(trainer.callback_metrics["val_loss"])
            epochs.append({"epoch": trainer.current_epoch + 1, "val_loss": round(loss, 5)})
            with open(folder / "progress.log", "a") as fh:
                fh.write(f"epoch {trainer.current_epoch + 1} val_loss {loss:.5f} at {time.strftime('%H:%M:%S')}\n")
            if loss < best["loss"]:
                best.update(loss=loss, epoch=trainer.current_epoch + 1,
                            state={k: v.detach().clone() for k, v in module.state_dict().items()})

        def on_train_epoch_end(self, trainer, module) -> None:  # noqa: ANN001
            if epochs:
                epochs[-1].update(train_loss=round(float(trainer.callback_metrics.get("train_loss", float("nan"))), 5),
                                  seconds=round(time.perf_counter() - self.t0, 2))

    def trainer() -> pl.Trainer:
        stop = pl.callbacks.EarlyStopping(monitor="val_loss", mode="min", patience=cfg["patience"])
        budget = None if cfg.get("max_minutes") is None else {"minutes": cfg["max_minutes"]}
        return pl.Trainer(max_epochs=cfg["max_epochs"], max_time=budget, min_epochs=1, accelerator="cpu", devices=1, deterministic=True,
                          enable_progress_bar=False, enable_model_summary=False, logger=False, enable_checkpointing=False,
                          num_sanity_val_steps=0, callbacks=[Track(), stop])

    pl.seed_everything(cfg["seed"], verbose=False)
    model = SASRecModel(**cfg["params"], deterministic=True, get_val_mask_func=valid_rows,
                        get_val_mask_func_kwargs={"positions": valid_positions}, get_trainer_func=trainer,
                        recommend_n_threads=cfg["threads"])
    dataset = Dataset.construct(df)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(dataset)
    if best["state"] is not None:
        model.lightning_model.load_state_dict(best["state"])
    fit_seconds, fit_cpu = time.perf_counter() - t0, time.process_time() - c0

    t0 = time.perf_counter()
    known = model.data_preparator.get_known_item_ids()
    reco = model.recommend(users=test_users, dataset=dataset, k=len(known), filter_viewed=False)
    row = pd.Series(np.arange(len(test_users)), index=test_users)
    scores = np.full((len(test_users), cfg["n_items"]), -np.inf, dtype=np.float32)
    scores[row[reco["user_id"].values].values, reco["item_id"].values.astype(np.int64)] = reco["score"].values
    np.save(folder / "scores.npy", scores)
    score_seconds = time.perf_counter() - t0

    out = {"fit_seconds": fit_seconds, "fit_cpu_seconds": fit_cpu, "score_seconds": score_seconds,
           "epochs": len(epochs), "best_epoch": best["epoch"], "best_val_loss": best["loss"], "history": epochs,
           "items_known": int(len(known)), "versions": {"rectools": rectools.__version__, "torch": torch.__version__,
                                                        "pytorch_lightning": pl.__version__, "numpy": np.__version__}}
    (folder / "result.json").write_text(json.dumps(copy.deepcopy(out), indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
