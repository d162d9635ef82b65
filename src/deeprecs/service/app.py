"""The HTTP API (FastAPI): ``create_app(run, store=None, ann=False)``.

Routes: ``GET /health``, ``GET /model``, ``GET /users/{user_id}/recommendations?k=``,
``GET /items/{item_id}/similar?k=``, ``POST /recommendations`` (fold-in from liked items).
Unknown ids answer 404, invalid parameters 422 (``k`` in ``1..MAX_K``, at most ``MAX_LIKED``
liked items), a model that cannot answer a route 501; any other failure 500 with a generic
message. With ``DEEPRECS_API_KEY`` set, every route but ``/health`` wants
``Authorization: Bearer <key>``.

Handlers are ``async`` and compute inline: scoring one user or one indexed store lookup takes
well under a millisecond, less than a hop to the thread pool would cost.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Path as PathParam, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from deeprecs.errors import ConfigError, DeeprecsError, UnknownIdError
from deeprecs.runs import Run, load_run
from deeprecs.service.backend import RecService, dumps
from deeprecs.service.schemas import (MAX_K, Health, LikedRecommendations, LikedRequest, ModelInfo, SimilarItems,
                                      UserRecommendations)
from deeprecs.store import RecStore

log = logging.getLogger("deeprecs")

K = Query(10, ge=1, le=MAX_K, description=f"number of items, 1..{MAX_K}")


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
    app.state.service = service
    guarded = [Depends(_auth(api_key))]

    @app.exception_handler(UnknownIdError)
    async def not_found(_request: Request, exc: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

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

    @app.get("/model", response_model=ModelInfo, dependencies=guarded)
    async def model() -> Response:
        return _json(dumps(service.info()))

    @app.get("/users/{user_id}/recommendations", response_model=UserRecommendations, dependencies=guarded)
    async def user_recommendations(user_id: str = PathParam(max_length=200), k: int = K) -> Response:
        """Top-``k`` unseen items: from the store when it holds this run's export with at
        least ``k`` per user, else computed live."""
        return _json(service.user_body(user_id, k))

    @app.get("/items/{item_id}/similar", response_model=SimilarItems, dependencies=guarded)
    async def similar(item_id: str = PathParam(max_length=200), k: int = K) -> Response:
        """Items closest to ``item_id`` by cosine similarity of item embeddings."""
        return _json(dumps(service.similar(item_id, k)))

    @app.post("/recommendations", response_model=LikedRecommendations, dependencies=guarded)
    async def liked(body: LikedRequest) -> Response:
        """Recommendations for a new user from the items they like (folded in, not retrained)."""
        return _json(dumps(service.liked(body.liked, body.k)))

    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker process builds its own app):
    ``DEEPRECS_SERVE_RUN``, ``DEEPRECS_SERVE_DB`` (optional), ``DEEPRECS_SERVE_ANN`` (``1``),
    ``DEEPRECS_SERVE_DEVICE`` (default ``cpu``)."""
    import torch

    torch.set_num_threads(int(os.environ.get("DEEPRECS_SERVE_THREADS", "1")))
    db = os.environ.get("DEEPRECS_SERVE_DB") or None
    return create_app(os.environ["DEEPRECS_SERVE_RUN"], db, os.environ.get("DEEPRECS_SERVE_ANN") == "1",
                      device=os.environ.get("DEEPRECS_SERVE_DEVICE", "cpu"))
