// A real OpenID Provider (the certified `oidc-provider` package) on loopback, for the
// interoperability tests.
//
// Environment:
//   PORT          port to listen on (0: any free port)
//   KEYS_FILE     private JWK set to sign with; generated (RSA, EC P-256, Ed25519) if absent
//
// Prints `issuer http://127.0.0.1:PORT` on stdout once it accepts connections.
//
// `POST /__test/rotate` puts a new RSA key first (key rotation) and answers 204 once the
// provider signs with it: rotation without a restart, so the issuer URL (and its port) stays.
//
// Clients (client_credentials, client_secret_basic, secret `interop-secret`):
//   rs256, es256, eddsa   access tokens signed with that algorithm
//   short-lived           RS256 access tokens that expire after 4 seconds
// Resources (RFC 8707 resource indicators; access tokens are JWTs with `aud` = resource):
//   https://api.example.test, https://other.example.test
// DPoP (RFC 9449): a token request carrying a `DPoP` proof gets a DPoP-bound access token
// (`token_type` `DPoP`, `cnf.jkt` the thumbprint of the proof's key); without one, a bearer
// token as before.

import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const RESOURCES = ['https://api.example.test', 'https://other.example.test'];
const SECRET = 'interop-secret';
const CLIENTS = {
  rs256: { alg: 'RS256', ttl: 300 },
  es256: { alg: 'ES256', ttl: 300 },
  eddsa: { alg: 'EdDSA', ttl: 300 },
  'short-lived': { alg: 'RS256', ttl: 4 },
};

function privateJwk(type, options, alg) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg, use: 'sig' };
}

const newRsa = () => privateJwk('rsa', { modulusLength: 2048 }, 'RS256');

function signingKeys(file) {
  let keys;
  if (file && existsSync(file)) {
    ({ keys } = JSON.parse(readFileSync(file, 'utf8')));
  } else {
    keys = [
      newRsa(),
      privateJwk('ec', { namedCurve: 'P-256' }, 'ES256'),
      privateJwk('ed25519', {}, 'EdDSA'),
    ];
  }
  if (file) writeFileSync(file, JSON.stringify({ keys }));
  return keys;
}

function provider(issuer, keys) {
  return new Provider(issuer, {
    jwks: { keys },
    clients: Object.keys(CLIENTS).map((clientId) => ({
      client_id: clientId,
      client_secret: SECRET,
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      dPoP: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource, client) => {
          if (!RESOURCES.includes(resource)) throw new errors.InvalidTarget();
          const { alg, ttl } = CLIENTS[client.clientId];
          return {
            scope: 'api:read admin',
            audience: resource,
            accessTokenTTL: ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg } },
          };
        },
      },
    },
  });
}

let keys = signingKeys(process.env.KEYS_FILE);
const server = createServer();
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  let handle = provider(issuer, keys).callback();
  server.on('request', (req, res) => {
    if (req.method === 'POST' && req.url === '/__test/rotate') {
      keys = [newRsa(), ...keys];
      handle = provider(issuer, keys).callback();
      res.writeHead(204).end();
      return;
    }
    handle(req, res);
  });
  process.stdout.write(`issuer ${issuer}\n`);
});
