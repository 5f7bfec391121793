"""assays."""
