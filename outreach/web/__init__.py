"""The web app: petition page, webhooks, unsubscribe links, organizer dashboard."""

from outreach.web.app import create_app

__all__ = ["create_app"]
