"""Peers tuned like ours: their main hyper-parameters chosen on OUR validation part, never on test.

``validate(scores) -> float`` (higher is better) scores a dense ``(n_users, n_items)`` matrix on
the validation part with deeprecs' own evaluation; each function returns the chosen point's
scores, its validation value, its fit seconds and the whole search's seconds.
"""

from __future__ import annotations

import time

import torch

from common import grid, tune


def lightfm_scores(model) -> "torch.Tensor":  # noqa: ANN001
    import numpy as np

    item_bias, item_emb = model.get_item_representations()
    user_bias, user_emb = model.get_user_representations()
    return torch.from_numpy((user_emb @ item_emb.T + item_bias[None, :] + user_bias[:, None]).astype(np.float32))


def lightfm_model(loss: str, params: dict):
    """LightFM with 64 components, ``params``' learning rate and L2 (``item_alpha = user_alpha``)."""
    from lightfm import LightFM

    return LightFM(no_components=64, loss=loss, learning_rate=params["learning_rate"], item_alpha=params["alpha"],
                   user_alpha=params["alpha"], random_state=0)


def lightfm_tuned(loss: str, ui, validate, max_epochs: int = 100, every: int = 5, threads: int = 1,
                  learning_rates: tuple = (0.05, 0.02), alphas: tuple = (0.0, 1e-5)) -> dict:
    """LightFM with 64 components; learning rate and L2 (``item_alpha = user_alpha``) on a grid,
    epochs by early stopping (checked every ``every`` epochs), all on the validation part."""
    points = grid(learning_rate=list(learning_rates), alpha=list(alphas))
    return lightfm_search(points, lambda p: lightfm_model(loss, p), lambda m: m.fit_partial(ui, epochs=1, num_threads=threads),
                          lightfm_scores, validate, max_epochs, every)


def lightfm_search(points: list[dict], make, fit_epoch, score, validate, max_epochs: int, every: int) -> dict:  # noqa: ANN001
    """Each point's model (``make(params)``) trained an epoch at a time (``fit_epoch(model)``), its
    scores (``score(model)``) validated every ``every`` epochs: the best point and epoch's
    ``{"params" (with "epochs"), "scores", "valid", "fit_seconds", "tuning_seconds", "tried"}``."""
    best: dict = {}
    t_all = time.perf_counter()
    for params in points:
        model = make(params)
        train_s = 0.0
        for epoch in range(1, max_epochs + 1):
            t0 = time.perf_counter()
            fit_epoch(model)
            train_s += time.perf_counter() - t0
            if epoch % every:
                continue
            scores = score(model)
            value = validate(scores)
            if not best or value > best["valid"]:
                best = {"params": {**params, "epochs": epoch}, "scores": scores, "valid": value, "fit_seconds": train_s}
    best["tuning_seconds"] = time.perf_counter() - t_all
    best["tried"] = f"{len(points)} settings x {max_epochs // every} epoch checkpoints"
    return best


def lightfm_refit(loss: str, params: dict, ui, threads: int = 1) -> dict:
    """The chosen setting (its ``epochs`` included) fitted again on ``ui``: ``{"scores", "fit_seconds"}``."""
    t0 = time.perf_counter()
    model = lightfm_model(loss, params)
    model.fit_partial(ui, epochs=params["epochs"], num_threads=threads)
    return {"scores": lightfm_scores(model), "fit_seconds": time.perf_counter() - t0}


def implicit_scores(algo: str, params: dict, ui, threads: int = 1) -> "torch.Tensor":
    """implicit's BPR or ALS with 64 factors and ``params`` (ALS: 15 iterations) fitted on ``ui``:
    the dense ``(n_users, n_items)`` scores."""
    import numpy as np
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if algo == "bpr":
        model = BayesianPersonalizedRanking(factors=64, random_state=0, num_threads=threads, **params)
    else:
        model = AlternatingLeastSquares(factors=64, iterations=15, random_state=0, num_threads=threads, **params)
    model.fit(ui, show_progress=False)
    return torch.from_numpy(np.asarray(model.user_factors @ model.item_factors.T, dtype=np.float32))


