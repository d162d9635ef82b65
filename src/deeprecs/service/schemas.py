"""Request and response bodies of the HTTP API (they document the OpenAPI schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, model_validator

#: largest ``k`` any route accepts
MAX_K = 1000
#: most liked items ``POST /recommendations`` accepts
MAX_LIKED = 1000
#: longest raw id (text) a route accepts, in a path or in a body (and longest feature name or value)
MAX_ID_CHARS = 200
#: most feature columns a newcomer's description names, and most values of one multi-valued column
MAX_FEATURES = 100
MAX_FEATURE_VALUES = 100

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


#: a feature's value: text (a category; a multi-valued column's values joined by its separator), a
#: number (a bucketed or scaled column), a list of a multi-valued column's values, or null (missing)
FeatureValue = StrictInt | StrictFloat | Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)] | \
    Annotated[list[Annotated[str, StringConstraints(max_length=MAX_ID_CHARS)]], Field(max_length=MAX_FEATURE_VALUES)] | None
#: a newcomer's description: the run's feature columns (``GET /model``: ``user_features``, ``item_features``) -> values;
#: a column left out is missing
Features = Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID_CHARS)], FeatureValue],
                     Field(max_length=MAX_FEATURES)]


#: a time as the training data gives it (int64; bounded so that the time between two never overflows)
Timestamp = Annotated[StrictInt, Field(ge=-(2**62) + 1, le=2**62 - 1)]


class LikedRequest(BaseModel):
    # liked items, features, or both (the schema says so too)
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": [{"required": ["liked"]}, {"required": ["features"]}]})

    #: not given: None (a field that may be left out but not sent as null)
    liked: list[InputId] = Field(None, min_length=1, max_length=MAX_LIKED, description="raw ids of items the user likes; for a "
                                 "sequential model (sasrec, gru4rec): the user's recent items in time order, oldest first; "
                                 "with `features`, optional (excluded from the list; a model that reads rated items uses them)")
    features: Features = Field(None, description="a new user's features, by the run's user feature columns (a model "
                                      "that reads features: fm, deepfm, hybrid-mf, two-tower, triplet, deep-triplet); unknown "
                                      "columns or values answer 422, a run without user features 400")  # type: ignore[assignment]
    timestamps: list[Timestamp] = Field(None, min_length=1, max_length=MAX_LIKED, description="with `liked` for a "
                                        "sequential model: when the user saw each liked item, one per item, not decreasing "
                                        "(the training data's unit: seconds for MovieLens); sasrec's time-aware attention "
                                        "reads them, without them the order alone")  # type: ignore[assignment]
    k: int = Field(10, ge=1, le=MAX_K)

    @model_validator(mode="after")
    def _something_to_go_on(self) -> "LikedRequest":
        if self.liked is None and self.features is None:
            raise ValueError("give liked items (at least one), features, or both")
        if self.timestamps is not None:
            if self.liked is None or self.features is not None:
                raise ValueError("timestamps go with liked items alone (a sequential model's recent items), not with features")
            if len(self.timestamps) != len(self.liked):
                raise ValueError(f"give one timestamp per liked item: {len(self.timestamps)} timestamps for {len(self.liked)} items")
            if any(b < a for a, b in zip(self.timestamps, self.timestamps[1:])):
                raise ValueError("timestamps must not decrease: liked items are oldest first")
        return self


class LikedRecommendations(BaseModel):
    liked: list[RawId]
    k: int
    source: str = Field("fold-in", description="'fold-in' (a new user folded in from liked items), 'next-item' (a "
                        "sequential model's next items after the ordered list) or 'features' (a new user given by features)")
    features: dict[str, FeatureValue] | None = Field(None, description="the new user's features, as given (source 'features')")
    recommendations: list[Recommendation]


class NewItemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    features: Features = Field(description="the new item's features, by the run's item feature columns")
    k: int = Field(10, ge=1, le=MAX_K)


class UserScore(BaseModel):
    rank: int
    user: RawId
    score: float


class NewItemSimilar(BaseModel):
    features: dict[str, FeatureValue]
    k: int
    similar: list["SimilarItem"] = Field(description="the run's items closest to the new item (cosine of item embeddings)")


class NewItemUsers(BaseModel):
    features: dict[str, FeatureValue]
    k: int
    users: list[UserScore] = Field(description="the run's users who would score the new item highest, best first")


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


NewItemSimilar.model_rebuild()


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
    user_features: list[str] = Field([], description="the run's user feature columns and their roles (NAME=ROLE), which a "
                                     "new user's `features` name; empty: the run takes no user features")
    item_features: list[str] = Field([], description="the run's item feature columns (a new item's `features`)")


class Health(BaseModel):
    status: str = "ok"


class Problem(BaseModel):
    """The body of every error but 422: one line that says what went wrong."""

    detail: str
