"""What the grader knows about a submission: source, bentofile, probes, and the run gathering the rest."""
