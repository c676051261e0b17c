"""The ticket facts and the resolution by type from the window's tickets as arrays (DuckDB).

Why: on DuckDB the two grouped queries of :mod:`dipstick.indicators.tickets` cost ~1.4 s of
CPU on the large demo's 5.3 M tickets, most of it their medians (a holistic aggregate keeps
every value of every group) and the second scan. One query fetching the window's tickets of
either audience as a few numeric columns, grouped here by a ``bincount`` per aggregate and one
sort per set of medians, gives the same numbers: counts, and sums and means of integer columns
exactly (sums of whole numbers are exact in any order); medians bit for bit (:func:`grouped`);
standard deviations and the means of log hours to their last bits, which DuckDB's own results
vary in from run to run (its threads' partial sums). Pure functions over the fetched arrays;
the query is :mod:`~dipstick.indicators.tickets`'.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
CURRENT, BASELINE = "current", "baseline"
AUDIENCES = ("internal", "customer")     # by the code ``tickets._audience`` gives each
TYPES = ("incident", "request")          # of the internal tickets, by ``_r``
# the facts' aggregates of a nullable integer column: count, mean, standard deviation
MOMENTS = {"satisfaction": ("rated", "satisfaction", "satisfaction_sd"),
           "lost_minutes": ("lost_n", "lost_mean", "lost_sd"),
           "reassignments": ("assigned", "reassignments", "reassignments_sd")}


def _moments(groups: IntArray, values: FloatArray, size: int
             ) -> tuple[IntArray, FloatArray, FloatArray]:
    """Per group (0 … ``size`` - 1): the count of non-NaN ``values``, their mean and their
    sample standard deviation (NaN where there are too few values). The deviation in two
    passes over the values less their group's least, so that equal values give exactly 0 as
    the engine's (Welford's) does: a mean of log hours is rarely exact, and a test on a
    spread of 4e-15 is not a test on none."""
    ok = ~np.isnan(values)
    g, x = groups[ok], values[ok]
    n = np.bincount(g, minlength=size)
    least = np.full(size, np.inf)
    np.minimum.at(least, g, x)
    y = x - least[g]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(g, x, minlength=size) / n
        dev = y - (np.bincount(g, y, minlength=size) / n)[g]
        sd = np.sqrt(np.bincount(g, dev * dev, minlength=size) / (n - 1))
    return n, mean, np.where(n >= 2, sd, np.nan)


def _medians(groups: IntArray, minutes: FloatArray, size: int) -> FloatArray:
    """Per group, the median of its non-NaN whole ``minutes`` / 60 (NaN without any)."""
    ok = ~np.isnan(minutes)
    out = np.full(size, np.nan)
    found, medians = grouped(groups[ok], minutes[ok].astype(np.int64), 60.0)
    out[found] = medians
    return out


def _plain(values: FloatArray) -> list[float | None]:
    """Floats with None for NaN, as the engine's null."""
    return [None if v != v else v for v in values.tolist()]


