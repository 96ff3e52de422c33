"""Accounts: users with a role (optionally limited to a town), passwords hashed with argon2, and
long-lived API tokens for scripts (shown once, stored as their SHA-256, with expiry, last use and
revocation).

Plain functions over a SQLAlchemy connection, like the other domain packages; the caller owns the
transaction. Nothing here logs or returns a password, a password hash or a token, except the one
return value of `tokens.create`.
"""

from service.accounts.passwords import hash_password, verify_password
from service.accounts.tokens import NewToken, Principal, TokenInfo, authenticate_token
from service.accounts.users import UnknownUser, UserInfo, check_password

__all__ = [
    "NewToken",
    "Principal",
    "TokenInfo",
    "UnknownUser",
    "UserInfo",
    "authenticate_token",
    "check_password",
    "hash_password",
    "verify_password",
]
