"""The transports a deployment's settings ask for (OUTREACH_EMAIL_TRANSPORT / _SMS_TRANSPORT)."""

from __future__ import annotations

from outreach.config import Settings
from outreach.errors import ConfigError
from outreach.sending.transports.base import Transport
from outreach.sending.transports.files import FilesTransport


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def build_transports(settings: Settings) -> dict[str, Transport]:
    transports: dict[str, Transport] = {}
    if settings.email_transport == "sendgrid":
        from outreach.sending.transports.sendgrid import SendGridTransport

        transports["email"] = SendGridTransport(
            _required(settings.sendgrid_api_key, "OUTREACH_SENDGRID_API_KEY"),
            settings.sendgrid_base_url)
    elif settings.email_transport == "smtp":
        from outreach.sending.transports.smtp import SmtpTransport

        transports["email"] = SmtpTransport(_required(settings.smtp_url, "OUTREACH_SMTP_URL"))
    else:
        transports["email"] = FilesTransport(settings.outbox_dir, "email")
    if settings.sms_transport == "twilio":
        from outreach.sending.transports.twilio import TwilioTransport

        if not (settings.twilio_from or settings.twilio_messaging_service_sid):
            raise ConfigError("OUTREACH_TWILIO_FROM or OUTREACH_TWILIO_MESSAGING_SERVICE_SID "
                              "is not set")
        callback = f"{settings.public_url}/hooks/twilio/status" if settings.public_url else None
        transports["sms"] = TwilioTransport(
            _required(settings.twilio_account_sid, "OUTREACH_TWILIO_ACCOUNT_SID"),
            _required(settings.twilio_auth_token, "OUTREACH_TWILIO_AUTH_TOKEN"),
            from_number=settings.twilio_from,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            base_url=settings.twilio_base_url, status_callback=callback)
    else:
        transports["sms"] = FilesTransport(settings.outbox_dir, "sms")
    return transports
