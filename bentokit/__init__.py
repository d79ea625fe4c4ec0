"""The kit's shared runtime: the service contract, data, training, servers, bentos, containers, processes.

Importing it makes sure that requests to this machine's own servers never go through a proxy named in
the environment: with HTTP_PROXY set and 127.0.0.1 not in NO_PROXY, the grader's readiness polls and
live checks went to the proxy, and every learner of a class lost the live endpoint group.
"""

import os

#: The names of this machine that the kit's servers answer on.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_PROXIES = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


def _loopback_without_proxy() -> None:
    if not any(os.environ.get(name) for name in _PROXIES):
        return
    given = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""  # requests reads this one first
    hosts = [host for host in (h.strip() for h in given.split(",")) if host]
    hosts += [host for host in LOOPBACK if host not in hosts]
    os.environ["NO_PROXY"] = os.environ["no_proxy"] = ",".join(hosts)


_loopback_without_proxy()
