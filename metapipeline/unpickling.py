"""Unpickling large objects without the cyclic garbage collector in the way."""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pickling makes no garbage, but unpickling a large object (the manifest, the snapshot, the
    platform graph, a parsed YAML file) allocates millions of objects, and each allocation burst
    sets off a collection that walks everything alive: 3-7x the load time with the collector on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
