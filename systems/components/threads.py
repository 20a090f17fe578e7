"""Run a block with a set number of torch intra-op threads, then restore the previous setting.

Why: small models' matrices are tiny, and on a shared 2-core machine OpenMP's spinning threads
make 2 threads several times slower than 1 (measured on the audio demo model: 117 vs 13 ms per
utterance). torch is imported only when a count is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """``count`` threads inside the block; ``None`` or 0 leaves torch as it is."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(before)