def facts(names: list[str | None], service: IntArray, cols: dict[str, Any]
          ) -> dict[tuple[str, str], dict[Any, dict[str, Any]]]:
    """``tickets._facts``' rows from one set of services' window tickets: ``service`` the
    rows' index into ``names``; ``cols`` their ``_a`` (audience code), ``_c`` (1 in the
    current window), ``_o`` (1 if reopened), ``_m`` (whole minutes to resolution, NaN if
    open) and the facts' integer columns (NaN for a null)."""
    g = (service * 2 + np.asarray(cols["_a"], dtype=np.int64)) * 2 + np.asarray(
        cols["_c"], dtype=np.int64)
    size = len(names) * 4
    n = np.bincount(g, minlength=size)
    got: dict[str, list[Any]] = {}
    for column, (count, mean, sd) in MOMENTS.items():
        c, m, s = _moments(g, np.asarray(cols[column], dtype=np.float64), size)
        got[count], got[mean], got[sd] = c.tolist(), _plain(m), _plain(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        lost = np.bincount(g, np.nan_to_num(np.asarray(cols["lost_minutes"], np.float64)),
                           minlength=size) / 60.0
        reopened = np.bincount(g, np.asarray(cols["_o"], np.float64), minlength=size)
        share = reopened / n
    got["lost_hours"] = lost.tolist()       # 0.0 without any: Narwhals' sum of none
    got["resolution_h"] = _plain(_medians(g, np.asarray(cols["_m"], np.float64), size))
    got["reopened"], got["reopen_share"] = reopened.tolist(), _plain(share)
    counts = n.tolist()
    out: dict[tuple[str, str], dict[Any, dict[str, Any]]] = {}
    for i in np.flatnonzero(n).tolist():
        key = AUDIENCES[(i >> 1) & 1], CURRENT if i & 1 else BASELINE
        out.setdefault(key, {})[names[i >> 2]] = {
            "service": names[i >> 2], "n": counts[i],
            **{k: got[k][i] for k in ("rated", "satisfaction", "satisfaction_sd",
                                      "lost_hours", "lost_n", "lost_mean", "lost_sd",
                                      "resolution_h", "reopened", "reopen_share", "assigned",
                                      "reassignments", "reassignments_sd")}}
    return out


def resolution(names: list[str | None], service: IntArray, cols: dict[str, Any]
               ) -> dict[str, dict[tuple[Any, str], dict[str, Any]]]:
    """``tickets._resolution``'s rows from the same arrays as :func:`facts`: the resolved
    internal tickets (``_a`` 0: incidents and requests, ``_r`` 1 for a request) per service,
    type and window: count, median hours, mean and sd of log(hours + 1)."""
    minutes = np.asarray(cols["_m"], dtype=np.float64)
    keep = (np.asarray(cols["_a"]) == 0) & ~np.isnan(minutes)
    g = ((service[keep] * 2 + np.asarray(cols["_c"], dtype=np.int64)[keep]) * 2
         + np.asarray(cols["_r"], dtype=np.int64)[keep])
    size = len(names) * 4
    minutes = minutes[keep]
    log_h = np.log(np.maximum(minutes / 60.0, 0.0) + 1.0)
    n, mean, sd = _moments(g, log_h, size)
    median = _medians(g, minutes, size)
    counts, means, sds, medians = n.tolist(), _plain(mean), _plain(sd), _plain(median)
    out: dict[str, dict[tuple[Any, str], dict[str, Any]]] = {CURRENT: {}, BASELINE: {}}
    for i in np.flatnonzero(n).tolist():
        name, kind = names[i >> 2], TYPES[i & 1]
        out[CURRENT if (i >> 1) & 1 else BASELINE][name, kind] = {
            "service": name, "type": kind, "n": counts[i], "median": medians[i],
            "log_mean": means[i], "log_sd": sds[i]}
    return out


def service_codes(got: dict[str, Any], labels: dict[str, tuple[str, ...]]
                  ) -> tuple[list[str | None], IntArray]:
    """The service names of rows fetched by :func:`~dipstick.engine.coded_arrays` and each
    row's index among them: the ENUM's values as they are (a null one more name, as -1
    indexes it), or the distinct texts in order of first appearance."""
    if "service" in labels:
        names: list[str | None] = list(labels["service"])
        codes = np.asarray(got["service"], dtype=np.int64)
        if (codes < 0).any():
            names.append(None)
            codes = np.where(codes < 0, len(names) - 1, codes)
        return names, codes
    values = got["service"].tolist()
    distinct = {v: i for i, v in enumerate(dict.fromkeys(values))}
    return list(distinct), np.fromiter(map(distinct.__getitem__, values), np.int64,
                                       count=len(values))


def grouped(groups: IntArray, values: IntArray, divisor: float) -> tuple[IntArray, FloatArray]:
    """Each distinct group (ascending; ``groups`` are whole numbers from 0) and the median of
    its ``values / divisor`` as DuckDB's ``median`` gives it: the middle value, or the mean
    ``(lo + hi) / 2`` of the middle two. The groups' sizes by a count, the values by one sort
    of (group, value) folded into an int64 (lexsort where it does not fit)."""
    if len(groups) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    counts = np.bincount(groups)
    found = np.flatnonzero(counts)
    n = counts[found]
    starts = np.cumsum(n) - n
    middle = (starts + (n - 1) // 2, starts + n // 2)
    lo, span = int(values.min()), int(values.max()) - int(values.min()) + 1
    if len(counts) * span < 2 ** 62:
        key = groups * span                 # in place from here: no 36 MB temporaries
        key += values
        key -= lo
        key.sort()
        low, high = ((key[m] % span + lo) / divisor for m in middle)
    else:       # too wide to fold into one int64
        ordered = values[np.lexsort((values, groups))]
        low, high = (ordered[m] / divisor for m in middle)
    return found, (low + high) / 2
