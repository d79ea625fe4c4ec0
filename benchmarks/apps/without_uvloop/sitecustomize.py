"""Make uvloop and httptools unimportable in this interpreter and its children (a benchmark switch).

Put this folder on ``PYTHONPATH``: uvicorn's "auto" loop and HTTP protocol then fall back to asyncio
and h11, as in an environment without them. A ``None`` in ``sys.modules`` is Python's documented way to
make ``import`` raise ``ImportError``; no library offers this switch for BentoML's uvicorn.
"""

import sys

sys.modules["uvloop"] = None  # type: ignore[assignment]
sys.modules["httptools"] = None  # type: ignore[assignment]
