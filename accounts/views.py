"""Account endpoints under /api/v1/auth/: thin views over accounts.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenObtainPairView

from accounts import services
from accounts.models import EMAIL_TAKEN_MESSAGE, User
from accounts.serializers import (
    AccountDeleteSerializer,
    PasswordChangeSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    UserSerializer,
)
from accounts.throttling import (
    LoginEmailThrottle,
    LoginIPThrottle,
    RegisterEmailThrottle,
    RegisterIPThrottle,
)
from api.idempotency import IDEMPOTENCY_KEY, client_scope, idempotent


def _email_taken() -> serializers.ValidationError:
    return serializers.ValidationError({"email": [EMAIL_TAKEN_MESSAGE]}, code="unique")


class RegisterView(APIView):
    """Create an account. Public; throttled per client IP and per email."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [RegisterIPThrottle, RegisterEmailThrottle]

    @extend_schema(
        request=RegisterSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={201: UserSerializer},
    )
    @idempotent(scope=client_scope)
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = services.user_register(**serializer.validated_data)
        except services.EmailTaken:
            raise _email_taken() from None
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class TokenView(TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""

    serializer_class = TokenObtainSerializer
    throttle_classes = [LoginIPThrottle, LoginEmailThrottle]


class TokenRefreshView(APIView):
    """Rotate a refresh token: the one sent is revoked, a new pair comes back."""

    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []
    throttle_classes = [LoginIPThrottle]

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'

    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            pair = services.token_refresh(raw=serializer.validated_data["refresh"])
        except services.TokenRejected as exc:
            raise exceptions.AuthenticationFailed(str(exc), "token_not_valid") from None
        return Response(pair)


class LogoutView(APIView):
    """Revoke one of the caller's refresh tokens."""

    @extend_schema(request=RefreshSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.token_revoke(
                raw=serializer.validated_data["refresh"],
                user=request.user,  # type: ignore[arg-type]
            )
        except services.TokenRejected as exc:
            raise serializers.ValidationError(
                {"refresh": [str(exc)]}, code="token_not_valid"
            ) from None
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(generics.GenericAPIView[User]):
    """The caller's own profile."""

    serializer_class = UserSerializer

    def get_object(self) -> User:
        return self.request.user  # type: ignore[return-value]

    def get(self, request: Request) -> Response:
        return Response(self.get_serializer(self.get_object()).data)

    def patch(self, request: Request) -> Response:
        user = self.get_object()
        serializer = self.get_serializer(user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            services.user_update_profile(
                user=user,
                email=serializer.validated_data.get("email"),
                name=serializer.validated_data.get("name"),
            )
        except services.EmailTaken:
            raise _email_taken() from None
        return Response(self.get_serializer(user).data)

    @extend_schema(request=AccountDeleteSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        serializer = AccountDeleteSerializer(
            data=request.data, context=self.get_serializer_context()
        )
        serializer.is_valid(raise_exception=True)
        services.user_delete(user=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(APIView):
    """Change the password; every refresh token issued before stops working."""

    @extend_schema(request=PasswordChangeSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(
            data=request.data, context={"request": request}
        )
        serializer.is_valid(raise_exception=True)
        services.user_change_password(
            user=request.user,  # type: ignore[arg-type]
            new_password=serializer.validated_data["new_password"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
