"""The graded checks, one module per artifact; each check is declared with ``grader.declare.Checks``."""
