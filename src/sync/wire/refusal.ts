/**
 * Why a TLS handshake was refused, in words for the log, pure. Only the error code is used:
 * nothing of the key, and nothing the peer sent except a (quoted, cut) PSK identity.
 */
const WRONG_KEY = new Set([
  'ERR_SSL_DECRYPTION_FAILED_OR_BAD_RECORD_MAC',
  'ERR_SSL_CIPHER_OPERATION_FAILED',
  'ERR_SSL_BAD_RECORD_MAC',
  'ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC',
  'ERR_SSL_DECRYPT_ERROR',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

export function refusalReason(code: string | undefined, message: string, unknownIdentity: string | null): string {
  if (unknownIdentity !== null) return `unknown PSK identity ${JSON.stringify(unknownIdentity.slice(0, 64))}`;
  if (code !== undefined && WRONG_KEY.has(code)) return 'authentication failed: the peer does not hold the cluster key';
  if (
    code === 'ERR_SSL_NO_SHARED_CIPHER' ||
    code === 'ERR_SSL_UNSUPPORTED_PROTOCOL' ||
    code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    code === 'ERR_SSL_HTTP_REQUEST'
  ) {
    return `not a hotspare sync client (${code})`;
  }
  if (code === 'ECONNRESET') return 'the peer reset the connection during the handshake';
  if (/handshake timeout/i.test(message) || code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
    return 'no TLS handshake in time (an idle or stalled connection)';
  return `TLS handshake failed (${code ?? 'no code'})`;
}

/** Maps the client side's view of a failed handshake to a SyncError detail. */
export function clientHandshakeProblem(code: string | undefined): string | null {
  if (code === undefined) return null;
  if (
    WRONG_KEY.has(code) ||
    code === 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' ||
    code === 'ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY'
  ) {
    return `the primary refused the handshake (${code}): the two servers do not share the cluster key (sync.key_file)`;
  }
  if (code.startsWith('ERR_SSL_')) return `TLS handshake failed (${code})`;
  return null;
}
