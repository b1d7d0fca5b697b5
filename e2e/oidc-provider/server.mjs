// A real OpenID Provider (the OpenID Certified `oidc-provider` package) for Tollgate's
// end-to-end tests: started on loopback by e2e/src/oidc.rs, never used outside tests.
//
// Environment: PORT; KEYS_FILE (private JWKS, see keys.mjs); CLIENT_SECRET (client
// `tollgate-test`, client credentials grant); INTROSPECTOR_SECRET (client
// `tollgate-introspector`, which may introspect); ACCESS_TOKEN_ALG (default ES256).
//
// A client-credentials token requested with `resource=<URL>` is an RFC 9068 JWT access token
// for that audience with the scopes `orders:read orders:write` on offer; without a resource it is
// opaque (for introspection).
import Provider from 'oidc-provider';
import { ensureKeys } from './keys.mjs';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const alg = process.env.ACCESS_TOKEN_ALG || 'ES256';
const jwks = ensureKeys(process.env.KEYS_FILE);

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'tollgate-test',
      client_secret: process.env.CLIENT_SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'orders:read orders:write',
    },
    {
      client_id: 'tollgate-introspector',
      client_secret: process.env.INTROSPECTOR_SECRET,
      grant_types: [],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks,
  scopes: ['orders:read', 'orders:write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: {
      enabled: true,
      allowedPolicy: async (ctx, client) => client.clientId === 'tollgate-introspector',
    },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => ({
        scope: 'orders:read orders:write',
        audience: resource,
        accessTokenTTL: Number(process.env.ACCESS_TOKEN_TTL || 300),
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg } },
      }),
    },
  },
  // The access tokens' claims: the client id, as RFC 9068 asks.
  extraTokenClaims: () => undefined,
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
