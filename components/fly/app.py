"""Old state's path of `AppProvider` (components/fly/__init__.py); the code is providers/fly/app.py."""

from providers.fly.app import AppProvider as AppProvider
