"""The distributed engine: the check's aggregations, unchanged, on Apache Spark.

Indicators, shift series, journeys and discovery are written once as Narwhals expressions over
:class:`~dipstick.engine.Signals`; here each signal table becomes a Spark DataFrame, so the
same expressions run as Spark jobs (``dipstick check PKG --engine spark``). Parquet tables
(files, partitioned folders, URLs) are read and validated by Spark itself
(:mod:`dipstick.engine.spark_load`, the DuckDB loader's rules), so nothing of them passes the
driver but counts, problem samples and the check's grouped results; CSV files are loaded by
DuckDB on the driver and handed over through Arrow.

Needs the optional extra ``dipstick[spark]`` (PySpark 4, Java 17+). The session is local by
default; ``DIPSTICK_SPARK_MASTER`` (e.g. ``spark://host:7077``) points it at a cluster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

import narwhals as nw

from dipstick.engine import Signals
from dipstick.errors import UsageError
from dipstick.settings import settings


class Loaded(Protocol):
    """What :func:`on_spark` needs of a loaded package (the engine sits below the package
    loader, so it names the shape, not the class)."""

    signals: Signals
    lake: dict[str, Any]


def session(master: str | None = None, remote: str | None = None) -> Any:
    """A Spark session in UTC (dipstick's timestamps are naive UTC), without the web UI; small
    shuffles, as a check's grouped results are small (one row per service or week).
    ``remote`` (else ``SPARK_REMOTE``, e.g. ``sc://host:15002``) is a Spark Connect server
    (Databricks Connect too): the jobs run there, only their results come back."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise UsageError("--engine spark needs PySpark: pip install 'dipstick[spark]' "
                         "(and Java 17 or newer)") from None
    remote = remote or os.environ.get("SPARK_REMOTE")
    builder = SparkSession.builder.appName("dipstick")
    if remote:
        spark = builder.remote(remote).getOrCreate()
        spark.conf.set("spark.sql.session.timeZone", "UTC")
        return spark
    chosen = master or settings().spark_master
    return (builder.master(chosen)
            .config("spark.ui.enabled", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.sql.shuffle.partitions", "4")
            .getOrCreate())


class SparkSignals(Signals):
    """The package's validated tables as Spark DataFrames (same names, same columns): the
    ones Spark read itself (``lake``) as they are, the ones loaded on the driver (CSV files,
    pulse answers added to the surveys) through Arrow — unioned where a table has both."""

    def __init__(self, base: Signals, spark: Any, lake: Mapping[str, Any] | None = None
                 ) -> None:
        frames = dict(lake or {})
        super().__init__(base.connection, {n: n for n in {*base.names, *frames}})
        for n in base.names:
            local = spark.createDataFrame(base.connection.table(n).to_arrow_table())
            frames[n] = (frames[n].unionByName(local, allowMissingColumns=True)
                         if n in frames else local)
        self._frames = frames

    def frame(self, name: str, coded: bool = False) -> nw.LazyFrame[Any]:
        """``coded`` changes nothing: Spark's tables hold text."""
        frame: nw.LazyFrame[Any] = nw.from_native(self._frames[name])
        return self._cut(name, frame)

    def columns(self, name: str) -> tuple[str, ...]:
        return tuple(self._frames[name].columns)

    def parts(self, name: str, key: str) -> list[list[str]] | None:
        """Always whole: Spark sorts a median's groups and spills them itself."""
        return None


def on_spark(package: Loaded, spark: Any) -> None:
    """Switch a loaded package's signals to Spark (after anything that adds rows to them, such
    as the stored pulse answers)."""
    package.signals = SparkSignals(package.signals, spark, package.lake)


def differences(a: object, b: object, path: str = "") -> list[str]:
    """Where two result documents (``to_json``) differ beyond float summation order, relative
    1e-9: Spark adds partial sums in another order than DuckDB, so the last bits of a mean may
    differ (seen on the demo: 26 evidence baselines, in the 16th digit); nothing else may."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b))
                for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True))
                for d in differences(x, y, f"{path}/{i}")]
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0) else [f"{path}: {a} vs {b}"]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]
