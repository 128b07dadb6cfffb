"""Envelope encryption with AWS KMS: a fresh AES-256 data key per secret, the key itself encrypted by KMS.

    blob = sealed.seal(b'{"clientSecret": "..."}', context={"professional_id": pid})   # bytes to store
    sealed.open_sealed(blob, context={"professional_id": pid})                          # -> the plaintext

``PIX_KMS_KEY_ID`` names the KMS key (template.yaml ``PixCredentialsKey``; its policy lets only the PIX functions
Decrypt). The ``context`` becomes the KMS *encryption context* and the AES-GCM associated data: a blob copied to
another professional's row does not open. The blob is versioned JSON
(``{"v": 1, "key": <KMS ciphertext>, "nonce", "data"}``, base64 fields); the plaintext data key lives only in
this call. boto3 is imported on first use (it is in the Lambda runtime; tests use moto's KMS, ``make dev`` moto's
server through ``AWS_ENDPOINT_URL_KMS``).
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from odys import aws_clients, config

class SealError(RuntimeError):
    """The blob cannot be opened (other context, other key, altered) or KMS refused; the message has no secret."""


def _kms() -> Any:
    return aws_clients.client("kms")


def reset_client() -> None:
    """Forget the KMS client (tests switching moto on and off)."""
    aws_clients.reset("kms")


def _key_id() -> str:
    key_id = config.env("PIX_KMS_KEY_ID")
    if not key_id:
        raise config.ConfigurationError("PIX_KMS_KEY_ID is not configured (the KMS key for PIX credentials)")
    return key_id


def _aad(context: dict[str, str]) -> bytes:
    return json.dumps(context, sort_keys=True).encode()


def seal(plaintext: bytes, *, context: dict[str, str]) -> bytes:
    """Encrypt ``plaintext`` under a new data key; returns the blob to store."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        generated = _kms().generate_data_key(KeyId=_key_id(), KeySpec="AES_256", EncryptionContext=context)
    except config.ConfigurationError:
        raise
    except Exception as error:  # botocore errors: the name only
        raise SealError(f"KMS GenerateDataKey failed ({type(error).__name__})") from None
    nonce = os.urandom(12)
    data = AESGCM(generated["Plaintext"]).encrypt(nonce, plaintext, _aad(context))
    envelope = {"v": 1, "key": generated["CiphertextBlob"], "nonce": nonce, "data": data}
    return json.dumps({k: base64.b64encode(v).decode() if isinstance(v, bytes) else v
                       for k, v in envelope.items()}).encode()


def open_sealed(blob: bytes, *, context: dict[str, str]) -> bytes:
    """The plaintext of a :func:`seal` blob made with the same ``context``; :class:`SealError` otherwise."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        envelope = json.loads(bytes(blob))
        if envelope.get("v") != 1:
            raise ValueError("version")
        key_blob, nonce, data = (base64.b64decode(envelope[k]) for k in ("key", "nonce", "data"))
    except (ValueError, KeyError, TypeError):
        raise SealError("not a sealed blob") from None
    try:
        data_key = _kms().decrypt(CiphertextBlob=key_blob, EncryptionContext=context)["Plaintext"]
    except Exception as error:
        raise SealError(f"KMS Decrypt failed ({type(error).__name__})") from None
    try:
        return AESGCM(data_key).decrypt(nonce, data, _aad(context))
    except InvalidTag:
        raise SealError("the sealed blob was altered") from None
