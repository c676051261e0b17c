"""dipstick — the value leakage indicator for IT services."""

__version__ = "0.1.0"
