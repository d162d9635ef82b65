"""Data: loading (MovieLens, NCF benchmark files, your own tables), splits, transforms.

Entry points: :func:`load_dataset`, :func:`make_split`, :func:`fetch`.
"""

from deeprecs.data.dataset import Dataset, Split
from deeprecs.data.download import fetch
from deeprecs.data.interactions import IdMap, Interactions
from deeprecs.data.load import load_dataset
from deeprecs.data.ncf import with_validation
from deeprecs.data.splits import make_split

__all__ = ["Dataset", "Split", "IdMap", "Interactions", "fetch", "load_dataset", "make_split", "with_validation"]
