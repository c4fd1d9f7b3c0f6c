"""compute_report (placeholder: being written)."""
