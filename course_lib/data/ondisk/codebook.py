"""Raw ids to small dense codes, learned chunk by chunk while a large log is read."""

from __future__ import annotations

import numpy as np
import pandas as pd


class Codebook:
    """Raw int64 ids to int32 codes 0, 1, ... in order of first appearance, chunk by chunk."""

    def __init__(self) -> None:
        self.ids = pd.Index(np.empty(0, dtype=np.int64))  # (K,) raw id of each code

    def encode(self, values: np.ndarray) -> np.ndarray:
        """Codes of ``values``, adding the ids not seen before. Shape (n,), int32."""
        local, uniques = pd.factorize(values)  # the chunk's distinct ids, hashed once
        codes = self.ids.get_indexer(uniques)
        new = codes < 0
        if new.any():
            codes[new] = len(self.ids) + np.arange(new.sum())
            self.ids = self.ids.append(pd.Index(uniques[new]))
        if len(self.ids) >= 2**31:
            raise ValueError("more than 2**31 distinct ids: they do not fit int32 codes")
        return codes.astype(np.int32)[local]
