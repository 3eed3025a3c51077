// The gateway vendors' own verifiers, as a second opinion on the samples' verdicts, for the
// interoperability tests. Reads one JSON request on stdin and prints one JSON array on
// stdout, a verdict per token, in order: {"ok": true, "claims": {...}} or
// {"ok": false, "error": "..."}.
//
// Requests:
//   {"gateway": "aws-alb", "albArn", "clientId", "issuer", "keyUrl", "tokens": [...]}
//     aws-jwt-verify's AlbJwtVerifier, fetching each kid's PEM from `${keyUrl}/${kid}` the way
//     it fetches from https://public-keys.auth.elb.<region>.amazonaws.com (its own fetcher
//     speaks only https, so the fetch itself is Node's, over loopback http).
//   {"gateway": "google-iap", "audience", "publicKeyUrl", "tokens": [...]}
//     google-auth-library, as Google's "Securing your app with signed headers" shows it:
//     getIapPublicKeys() (from publicKeyUrl instead of www.gstatic.com/iap/verify/public_key),
//     then verifySignedJwtWithCertsAsync(token, keys, audience, ['https://cloud.google.com/iap']).
//   {"gateway": "cloudflare-access", "teamDomain", "audience", "certsUrl", "tokens": [...]}
//     jose, as Cloudflare's "Validate JWTs" shows it: jwtVerify with createRemoteJWKSet.

import { AlbJwtVerifier } from 'aws-jwt-verify';
import { AlbJwksCache } from 'aws-jwt-verify/alb-cache';
import { OAuth2Client } from 'google-auth-library';
import { createRemoteJWKSet, jwtVerify } from 'jose';

const IAP_ISSUER = 'https://cloud.google.com/iap';

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function verdicts(tokens, verify) {
  const results = [];
  // One at a time, so that each verifier's key cache is used as in a running service.
  for (const token of tokens) {
    try {
      results.push({ ok: true, claims: await verify(token) });
    } catch (error) {
      results.push({ ok: false, error: `${error?.name}: ${error?.message}` });
    }
  }
  return results;
}

function albVerifier(request) {
  const fetcher = {
    async fetch(uri) {
      const response = await fetch(uri);
      if (response.status !== 200) throw new Error(`HTTP ${response.status} for ${uri}`);
      return response.arrayBuffer();
    },
  };
  const verifier = AlbJwtVerifier.create(
    {
      albArn: request.albArn,
      issuer: request.issuer,
      clientId: request.clientId,
      jwksUri: request.keyUrl.replace(/\/$/, ''),
    },
    { jwksCache: new AlbJwksCache({ fetcher }) },
  );
  return (token) => verifier.verify(token);
}

function iapVerifier(request) {
  const client = new OAuth2Client({
    endpoints: { oauth2IapPublicKeyUrl: request.publicKeyUrl },
  });
  return async (token) => {
    const { pubkeys } = await client.getIapPublicKeys();
    const ticket = await client.verifySignedJwtWithCertsAsync(
      token,
      pubkeys,
      request.audience,
      [IAP_ISSUER],
    );
    return ticket.getPayload();
  };
}

function cloudflareVerifier(request) {
  const keys = createRemoteJWKSet(new URL(request.certsUrl));
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      issuer: request.teamDomain,
      audience: request.audience,
    });
    return payload;
  };
}

const VERIFIERS = {
  'aws-alb': albVerifier,
  'google-iap': iapVerifier,
  'cloudflare-access': cloudflareVerifier,
};

const request = await readStdin();
const make = VERIFIERS[request.gateway];
if (!make) {
  console.error(`unknown gateway ${request.gateway}`);
  process.exit(2);
}
console.log(JSON.stringify(await verdicts(request.tokens, make(request))));
