"""The production-tuned service the root bentofile builds (see service.py)."""
