"""Old state's path of `MachineProvider` (components/fly/__init__.py); the code is providers/fly/machine.py."""

from providers.fly.machine import MachineProvider as MachineProvider
