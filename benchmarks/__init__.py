"""Benchmarks, hardening and the production-tuned service (``benchmarks/production/``).

``python -m benchmarks run``   serve each contender in turn, load it with ``wrk``, write the report
``python -m benchmarks fuzz``  schemathesis against the production service's OpenAPI: no 5xx
``python -m benchmarks soak``  sustained load at 32 clients: no failed request, flat memory
``python -m benchmarks profile``  py-spy profile of a BentoML worker under load
"""
