"""The homework: its answer key, computed by a run of the kit, and the load test of its Q6."""
