"""Download URLs, short-lived and signed: CloudFront when a distribution is configured, otherwise an S3
presigned GET, or (local disk) the media service's own signed link, which it serves with range requests.

CloudFront URLs use a canned policy (the URL and its expiry) signed with the key pair's RSA private key:
`botocore.signers.CloudFrontSigner` builds them; `cryptography` signs (RSA PKCS#1 v1.5 with SHA-1, what
CloudFront verifies).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from subgraphs.media.storage import LocalStorage, S3Storage, content_disposition


@dataclass(frozen=True)
class SignedUrl:
    url: str
    expires_at: datetime


class CloudFrontUrls:
    def __init__(self, *, domain: str, key_pair_id: str, private_key_pem: bytes) -> None:
        key = serialization.load_pem_private_key(private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("a CloudFront key pair is RSA")

        def rsa_signer(message: bytes) -> bytes:
            return key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 (CloudFront's algorithm)

        self._base = domain if domain.startswith("https://") else f"https://{domain}"
        self._signer = CloudFrontSigner(key_pair_id, rsa_signer)

    def sign(self, key: str, *, filename: str, content_type: str, expires_at: datetime) -> str:
        # The distribution's origin is the bucket; the response headers come from the object's metadata.
        url = f"{self._base.rstrip('/')}/{quote(key)}"
        return str(self._signer.generate_presigned_url(url, date_less_than=expires_at))


class Delivery:
    def __init__(
        self,
        *,
        expiry: timedelta,
        s3: S3Storage | None = None,
        local: LocalStorage | None = None,
        cloudfront: CloudFrontUrls | None = None,
    ) -> None:
        self.expiry = expiry
        self._s3, self._local, self._cloudfront = s3, local, cloudfront

    def url(self, key: str, *, filename: str, content_type: str, now: datetime) -> SignedUrl:
        expires_at = (now + self.expiry).replace(microsecond=0)
        if self._cloudfront is not None:
            url = self._cloudfront.sign(
                key, filename=filename, content_type=content_type, expires_at=expires_at
            )
        elif self._s3 is not None:
            url = self._s3.presigned_get(
                key, filename=filename, content_type=content_type, expires=self.expiry
            )
        elif self._local is not None:
            url = self._local.signed_get(key, filename=filename, content_type=content_type)
        else:
            raise RuntimeError("no storage configured")
        return SignedUrl(url, expires_at)


__all__ = ["CloudFrontUrls", "Delivery", "SignedUrl", "content_disposition"]
