"""Loading and validating the three input files (placeholder: being written)."""
