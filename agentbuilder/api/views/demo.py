"""`/api/v1/demo-env/temporary-user`: synthetic demo customers."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agentbuilder import selectors, services
from agentbuilder.api.serializers import (
    DemoUserLookupSerializer,
    DemoUserRequestSerializer,
    DemoUserResponseSerializer,
)
from agentbuilder.api.views.common import AnonymousCreateThrottle
from browser.api.sessions import SESSION_TOKEN_PARAMETER, request_session_access, request_user
from browser.services import session_claim
from voiceproject.schema import error_response

TAGS = ["demo-env"]
NOT_FOUND = "No active demo profile for that email and session."


class DemoProfileConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "A demo profile for this email in this session belongs to another client."


class TemporaryUserView(APIView):
    """Create a demo customer (POST) or look one up by email (GET).

    A profile is its creator's: the signed-in user who made it, or the anonymous visitor whose
    session it was made in (they prove it with the session's token, `X-Session-Token`, which
    the answer that first names a new session hands them once). Nobody else may read it, nor
    make another in that session under its email (409). The creation response is the only
    place the profile's verification and MFA codes appear. Anonymous creation is rate limited;
    anonymous lookups must name the profile's session.
    """

    permission_classes = [AllowAny]
    throttle_classes = [AnonymousCreateThrottle]

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        tags=TAGS,
        parameters=[SESSION_TOKEN_PARAMETER],
        request=DemoUserRequestSerializer,
        responses={
            201: DemoUserResponseSerializer,
            403: error_response("The session is another client's."),
            409: error_response("Another client's profile has this email there."),
        },
    )
    def post(self, request):
        body = DemoUserRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = request_user(request)
        session_id = body.validated_data.get("session_id", "")
        token = ""
        with transaction.atomic():  # a refused profile leaves a new session id unclaimed
            if session_id:
                token = self._claim(request, user, session_id, body.validated_data["email"])
            created = services.demo_user_create(**body.validated_data, created_by=request.user)
        context = {"codes": created.codes, "session_token": token}
        body = DemoUserResponseSerializer(created.user, context=context).data
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @staticmethod
    def _claim(request, user, session_id: str, email: str) -> str:
        """Check the session is the client's; a new one becomes theirs (their token, or "")."""
        access = request_session_access(request, session_id)
        if not (access.is_creator(user) or (user is not None and user.is_staff)):
            raise PermissionDenied(access.refusal(user))
        if selectors.demo_user_of_another(
            email=email, session_id=session_id, user_id=access.owner_id
        ):
            raise DemoProfileConflict()
        if not access.is_new:
            return ""
        token = session_claim(session_id=session_id, user=user)
        if token is None:
            raise PermissionDenied("Another client has just started this session.")
        return token

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("email", str, required=True),
            OpenApiParameter("session_id", str, description="Required without authentication."),
            SESSION_TOKEN_PARAMETER,
        ],
        responses={
            200: DemoUserResponseSerializer,
            403: error_response("The session, or the profile, is another client's."),
        },
    )
    def get(self, request):
        query = DemoUserLookupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        email = query.validated_data["email"]
        session_id = query.validated_data.get("session_id", "")
        user = request_user(request)
        staff = user is not None and user.is_staff
        theirs = False
        if session_id:
            access = request_session_access(request, session_id)
            if access.is_new:
                raise NotFound(NOT_FOUND)
            theirs = access.is_creator(user)
            if not (theirs or staff):
                raise PermissionDenied(access.refusal(user))
        elif user is None:
            raise NotFound(NOT_FOUND)
        if staff:
            found = selectors.demo_user_find(email=email, session_id=session_id)
        else:
            found = selectors.demo_user_own(
                email=email,
                user_id=user.pk if user else None,
                session_id=session_id if theirs else "",
                in_session=bool(session_id),
            )
        if found is None:
            if selectors.demo_user_find(email=email, session_id=session_id) is not None:
                raise PermissionDenied("This demo profile belongs to another client.")
            raise NotFound(NOT_FOUND)
        return Response(DemoUserResponseSerializer(found).data)
