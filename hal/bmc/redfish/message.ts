/** The first message of a Redfish error body (`error.@Message.ExtendedInfo` or `error.message`), as `: text`. */
export function messageOf(body: unknown): string {
  const error = (body as { error?: { message?: unknown; '@Message.ExtendedInfo'?: unknown } } | null)?.error;
  const info = error?.['@Message.ExtendedInfo'];
  const first = Array.isArray(info) ? (info[0] as { Message?: unknown; MessageId?: unknown } | undefined) : undefined;
  const text = first?.Message ?? first?.MessageId ?? error?.message;
  if (typeof text !== 'string') return '';
  const clean = text.replace(/[^\x20-\x7e]+/g, ' ').trim();
  return `: ${clean.length > 160 ? `${clean.slice(0, 160)}...` : clean}`;
}
