"""Calls API: dial out, list, hang up, and the two webhooks ACS and Event Grid call."""

from __future__ import annotations

from django.conf import settings
from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from browser.api.sessions import SESSION_TOKEN_PARAMETER, request_session_access
from browser.services import session_claim
from calls import acs_client, services
from calls.api.authentication import AcsCallbackAuthentication, EventGridAuthentication
from calls.api.serializers import (
    CallbackResponseSerializer,
    CallInitiateRequestSerializer,
    CallInitiateResponseSerializer,
    CallListQuerySerializer,
    CallListResponseSerializer,
    CallTerminateRequestSerializer,
    CallTerminateResponseSerializer,
    CallTransferRequestSerializer,
    CallTransferResponseSerializer,
    EventGridResponseSerializer,
)
from calls.models import CallEvent
from calls.selectors import call_list
from voiceproject.pagination import page_get
from voiceproject.schema import error_response

EVENT_ARRAY = {"application/json": {"type": "array", "items": {"type": "object"}}}


class InvalidRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid_request"
    default_detail = "Invalid request."


class UnknownCallError(exceptions.APIException):
    status_code = status.HTTP_404_NOT_FOUND
    default_code = "unknown_call"
    default_detail = "No such call."


class AcsNotConfiguredError(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "acs_not_configured"
    default_detail = "Azure Communication Services is not configured."


class AcsRequestError(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "acs_request_failed"
    default_detail = "Azure Communication Services refused the request."


def _api_error(exc: Exception) -> exceptions.APIException:
    if isinstance(exc, services.InvalidCallRequest):
        return InvalidRequest(str(exc))
    if isinstance(exc, services.UnknownCall):
        return UnknownCallError(str(exc))
    if isinstance(exc, acs_client.AcsNotConfigured):
        return AcsNotConfiguredError(str(exc))
    if isinstance(exc, acs_client.AcsRequestFailed):
        return AcsRequestError(str(exc))
    raise exc


CALL_ERRORS = (
    services.InvalidCallRequest,
    services.UnknownCall,
    acs_client.AcsNotConfigured,
    acs_client.AcsRequestFailed,
)


def _events_body(data) -> list:
    """Webhook bodies are JSON arrays; a single object is accepted as a one-item array."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list):
        return data
    raise InvalidRequest("Expected a JSON array of events.")


def _check_browser_session(request, session_id: str) -> None:
    """The call may carry on a browser session only for staff or that session's creator; a new
    session id becomes the caller's, so the call's conversation is theirs to read."""
    if not session_id:
        return
    access = request_session_access(request, session_id)
    if access.is_new:
        if session_claim(session_id=session_id, user=request.user) is None:
            raise exceptions.PermissionDenied("Another client has just started this session.")
    elif not (request.user.is_staff or access.is_creator(request.user)):
        raise exceptions.PermissionDenied(access.refusal(request.user))


class CallInitiateView(APIView):
    """Dial a phone number through ACS, with media streaming back to this app.

    `browser_session_id` links the call to a browser session of the caller's own (staff: any).
    """

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=CallInitiateRequestSerializer,
        parameters=[SESSION_TOKEN_PARAMETER],
        responses={
            200: CallInitiateResponseSerializer,
            403: error_response("`browser_session_id` is another client's."),
            502: error_response("ACS refused the call."),
            503: error_response("ACS is not configured."),
        },
        tags=["calls"],
    )
    def post(self, request):
        body = CallInitiateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        _check_browser_session(request, body.validated_data["browser_session_id"])
        try:
            call = services.call_initiate(**body.validated_data)
        except CALL_ERRORS as exc:
            raise _api_error(exc) from exc
        return Response(CallInitiateResponseSerializer(call).data)


class CallListView(APIView):
    """Calls from the database, newest first, a page at a time (404 past the last page)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[CallListQuerySerializer],
        responses={
            200: CallListResponseSerializer,
            404: error_response("Invalid page: past the last page."),
        },
        tags=["calls"],
    )
    def get(self, request):
        query = CallListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page, limit = query.validated_data["page"], query.validated_data["limit"]
        calls = call_list(status=query.validated_data.get("status_filter")).prefetch_related(
            Prefetch("events", queryset=CallEvent.objects.order_by("received_at", "id"))
        )
        rows = page_get(calls, page=page, limit=limit)
        return Response(CallListResponseSerializer(rows).data)


class CallTerminateView(APIView):
    """Hang up a call for everyone; a call that already ended answers with its final state."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=CallTerminateRequestSerializer,
        responses={
            200: CallTerminateResponseSerializer,
            404: error_response("Unknown call."),
            502: error_response("ACS refused the hang-up."),
            503: error_response("ACS is not configured."),
        },
        tags=["calls"],
    )
    def post(self, request):
        body = CallTerminateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            outcome = services.call_terminate(
                call_connection_id=body.validated_data["call_id"],
                reason=body.validated_data["reason"],
            )
        except CALL_ERRORS as exc:
            raise _api_error(exc) from exc
        return Response(CallTerminateResponseSerializer(outcome).data)


class CallTransferView(APIView):
    """Transfer a connected call to a person (operators: staff only).

    Cold: ACS hands the caller to the target and this app's leg ends. Warm: the target is
    added to the call, hears the summary, then this app leaves. ACS answers with callbacks
    (`CallTransferAccepted`/`CallTransferFailed`, `AddParticipantSucceeded`/
    `AddParticipantFailed`), stored with the call's events.
    """

    permission_classes = [IsAdminUser]

    @extend_schema(
        request=CallTransferRequestSerializer,
        responses={
            202: CallTransferResponseSerializer,
            403: error_response("Only staff transfer calls."),
            404: error_response("Unknown call."),
            502: error_response("ACS refused the transfer."),
            503: error_response("ACS is not configured."),
        },
        tags=["calls"],
    )
    def post(self, request):
        body = CallTransferRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        target = data.get("target") or settings.HUMAN_TRANSFER_TARGET
        if not target:
            raise InvalidRequest("No target given, and HUMAN_TRANSFER_TARGET is not set.")
        try:
            started = services.call_transfer(
                call_connection_id=data["call_id"],
                target=target,
                mode=data.get("mode") or settings.HUMAN_TRANSFER_MODE,
                summary=data.get("summary", ""),
            )
        except CALL_ERRORS as exc:
            raise _api_error(exc) from exc
        return Response(CallTransferResponseSerializer(started).data, status=202)


class CallAnswerView(APIView):
    """Event Grid webhook: the subscription handshake, and incoming calls answered at once."""

    authentication_classes = [EventGridAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(
        request=EVENT_ARRAY,
        parameters=[
            OpenApiParameter("record_call", bool, description="Record answered calls."),
        ],
        responses={
            200: EventGridResponseSerializer,
            502: error_response("ACS refused to answer."),
            503: error_response("ACS is not configured."),
        },
        tags=["calls"],
    )
    def post(self, request):
        events = _events_body(request.data)
        record = (
            request.query_params.get("record_call") or request.query_params.get("recordCall") or ""
        )
        try:
            outcome = services.event_grid_process(
                events=events, record_call=record.lower() in {"1", "true", "yes", "on"}
            )
        except CALL_ERRORS as exc:
            raise _api_error(exc) from exc
        return Response(EventGridResponseSerializer(outcome).data)


class CallCallbacksView(APIView):
    """Call Automation callbacks: CloudEvents arrays that move the call and are relayed."""

    authentication_classes = [AcsCallbackAuthentication]
    permission_classes = [AllowAny]

    @extend_schema(
        request=EVENT_ARRAY,
        responses={
            200: CallbackResponseSerializer,
            404: error_response("Every event names an unknown call."),
        },
        tags=["calls"],
    )
    def post(self, request):
        events = _events_body(request.data)
        outcome = services.callback_events_process(events=events)
        if events and outcome.failed == len(events):
            raise InvalidRequest("No event had an id, a type and a data object.")
        if outcome.unknown_call and not (outcome.processed or outcome.duplicates):
            raise UnknownCallError("The events name no known call.")
        return Response(CallbackResponseSerializer(outcome).data)
