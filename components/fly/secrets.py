"""Old state's path of `SecretsProvider` (components/fly/__init__.py); the code is providers/fly/secrets.py."""

from providers.fly.secrets import SecretsProvider as SecretsProvider
