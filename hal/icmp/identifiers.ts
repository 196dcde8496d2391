/**
 * Identifiers and sequences of ICMP echo conversations, allocated in one place.
 *
 * Every raw ICMP socket in a namespace gets a copy of every echo reply, so each
 * conversation (a monitor's probe run, an operator's `probe ADDR`, a conflict check) tells
 * its replies apart by the identifier it sent. One allocator per IcmpEcho hands them out,
 * so no two conversations of one agent share one and none counts another's replies.
 */
export class EchoIdentifiers {
  private next: number;

  /** `first`: 1..65535; the identifiers count up from it and wrap from 65535 to 1. */
  constructor(first: number) {
    if (!Number.isInteger(first) || first < 1 || first > 0xffff)
      throw new RangeError(`first ICMP identifier must be an integer 1..65535, got ${String(first)}`);
    this.next = first;
  }

  /** An identifier no other conversation of this allocator holds (until 65535 more are taken). */
  take(): number {
    const identifier = this.next;
    this.next = nextSequence(identifier);
    return identifier;
  }
}

/** The sequence (or identifier) after `value`: 1..65535, wrapping from 65535 to 1. */
export function nextSequence(value: number): number {
  return (value % 0xffff) + 1;
}
