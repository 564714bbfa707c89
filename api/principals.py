"""The requester a folded read checks: the contract between authentication and
``api.scoping`` (``accounts.authentication.PendingUser`` implements it)."""

from __future__ import annotations

from typing import Any


class PendingPrincipal:
    """The contract of a requester whose account a folded read has yet to check.

    Authentication (``accounts.authentication.PendingUser``) hands one to a view
    that folds the user check into its read (``fold_user_check``): ``pk`` and the
    token's password ``digest`` go into the read's SQL, ``vouch()`` records that
    the read returned rows (so the account passed), and ``verify()`` checks the
    account on its own, raising the authentication's 401s. It lives in the HTTP
    layer that uses it, so that ``api`` depends on no app.
    """

    __slots__ = ()
    pk: Any
    digest: str

    @property
    def settled(self) -> bool:
        """Vouched for by a read, or verified on its own."""
        raise NotImplementedError

    def vouch(self) -> None:
        raise NotImplementedError

    def verify(self) -> Any:
        raise NotImplementedError


def checked(user: Any) -> Any:
    """``user`` as a checked user: a pending one is verified now (its 401s)."""
    return user.verify() if isinstance(user, PendingPrincipal) else user
