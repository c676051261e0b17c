"""The one registry of leak indicators: an explicit tuple, in the order of PRODUCT.md.

``settings:`` in dipstick.yaml is one flat mapping shared by all indicators; this module splits
it into each indicator's spec and reports unknown or ill-typed keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from dipstick.findings import CommonSpec, Spec
from dipstick.indicators import (
    alignment,
    change,
    customer_experience,
    employee_experience,
    flow,
    perception,
    retirement,
    training,
)
from dipstick.indicators.base import Indicator

INDICATORS: tuple[Indicator[Any, Any], ...] = (
    perception.INDICATOR,
    training.INDICATOR,
    change.INDICATOR,
    retirement.INDICATOR,
    employee_experience.INDICATOR,
    customer_experience.INDICATOR,
    alignment.INDICATOR,
    flow.INDICATOR,
)

CAUSES: tuple[str, ...] = tuple(i.cause for i in INDICATORS)


def by_cause(cause: str) -> Indicator[Any, Any]:
    return next(i for i in INDICATORS if i.cause == cause)


def _specs() -> tuple[type[Spec], ...]:
    return (CommonSpec, *(i.spec for i in INDICATORS))


def known_settings() -> dict[str, type[Spec]]:
    """Setting name → the spec that owns it."""
    return {name: spec for spec in _specs() for name in spec.model_fields}


def split_settings(settings: Mapping[str, Any], spec: type[Spec]) -> Any:
    """Build ``spec`` from the keys of the flat settings mapping it owns."""
    return spec.model_validate({k: v for k, v in settings.items() if k in spec.model_fields})


# Settings a release stopped using: still accepted (a dipstick.yaml written for an older release
# keeps loading) and ignored; docs/indicators.md says what replaced each.
RETIRED: dict[str, str] = {
    "cost_per_user_vs_median": "replaced by cost_per_user_peer_z (peers of the same kind, "
                               "watch at most; issue 13)",
    "promoters_minus_detractors": "the level differs by nature between groups: "
                                  "promoters_minus_detractors_drop judges its drop against "
                                  "the group's own baseline (issue 13)",
    "questions_per_100_users": "the how-to level is shown, not judged: questions_growth "
                               "judges the rate against the service's own baseline (issue 13)",
}


def settings_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    known = known_settings()
    out = [(k, "unknown setting (see docs/indicators.md for the settings and their defaults)")
           for k in settings if k not in known and k not in RETIRED]
    for spec in _specs():
        try:
            split_settings(settings, spec)
        except ValidationError as e:
            out += [(".".join(str(p) for p in err["loc"]),
                     str(err.get("ctx", {}).get("error", err["msg"]))
                     if err["type"] == "value_error" else err["msg"]) for err in e.errors()]
    return out
