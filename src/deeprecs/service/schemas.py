"""Request and response bodies of the HTTP API (they document the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

#: largest ``k`` any route accepts
MAX_K = 1000
#: most liked items ``POST /recommendations`` accepts
MAX_LIKED = 1000
#: longest raw id (text) a route accepts, in a path or in a body
MAX_ID_CHARS = 200

RawId = int | str
#: an id as a client sends it: a JSON integer (not a float, not a boolean) or a non-empty string
InputId = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)]


class Recommendation(BaseModel):
    rank: int
    item: RawId
    score: float
    title: str = ""


class UserRecommendations(BaseModel):
    user: RawId
    k: int
    source: str = Field(description="'store' (precomputed export), 'live' (exact scoring) or 'ann' (HNSW)")
    version: int | None = Field(None, description="export version, when served from the store")
    recommendations: list[Recommendation]


class LikedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    liked: list[InputId] = Field(min_length=1, max_length=MAX_LIKED, description="raw ids of items the user likes; for a "
                                 "sequential model (sasrec, gru4rec): the user's recent items in time order, oldest first")
    k: int = Field(10, ge=1, le=MAX_K)


class LikedRecommendations(BaseModel):
    liked: list[RawId]
    k: int
    source: str = Field("fold-in", description="'fold-in' (a new user folded in from liked items) or 'next-item' (a "
                        "sequential model's next items after the ordered list)")
    recommendations: list[Recommendation]


class SimilarItem(BaseModel):
    rank: int
    item: RawId
    similarity: float
    title: str = ""


class SimilarItems(BaseModel):
    item: RawId
    title: str
    k: int
    similar: list[SimilarItem]


class ModelInfo(BaseModel):
    model: str
    dataset: str
    run: str
    run_id: str
    n_users: int
    n_items: int
    metrics: dict
    ann: bool
    export_version: int | None = Field(None, description="current export version matching this run, if any")
    export_k: int | None = None
    store: str | None = Field(None, description="'ok', 'unavailable' (answers from it get 503), or null: no store")


class Health(BaseModel):
    status: str = "ok"


class Problem(BaseModel):
    """The body of every error but 422: one line that says what went wrong."""

    detail: str
