"""The transports a deployment's settings ask for (OUTREACH_EMAIL_TRANSPORT / _SMS_TRANSPORT)."""

from __future__ import annotations

from outreach.config import Settings
from outreach.errors import ConfigError
from outreach.sending.transports.base import DEFAULT_POOL_SIZE, Transport
from outreach.sending.transports.files import FilesTransport


def _required(value: str | None, name: str) -> str:
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


def build_transports(settings: Settings,
                     pool_size: int = DEFAULT_POOL_SIZE) -> dict[str, Transport]:
    """The transports; the providers' keep-alive pools hold `pool_size` connections (one per
    sender thread: fewer would open a new connection, a TLS handshake, per call beyond it)."""
    transports: dict[str, Transport] = {}
    if settings.send.email_transport == "sendgrid":
        from outreach.sending.transports.sendgrid import SendGridTransport

        transports["email"] = SendGridTransport(
            _required(settings.providers.sendgrid_api_key, "OUTREACH_SENDGRID_API_KEY"),
            settings.providers.sendgrid_base_url, pool_size=pool_size)
    elif settings.send.email_transport == "smtp":
        from outreach.sending.transports.smtp import SmtpTransport

        transports["email"] = SmtpTransport(_required(settings.providers.smtp_url,
                                                      "OUTREACH_SMTP_URL"))
    else:
        transports["email"] = FilesTransport(settings.send.outbox_dir, "email")
    if settings.send.sms_transport == "twilio":
        from outreach.sending.transports.twilio import TwilioTransport

        if not (settings.providers.twilio_from or settings.providers.twilio_messaging_service_sid):
            raise ConfigError("OUTREACH_TWILIO_FROM or OUTREACH_TWILIO_MESSAGING_SERVICE_SID "
                              "is not set")
        public_url = settings.compliance.public_url
        callback = f"{public_url}/hooks/twilio/status" if public_url else None
        transports["sms"] = TwilioTransport(
            _required(settings.providers.twilio_account_sid, "OUTREACH_TWILIO_ACCOUNT_SID"),
            _required(settings.providers.twilio_auth_token, "OUTREACH_TWILIO_AUTH_TOKEN"),
            from_number=settings.providers.twilio_from,
            messaging_service_sid=settings.providers.twilio_messaging_service_sid,
            base_url=settings.providers.twilio_base_url, status_callback=callback,
            pool_size=pool_size)
    else:
        transports["sms"] = FilesTransport(settings.send.outbox_dir, "sms")
    return transports
