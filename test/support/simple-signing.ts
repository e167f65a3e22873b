/** The payload cosign signs for an image (simple signing): `reference` at `digest`, no optional claims. */
export function simpleSigningPayload(reference: string, digest: string): string {
  return JSON.stringify({
    critical: {
      identity: { 'docker-reference': reference },
      image: { 'docker-manifest-digest': digest },
      type: 'cosign container image signature',
    },
    optional: null,
  });
}
