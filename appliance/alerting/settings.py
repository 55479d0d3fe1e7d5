"""``[alerting]``: ``[alerting.evaluation]`` (how often rules are evaluated, which certificates
are watched) is the evaluator's; ``[alerting.dispatch]`` and ``[alerting.routing]`` are the
dispatcher's (``dispatch/settings.py``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from appliance.alerting.dispatch.settings import DispatchSettings, RoutingSettings

#: The appliance's certificates (roles/pki: the edge's and the CA's) and Vault's listener.
DEFAULT_CERTIFICATES = (
    Path("/etc/sovereign/tls/edge.crt"),
    Path("/etc/sovereign/tls/ca.crt"),
    Path("/etc/sovereign/vault/tls/server.crt"),
)


class EvaluationSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=True, description="Run the rule evaluator in the agent.")
    interval_s: float = Field(
        default=15.0, gt=0, le=3600, description="Every rule is evaluated this often."
    )
    history_retention_days: float = Field(
        default=365.0, gt=0, le=3650, description="History entries older than this are pruned."
    )
    certificates: list[Path] = Field(
        default_factory=lambda: list(DEFAULT_CERTIFICATES),
        description="PEM certificates whose days to expiry are a metric (tls_cert_days_left); "
        "a missing file has no data.",
    )


class AlertingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    dispatch: DispatchSettings = Field(default_factory=DispatchSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
