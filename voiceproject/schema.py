"""The API's contract kept true: the errors each operation declares, and query parameters read
as the schema describes them.

Every API error is `{"error": code, "detail": message}` (plus `fields` for an invalid request,
see `voiceproject.errors`). `ApiAutoSchema` adds to each operation the errors that follow from
how its view is built, so the schema and the server cannot drift apart:

- 400 where the operation reads a body or query parameters (they are validated);
- 401 where the view authenticates (a wrong or expired token is refused);
- 403 on writes that accept the session cookie (CSRF);
- 404 where the path names an object;
- 413 and 415 where a body is read (too large; a content type no parser takes);
- 429 where the view is rate limited.

Errors particular to a view (403 for another client's session, 503 when ACS is not configured)
are declared with `error_response` in its `extend_schema`; those descriptions win.

Request bodies are JSON only (`DEFAULT_PARSER_CLASSES`): DRF reads an empty form field as a
field left out, which the schema's lengths and patterns would not allow.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}


class ErrorSerializer(serializers.Serializer):
    """The body of every API error."""

    error = serializers.CharField(help_text="A stable code: `invalid`, `not_found`, ...")
    detail = serializers.CharField(help_text="What went wrong, for a person.")
    fields = serializers.DictField(
        required=False,
        help_text="An invalid request's messages by field (`non_field_errors` for the whole).",
    )


class QuerySerializer(serializers.Serializer):
    """Query parameters, read as the schema describes them.

    DRF reads a query string as HTML form input, where `?status=` means "not given" and
    `?page=1&page=2` means the last one. Here each parameter must come once, and an empty
    value is a value, validated like any other (an empty choice is refused).
    """

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            repeated = {
                name: ["Give this parameter once."]
                for name in self.fields
                if len(data.getlist(name)) > 1
            }
            if repeated:
                raise serializers.ValidationError(repeated)
            data = {name: data[name] for name in self.fields if name in data}
        return super().to_internal_value(data)


def _json_type_error(field: serializers.Field, value) -> str:
    """Why `value` is not of the JSON type the schema gives `field` ("" when it is)."""
    if value is None or isinstance(field, serializers.BaseSerializer):
        return ""  # null is the field's own rule; a nested body checks itself
    if isinstance(field, serializers.BooleanField):
        expected, ok = "boolean", isinstance(value, bool)
    elif isinstance(field, serializers.IntegerField):
        expected, ok = "integer", isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(field, serializers.FloatField):
        expected = "number"
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif isinstance(field, serializers.CharField | serializers.ChoiceField):
        expected, ok = "string", isinstance(value, str)
    elif isinstance(field, serializers.DictField):
        expected, ok = "object", isinstance(value, dict)
    elif isinstance(field, serializers.ListField):
        if not isinstance(value, list):
            return "Expected a JSON array."
        return next(filter(None, (_json_type_error(field.child, item) for item in value)), "")
    else:
        return ""
    return "" if ok else f"Expected a JSON {expected}, not {type(value).__name__}."


class JsonBodySerializer(serializers.Serializer):
    """A JSON request body whose values must have the types the schema gives them.

    DRF coerces: it reads `5` as `"5"` for a string and `"5"` as `5` for an integer, so a
    client the schema says is wrong would be answered as if it were right.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict):
            wrong = {
                name: [problem]
                for name, field in self.fields.items()
                if name in data and not field.read_only
                for problem in [_json_type_error(field, data[name])]
                if problem
            }
            if wrong:
                raise serializers.ValidationError(wrong)
        return super().to_internal_value(data)


def error_response(description: str) -> OpenApiResponse:
    """An error answer of an operation, in the shared error shape."""
    return OpenApiResponse(ErrorSerializer, description=description)


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with the errors each operation can answer declared."""

    def _error_codes(self) -> dict[int, str]:
        view = self.view
        reads_body = self.method in BODY_METHODS and self.get_request_serializer() is not None
        reads_query = any(
            parameter.get("in") == "query" for parameter in self._get_parameters() or []
        )
        codes: dict[int, str] = {}
        if reads_body or reads_query:
            codes[400] = "Invalid request: `fields` names what is wrong."
        authenticators = view.get_authenticators()
        if authenticators:
            codes[401] = "Not authenticated, or a wrong token (`detail` says which)."
        if self.method not in SAFE_METHODS and any(
            isinstance(a, SessionAuthentication) for a in authenticators
        ):
            codes[403] = "Refused (with the session cookie: a missing CSRF token)."
        if "{" in self.path:
            codes[404] = "No such object."
        if reads_body:
            codes[413] = "The body is larger than the server accepts."
            codes[415] = "The body is not JSON (`Content-Type: application/json`)."
        if view.get_throttles():
            codes[429] = "Rate limited: `detail` says when to try again."
        return codes

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_codes().items():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    error_response(description), str(code), direction=direction
                )
        return dict(sorted(responses.items()))
