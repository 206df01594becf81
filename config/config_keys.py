"""The names of the stack settings: one home for every config key and environment variable we read.

Pulumi.yaml declares the schema, stacks/Pulumi.<stack>.yaml set the values, the program, the Fly
providers and the scripts read them: each spells a key through this module, and
tests/program/test_config_keys.py checks that the YAML files use exactly these keys, so a typo in a
stack file (which Pulumi would silently keep as an unknown key) fails a test instead of an `up`.
"""

from __future__ import annotations

from enum import StrEnum

# The project name: the namespace of our config keys and the package of our resource types.
NAMESPACE = "alex-hosted"


class ConfigKey(StrEnum):
    """A key in the `alex-hosted` namespace; `qualified` is the form stack files and messages use."""

    DOMAIN = "domain"
    ROSTER = "roster"
    IMAGE = "image"
    EDGE_IMAGE = "edgeImage"
    EDGE_REGIONS = "edgeRegions"
    DOMAIN_SHARDS = "domainShards"
    CAPACITY = "capacity"
    FREE_PER_EMAIL = "freeLibrariesPerEmail"
    FREE_PER_DAY = "freeSignupsPerDay"
    SIGNUP_IMAGE = "signupImage"
    GITHUB_REPOSITORY = "githubRepository"
    STRIPE_RESTRICTED_KEY = "stripeRestrictedKey"
    STRIPE_WEBHOOK_SECRET = "stripeWebhookSecret"
    GITHUB_DISPATCH_TOKEN = "githubDispatchToken"
    FLY_ORG = "flyOrg"
    FLY_REGION = "flyRegion"
    APP_PREFIX = "appPrefix"
    FLY_API_URL = "flyApiUrl"
    FLY_API_TOKEN = "flyApiToken"
    R2_ENDPOINT = "r2Endpoint"
    CLOUDFLARE_ACCOUNT_ID = "cloudflareAccountId"
    CLOUDFLARE_ZONE_ID = "cloudflareZoneId"
    PLANS = "plans"
    ALERTS = "alerts"
    SMTP = "smtp"
    SMTP_PASSWORD = "smtpPassword"
    BILLING_PORTAL_URL = "billingPortalUrl"
    SUPPORT_EMAIL = "supportEmail"
    EMAILS_SINCE = "emailsSince"

    @property
    def qualified(self) -> str:
        return f"{NAMESPACE}:{self.value}"


# Declared in Pulumi.yaml's `config:` schema (required, or optional with a default there).
SCHEMA_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey.DOMAIN,
    ConfigKey.ROSTER,
    ConfigKey.IMAGE,
    ConfigKey.EDGE_IMAGE,
    ConfigKey.EDGE_REGIONS,
    ConfigKey.SIGNUP_IMAGE,
    ConfigKey.GITHUB_REPOSITORY,
    ConfigKey.FLY_ORG,
    ConfigKey.FLY_REGION,
    ConfigKey.APP_PREFIX,
    ConfigKey.FLY_API_URL,
    ConfigKey.CLOUDFLARE_ACCOUNT_ID,
    ConfigKey.CLOUDFLARE_ZONE_ID,
    ConfigKey.R2_ENDPOINT,
)
# Left out of the schema on purpose: optional, and a schema entry without a default makes a key required.
# flyApiToken is a secret (or env FLY_API_TOKEN); plans is a mapping (defaults in tenants/plans.py).
# alerts is a mapping of alert thresholds (ops/alert_rules.py), read by the alerts scripts only.
# The signup app's secrets (components/signup.py) likewise: set with `pulumi config set --secret`.
# The owner emails (providers/email.py): smtp is a mapping (host, port, user, from, starttls; parsed by
# providers/smtp.py), smtpPassword a secret (or env ALEX_SMTP_PASSWORD), billingPortalUrl the Stripe
# customer-portal login URL, supportEmail the address owners write to, emailsSince an ISO date (tenants
# created before it get no welcome email).
UNDECLARED_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey.DOMAIN_SHARDS,
    ConfigKey.CAPACITY,
    ConfigKey.FREE_PER_EMAIL,
    ConfigKey.FREE_PER_DAY,
    ConfigKey.FLY_API_TOKEN,
    ConfigKey.PLANS,
    ConfigKey.ALERTS,
    ConfigKey.STRIPE_RESTRICTED_KEY,
    ConfigKey.STRIPE_WEBHOOK_SECRET,
    ConfigKey.GITHUB_DISPATCH_TOKEN,
    ConfigKey.SMTP,
    ConfigKey.SMTP_PASSWORD,
    ConfigKey.BILLING_PORTAL_URL,
    ConfigKey.SUPPORT_EMAIL,
    ConfigKey.EMAILS_SINCE,
)
# Shards (config/shards.py): domainShards lists every tenant stack of the domain, the first hosting
# the edge (one stack alone when absent); capacity caps this stack's tenants (default 400).
# Free sign-ups (billing/free_limits.py), read by the Stripe sync: freeLibrariesPerEmail caps the live free
# libraries of one email (default 1), freeSignupsPerDay the free libraries made in one UTC day (default 25).
# The plain (non-secret) keys the program reads into StackConfig; secrets are read where they are used.
SETTINGS_KEYS: tuple[ConfigKey, ...] = (
    *SCHEMA_KEYS,
    ConfigKey.PLANS,
    ConfigKey.DOMAIN_SHARDS,
    ConfigKey.CAPACITY,
    ConfigKey.FREE_PER_EMAIL,
    ConfigKey.FREE_PER_DAY,
    ConfigKey.SMTP,
    ConfigKey.BILLING_PORTAL_URL,
    ConfigKey.SUPPORT_EMAIL,
    ConfigKey.EMAILS_SINCE,
)
SECRET_KEYS: tuple[ConfigKey, ...] = (
    ConfigKey.FLY_API_TOKEN,
    ConfigKey.STRIPE_RESTRICTED_KEY,
    ConfigKey.STRIPE_WEBHOOK_SECRET,
    ConfigKey.GITHUB_DISPATCH_TOKEN,
    ConfigKey.SMTP_PASSWORD,
)

# Keys of other namespaces that a stack file may set (the Cloudflare provider's token, a secret).
# baseUrl points the provider at another Cloudflare API (the emulator in tests/e2e and `make demo`).
CLOUDFLARE_API_TOKEN_KEY = "cloudflare:apiToken"
CLOUDFLARE_BASE_URL_KEY = "cloudflare:baseUrl"
FOREIGN_KEYS: tuple[str, ...] = (CLOUDFLARE_API_TOKEN_KEY, CLOUDFLARE_BASE_URL_KEY)

# Environment variables that stand in for (and win over) config keys, and the ones only scripts read.
FLY_API_URL_ENV = "FLY_API_URL"
FLY_DEFAULT_API_URL = "https://api.machines.dev"  # where the Fly providers send when no URL is configured
FLY_API_TOKEN_ENV = "FLY_API_TOKEN"
CLOUDFLARE_API_TOKEN_ENV = "CLOUDFLARE_API_TOKEN"
SMTP_PASSWORD_ENV = "ALEX_SMTP_PASSWORD"
SMTP_TIMEOUT_ENV = "ALEX_SMTP_TIMEOUT_S"
