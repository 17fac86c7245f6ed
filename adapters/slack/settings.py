"""How to reach Slack: tokens, mode (Socket Mode or HTTP) and the Web API base URL."""

from __future__ import annotations

from dataclasses import dataclass, field

DEFAULT_API_BASE = "https://slack.com/api/"


@dataclass(frozen=True, slots=True)
class SlackSettings:
    """``app_token`` set → Socket Mode; otherwise HTTP mode with ``signing_secret``.

    ``api_base`` (``SLACK_API_BASE``) points the Web API client elsewhere: a proxy,
    GovSlack (``https://slack-gov.com/api/``) or a local fake in tests. Socket Mode
    follows it too, since ``apps.connections.open`` is a Web API method."""

    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    http_port: int = 3000
    api_base: str = DEFAULT_API_BASE

    def __post_init__(self) -> None:
        if not self.bot_token:
            raise ValueError("SLACK_BOT_TOKEN is empty")
        if not self.app_token and not self.signing_secret:
            raise ValueError(
                "Slack needs SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode)"
            )
        if not 0 <= self.http_port <= 65535:
            raise ValueError("SLACK_HTTP_PORT must be between 0 and 65535")
        if not self.api_base.endswith("/"):
            object.__setattr__(self, "api_base", self.api_base + "/")

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)
