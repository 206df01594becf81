"""List prices the plan command and the fleet collector estimate with: one table, each figure with its source.

Figures are USD per 30-day month, read on the dates in the sources; check the live pages before
quoting a customer. Sources:
- Fly: https://fly.io/docs/about/pricing/ and https://fly.io/docs/about/billing/ (via
  docs/reference/fly-machines-api.md §4): volumes $0.15/GB-month provisioned, stopped-machine rootfs
  $0.15/GB-month, single-hostname certificates $0.10/month after 10 free per org, a wildcard
  certificate $1/month, v6 and shared v4 free; shared-cpu-1x compute $1.94/month (256 MB) running
  full time, extra RAM about $5/GB-month.
- Cloudflare R2: https://developers.cloudflare.com/r2/pricing/ : standard storage $0.015/GB-month
  after 10 GB-month free per account; class A operations $4.50 and class B $0.36 per million; no
  egress fees. DNS records and account tokens cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from components.machine_config import RUN_STATES
from tenants.plans import Plan

FLY_VOLUME_GB_MONTH = 0.15
FLY_ROOTFS_GB_MONTH = 0.15
FLY_ROOTFS_GB = 1.0  # the tenant image's root filesystem, an estimate (Next.js app plus tools)
FLY_CERT_MONTH = 0.10
FLY_FREE_CERTS_PER_ORG = 10
FLY_WILDCARD_CERT_MONTH = 1.00
FLY_SHARED_CPU_256MB_MONTH = 1.94
FLY_RAM_GB_MONTH = 5.00
R2_STORAGE_GB_MONTH = 0.015
R2_FREE_GB_MONTH = 10.0
R2_CLASS_A_PER_MILLION = 4.50
R2_CLASS_B_PER_MILLION = 0.36


@dataclass(frozen=True)
class Usage:
    """Assumptions a tenant's month is estimated with; the plan command exposes them as flags."""

    awake_fraction: float = 0.10  # share of the month an active tenant's machine runs (scale to zero)
    class_a_per_tenant: int = 20_000  # writes: backups every few minutes while awake, uploads
    class_b_per_tenant: int = 50_000  # reads: restores, sync pulls, downloads


def compute_month(memory_mb: int, cpus: int = 1) -> float:
    """Running full time: shared-cpu-1x with 256 MB, plus extra RAM, scaled by CPU count."""
    extra_gb = max(memory_mb - 256 * cpus, 0) / 1024
    return FLY_SHARED_CPU_256MB_MONTH * cpus + FLY_RAM_GB_MONTH * extra_gb


@dataclass(frozen=True)
class TenantMonth:
    """One tenant's estimated month at list prices, before the account-wide free allowances."""

    machine: str  # running (scales to zero) | stopped | none
    fly: float
    r2: float

    @property
    def total(self) -> float:
        return self.fly + self.r2


def edge_month(regions: int, custom_domains: int) -> float:
    """The edge: its always-on routers (shared-cpu-1x, 256 MB), the wildcard certificate, and one
    single-hostname certificate per custom domain (before the org's free certificates)."""
    return regions * compute_month(256) + FLY_WILDCARD_CERT_MONTH + custom_domains * FLY_CERT_MONTH


def tenant_month(plan: Plan, state: str, usage: Usage) -> TenantMonth:
    """What a tenant on `plan` in roster `state` costs a month: its volume, rootfs, compute while awake,
    and its R2 quota (billed as if full) with operations while it runs. Its hostnames are the edge's
    certificates (edge_month), not the tenant's."""
    machine = {"active": "running", "stopped": "stopped"}.get(RUN_STATES.get(state, ""), "none")
    fly = plan.volume_gb * FLY_VOLUME_GB_MONTH
    rootfs = FLY_ROOTFS_GB * FLY_ROOTFS_GB_MONTH
    if machine == "running":
        awake = usage.awake_fraction
        fly += awake * compute_month(plan.memory_mb, plan.cpus) + (1 - awake) * rootfs
    elif machine == "stopped":
        fly += rootfs
    r2 = plan.quota_gb * R2_STORAGE_GB_MONTH
    if machine == "running":
        r2 += usage.class_a_per_tenant / 1e6 * R2_CLASS_A_PER_MILLION
        r2 += usage.class_b_per_tenant / 1e6 * R2_CLASS_B_PER_MILLION
    return TenantMonth(machine, fly, r2)
