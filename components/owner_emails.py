"""Which emails a tenant's owner gets, as resources of the Tenant (providers/email.py sends them).

| roster                                  | resource                  | sent                                |
| any state but purging, machine exists   | `<id>-welcome`            | once, when the machine first exists |
| suspended                               | `<id>-notice-suspended`   | once per suspension                 |
| cancelled                               | `<id>-notice-cancelled`   | once per cancellation               |

An Email is sent when it is created and never again (its diff is always empty), so a second `up` sends
nothing. A notice leaves the program when the state does (deleting it sends nothing), so the next
suspension creates it, and sends it, anew. Only tenants created on or after `alex-hosted:emailsSince`
get any email: turning emails on never writes to the customers a stack already has.
Only the welcome carries a secret (the first password), and it stays secret in state.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from components import email_templates
from config.stack_config import StackConfig
from providers.email import Email, EmailKind
from tenants.roster import RosterEntry
from tenants.states import TenantState


def owner_emails(
    entry: RosterEntry,
    settings: StackConfig,
    hostname: str,
    owner_password: random.RandomPassword,
    machine: pulumi.Resource | None,
    *,
    parent: pulumi.Resource,
) -> list[Email]:
    emails = settings.emails
    if emails is None or entry.created_at is None or entry.created_at < emails.since:
        return []

    def email(name: str, kind: EmailKind, subject: str, body: pulumi.Input[str], after: list[pulumi.Resource]) -> Email:
        return Email(
            f"{entry.id}-{name}",
            to=entry.email,
            subject=subject,
            body=body,
            kind=kind,
            tenant=entry.id,
            smtp_settings=emails.smtp,
            reply_to=emails.support_email,
            opts=pulumi.ResourceOptions(parent=parent, depends_on=after),
        )

    sent = []
    if machine is not None:
        body = owner_password.result.apply(
            lambda password: (
                email_templates.welcome(
                    hostname=hostname, login_email=entry.email, password=password, portal_url=emails.portal_url
                ).body
            )
        )
        sent.append(email("welcome", EmailKind.WELCOME, email_templates.WELCOME_SUBJECT, body, [machine]))
    if entry.state == TenantState.SUSPENDED:
        notice = email_templates.suspended(
            hostname=hostname, portal_url=emails.portal_url, support_email=emails.support_email
        )
        sent.append(email("notice-suspended", EmailKind.SUSPENDED, notice.subject, notice.body, []))
    elif entry.state == TenantState.CANCELLED and entry.purge_after is not None:
        notice = email_templates.cancelled(
            hostname=hostname, export_until=entry.purge_after, support_email=emails.support_email
        )
        sent.append(email("notice-cancelled", EmailKind.CANCELLED, notice.subject, notice.body, []))
    return sent
