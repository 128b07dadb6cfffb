"""A client for the Banco Central's standard API Pix (v2), one module per PSP for what they do differently.

    from odys import pix_api
    api = pix_api.connect("efi", client_id="Client_Id_…", client_secret="…", identity=identity)
    api.check()                                   # a token (OAuth2 client credentials over mTLS) or PixApiError
    api.put_cob("A1B2…32chars", {"calendario": {"expiracao": 3600}, "valor": {"original": "150.00"}, "chave": key})
    api.get_cob(txid)                             # the charge (with ``pix[]`` once paid), or None (404)
    api.patch_cob(txid, {"status": "REMOVIDA_PELO_USUARIO_RECEBEDOR"})
    api.list_pix(inicio, fim, page=0)             # {"parametros": {"paginacao": …}, "pix": […]}
    api.put_webhook(key, url); api.delete_webhook(key)

Providers (:data:`PROVIDERS`): ``efi`` (:mod:`odys.pix_api.efi`) and ``bacen``, the spec as written
(:mod:`odys.pix_api.bacen`; Inter, Sicoob, Itaú and the others that follow it). Errors: :class:`PixApiError` (the
PSP refused: status, code, detail, from the spec's problem body or Efí's ``{nome, mensagem}``) and
:class:`PixUnavailable` (unreachable, timed out — ``timed_out`` — or a 5xx). Neither carries a secret.
"""

from odys.pix_api.client import PROVIDERS, PixApi, PixApiError, PixUnavailable, connect, reset_tokens
from odys.pix_api.transport import AddressRefused, CertificateInvalid, ClientIdentity, load_identity, public_address

__all__ = ["PROVIDERS", "AddressRefused", "CertificateInvalid", "ClientIdentity", "PixApi", "PixApiError",
           "PixUnavailable", "connect", "load_identity", "public_address", "reset_tokens"]
