"""Old state's path of `VolumeProvider` (components/fly/__init__.py); the code is providers/fly/volume.py."""

from providers.fly.volume import VolumeProvider as VolumeProvider
