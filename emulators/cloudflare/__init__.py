"""A local stand-in for the part of Cloudflare's v4 API the program and the scripts use: R2 buckets (CORS,
lifecycle), account API tokens, DNS records, and GraphQL storage analytics."""

from emulators.cloudflare.server import CloudflareEmulator
from emulators.cloudflare.state import BucketUsage

__all__ = ["BucketUsage", "CloudflareEmulator"]
