"""HTTP requests to a service the kit does not trust, with a limit on the whole answer.

``requests``' ``timeout`` bounds each read of the socket, not the answer: a service that sends its body
a byte a second held the grader for as long as it liked, and one that sent gigabytes filled its memory
(red-team round 38). :func:`request` reads the body as it arrives (``read1``: one read of the socket
at most, so a drip returns each byte) and stops at ``timeout`` seconds in all or ``max_bytes``.

Written here: neither requests nor urllib3 has a deadline for a whole response.
"""

from __future__ import annotations

import time
from typing import Any

import requests

#: The largest answer read by default (the kit's answers take a few KB; /metrics some tens).
MAX_ANSWER = 1 << 20


class SlowAnswer(requests.Timeout):
    """The answer was still coming when its time was up."""


class LargeAnswer(requests.RequestException):
    """The answer was larger than the most read."""


def request(method: str, url: str, *, timeout: float, max_bytes: int = MAX_ANSWER,
            session: requests.Session | None = None, **kwargs: Any) -> tuple[requests.Response, bytes]:
    """``method url`` (``kwargs`` as requests takes them); the response and its whole body. Raises
    :class:`SlowAnswer` past ``timeout`` seconds from the start, :class:`LargeAnswer` past
    ``max_bytes``, and requests' own errors (a refused connection, a read that waited ``timeout``)."""
    started = time.monotonic()
    with (session or requests).request(method, url, timeout=timeout, stream=True, **kwargs) as response:
        data = bytearray()
        while chunk := response.raw.read1(1 << 16, decode_content=True):
            data += chunk
            if len(data) > max_bytes:
                raise LargeAnswer(f"the answer was larger than {max_bytes >> 10} KiB")
            if time.monotonic() - started > timeout:
                raise SlowAnswer(f"the answer was still coming after {timeout:g} s")
    return response, bytes(data)


def status(url: str, timeout: float) -> int | None:
    """The status code of ``GET url``, its body read within ``timeout`` (None: no answer in time)."""
    try:
        return request("GET", url, timeout=timeout)[0].status_code
    except requests.RequestException:
        return None
