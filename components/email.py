"""Old state's path of `EmailProvider` (components/fly/__init__.py); the code is providers/email.py."""

from providers.email import EmailProvider as EmailProvider
