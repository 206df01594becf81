"""A local stand-in for the part of Cloudflare's API the operator scripts read: R2 storage usage."""

from emulators.cloudflare.server import BucketUsage, CloudflareEmulator

__all__ = ["BucketUsage", "CloudflareEmulator"]
