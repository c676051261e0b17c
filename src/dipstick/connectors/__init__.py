"""Connectors: read what organisations already have (exports, APIs) into a data package."""