def implicit_refit(algo: str, params: dict, ui, threads: int = 1) -> dict:
    """The chosen setting fitted again on ``ui`` (train + validation): ``{"scores", "fit_seconds"}``."""
    t0 = time.perf_counter()
    scores = implicit_scores(algo, params, ui, threads)
    return {"scores": scores, "fit_seconds": time.perf_counter() - t0}


def implicit_tuned(algo: str, ui, validate, threads: int = 1, small: bool = False) -> dict:
    """implicit's BPR or ALS with 64 factors; its main knobs on a small grid (defaults first;
    ``small``: a coarser ALS grid for large data)."""
    if algo == "bpr":
        points = grid(learning_rate=[0.01, 0.05], regularization=[0.01, 0.001], iterations=[100, 300])
    else:
        points = (grid(regularization=[0.1, 1.0, 10.0, 100.0], alpha=[1.0, 10.0]) if small else
                  grid(regularization=[0.01, 0.1, 1.0, 10.0, 30.0, 100.0], alpha=[1.0, 10.0, 40.0]))

    def fit(p):
        return implicit_scores(algo, p, ui, threads)

    best = tune(fit, points, validate)
    best["scores"] = best.pop("fitted")
    return best


# ----------------------------------------------------------------------------- LightFM with features
def lightfm_features(table, n_rows: int, ids):  # noqa: ANN001, ANN201 - FeatureTable | None -> csr
    """LightFM's feature matrix of one side: the identity (``ids``: True, or a bool ``(n_rows,)`` mask
    of the rows that keep their id column) beside the side's feature bags (``table``, aligned to the
    ids; ``None``: none), each row scaled to sum 1 (in absolute value) as LightFM's
    ``Dataset`` does (``normalize=True``)."""
    import numpy as np
    import scipy.sparse as sp

    keep = np.broadcast_to(np.asarray(ids, dtype=bool), (n_rows,))
    blocks = [sp.diags(keep.astype(np.float32)).tocsr()] if keep.any() else []
    if table is not None:
        blocks.append(sp.csr_matrix((table.weights, table.indices, table.indptr), shape=(n_rows, table.n_features)))
    x = sp.hstack(blocks).tocsr().astype(np.float32)
    x.eliminate_zeros()  # (and owned, writable arrays: LightFM refuses read-only ones)
    sums = np.asarray(abs(x).sum(1)).ravel()
    return (sp.diags(1.0 / np.where(sums > 0, sums, 1.0)).astype(np.float32) @ x).tocsr().copy()


def lightfm_feature_scores(model, user_x, item_x) -> "torch.Tensor":  # noqa: ANN001
    """Dense ``(n_users, n_items)`` scores of the rows of ``user_x`` and ``item_x``."""
    import numpy as np

    item_bias, item_emb = model.get_item_representations(item_x)
    user_bias, user_emb = model.get_user_representations(user_x)
    return torch.from_numpy((user_emb @ item_emb.T + item_bias[None, :] + user_bias[:, None]).astype(np.float32))


def lightfm_features_tuned(ui, user_x, item_x, validate, score_item_x=None, threads: int = 1, max_epochs: int = 50, every: int = 5,
                           components: tuple = (32, 64), losses: tuple = ("warp", "bpr")) -> dict:
    """LightFM over feature matrices (:func:`lightfm_features`): ``no_components`` and the loss on a
    grid, epochs by early stopping (checked every ``every`` epochs), all on the validation part;
    learning rate 0.05, no L2 (LightFM's defaults). ``score_item_x``: the items' matrix used to
    score (e.g. cold items by their features alone), default ``item_x``."""
    from lightfm import LightFM

    score_item_x = item_x if score_item_x is None else score_item_x
    return lightfm_search(grid(no_components=list(components), loss=list(losses)), lambda p: LightFM(random_state=0, **p),
                          lambda m: m.fit_partial(ui, user_features=user_x, item_features=item_x, epochs=1, num_threads=threads),
                          lambda m: lightfm_feature_scores(m, user_x, score_item_x), validate, max_epochs, every)
