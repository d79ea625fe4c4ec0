"""The contenders the reference service is measured against, all on the same stored model and body."""
