"""DRF authentication for the webhooks ACS and Event Grid call (see calls.auth)."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from calls.auth import TOKEN_PARAM, callback_authorize, event_grid_authorize


class AcsCallbackAuthentication(authentication.BaseAuthentication):
    """ACS-signed JWT when configured, else the `token` secret of the callback URL."""

    check = staticmethod(callback_authorize)

    def authenticate(self, request):
        ok, reason = self.check(request._request)
        if not ok:
            raise exceptions.AuthenticationFailed(reason)
        return AnonymousUser(), reason

    def authenticate_header(self, request):
        return 'Bearer realm="acs-callbacks"'


class EventGridAuthentication(AcsCallbackAuthentication):
    """The `token` secret of the Event Grid subscription URL."""

    check = staticmethod(event_grid_authorize)


class AcsCallbackAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "calls.api.authentication.AcsCallbackAuthentication"
    name = "acsCallback"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "query",
            "name": TOKEN_PARAM,
            "description": "Callback secret (or an ACS-signed bearer JWT when configured).",
        }


class EventGridAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "calls.api.authentication.EventGridAuthentication"
    name = "eventGridWebhook"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "query", "name": TOKEN_PARAM}
