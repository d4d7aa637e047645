"""Validation: canonical rows checked by each kind's pandera model; findings, staging, the report."""
