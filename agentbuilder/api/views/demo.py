"""`/api/v1/demo-env/temporary-user`: synthetic demo customers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agentbuilder import selectors, services
from agentbuilder.api import presenters
from agentbuilder.api.serializers import (
    DemoUserLookupSerializer,
    DemoUserRequestSerializer,
    DemoUserResponseSerializer,
)
from agentbuilder.api.views.common import AnonymousCreateThrottle

TAGS = ["demo-env"]


class TemporaryUserView(APIView):
    """Create a demo customer (POST) or look one up by email (GET).

    The creation response is the only place the profile's verification and MFA codes appear.
    Anonymous creation is rate limited; anonymous lookups must name the profile's session.
    """

    permission_classes = [AllowAny]
    throttle_classes = [AnonymousCreateThrottle]

    def get_throttles(self):
        return super().get_throttles() if self.request.method == "POST" else []

    @extend_schema(
        tags=TAGS,
        request=DemoUserRequestSerializer,
        responses={201: DemoUserResponseSerializer},
    )
    def post(self, request):
        body = DemoUserRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        created = services.demo_user_create(**body.validated_data, created_by=request.user)
        data = presenters.demo_user(created.user, codes=created.codes)
        response = Response(DemoUserResponseSerializer(data).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        tags=TAGS,
        parameters=[
            OpenApiParameter("email", str, required=True),
            OpenApiParameter("session_id", str, description="Required without authentication."),
        ],
        responses=DemoUserResponseSerializer,
    )
    def get(self, request):
        query = DemoUserLookupSerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        email = query.validated_data["email"]
        session_id = query.validated_data.get("session_id", "")
        user = None
        if request.user.is_authenticated or session_id:
            user = selectors.demo_user_find(email=email, session_id=session_id)
        if user is None:
            raise NotFound("No active demo profile for that email and session.")
        return Response(DemoUserResponseSerializer(presenters.demo_user(user)).data)
