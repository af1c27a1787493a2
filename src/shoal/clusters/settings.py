"""How Shoal talks to managed clusters; each field maps to ``SHOAL_CLUSTER_<NAME>``."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ClusterSettings"]


class ClusterSettings(BaseSettings):
    """Timeouts of the kubeconfig check and calls, and the pacing of the health loop."""

    model_config = SettingsConfigDict(env_prefix="SHOAL_CLUSTER_", extra="ignore")

    connect_timeout: float = Field(
        5.0, gt=0, le=10, description="Seconds for DNS, TCP connect and TLS handshake each (at most 10).")
    request_timeout: float = Field(10.0, gt=0, le=120, description="Seconds for one API call into a cluster.")
    health_enabled: bool = Field(True, description="Run the health loop inside 'shoal server'.")
    health_interval: float = Field(60.0, gt=0, description="Seconds between probes of a healthy cluster.")
    health_timeout: float = Field(10.0, gt=0, description="Seconds a probe (GET /version) may take.")
    health_jitter: float = Field(
        0.2, ge=0, le=1, description="Each next probe is spread by up to this share of the interval.")
    health_concurrency: int = Field(64, ge=1, le=4096, description="Probes in flight at once per server.")
    health_max_backoff: float = Field(
        300.0, gt=0, description="Upper bound of the delay between probes of a failing cluster.")
    health_keep_connections: int = Field(
        0, ge=0, description="Clusters whose connection the health loop keeps open between probes (about 80 KiB "
                             "each; worth it only when API servers and load balancers keep idle connections "
                             "longer than the interval).")
    health_batch: int = Field(500, ge=1, le=10000, description="Clusters claimed per database round trip.")
    cert_warn_days: int = Field(30, ge=0, description="Warn when a client certificate expires within this many days.")
