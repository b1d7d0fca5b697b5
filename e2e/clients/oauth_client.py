"""A real OAuth client (authlib, with joserfc for JWTs) against the gateway's authorization server endpoints.

Usage: oauth_client.py METADATA_URL CA_FILE CLIENT_ID CLIENT_SECRET

Reads the RFC 8414 metadata document and validates it with authlib's own rules (but one), gets a token
with the client credentials grant from the token endpoint it names (client_secret_basic), and
asks the introspection endpoint about that token and about a made-up one, then revokes it at the
revocation endpoint (RFC 7009, authlib's revoke_token) and introspects it again. When the metadata
names a jwks_uri (the plugin issues JWTs), it also verifies the access token's signature and
claims with the published keys (joserfc, the JOSE library of authlib's authors), as an upstream
would. Prints one JSON object with what it saw;
exits non-zero when a step fails, with the reason on stderr.
"""

import json
import sys

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc import jwt as joserfc_jwt
from joserfc.jwk import KeySet


def main() -> int:
    metadata_url, ca_file, client_id, client_secret = sys.argv[1:5]
    session = OAuth2Session(
        client_id,
        client_secret,
        token_endpoint_auth_method="client_secret_basic",
    )
    # Only the gateway's certificate, and no proxy or CA bundle from the environment.
    session.trust_env = False
    session.verify = ca_file

    fetched = session.get(metadata_url, timeout=10, withhold_token=True)
    fetched.raise_for_status()
    metadata = AuthorizationServerMetadata(fetched.json())
    # Every rule of authlib's validate() but one: it wants a non-empty response_types_supported,
    # which a server without an authorization endpoint cannot honestly list (the gateway sends
    # an empty list; the test checks that separately).
    for key in metadata.REGISTRY_KEYS:
        if key != "response_types_supported":
            getattr(metadata, f"validate_{key}")()

    token = session.fetch_token(
        metadata["token_endpoint"], grant_type="client_credentials", timeout=10
    )
    active = session.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"], timeout=10
    )
    active.raise_for_status()
    unknown = session.introspect_token(
        metadata["introspection_endpoint"], token="not-a-token-of-this-gateway", timeout=10
    )
    unknown.raise_for_status()

    jwt = None
    if "jwks_uri" in metadata:
        keys = session.get(metadata["jwks_uri"], timeout=10, withhold_token=True)
        keys.raise_for_status()
        key_set = KeySet.import_key_set(keys.json())
        decoded = joserfc_jwt.decode(token["access_token"], key_set, algorithms=["EdDSA"])
        joserfc_jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": metadata["issuer"]},
            aud={"essential": True, "value": metadata["issuer"]},
            exp={"essential": True},
            jti={"essential": True},
        ).validate(decoded.claims)
        jwt = {"header": dict(decoded.header), "claims": dict(decoded.claims)}

    # Revocation last: the token is then refused everywhere, including by the checks above.
    revoked = session.revoke_token(
        metadata["revocation_endpoint"],
        token=token["access_token"],
        token_type_hint="access_token",
        timeout=10,
    )
    revoked.raise_for_status()
    after = session.introspect_token(
        metadata["introspection_endpoint"], token=token["access_token"], timeout=10
    )
    after.raise_for_status()

    json.dump(
        {
            "jwt": jwt,
            "metadata": dict(metadata),
            "token_type": token.get("token_type"),
            "expires_in": token.get("expires_in"),
            "introspected": active.json(),
            "introspected_unknown": unknown.json(),
            "revoked_status": revoked.status_code,
            "introspected_after_revocation": after.json(),
        },
        sys.stdout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
