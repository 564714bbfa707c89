"""Account API input and output."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers
from rest_framework.fields import get_error_detail
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer

from accounts.models import (
    EMAIL_MAX_LENGTH,
    EMAIL_TAKEN_MESSAGE,
    NAME_MAX_LENGTH,
    User,
)
from api.serializers import NewPasswordField, StrictInputMixin, StrictSerializer


def _check_email_free(email: str, *, exclude: User | None = None) -> str:
    taken = User.objects.with_email(email)
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise serializers.ValidationError(EMAIL_TAKEN_MESSAGE, code="unique")
    return email


def _check_password(password: str, user: User) -> str:
    try:
        password_validation.validate_password(password, user)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(get_error_detail(exc)) from exc
    return password


class UserSerializer(StrictInputMixin, serializers.ModelSerializer[User]):
    """The profile: read by ``GET me/``, partly written by ``PATCH me/``."""

    class Meta:
        model = User
        fields = ["id", "email", "name", "date_joined"]
        read_only_fields = ["id", "date_joined"]

    def validate_email(self, value: str) -> str:
        return _check_email_free(value, exclude=self.instance)


class RegisterSerializer(StrictSerializer):
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = NewPasswordField(write_only=True)
    name = serializers.CharField(
        max_length=NAME_MAX_LENGTH, required=False, allow_blank=True
    )

    def validate_email(self, value: str) -> str:
        return _check_email_free(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        candidate = User(email=attrs["email"], name=attrs.get("name", ""))
        try:
            _check_password(attrs["password"], candidate)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"password": exc.detail}) from exc
        return attrs


class TokenObtainSerializer(StrictInputMixin, TokenObtainPairSerializer):
    """``{email, password}`` in, ``{access, refresh}`` out; email in any case."""


class RefreshSerializer(StrictSerializer):
    refresh = serializers.CharField()


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField()
    refresh = serializers.CharField()


class PasswordChangeSerializer(StrictSerializer):
    current_password = serializers.CharField(trim_whitespace=False)
    new_password = NewPasswordField()

    def validate_current_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(
                "The current password is wrong.", code="wrong_password"
            )
        return value

    def validate_new_password(self, value: str) -> str:
        return _check_password(value, self.context["request"].user)


class AccountDeleteSerializer(StrictSerializer):
    password = serializers.CharField(trim_whitespace=False)

    def validate_password(self, value: str) -> str:
        if not self.context["request"].user.check_password(value):
            raise serializers.ValidationError(
                "The password is wrong.", code="wrong_password"
            )
        return value
