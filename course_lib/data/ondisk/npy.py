"""Write a .npy file block by block: an array larger than memory never has to exist at once.

``np.save`` needs the whole array; ``np.lib.format.open_memmap`` would let the written pages
count as the process's resident memory until the kernel writes them back. Writing the header
for the final shape and then appending blocks with ``tofile`` keeps only one block in memory,
and the result is an ordinary .npy file for ``np.load(..., mmap_mode="r")``.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType

import numpy as np


class NpyWriter:
    """A .npy file of a known dtype and shape, filled in C order by consecutive ``write``s.

    Use it as a context manager; leaving the block checks that exactly the announced number of
    elements was written (a short file would otherwise load as garbage or fail much later).
    """

    def __init__(self, path: Path, dtype: np.dtype | type, shape: tuple[int, ...]) -> None:
        self.path, self.dtype, self.shape = Path(path), np.dtype(dtype), tuple(shape)
        self._size, self._written = math.prod(self.shape), 0
        self._file = self.path.open("wb")
        header = {
            "descr": np.lib.format.dtype_to_descr(self.dtype),
            "fortran_order": False,
            "shape": self.shape,
        }
        np.lib.format.write_array_header_1_0(self._file, header)

    def write(self, block: np.ndarray) -> None:
        """Append ``block``'s elements (cast to the file's dtype) after those written so far."""
        block = np.ascontiguousarray(block, dtype=self.dtype)
        if self._written + block.size > self._size:
            raise ValueError(f"{self.path}: more than the {self._size} elements announced")
        block.tofile(self._file)
        self._written += block.size

    def __enter__(self) -> NpyWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._file.close()
        if kind is None and self._written != self._size:
            raise ValueError(
                f"{self.path}: {self._written} elements written, {self._size} announced"
            )
