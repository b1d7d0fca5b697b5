// Signing keys of the test provider, kept in a JSON file (a private JWKS) so that a restart
// keeps them and a rotation can add or replace them.
//
//   node keys.mjs ensure FILE            create FILE with ES256, RS256, PS256 and EdDSA keys if missing
//   node keys.mjs rotate FILE [drop]     put fresh keys first (the provider signs with the first
//                                        key of each alg); `drop` removes the previous ones
//   node keys.mjs sign FILE KID HEADER PAYLOAD
//                                        print a JWS of the JSON HEADER and PAYLOAD signed with key
//                                        KID (`none`: unsigned), whatever the claims say: hostile
//                                        tokens signed by the real provider's keys, for tests only
import { generateKeyPairSync, createPrivateKey, sign, randomBytes, constants } from 'node:crypto';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

const ALGS = [
  ['ES256', () => generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['PS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ['EdDSA', () => generateKeyPairSync('ed25519')],
];

function fresh() {
  return ALGS.map(([alg, make]) => {
    const { privateKey } = make();
    const jwk = privateKey.export({ format: 'jwk' });
    return { ...jwk, alg, use: 'sig', kid: `${alg.toLowerCase()}-${randomBytes(4).toString('hex')}` };
  });
}

function read(file) {
  return JSON.parse(readFileSync(file, 'utf8'));
}

function write(file, jwks) {
  writeFileSync(file, JSON.stringify(jwks, null, 2), { mode: 0o600 });
}

const b64u = (buf) => Buffer.from(buf).toString('base64url');

export function ensureKeys(file) {
  if (!existsSync(file)) write(file, { keys: fresh() });
  return read(file);
}

const [, , command, file, ...rest] = process.argv;
if (command === 'ensure') {
  ensureKeys(file);
} else if (command === 'rotate') {
  const old = ensureKeys(file).keys;
  write(file, { keys: rest[0] === 'drop' ? fresh() : [...fresh(), ...old] });
} else if (command === 'sign') {
  const [kid, header, payload] = rest;
  const input = `${b64u(header)}.${b64u(payload)}`;
  if (kid === 'none') {
    process.stdout.write(`${input}.`);
  } else {
    const jwk = read(file).keys.find((k) => k.kid === kid);
    if (!jwk) throw new Error(`no key ${kid}`);
    const key = createPrivateKey({ key: jwk, format: 'jwk' });
    let signature;
    if (jwk.alg === 'ES256') signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    else if (jwk.alg === 'RS256') signature = sign('sha256', Buffer.from(input), key);
    else if (jwk.alg === 'PS256') signature = sign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    else signature = sign(null, Buffer.from(input), key);
    process.stdout.write(`${input}.${b64u(signature)}`);
  }
}
