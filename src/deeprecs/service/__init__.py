"""HTTP service over the recommendation store and live scoring (FastAPI)."""

from deeprecs.service.app import create_app
from deeprecs.service.backend import RecService

__all__ = ["RecService", "create_app"]
