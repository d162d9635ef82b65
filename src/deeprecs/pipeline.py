"""From a dataset name to a trained, evaluated, saved run: the steps the CLI wires together.

raw files -> Dataset -> transforms -> Split -> (positives) -> model + task -> fit -> evaluate -> run dir
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.interactions import Interactions
from deeprecs.data.recency import predicts_next_item
from deeprecs.errors import ConfigError
from deeprecs.evaluation.protocols import evaluate_ranking, evaluate_ratings, evaluate_sampled
from deeprecs.losses import get_loss
from deeprecs.models import PRESETS, build_model, get_model_class
from deeprecs.models.base import Recommender, fit_extra
from deeprecs.models.blend import Blend
from deeprecs.models.ncf import NeuMF
from deeprecs.training import History, RankingTask, RatingTask, TrainConfig, better, fit, seed_everything

log = logging.getLogger("deeprecs")

RANK_KS = (5, 10, 20)


@dataclass
class TrainSpec:
    """Everything ``deeprecs train`` was asked to do (saved as the run's config)."""

    model: str
    data: str
    split: str = "random:0.2"
    seed: int = 0
    task: str | None = None
    loss: str | None = None
    positive: float | None = None
    threshold: float | None = None
    rating_map: str | None = None
    from_path: str | None = None
    valid_fraction: float = 0.05
    pretrain: list[str] = field(default_factory=list)
    model_options: dict = field(default_factory=dict)
    train_options: dict = field(default_factory=dict)
    #: refit on train + validation once the validation part has chosen the settings and the number
    #: of epochs; None: where the validation part is a protocol's hold-out of one item per user
    #: (leave-one-out, NCF files), see :func:`refits_by_default`
    refit: bool | None = None
    #: with ``positive``: keep the train ratings below it as known dislikes, ranked last for
    #: their user in evaluation and never recommended (False: drop them, as before)
    dislikes: bool = True


# ----------------------------------------------------------------------------- data
def load_data(spec: TrainSpec) -> Dataset:
    from deeprecs.data import load_dataset
    from deeprecs.data.transforms import apply_value_map, binarize

    ds = load_dataset(spec.data, from_path=spec.from_path)
    if spec.rating_map:
        ds.interactions = apply_value_map(ds.interactions, spec.rating_map)
        ds.rating_values = np.unique(ds.interactions.ratings)
    if spec.threshold is not None:
        ds.interactions = binarize(ds.interactions, spec.threshold)
        ds.rating_values = np.array([0.0, 1.0])
    return ds


def resolve_task(spec: TrainSpec, ds: Dataset, model_cls: type[Recommender]) -> str:
    task = spec.task
    if task is None:
        if spec.model in PRESETS or "rating" not in model_cls.tasks:
            task = "ranking"
        elif spec.positive is not None or ds.kind == "ncf" or ds.interactions.ratings is None or spec.split == "loo":
            task = "ranking"
        else:
            task = "rating"
    if task not in model_cls.tasks:
        raise ConfigError(f"model {spec.model!r} supports task(s) {', '.join(model_cls.tasks)}, not {task!r}")
    if task == "rating" and ds.interactions.ratings is None:
        raise ConfigError("--task rating needs rated data; this data is positive-only")
    return task


def _keep_rows(part: Interactions | None, negatives: np.ndarray | None, threshold: float | None):
    if part is None:
        return None, None
    if threshold is None or part.ratings is None:
        return part.positives(None), negatives
    mask = part.ratings >= threshold
    return part.subset(mask).positives(None), (None if negatives is None else negatives[mask])


def _merge(a: Interactions, b: Interactions) -> Interactions:
    cat = lambda x, y: None if x is None or y is None else np.concatenate([x, y])  # noqa: E731
    return a.replace(users=np.concatenate([a.users, b.users]), items=np.concatenate([a.items, b.items]),
                     ratings=cat(a.ratings, b.ratings), timestamps=cat(a.timestamps, b.timestamps))


def prepare_split(spec: TrainSpec, ds: Dataset, task: str) -> Split:
    """Split, then (ranking) keep positives in every part, then carve a validation part."""
    from deeprecs.data import make_split

    split = make_split(ds, spec.split, seed=spec.seed)
    if ds.kind == "ncf" and split.valid is None:
        from deeprecs.data import with_validation

        split = with_validation(split, seed=spec.seed)  # one held-out train item per user + 99 negatives
    dislikes = None
    if task == "ranking" and spec.dislikes and spec.positive is not None and split.train.ratings is not None:
        below = split.train.ratings < spec.positive
        dislikes = split.train.subset(below).positives(None) if below.any() else None
    if task == "ranking":
        train, _ = _keep_rows(split.train, None, spec.positive)
        test, test_neg = _keep_rows(split.test, split.test_negatives, spec.positive)
        valid, valid_neg = _keep_rows(split.valid, split.valid_negatives, spec.positive)
        split = Split(train, test, valid, test_neg, valid_neg, split.spec, dict(split.notes))
    if dislikes is not None:
        split.dislikes = dislikes
        split.notes["train_dislikes"] = len(dislikes)
    if split.valid is None and spec.valid_fraction > 0:
        rng = np.random.default_rng(spec.seed + 1)
        n_valid = int(round(spec.valid_fraction * len(split.train)))
        perm = rng.permutation(len(split.train))
        split.valid = split.train.subset(np.sort(perm[:n_valid]))
        split.train = split.train.subset(np.sort(perm[n_valid:]))
        split.notes["valid"] = f"random {spec.valid_fraction:g} of train (seed {spec.seed + 1})"
        split.notes["valid_carved"] = 1
    return split


def evaluation_train(split: Split) -> Interactions:
    """What test-time candidate filtering treats as the user's train data: a validation part
    carved from train still counts as train; a protocol's own validation items (leave-one-out)
    stay candidates, as PROTOCOLS.md says."""
    if split.valid is not None and split.notes.get("valid_carved"):
        return _merge(split.train, split.valid)
    return split.train


# ----------------------------------------------------------------------------- evaluation
def rating_range(values: np.ndarray | None) -> tuple[float, float] | None:
    """``(lowest, highest)`` valid rating, the range predictions are clamped to."""
    return None if values is None else (float(np.min(values)), float(np.max(values)))


def predict_fn(model: Recommender, bounds: tuple[float, float] | None):
    def predict(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        p = model(users, items)
        return p.clamp(*bounds) if bounds else p
    return predict


def _dislikes_csr(dislikes: Interactions | None):
    return None if dislikes is None else dislikes.tocsr()


def evaluate(model: Recommender, task: str, train: Interactions, test: Interactions,
             negatives: np.ndarray | None = None, rating_values: np.ndarray | None = None,
             dislikes: Interactions | None = None) -> dict:
    """The test metrics of a run (flat dict), by task and protocol. ``dislikes``: the users'
    known dislikes (:attr:`Split.dislikes`), ranked last (:mod:`deeprecs.evaluation.dislikes`)."""
    from deeprecs.evaluation.dislikes import dislikes_last

    model.eval()
    score_all = dislikes_last(model.score_all, _dislikes_csr(dislikes))
    t0 = time.perf_counter()
    with torch.no_grad():
        if task == "rating":
            metrics = evaluate_ratings(predict_fn(model, rating_range(rating_values)), test, rating_values)
            seen_u, seen_i = train.user_counts() > 0, train.item_counts() > 0
            metrics["n_test"] = len(test)
            metrics["n_test_cold_users"] = int((~seen_u[test.users]).sum())
            metrics["n_test_cold_items"] = int((~seen_i[test.items]).sum())
        elif negatives is not None:
            metrics = evaluate_sampled(score_all, train, test, negatives, ks=(10,))
        else:
            metrics = evaluate_ranking(score_all, train, test, ks=RANK_KS)
    metrics["eval_seconds"] = time.perf_counter() - t0
    return metrics


def validator(task: str, train: Interactions, valid: Interactions, valid_neg: np.ndarray | None,
              rating_values: np.ndarray | None, dislikes: Interactions | None = None):
    """``(validate(model) -> float, metric name, higher_is_better)`` on validation data only
    (known ``dislikes`` ranked last, as in :func:`evaluate`)."""
    from deeprecs.evaluation.dislikes import dislikes_last

    if task == "rating":
        rr = rating_range(rating_values)
        return (lambda m: evaluate_ratings(predict_fn(m, rr), valid)["rmse"]), "valid_rmse", False
    csr = _dislikes_csr(dislikes)
    if valid_neg is not None:  # candidates only: a full score_all of an MLP scorer costs ~30x more
        return (lambda m: sampled_candidates(m, valid, valid_neg, dislikes=csr)["ndcg@10"]), "valid_ndcg@10", True
    return (lambda m: evaluate_ranking(dislikes_last(m.score_all, csr), train, valid, ks=(10,))["auc"]), "valid_auc", True


@torch.no_grad()
def sampled_candidates(model: Recommender, part: Interactions, negatives: np.ndarray, k: int = 10,
                       batch_size: int = 1024, dislikes=None) -> dict[str, float]:  # noqa: ANN001 - csr
    """``hr@k``/``ndcg@k`` of the leave-one-out protocol with sampled negatives, scoring only
    the candidates (item + its negatives) with ``model(users, items)``; the same ranks as
    :func:`evaluate_sampled`, without its full-ranking half. ``dislikes``: CSR of known
    dislikes, ranked last."""
    from deeprecs.evaluation.dislikes import dislikes_last_pairs
    from deeprecs.evaluation.sampled import hit_ndcg, sampled_rank

    model.eval()
    forward = dislikes_last_pairs(model, dislikes)
    sums = {f"hr@{k}": 0.0, f"ndcg@{k}": 0.0}
    for start in range(0, len(part), batch_size):
        users = torch.from_numpy(part.users[start : start + batch_size])
        items = torch.from_numpy(part.items[start : start + batch_size])
        neg = torch.from_numpy(np.asarray(negatives[start : start + batch_size], dtype=np.int64))
        cand = torch.cat([items.unsqueeze(1), neg], 1)  # (B, 1 + n_neg)
        scores = forward(users.repeat_interleave(cand.shape[1]), cand.flatten()).view(cand.shape).float()
        for name, values in hit_ndcg(sampled_rank(scores[:, 0], scores[:, 1:]), (k,)).items():
            sums[name] += float(values.sum())
    return {name: value / max(len(part), 1) for name, value in sums.items()}


# ----------------------------------------------------------------------------- cold start
@torch.no_grad()
def forget_cold(model: Recommender, train: Interactions, task: str = "rating") -> None:
    """Zero the embedding rows (and biases) of users/items with no training data, so that
    they are predicted from the global mean plus what is known (PROTOCOLS.md); for ranking,
    items with no training positive then go to the bottom of every list (:func:`rank_cold_items_last`)."""
    cold_u = torch.from_numpy(train.user_counts() == 0)
    cold_i = torch.from_numpy(train.item_counts() == 0)
    if not (cold_u.any() or cold_i.any()):
        return
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding):
            if module.num_embeddings == train.n_users and cold_u.any():
                module.weight[cold_u] = 0
            elif module.num_embeddings == train.n_items and cold_i.any():
                module.weight[cold_i] = 0
    if task == "ranking" and cold_i.any() and not cold_i.all():
        rank_cold_items_last(model, cold_i)


@torch.no_grad()
def rank_cold_items_last(model: Recommender, cold_i: torch.Tensor) -> None:
    """Ranking: an item with no training positive has no evidence for anyone, so it goes below
    every item with some. A zero vector alone would score ``0`` (for a dot product: the middle
    of the list, above many items learned as negatives); a model with item biases gets
    ``b_cold = min(b_warm) - 2 max|P| max|Q|``, so that (Cauchy-Schwarz) every warm item outscores
    it for every user. Models without item biases keep the zero vector (the triplet model ranks a
    zero vector last by itself)."""
    bias = getattr(model, "item_bias", None)
    vectors = getattr(model, "user_emb", None), getattr(model, "item_emb", None)
    if not isinstance(bias, torch.nn.Embedding) or not all(isinstance(v, torch.nn.Embedding) for v in vectors):
        return
    bound = vectors[0].weight.norm(dim=1).max() * vectors[1].weight.norm(dim=1).max()
    bias.weight[cold_i] = bias.weight[~cold_i].min() - 2 * bound - 1


# ----------------------------------------------------------------------------- train
def build_for(spec: TrainSpec, train: Interactions, task: str, split: Split | None = None) -> Recommender:
    """The model, with closed-form fitting done and pre-trained runs loaded. ``split``: for
    choices made on its validation part when the option is not given (a closed-form model's
    ``validation_grid``; NeuMF's fusion weight alpha)."""
    if spec.pretrain:
        same_split_as_runs(spec)
    if spec.pretrain and get_model_class(spec.model) is Blend:
        return blend_of_runs(spec.pretrain, train, task, spec.model_options)
    defaults = dict(getattr(get_model_class(spec.model), "model_defaults", {}).get(task, {}))
    if task == "ranking" and split is not None and predicts_next_item(split):
        fields = get_model_class(spec.model).Config.model_fields
        defaults.update({k: v for k, v in NEXT_ITEM_MODEL_DEFAULTS.items() if k in fields})
    if spec.model in PRESETS:
        defaults.update(PRESETS[spec.model].model_options)
    neumf_runs = _neumf_parts(spec.pretrain) if spec.pretrain and get_model_class(spec.model) is NeuMF else None
    if neumf_runs and "factors" not in spec.model_options:
        from deeprecs.models.ncf import gmf_branch_size

        defaults["factors"] = gmf_branch_size(neumf_runs[0].model)[0]  # the GMF branch's own size
    if spec.pretrain and "init" in get_model_class(spec.model).Config.model_fields:
        defaults["init"] = "random"  # the embeddings come from the pre-trained run: no ALS start to fit and overwrite
    model = build_model(spec.model, train.n_users, train.n_items, **{**defaults, **spec.model_options})
    fit_extra(model, train, None if split is None else split.dislikes)
    validating = split is not None and split.valid is not None and len(split.valid) > 0
    grid_for = getattr(model, "grid_for", None)
    grid = grid_for(split) if grid_for and split is not None else getattr(model, "validation_grid", {})
    grid = {k: v for k, v in grid.items() if k not in spec.model_options}
    if grid and validating:
        model = choose_on_validation(model, grid, {**defaults, **spec.model_options}, split, task)
    if spec.pretrain:
        parts = load_pretrained(model, spec.pretrain, train, spec.seed, neumf_runs)
        if isinstance(model, NeuMF) and "alpha" not in spec.model_options and validating:
            choose_alpha(model, parts, split, task)
    return model


def choose_on_validation(model: Recommender, grid: dict[str, tuple], options: dict, split: Split, task: str) -> Recommender:
    """A closed-form model's ``validation_grid`` (e.g. ALS's confidence ``alpha``, which depends on
    the data's density, and its recency boost where there are timestamps): fit each value, keep
    the model that scores best on the validation part.
    ``model`` is the one fitted with ``options``; ties keep the earliest in the grid."""
    import itertools

    validate, metric, higher = validator(task, split.train, split.valid, split.valid_negatives, None, split.dislikes)
    best, best_value, tried = model, float(validate(model)), {}
    tried[tuple(getattr(model.config, k) for k in grid)] = best_value
    for values in itertools.product(*grid.values()):
        if values in tried:
            continue
        candidate = build_model(model.name, split.train.n_users, split.train.n_items, **{**options, **dict(zip(grid, values))})
        fit_extra(candidate, split.train, split.dislikes)
        tried[values] = value = float(validate(candidate))
        if better(value, best_value, higher):
            best, best_value = candidate, value
    log.info("%s: %s chosen on validation (%s %s)", model.name, {k: getattr(best.config, k) for k in grid}, metric,
             {str(k): round(v, 4) for k, v in tried.items()})
    return best


#: NeuMF's fusion weights tried on the validation part when pre-training (the paper fixes 0.5)
ALPHA_GRID = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@torch.no_grad()
def choose_alpha(model: NeuMF, parts: tuple, split: Split, task: str) -> None:
    """Fuse the pre-trained branches with the ``alpha`` whose fused model scores best on the
    validation part (the paper's 0.5 suits a GMF and an MLP of equal strength; a stronger
    branch, such as ALS vectors, deserves more weight). Ties keep the value closest to 0.5."""
    validate, metric, higher = validator(task, split.train, split.valid, split.valid_negatives, None, split.dislikes)
    scores = {}
    for alpha in sorted(ALPHA_GRID, key=lambda a: abs(a - 0.5)):
        model.config.alpha = alpha
        model.load_pretrained(*parts)
        model.eval()
        scores[alpha] = float(validate(model))
    best = max(scores, key=scores.get) if higher else min(scores, key=scores.get)
    model.config.alpha = best
    model.load_pretrained(*parts)
    log.info("neumf: alpha %.1f chosen on validation (%s %s)", best, metric, {a: round(v, 4) for a, v in sorted(scores.items())})


#: the options that decide the split, besides the data: a pre-trained run must share them
SPLIT_OPTIONS = {"split": "--split", "seed": "--seed", "positive": "--positive", "threshold": "--threshold", "rating_map": "--rating-map"}


def same_split_as_runs(spec: TrainSpec) -> None:
    """Refuse ``--pretrain`` runs trained on another split of the data: a run of another
    ``--seed`` (or ``--split``, ``--positive``, ...) has trained on items that are held out
    here, and validation (NeuMF's alpha, a blend's weights, early stopping) would reward it for
    remembering them. The runs' ``config.json`` say how they were split (read before any run
    is loaded or model fitted, so the error comes at once; :func:`_same_data` checks the ids)."""
    for path in spec.pretrain:
        file = Path(path) / "config.json"
        if not file.is_file():
            continue  # load_run says what is missing
        theirs = json.loads(file.read_text())
        for key, flag in SPLIT_OPTIONS.items():
            if key in theirs and theirs[key] != getattr(spec, key):
                *others, last = SPLIT_OPTIONS.values()
                raise ConfigError(f"pre-trained run {path} was trained with {flag} {theirs[key]}, this run has {flag} {getattr(spec, key)}: "
                                  "another split of the data, whose training part holds items held out here. Pre-train with the "
                                  f"same {', '.join(others)} and {last}")


def _same_data(run, train: Interactions) -> None:  # noqa: ANN001 - a loaded Run
    if run.user_map != train.user_map or run.item_map != train.item_map:
        raise ConfigError(f"pre-trained run {run.path} was trained on other data (ids differ): use the same --data and --split")


def _model_options(model: Recommender) -> dict:
    """The options ``model`` was built with (its config, less the data's sizes)."""
    return {k: v for k, v in model.config.model_dump().items() if k not in ("n_users", "n_items")}


def blend_of_runs(paths: list[str], train: Interactions, task: str, options: dict, final: bool = False) -> Blend:
    """A blend whose members are already-trained runs (``blend --pretrain runs/a,runs/b``):
    their weights are taken as they are; only the blend weights remain to be fitted. The members
    are the runs' validation models (see :attr:`Run.validation_model`), or with ``final`` their
    models (refitted ones included)."""
    from deeprecs.runs import load_run

    if len(paths) < 2:
        raise ConfigError(f"blend --pretrain needs at least two runs to blend (got {len(paths)})")
    own = {"task", "combiner", "combiner_hidden"}  # the blend's own options; the members' come from the runs
    if set(options) - own:
        raise ConfigError(f"blend --pretrain takes its members from the runs; drop {', '.join(sorted(set(options) - own))}")
    runs = [load_run(p) for p in paths]
    for r in runs:
        _same_data(r, train)
        if r.config.get("task") != task:
            raise ConfigError(f"run {r.path} was trained for {r.config.get('task')!r}, this blend is for {task!r}")
    member_options = [_model_options(r.model) for r in runs]
    defaults = {k: v for k, v in Blend.model_defaults.get(task, {}).items() if k in own}  # the task's own defaults (ranking: combiner mlp)
    own_options = {k: v for k, v in {**defaults, **options}.items() if k != "task"}
    model = build_model("blend", train.n_users, train.n_items, task=task, members=[r.model.name for r in runs], member_options=member_options,
                        **own_options)
    for member, r in zip(model.members, runs):
        member.load_weights((r.model if final else r.validation_model).state_dict())
    model.note_items(train)
    return model


def load_pretrained(model: Recommender, runs: list[str], train: Interactions, seed: int = 0, neumf_runs: tuple | None = None,
                    final: bool = False) -> tuple:
    """Load the pre-trained runs into ``model`` (NeuMF: a GMF-branch run and an MLP run, already
    loaded by :func:`_neumf_parts` when ``neumf_runs`` is given; deep-triplet: a triplet run):
    their validation models (:attr:`Run.validation_model`), or with ``final`` their models.
    NeuMF: returns ``(gmf-branch model, mlp model, calibration)``, for :meth:`NeuMF.load_pretrained` again."""
    from deeprecs.models.ncf import GMF, calibrate, calibration_pairs
    from deeprecs.models.triplet import DeepTriplet

    if isinstance(model, DeepTriplet):
        if len(runs) != 1:
            raise ConfigError(f"deep-triplet --pretrain takes one triplet run (e.g. runs/triplet); got {len(runs)}")
        from deeprecs.runs import load_run

        run = load_run(runs[0])
        _same_data(run, train)
        model.load_pretrained(run.model if final else run.validation_model)
        return ()
    if not isinstance(model, NeuMF):
        raise ConfigError("--pretrain is for neumf (GMF and MLP runs), deep-triplet (a triplet run) and blend (the runs to blend)")
    gmf_run, mlp_run = neumf_runs or _neumf_parts(runs)
    gmf_model, mlp_model = (gmf_run.model, mlp_run.model) if final else (gmf_run.validation_model, mlp_run.validation_model)
    if mlp_run.config.get("task", "ranking") != "ranking":
        raise ConfigError(f"the mlp run {mlp_run.path} was trained for {mlp_run.config.get('task')!r}; pre-train it with --task ranking")
    for r in (gmf_run, mlp_run):
        _same_data(r, train)
    model.check_pretrained(gmf_model, mlp_model)
    calibration = (1.0, 0.0)
    if not isinstance(gmf_model, GMF):  # another model's scores -> log-odds on NeuMF's own objective
        calibration = calibrate(gmf_model, *calibration_pairs(train, seed=seed))
        log.info("neumf: %s scores -> log-odds: a=%.4g, b=%.4g", gmf_model.name, *calibration)
    model.load_pretrained(gmf_model, mlp_model, calibration)
    return gmf_model, mlp_model, calibration


def _neumf_parts(runs: list[str]):
    """The two ``--pretrain`` runs of a NeuMF: ``(GMF-branch run, MLP run)``. The GMF branch comes
    from a gmf run or another dot-product model (mf, biased-mf, als)."""
    from deeprecs.models.neural import MLP
    from deeprecs.runs import load_run

    if len(runs) != 2:
        raise ConfigError(f"--pretrain needs exactly two runs, a gmf (or mf, als) and an mlp one (e.g. runs/gmf,runs/mlp); got {len(runs)}")
    loaded = [load_run(p) for p in runs]
    mlp_run = next((r for r in loaded if isinstance(r.model, MLP)), None)
    gmf = next((r for r in loaded if r is not mlp_run and r.model.retrieval_vectors() is not None), None)
    if gmf is None or mlp_run is None:
        kinds = ", ".join(f"{r.path}: {r.model.name}" for r in loaded)
        raise ConfigError(f"--pretrain needs one gmf (or mf, als) run and one mlp run, e.g. --pretrain runs/gmf,runs/mlp (got {kinds})")
    return gmf, mlp_run


#: training defaults where each user's test (and validation) item is their latest one: draw recent
#: positives more often. Chosen on the validation part of ML-100K ``--split loo`` (NeuMF valid
#: NDCG@10: 0.395 off, 0.404 at recency 3, 0.415 at 10, 0.424 at 20, 0.410 at 30 with scale 20;
#: scale 5 beat 2 and 20); test HR@10 0.576 -> 0.610. ``--recency 0`` turns it off.
NEXT_ITEM_DEFAULTS = {"recency": 20.0, "recency_scale": 5.0}
#: model options there, for the models that have them: an ALS start fitted as ALS chooses on
#: leave-latest-one-out (ML-100K loo: alpha 4, recency 50; NeuMF valid NDCG@10 0.4405 -> 0.4461)
NEXT_ITEM_MODEL_DEFAULTS = {"init_alpha": 4.0, "init_recency": 50.0}


def default_train_options(model_cls: type[Recommender], task: str, pretrained: bool = False) -> dict:
    """Product defaults per model and task (chosen on validation data, see benchmarks/); a model
    fine-tuned from pre-trained runs may have its own entry, ``f"{task}-pretrained"``."""
    table = getattr(model_cls, "train_defaults", {})
    return dict(table.get(f"{task}-pretrained", table.get(task, {})) if pretrained else table.get(task, {}))


def train_options(model_cls: type[Recommender], name: str, task: str, spec: TrainSpec, split: Split, progress: bool,
                  pretrained: bool = False) -> dict:
    """Training options of model ``name`` (a model or preset name), lowest precedence first: the
    model's defaults, the next-item defaults (:data:`NEXT_ITEM_DEFAULTS`), the preset's, the
    user's."""
    next_item = NEXT_ITEM_DEFAULTS if task == "ranking" and predicts_next_item(split) else {}
    preset = PRESETS[name].train_options if name in PRESETS else {}
    return {**default_train_options(model_cls, task, pretrained), **next_item, **preset, **spec.train_options,
            "seed": spec.seed, "progress": progress}


def _task_for(model: Recommender, task: str, loss: str, cfg: TrainConfig, train: Interactions):
    if hasattr(model, "make_task"):
        return model.make_task(train, cfg)
    if task == "rating":
        return RatingTask(train)
    return RankingTask(train, cfg) if loss != "none" else None


def fit_one(model: Recommender, task: str, loss: str, cfg: TrainConfig, split: Split, ds: Dataset,
            pretrained: bool = False) -> History:
    """Fit with early stopping on the validation part when there is one; ``pretrained``: the
    model starts from trained runs, and that start competes with the epochs (epoch 0)."""
    task_obj = _task_for(model, task, loss, cfg, split.train)
    if task_obj is None:
        return History()
    if split.valid is not None and len(split.valid):
        validate, metric, higher = validator(task, split.train, split.valid, split.valid_negatives, ds.rating_values, split.dislikes)
        return fit(model, task_obj, cfg, validate, metric, higher, validate_start=pretrained)
    return fit(model, task_obj, cfg)


def _member_training(name: str, member: Recommender, task: str, spec: TrainSpec, split: Split, progress: bool) -> tuple[str, TrainConfig]:
    """A blend member's loss and training options: its own defaults (a preset's, if it is one)."""
    preset = PRESETS.get(name)
    loss = preset.loss if preset else type(member).default_loss[task]
    options = train_options(type(member), name, task, spec, split, progress)
    if task == "ranking" and loss != "none":
        options["loss"] = loss
    return loss, TrainConfig(**options)


def fit_blend(model: Blend, spec: TrainSpec, split: Split, ds: Dataset, progress: bool) -> History:
    """Train each member with its own defaults (unless they are trained runs, ``--pretrain``),
    then fit the blend weights on validation data."""
    if split.valid is None or not len(split.valid):
        raise ConfigError("blend needs a validation part to fit its weights (--valid-fraction > 0)")
    task = model.config.task
    total = History(valid_metric="valid_rmse" if task == "rating" else "")
    trained_runs = bool(spec.pretrain)  # members loaded as they are: nothing to train
    for name, member in [] if trained_runs else zip(model.config.members, model.members):
        loss, cfg = _member_training(name, member, task, spec, split, progress)
        history = fit_one(member, task, loss, cfg, split, ds)
        total.member_best_epochs.append(history.best_epoch if history.epochs else -1)
        total.fit_seconds += history.fit_seconds
        total.epochs.extend({**row, "member": name} for row in history.epochs)
    t0 = time.perf_counter()
    if task == "ranking":
        _fit_ranking_weights(model, split, total)
    else:
        rv = ds.rating_values
        valid = split.valid
        model.fit_weights(torch.from_numpy(valid.users), torch.from_numpy(valid.items), torch.from_numpy(valid.ratings), rating_range(rv))
        validate, _, _ = validator("rating", split.train, valid, None, rv)
        total.best_valid = float(validate(model))
    total.fit_seconds += time.perf_counter() - t0
    log.info("blend weights %s (%s %.4f)", [round(w, 4) for w in model.weights.tolist()], total.valid_metric, total.best_valid)
    return total


class _CachedBlend(torch.nn.Module):
    """A blend's members' standardised scores for some users, computed once, so that each
    candidate weight vector is validated without re-scoring the members."""

    def __init__(self, model: Blend, users: np.ndarray) -> None:
        super().__init__()
        self.pos = torch.full((model.config.n_users,), -1, dtype=torch.long)
        self.pos[torch.from_numpy(users)] = torch.arange(len(users))
        with torch.no_grad():
            self.rows = torch.stack(model.member_scores(torch.from_numpy(users)))  # (k, U, n_items)
        self.weights = torch.zeros(len(model.members))
        self.warm = model.warm

    def score_all(self, users: torch.Tensor, chunk: int = 0) -> torch.Tensor:
        from deeprecs.models.blend import cold_items_last

        return cold_items_last(torch.einsum("k,kbi->bi", self.weights, self.rows[:, self.pos[users]]), self.warm)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.einsum("k,kb->b", self.weights, self.rows[:, self.pos[users], items])


def _rows_of(part: Interactions, negatives: np.ndarray | None, keep: np.ndarray) -> tuple[Interactions, np.ndarray | None]:
    """The rows ``keep`` (a mask) of a validation part and of its negatives, if it has some."""
    return part.subset(keep), None if negatives is None else np.asarray(negatives)[keep]


def _fit_ranking_weights(model: Blend, split: Split, total: History, max_users: int = 4096) -> None:
    """The simplex-grid weights with the best validation metric (ties: the first, which puts
    the most weight on the first members)."""
    from deeprecs.models.blend import simplex_grid

    valid, negatives = split.valid, split.valid_negatives
    users = np.unique(valid.users)
    if len(users) > max_users:  # bound the cache (k x users x items floats): a seeded sample of users
        users = np.sort(np.random.default_rng(0).choice(users, max_users, replace=False))
        valid, negatives = _rows_of(valid, negatives, np.isin(valid.users, users))
    validate, metric, _ = validator("ranking", split.train, valid, negatives, None, split.dislikes)
    cached = _CachedBlend(model, users)
    best, best_w = -np.inf, None
    for w in simplex_grid(len(model.members)):
        cached.weights = w
        value = float(validate(cached))
        if value > best + 1e-9:
            best, best_w = value, w
    model.set_ranking_weights(best_w)
    total.valid_metric, total.best_valid = metric, best
    if model.config.combiner == "mlp":
        _fit_combiner(model, split, total)


@torch.no_grad()
def _fit_combiner(model: Blend, split: Split, total: History, folds: int = 5, max_rows: int = 20000, n_negatives: int = 99) -> None:
    """Train ``model``'s combiner on the validation candidates: each validation item with the
    protocol's negatives (or, without them, ``n_negatives`` the user never interacted with,
    seeded). Kept (``use_combiner``) only when its ``folds``-fold cross-validated NDCG@10 over the
    validation users beats the linear blend's on the same candidates; the metric of the winner
    becomes the run's validation figure."""
    from deeprecs.data.sampling import sample_negatives, unseen_counts
    from deeprecs.evaluation.sampled import hit_ndcg, sampled_rank
    from deeprecs.models.blend import train_combiner

    valid, negatives = split.valid, split.valid_negatives
    rng = np.random.default_rng(0)
    if len(valid) > max_rows:  # bound the features (rows x candidates x members floats): a seeded sample of rows
        keep = np.zeros(len(valid), dtype=bool)
        keep[rng.choice(len(valid), max_rows, replace=False)] = True
        valid, negatives = _rows_of(valid, negatives, keep)
    if negatives is None:  # as many as every validation user has unseen items, up to n_negatives
        seen = [p for p in (split.train, split.valid, split.dislikes) if p is not None]
        n_negatives = min(n_negatives, int(unseen_counts(valid.users, seen).min()))
        if n_negatives < 1:
            log.info("blend combiner: a validation user has seen every item, no negatives to train on: linear weights kept")
            return
        negatives = sample_negatives(valid.users, seen, n_negatives, rng)
    users = torch.from_numpy(valid.users.astype(np.int64))
    cand = torch.cat([torch.from_numpy(valid.items.astype(np.int64))[:, None], torch.from_numpy(np.asarray(negatives, dtype=np.int64))], 1)
    feats, linear = [], []
    for start in range(0, len(users), 512):
        u, c = users[start : start + 512], cand[start : start + 512]
        rows = [r.gather(1, c) for r in model.member_scores(u)]
        feats.append(model.combiner_features(u, rows, c))
        linear.append(torch.einsum("k,kbc->bc", model.weights[1:], torch.stack(rows)))
    features, linear_scores = torch.cat(feats), torch.cat(linear)

    def ndcg(scores: torch.Tensor) -> float:
        return float(hit_ndcg(sampled_rank(scores[:, 0], scores[:, 1:]))["ndcg@10"].mean())

    hidden = model.config.combiner_hidden
    fold_of_user = torch.from_numpy(np.random.default_rng(1).permutation(model.config.n_users) % folds)
    fold = fold_of_user[users]
    held_out = torch.zeros_like(linear_scores)
    for f in range(folds):
        inside = fold == f
        if inside.all() or not inside.any():
            continue
        held_out[inside] = train_combiner(features[~inside], hidden, seed=f).forward(features[inside]).squeeze(-1)
    cv, lin = ndcg(held_out), ndcg(linear_scores)
    model.use_combiner = torch.tensor(cv > lin)
    if cv > lin:
        model.combiner.load_state_dict(train_combiner(features, hidden, seed=folds).state_dict())
        total.valid_metric, total.best_valid = "valid_ndcg@10", cv  # cross-validated: out of fold
    log.info("blend combiner: %d-fold valid NDCG@10 %.4f against the linear blend's %.4f on the same candidates: %s",
             folds, cv, lin, "combiner kept" if cv > lin else "linear weights kept")


# ----------------------------------------------------------------------------- refit
def refits_by_default(split: Split) -> bool:
    """Refit on train + validation unless asked otherwise where the validation part is a
    protocol's hold-out of one item per user (leave-one-out, NCF files): that item is the user's
    latest train item (loo), the one most like the test item, and leaving it out of the final
    model costs accuracy (ML-100K loo NeuMF HR@10 0.639 -> 0.651, GMF 0.635 -> 0.652; ncf-ml-1m
    ALS 0.723 -> 0.725). A validation part carved at random from train keeps the model it chose."""
    return split.spec in ("loo", "ncf") and split.valid is not None and len(split.valid) > 0


def with_validation_in_train(split: Split) -> Split:
    """The split whose train part is train + validation, and no validation part."""
    return Split(_merge(split.train, split.valid), split.test, None, split.test_negatives, None, split.spec, dict(split.notes),
                 split.dislikes)


def _refit_one(model: Recommender, best_epoch: int, task: str, loss: str, cfg: TrainConfig, full: Split,
               ds: Dataset, start=None) -> tuple[Recommender, History]:  # noqa: ANN001 - start: Recommender -> None
    """``model``'s settings (as chosen on validation) fitted again on ``full``'s train part, for
    the ``best_epoch`` epochs early stopping chose (closed-form models: ``best_epoch`` -1);
    ``start(fresh)``, if given, loads its pre-trained weights before the training."""
    fresh = build_model(model.name, full.train.n_users, full.train.n_items, **_model_options(model))
    fit_extra(fresh, full.train, full.dislikes)
    if start is not None:
        start(fresh)
    if best_epoch < 1:
        return fresh, History()
    return fresh, fit_one(fresh, task, loss, cfg.model_copy(update={"epochs": best_epoch}), full, ds)


def refit(model: Recommender, history: History, spec: TrainSpec, cfg: TrainConfig, loss: str, task: str, full: Split,
          ds: Dataset, progress: bool) -> tuple[Recommender, History]:
    """``model`` fitted again on ``full`` (train + validation, :func:`with_validation_in_train`)
    with everything the validation part chose kept: the settings a closed-form model's grid
    picked (ALS's alpha), NeuMF's fusion weight, the number of epochs early stopping kept (the
    best one), a blend's weights. Pre-trained runs contribute their final models (refitted ones
    included), having been validated as they were before their own refit. Returns the refitted
    model and its history (fit seconds of this second fit)."""
    seed_everything(spec.seed)
    t0 = time.perf_counter()
    if isinstance(model, Blend):
        if spec.pretrain:
            fresh = blend_of_runs(spec.pretrain, full.train, task, spec.model_options, final=True)
        else:
            fresh = build_model("blend", full.train.n_users, full.train.n_items, **_model_options(model))
            for i, (name, member) in enumerate(zip(model.config.members, model.members)):
                member_loss, member_cfg = _member_training(name, member, task, spec, full, progress)
                best = history.member_best_epochs[i] if i < len(history.member_best_epochs) else -1
                fresh.members[i], _ = _refit_one(member, best, task, member_loss, member_cfg, full, ds)
            fresh.note_items(full.train)
        fresh.copy_fitted(model)
        return fresh, History(fit_seconds=time.perf_counter() - t0)
    start = None
    if spec.pretrain:
        neumf_runs = _neumf_parts(spec.pretrain) if isinstance(model, NeuMF) else None
        start = lambda fresh: load_pretrained(fresh, spec.pretrain, full.train, spec.seed, neumf_runs, final=True)  # noqa: E731
    fresh, fitted = _refit_one(model, history.best_epoch, task, loss, cfg, full, ds, start)
    fitted.fit_seconds = time.perf_counter() - t0
    return fresh, fitted


def train(spec: TrainSpec, out: str | Path | None = None, progress: bool = True):
    """Run the whole pipeline; returns ``(model, metrics, history, split, dataset)`` and writes
    the run directory when ``out`` is given."""
    model_cls = get_model_class(spec.model)
    ds = load_data(spec)
    task = resolve_task(spec, ds, model_cls)
    loss = spec.loss or (PRESETS[spec.model][1] if spec.model in PRESETS else model_cls.default_loss[task])
    if spec.model in PRESETS and spec.loss and spec.loss != PRESETS[spec.model][1]:
        p = PRESETS[spec.model]
        raise ConfigError(f"{spec.model} is {p.architecture} with --loss {p.loss}; use `{p.architecture} --task ranking --loss {spec.loss}` instead")
    if loss != "none":
        get_loss(task, loss)  # the rating task would otherwise ignore a ranking loss silently
    split = prepare_split(spec, ds, task)
    if max(spec.train_options.get("recency", 0), spec.model_options.get("recency", 0)) > 0 and split.train.timestamps is None:
        raise ConfigError(f"--recency needs timestamps, and the train part of {spec.data} has none; drop --recency")
    options = train_options(model_cls, spec.model, task, spec, split, progress, pretrained=bool(spec.pretrain))
    if task == "ranking" or loss != "none":
        options["loss"] = loss
    try:
        cfg = TrainConfig(**options)
    except Exception as exc:
        from deeprecs.models import _first_error

        raise ConfigError(f"invalid training options: {_first_error(exc)}") from None
    seed_everything(spec.seed)  # the seed decides the initial weights too
    if cfg.threads:  # closed-form fitting (EASE, ALS) happens before the loop sets it
        torch.set_num_threads(cfg.threads)
    t0 = time.perf_counter()
    model = build_for(spec, split.train, task, split)  # closed-form models (EASE, ALS, popularity) fit here
    setup_seconds = time.perf_counter() - t0
    if isinstance(model, Blend):
        history = fit_blend(model, spec, split, ds, progress)
    else:
        history = fit_one(model, task, loss, cfg, split, ds, pretrained=bool(spec.pretrain))
    refitting = refits_by_default(split) if spec.refit is None else bool(spec.refit)
    if refitting and (split.valid is None or not len(split.valid)):
        raise ConfigError("--refit needs a validation part to choose the settings first (--valid-fraction > 0)")
    forget_cold(model, split.train, task)
    before_refit, refit_seconds = None, 0.0
    if refitting:
        full = with_validation_in_train(split)
        before_refit = model
        model, again = refit(model, history, spec, cfg, loss, task, full, ds, progress)
        refit_seconds = again.fit_seconds
        log.info("%s: refitted on train + validation (%d epochs, %.1f s)", model.name, max(history.best_epoch, 0), refit_seconds)
        forget_cold(model, full.train, task)
    eval_train = evaluation_train(split)
    metrics = evaluate(model, task, eval_train, split.test, split.test_negatives, ds.rating_values, split.dislikes)
    metrics["fit_seconds"] = history.fit_seconds + setup_seconds + refit_seconds
    metrics["refit"] = refitting
    if refitting:
        metrics["refit_seconds"] = refit_seconds
    metrics["epochs"] = len(history.epochs)
    metrics["n_parameters"] = model.n_parameters()
    for key, value in split.notes.items():
        if isinstance(value, (int, float)):
            metrics[f"split_{key}"] = value
    hist = {**asdict(history)}
    if out is not None:
        from deeprecs.plots import plot_history
        from deeprecs.runs import save_run

        config = {"model": model.name, "preset": spec.model, "task": task, "loss": loss, "data": spec.data,
                  "dataset": ds.name, "source": ds.source, "split": spec.split, "seed": spec.seed,
                  "positive": spec.positive, "threshold": spec.threshold, "rating_map": spec.rating_map,
                  "rating_values": None if ds.rating_values is None else np.asarray(ds.rating_values).tolist(),
                  "train": cfg.model_dump(), "split_notes": split.notes, "pretrain": spec.pretrain, "refit": refitting,
                  "dislikes": split.dislikes is not None}
        save_run(out, model, config, eval_train, test=split.test, test_negatives=split.test_negatives, before_refit=before_refit,
                 valid=None if split.notes.get("valid_carved") else split.valid, dislikes=split.dislikes,
                 items=ds.items, metrics=metrics, history=hist,
                 figures={"loss.png": lambda path: plot_history(hist, path, title=f"{spec.model} on {ds.name}")})
    return model, metrics, history, split, ds
