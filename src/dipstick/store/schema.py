"""The declarative base every mapped app-database table derives from.

Apart from :mod:`~dipstick.store.tables` so that the run tables and the pulse tables
(:mod:`~dipstick.store.pulse_tables`) both build on it without importing each other. Its
metadata, the naming convention and the timestamp type are :mod:`~dipstick.store.core`'s (no
ORM there): the tables a stored check uses are defined once, as Core tables, and mapped.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

from dipstick.store.core import METADATA, NAMING, UTCDateTime

__all__ = ["NAMING", "Base", "UTCDateTime"]


class Base(DeclarativeBase):
    metadata = METADATA
