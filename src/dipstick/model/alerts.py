"""The ``alerts:`` section of ``dipstick.yaml``: where ``dipstick check --alert`` sends news.

Targets name environment variables, never secrets: a dipstick.yaml is shared, versioned and
mailed around, so a webhook URL or an SMTP password written into it would leak with it. Each
target type is its own model behind one discriminated union on ``type``, so a typo in a key is
an error naming that key, and every target carries the same small delivery policy (timeout,
attempts, backoff) with defaults that keep a check from waiting long on a dead receiver.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True,
                              allow_inf_nan=False)

    name: str | None = Field(
        None, min_length=1,
        description="Unique name of the target in the alert log (default: its type).")
    timeout_s: float = Field(5.0, gt=0, le=120, description="Per-attempt timeout in seconds.")
    attempts: int = Field(3, ge=1, le=10, description="Tries per delivery within one run.")
    backoff_s: float = Field(
        0.5, ge=0, le=60, description="Wait before the 2nd try; doubles before each next one.")

    @property
    def key(self) -> str:
        """The name deliveries are recorded under; pending ones go to the target of that name."""
        return self.name or self.type  # type: ignore[attr-defined]


class _HttpTarget(_Target):
    url_env: str = Field(pattern=ENV_NAME,
                         description="Environment variable holding the webhook URL.")


class WebhookTarget(_HttpTarget):
    """Generic JSON webhook: POSTs the alert as a ``dipstick.alert/v1`` JSON document."""

    type: Literal["webhook"]


class SlackTarget(_HttpTarget):
    """Slack-compatible incoming webhook: ``{"text": ..., "blocks": [...]}``."""

    type: Literal["slack"]


class TeamsTarget(_HttpTarget):
    """Microsoft Teams incoming webhook: an Adaptive Card (Workflows webhooks) or a legacy
    MessageCard (Office 365 connectors)."""

    type: Literal["teams"]
    card: Literal["adaptive", "messagecard"] = "adaptive"


class EmailTarget(_Target):
    """E-mail through an SMTP server: one message per alert, plain text plus HTML."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535,
                             description="Default: 465 with ssl, 587 with starttls, else 25.")
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = Field(None, pattern=ENV_NAME)
    sender: str = Field(min_length=3)
    to: tuple[str, ...] = Field(min_length=1)

    @property
    def smtp_port(self) -> int:
        return self.port or {"ssl": 465, "starttls": 587}.get(self.security, 25)


AlertTarget = Annotated[
    WebhookTarget | SlackTarget | TeamsTarget | EmailTarget, Field(discriminator="type")]


def _unique_keys(targets: tuple[AlertTarget, ...]) -> tuple[AlertTarget, ...]:
    """Deliveries are recorded per target name, so two targets may not share one."""
    seen: set[str] = set()
    for t in targets:
        if t.key in seen:
            raise ValueError(f"two alert targets are named {t.key!r}: give each a distinct "
                             "`name`")
        seen.add(t.key)
    return targets


AlertTargets = Annotated[tuple[AlertTarget, ...], AfterValidator(_unique_keys)]
