"""Old state's path of `IpsProvider` (components/fly/__init__.py); the code is providers/fly/ips.py."""

from providers.fly.ips import IpsProvider as IpsProvider
