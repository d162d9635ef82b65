"""The HTTP API (FastAPI): ``create_app(run, store=None, ann=False)``.

Routes: ``GET /health``, ``GET /model``, ``GET /users/{user_id}/recommendations?k=``,
``GET /items/{item_id}/similar?k=``, ``POST /recommendations`` (fold-in from liked items; a sequential model's next items after an ordered list;
a new user given by ``features``, optionally with liked items), ``POST /new-item/similar`` and ``POST /new-item/users``
(a new item given by ``features``: the run's items like it, the run's users who would score it highest).
Unknown ids answer 404, invalid parameters 422 (``k`` in ``1..MAX_K``, at most ``MAX_LIKED``
liked items, ids of at most ``MAX_ID_CHARS`` characters; the answer echoes little of the
input; a feature column or value the run does not know, with what it accepts), ``features`` for a
run whose model has none of that side 400, a body over ``MAX_BODY_BYTES`` 413, a model that cannot answer a route 501, a user's
recommendations while the store cannot be read 503 (``Retry-After: 1``); any other failure 500
with a generic message. With ``DEEPRECS_API_KEY`` set, every route but ``/health`` wants
``Authorization: Bearer <key>``.

Handlers are ``async`` and compute inline: scoring one user or one indexed store lookup takes
well under a millisecond, less than a hop to the thread pool would cost.
"""

from __future__ import annotations

import gc
import logging
import os
import secrets
from pathlib import Path

from fastapi import Body, Depends, FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deeprecs.errors import ConfigError, DeeprecsError, NoFeaturesError, UnknownFeatureError, UnknownIdError
from deeprecs.retrieval.listing import py
from deeprecs.retrieval.newcomers import example_values
from deeprecs.runs import Run, load_run
from deeprecs.service.backend import RecService, dumps
from deeprecs.service.limits import MAX_BODY_BYTES, BodyLimit, validation_errors
from deeprecs.service.schemas import (MAX_ID_CHARS, MAX_K, Health, LikedRecommendations, LikedRequest, ModelInfo, NewItemRequest,
                                      NewItemSimilar, NewItemUsers, Problem, SimilarItems, UserRecommendations)
from deeprecs.store import RecStore, StoreUnavailable

log = logging.getLogger("deeprecs")

K = Query(10, ge=1, le=MAX_K, description=f"number of items, 1..{MAX_K}")


def _id(example: str):  # noqa: ANN202 - one parameter object per route: FastAPI names it after the route's argument
    return PathParam(min_length=1, max_length=MAX_ID_CHARS, examples=[example])


def _errors(*codes: int) -> dict:
    """The error answers a route declares (422 is FastAPI's own), each a :class:`Problem`."""
    text = {400: "bad request (features for a run whose model has none of that side)", 401: "missing or wrong API key", 404: "unknown user or item id",
            413: f"request body over {MAX_BODY_BYTES:,} bytes", 501: "the model cannot answer this route",
            503: "the recommendation store cannot be read (locked, missing, down); retry after a second"}
    return {code: {"model": Problem, "description": text[code]} for code in codes}


def _json(body: bytes) -> Response:
    return Response(content=body, media_type="application/json")


def _auth(api_key: str | None):  # noqa: ANN202
    bearer = HTTPBearer(auto_error=False, description="set when the server has DEEPRECS_API_KEY")

    async def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if api_key is None:
            return
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise HTTPException(401, "missing or wrong API key (Authorization: Bearer <key>)",
                                headers={"WWW-Authenticate": "Bearer"})
    return check


