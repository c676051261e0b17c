"""The value model: typed specs of ``dipstick.yaml``.

Everything here is parsed once at the edge (``dipstick.package``) so that the engine and the
indicators never see raw dicts. Models forbid unknown keys: a typo in a YAML key is far more
common than a file written for a newer contract, and silently ignoring it would hide a setting.
"""

from __future__ import annotations

from datetime import date
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from dipstick.bounds import date_problem
from dipstick.model.alerts import AlertTargets
from dipstick.waiting import WAITING_PREFIXES as WAITING_PREFIXES  # no pydantic: `streams`
from dipstick.waiting import is_waiting as is_waiting

GroupKind = Literal["customer", "partner", "supplier", "internal"]
Lifecycle = Literal["pipeline", "live", "retiring", "retired"]
OutcomeStatus = Literal["active", "achieved", "retired"]
Direction = Literal["up", "down"]

CONTRACT_VERSION = 1


def _sane_day(value: date) -> date:
    why = date_problem(value)
    if why:
        raise ValueError(why)
    return value


# A date of dipstick.yaml: in dipstick.bounds's range, or every window computed from it overflows
Day = Annotated[date, AfterValidator(_sane_day)]


class _Model(BaseModel):
    # allow_inf_nan=False: inf, NaN and 1e400 are no rate, cost or target (dipstick.bounds)
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              allow_inf_nan=False)


class Organisation(_Model):
    name: str
    currency: str = "EUR"
    hourly_rate: float = Field(60.0, gt=0)
    as_of: Day | None = None


class ValueDimension(_Model):
    id: str = Field(min_length=1)
    name: str
    weight: float = Field(1.0, gt=0)


class StakeholderGroup(_Model):
    id: str = Field(min_length=1)
    name: str
    kind: GroupKind
    size: int | None = Field(None, ge=0)
    value_dimensions: tuple[ValueDimension, ...] = ()

    def weight(self, dimension: str) -> float:
        """Weight of a dimension; 1.0 for answers on a dimension the group did not define."""
        for d in self.value_dimensions:
            if d.id == dimension:
                return d.weight
        return 1.0


class Kpi(_Model):
    name: str
    target: float
    direction: Direction = "up"


class Outcome(_Model):
    id: str = Field(min_length=1)
    name: str
    owner: str | None = None
    status: OutcomeStatus = "active"
    kpi: Kpi | None = None


class ValueLink(_Model):
    outcome: str
    contribution: float = Field(1.0, gt=0, le=1)


class Service(_Model):
    id: str = Field(min_length=1)
    name: str
    owner: str | None = None
    lifecycle: Lifecycle = "live"
    capability: str | None = None
    monthly_cost: float = Field(0.0, ge=0)
    licences: int | None = Field(None, ge=0)
    licence_cost_monthly: float | None = Field(None, ge=0)
    end_of_life: Day | None = None
    launched: Day | None = None
    consumers: tuple[str, ...] = ()
    supports: tuple[ValueLink, ...] = ()


class StepBaseline(_Model):
    """The same step as an earlier map measured it (contract extension): what ``flow`` compares
    a hand-given step with, since a map's levels differ by nature between steps."""

    process_minutes: float = Field(ge=0)
    wait_minutes: float = Field(0.0, ge=0)
    complete_accurate: float = Field(1.0, gt=0, le=1)
    mapped: Day | None = None          # when the earlier map was drawn


class Step(_Model):
    name: str
    process_minutes: float = Field(ge=0)
    wait_minutes: float = Field(0.0, ge=0)
    complete_accurate: float = Field(1.0, gt=0, le=1)
    services: tuple[str, ...] = ()
    baseline: StepBaseline | None = None


class EventLogRef(_Model):
    """A value stream discovered from the package's ``events`` table (docs/streams.md)."""

    process: str | None = None          # the events' ``process`` value; None: every event
    # Contract extensions (optional): activity name prefixes that mark waiting states, merging
    # consecutive events of one state (audit trails), and services backing steps whose events
    # name none.
    waiting: tuple[str, ...] = WAITING_PREFIXES
    collapse: bool = False
    services: tuple[str, ...] = ()


class ValueStream(_Model):
    id: str = Field(min_length=1)
    name: str
    steps: tuple[Step, ...] = ()
    event_log: EventLogRef | None = None
    # Contract extension (optional): how often the stream runs, to turn per-run waste into a
    # monthly leak. Without it the flow indicator can grade the stream but not price it.
    runs_per_month: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _has_a_source(self) -> ValueStream:
        if not self.steps and self.event_log is None:
            raise ValueError("a value stream needs `steps` or an `event_log`")
        return self


class Touchpoint(_Model):
    id: str = Field(min_length=1)
    name: str
    channel: str | None = None
    services: tuple[str, ...] = ()


class Stage(_Model):
    name: str
    touchpoints: tuple[Touchpoint, ...] = ()


class Journey(_Model):
    id: str = Field(min_length=1)
    name: str
    persona: str | None = None
    stakeholder_group: str | None = None
    stages: tuple[Stage, ...] = ()

    @property
    def touchpoints(self) -> tuple[Touchpoint, ...]:
        return tuple(t for s in self.stages for t in s.touchpoints)


class ValueModel(_Model):
    """The whole ``dipstick.yaml``. ``settings`` stays a mapping here; the indicator registry
    validates it against the indicators' specs (see ``dipstick.indicators.registry``)."""

    organisation: Organisation
    settings: dict[str, Any] = Field(default_factory=dict)
    stakeholder_groups: tuple[StakeholderGroup, ...] = ()
    outcomes: tuple[Outcome, ...] = ()
    services: tuple[Service, ...] = ()
    value_streams: tuple[ValueStream, ...] = ()
    journeys: tuple[Journey, ...] = ()
    alerts: AlertTargets = ()

    @field_validator("settings", mode="before")
    @classmethod
    def _settings_mapping(cls, v: Any) -> Any:
        return {} if v is None else v

    def service(self, service_id: str) -> Service:
        return self._ids["services"][service_id]  # type: ignore[return-value]

    def group(self, group_id: str) -> StakeholderGroup | None:
        return self._ids["groups"].get(group_id)  # type: ignore[return-value]

    def outcome(self, outcome_id: str) -> Outcome | None:
        return self._ids["outcomes"].get(outcome_id)  # type: ignore[return-value]

    @cached_property
    def _ids(self) -> dict[str, dict[str, _Model]]:
        """Id lookups in O(1), built once: indicators look ids up per service, 2,000+ times."""
        return {"services": {x.id: x for x in self.services},
                "groups": {x.id: x for x in self.stakeholder_groups},
                "outcomes": {x.id: x for x in self.outcomes}}
