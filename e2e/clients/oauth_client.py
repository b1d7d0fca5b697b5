"""A real OAuth client (authlib, with joserfc for JWTs) against the gateway's authorization server endpoints.

Usage: oauth_client.py METADATA_URL CA_FILE CLIENT_ID CLIENT_SECRET
       oauth_client.py authorization-code METADATA_URL CA_FILE CLIENT_ID CLIENT_SECRET|- \
           REDIRECT_URI PROVISION_KEY USER SCOPE

The second form runs the authorization code grant with PKCE (S256) as a web application does
with the gateway (Kong's API-driven flow): authlib's OAuth2Session builds the authorization
request (state, code_challenge); the application's backend, having authenticated USER, posts
those parameters with the provision key to the authorization endpoint and gets the redirect
URI with the code; the session then exchanges the code at the token endpoint with its
code_verifier (and its secret, or none for a public client: CLIENT_SECRET "-"). Then it
presents the same code again, which must be refused. Prints one JSON object with what it saw.

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


def authorization_code(argv: list) -> int:
    import requests
    from authlib.common.security import generate_token
    from authlib.integrations.base_client.errors import OAuthError
    from urllib.parse import parse_qsl, urlsplit

    metadata_url, ca_file, client_id, client_secret, redirect_uri, provision_key, user, scope = argv
    public = client_secret == "-"
    session = OAuth2Session(
        client_id,
        None if public else client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="none" if public else "client_secret_basic",
    )
    session.trust_env = False
    session.verify = ca_file
    fetched = session.get(metadata_url, timeout=10, withhold_token=True)
    fetched.raise_for_status()
    metadata = AuthorizationServerMetadata(fetched.json())
    metadata.validate()

    # The client: the authorization request, with its state and PKCE challenge.
    verifier = generate_token(64)
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier
    )
    asked = dict(parse_qsl(urlsplit(url).query))
    # The application's backend, once it has authenticated the user: Kong's API-driven step.
    backend = requests.Session()
    backend.trust_env = False
    backend.verify = ca_file
    authorized = backend.post(
        metadata["authorization_endpoint"],
        data={**asked, "provision_key": provision_key, "authenticated_userid": user},
        timeout=10,
    )
    if authorized.status_code != 200:
        raise SystemExit(f"authorize: {authorized.status_code} {authorized.text}")
    callback = authorized.json()["redirect_uri"]
    # The browser follows the redirect; the client's callback exchanges the code (authlib
    # checks the state it gets back).
    token = session.fetch_token(
        metadata["token_endpoint"],
        authorization_response=callback,
        code_verifier=verifier,
        timeout=10,
    )
    try:
        session.fetch_token(
            metadata["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            timeout=10,
        )
        replay = {"error": None}
    except OAuthError as refused:
        replay = {"error": refused.error, "error_description": refused.description}

    json.dump(
        {
            "metadata": dict(metadata),
            "authorization_request": {k: v for k, v in asked.items() if k != "state"},
            "callback": callback,
            "state_matches": dict(parse_qsl(urlsplit(callback).query)).get("state") == state,
            "token": dict(token),
            "replay": replay,
        },
        sys.stdout,
    )
    return 0


def main() -> int:
    if sys.argv[1] == "authorization-code":
        return authorization_code(sys.argv[2:10])
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
