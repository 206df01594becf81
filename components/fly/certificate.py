"""Old state's path of `CertificateProvider` (components/fly/__init__.py); the code is providers/fly/certificate.py."""

from providers.fly.certificate import CertificateProvider as CertificateProvider
