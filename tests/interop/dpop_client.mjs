// A DPoP client (the `dpop` package) for the interoperability tests: it holds one key pair
// and signs proofs on request, as a client application using that package would. It speaks
// JSON lines over stdin and stdout.
//
// Argument: the JWS algorithm of the key pair (ES256, Ed25519, RS256 or PS256; default ES256).
//
// First line out, once the key pair exists:
//   {"alg", "publicJwk", "thumbprint"}   (thumbprint: the package's calculateThumbprint)
// Then, for each request line in:
//   {"htm", "htu", "accessToken"?, "nonce"?}  ->  {"proof": "..."} or {"error": "..."}
// It exits when stdin closes.

import { createInterface } from 'node:readline';

import { calculateThumbprint, generateKeyPair, generateProof } from 'dpop';

function write(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const alg = process.argv[2] ?? 'ES256';
const keypair = await generateKeyPair(alg);
write({
  alg,
  publicJwk: await crypto.subtle.exportKey('jwk', keypair.publicKey),
  thumbprint: await calculateThumbprint(keypair.publicKey),
});

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const { htm, htu, accessToken, nonce } = JSON.parse(line);
    write({
      proof: await generateProof(keypair, htu, htm, nonce ?? undefined, accessToken ?? undefined),
    });
  } catch (error) {
    write({ error: `${error?.name}: ${error?.message}` });
  }
}
