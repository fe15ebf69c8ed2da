"""Settings of the auth subgraph: signing keys, token lifetimes, sign-in providers.

Every value is an environment variable with the `COURSEGRAPH_` prefix (e.g. `COURSEGRAPH_GOOGLE_CLIENT_ID`).
"""

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from coursegraph.settings import DEV_SERVICE_CLIENT_SECRET, Profile, ServiceSettings

CommaList = Annotated[tuple[str, ...], NoDecode]

DEV_ADMIN_EMAILS = ("admin@example.org",)
# The services that call other services' internal operations.
INTERNAL_CLIENTS = ("courses", "assessments", "media", "notifications")


class ConfigurationError(RuntimeError):
    """The settings are unusable or unsafe for the profile; the service refuses to start."""


class AuthSettings(ServiceSettings):
    # PEM files of RSA private keys; the first signs, all are published (rotation: add the new one first).
    jwt_private_keys: CommaList = ()
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=3600)
    service_token_ttl_seconds: int = Field(default=60, ge=30, le=3600)

    # None means the profile's default: allowed in dev, refused elsewhere.
    dev_sign_in: bool | None = None
    # Emails that become admins on sign-in; None means the profile's default.
    admin_emails: Annotated[tuple[str, ...] | None, NoDecode] = None

    google_client_id: str = ""
    google_client_secret: SecretStr = SecretStr("")
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL)
    google_jwks_url: str = "https://www.googleapis.com/oauth2/v3/certs"
    google_issuers: CommaList = ("https://accounts.google.com", "accounts.google.com")

    github_client_id: str = ""
    github_client_secret: SecretStr = SecretStr("")
    github_token_url: str = "https://github.com/login/oauth/access_token"  # noqa: S105 (a URL)
    github_api_url: str = "https://api.github.com"

    # Services allowed to get a service token (client credentials): "courses=SECRET,assessments=SECRET".
    # Unset in dev and test: the known services with the dev secret; production must configure it.
    service_clients: Annotated[dict[str, SecretStr] | None, NoDecode] = None

    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    users_timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("service_clients", mode="before")
    @classmethod
    def _parse_clients(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
            return {name.strip(): secret.strip() for name, secret in pairs}
        return value

    @field_validator("jwt_private_keys", "google_issuers", "admin_emails", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        return value

    def refuse_unsafe_production(self) -> None:
        """Called by the app factory (a validator would echo every input, secrets included, in its error)."""
        if not self.is_production:
            return
        if not self.jwt_private_keys:
            raise ConfigurationError(
                "the production profile needs COURSEGRAPH_JWT_PRIVATE_KEYS (PEM files); "
                "generated signing keys are for dev and test only"
            )
        if self.dev_sign_in:
            raise ConfigurationError("the production profile refuses COURSEGRAPH_DEV_SIGN_IN=true")
        if any(s.get_secret_value() == DEV_SERVICE_CLIENT_SECRET for s in self.client_secrets.values()):
            raise ConfigurationError("the production profile refuses the dev service client secret")

    @property
    def dev_sign_in_enabled(self) -> bool:
        if self.dev_sign_in is None:
            return self.profile is Profile.DEV
        return self.dev_sign_in and not self.is_production

    @property
    def client_secrets(self) -> dict[str, SecretStr]:
        """Who may ask for a service token, with what secret."""
        if self.service_clients is not None:
            return self.service_clients
        if self.is_production:
            return {}
        return {name: SecretStr(DEV_SERVICE_CLIENT_SECRET) for name in INTERNAL_CLIENTS}

    @property
    def admin_email_set(self) -> frozenset[str]:
        emails = self.admin_emails
        if emails is None:
            emails = DEV_ADMIN_EMAILS if self.profile is Profile.DEV else ()
        return frozenset(email.lower() for email in emails)