def create_app(run: Run | str | Path, store: RecStore | str | None = None, ann: bool = False,
               api_key: str | None = None, device: str = "cpu") -> FastAPI:
    """The app for one run. ``store``: a :class:`RecStore` or a database URL; ``api_key``:
    defaults to the ``DEEPRECS_API_KEY`` environment variable (unset or empty: no key);
    ``device``: where a run given by path is scored live."""
    run = run if isinstance(run, Run) else load_run(run, device=device)
    store = RecStore(store) if isinstance(store, str) else store
    api_key = api_key if api_key is not None else (os.environ.get("DEEPRECS_API_KEY") or None)
    service = RecService(run, store, ann)
    app = FastAPI(title="deeprecs", version="1", description=__doc__.split("\n\n", 1)[1])
    app.add_middleware(BodyLimit, max_bytes=MAX_BODY_BYTES)
    app.state.service = service
    # no key, no dependency: the schema then declares no security, and requests skip its cost
    guarded = [Depends(_auth(api_key))] if api_key else []
    auth = (401,) if api_key else ()
    # the schema's examples are ids of this run: /docs starts from a request that works
    user0, items0 = str(run.user_map.raw[0]), [py(x) for x in run.item_map.raw[:3]]
    liked_example = {"three liked items": {"value": {"liked": items0, "k": 5}}}
    user_values, item_values = (example_values(run, side) for side in ("user", "item"))
    if user_values:
        liked_example["a new user given by features"] = {"value": {"features": user_values, "k": 5}}
        liked_example["a new user given by features, with liked items"] = {"value": {"features": user_values, "liked": items0[:2], "k": 5}}
    item_example = {"a new item given by features": {"value": {"features": item_values or {"genres": ["Comedy"]}, "k": 5}}}

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(list(exc.errors()))}, status_code=422)

    @app.exception_handler(StoreUnavailable)
    async def unavailable(_request: Request, exc: StoreUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(UnknownIdError)
    async def not_found(_request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UnknownFeatureError)
    async def unknown_feature(_request: Request, exc: UnknownFeatureError) -> JSONResponse:
        return JSONResponse({"detail": [{"type": "unknown_feature", "loc": ["body", "features"], "msg": str(exc)}]}, status_code=422)

    @app.exception_handler(NoFeaturesError)
    async def no_features(_request: Request, exc: NoFeaturesError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(ConfigError)
    async def not_supported(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=501)

    @app.exception_handler(DeeprecsError)
    async def bad_request(_request: Request, exc: DeeprecsError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("error serving %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/health", response_model=Health)
    async def health() -> Response:
        return _json(b'{"status":"ok"}')

    @app.get("/model", response_model=ModelInfo, dependencies=guarded, responses=_errors(*auth))
    async def model() -> Response:
        """The run, its metrics and the store's state (``store``: this route answers while it is down)."""
        return _json(dumps(service.info()))

    @app.get("/users/{user_id}/recommendations", response_model=UserRecommendations, dependencies=guarded,
             responses=_errors(*auth, 404, 501, *((503,) if service.store is not None else ())))
    async def user_recommendations(user_id: str = _id(user0), k: int = K) -> Response:
        """Top-``k`` unseen items: from the store when it holds this run's export with at
        least ``k`` per user, else computed live; 503 while the store cannot be read."""
        return _json(service.user_body(user_id, k))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, dependencies=guarded,
             responses=_errors(*auth, 404, 501))
    async def similar(item_id: str = _id(str(items0[0])), k: int = K) -> Response:
        """Items closest to ``item_id`` by cosine similarity of item embeddings."""
        return _json(dumps(service.similar(item_id, k)))

    @app.post("/recommendations", response_model=LikedRecommendations, dependencies=guarded,
              responses=_errors(*auth, 400, 404, 413, 501))
    async def liked(body: LikedRequest = Body(openapi_examples=liked_example)) -> Response:
        """Recommendations for a new user from the items they like (folded in, not retrained); from a
        sequential model, the next items after ``liked`` read as the user's recent items, oldest first
        (seen at ``timestamps``, where given: SASRec reads the time between them); with ``features``,
        for a new user given by features (and the items they like, excluded), as
        ``deeprecs recommend --new-user`` answers (live from the run, also where a store is served)."""
        if body.features is not None:
            return _json(dumps(service.new_user(body.features, body.liked or [], body.k)))
        return _json(dumps(service.liked(body.liked, body.k, body.timestamps)))

    @app.post("/new-item/similar", response_model=NewItemSimilar, dependencies=guarded, responses=_errors(*auth, 400, 413, 501))
    async def new_item_similar(body: NewItemRequest = Body(openapi_examples=item_example)) -> Response:
        """The run's items closest to a new item given by features (cosine of item embeddings), without
        retraining (``deeprecs similar --new-item``)."""
        return _json(dumps(service.new_item(body.features, body.k, "similar")))

    @app.post("/new-item/users", response_model=NewItemUsers, dependencies=guarded, responses=_errors(*auth, 400, 413, 501))
    async def new_item_users(body: NewItemRequest = Body(openapi_examples=item_example)) -> Response:
        """The run's users who would score a new item given by features highest, best first (whom to
        recommend it to), without retraining."""
        return _json(dumps(service.new_item(body.features, body.k, "users")))

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app):
    ``DEEPRECS_SERVE_RUN``, ``DEEPRECS_SERVE_DB`` (optional), ``DEEPRECS_SERVE_ANN`` (``1``),
    ``DEEPRECS_SERVE_DEVICE`` (default ``cpu``)."""
    import torch

    torch.set_num_threads(int(os.environ.get("DEEPRECS_SERVE_THREADS", "1")))
    db = os.environ.get("DEEPRECS_SERVE_DB") or None
    app = create_app(os.environ["DEEPRECS_SERVE_RUN"], db, os.environ.get("DEEPRECS_SERVE_ANN") == "1",
                     device=os.environ.get("DEEPRECS_SERVE_DEVICE", "cpu"))
    # The run's objects live as long as the worker: out of the collector's sight, a full
    # collection no longer walks them (store path, 32 connections: p99 9.3 -> 7.5 ms, medians of 3)
    gc.collect()
    gc.freeze()
    return app
