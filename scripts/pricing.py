"""The list prices, re-exported: the table lives in ops/pricing.py so the fleet collector (a
component) and the plan command share it."""

from ops.pricing import (
    FLY_CERT_MONTH,
    FLY_FREE_CERTS_PER_ORG,
    FLY_RAM_GB_MONTH,
    FLY_ROOTFS_GB,
    FLY_ROOTFS_GB_MONTH,
    FLY_SHARED_CPU_256MB_MONTH,
    FLY_VOLUME_GB_MONTH,
    FLY_WILDCARD_CERT_MONTH,
    R2_CLASS_A_PER_MILLION,
    R2_CLASS_B_PER_MILLION,
    R2_FREE_GB_MONTH,
    R2_STORAGE_GB_MONTH,
    TenantMonth,
    Usage,
    compute_month,
    edge_month,
    tenant_month,
)

__all__ = [
    "FLY_CERT_MONTH",
    "FLY_FREE_CERTS_PER_ORG",
    "FLY_RAM_GB_MONTH",
    "FLY_ROOTFS_GB",
    "FLY_ROOTFS_GB_MONTH",
    "FLY_SHARED_CPU_256MB_MONTH",
    "FLY_VOLUME_GB_MONTH",
    "FLY_WILDCARD_CERT_MONTH",
    "R2_CLASS_A_PER_MILLION",
    "R2_CLASS_B_PER_MILLION",
    "R2_FREE_GB_MONTH",
    "R2_STORAGE_GB_MONTH",
    "TenantMonth",
    "Usage",
    "compute_month",
    "edge_month",
    "tenant_month",
]
