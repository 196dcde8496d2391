/**
 * Replay protection for authenticated frames, per sender (README "Peer protocol"):
 * - per path, the sender's current boot nonce and the highest counter accepted with it:
 *   only a higher counter for that nonce is accepted (per path, because frames on the two
 *   paths interleave one counter and may overtake each other);
 * - a new nonce means the sender booted again: accepted only with an epoch at least the
 *   highest accepted from that sender (epochs only grow), and the nonce it replaces is
 *   retired on every path;
 * - retired nonces (at most RETIRED per sender) are refused: an old boot's frames stay dead.
 */
import type { PeerPath } from '../role/types.js';
import type { DropReason, PeerFrame } from './frame.js';

/** Retired nonces remembered per sender; the oldest is forgotten first. */
export const RETIRED = 32;

interface Sender {
  epoch: number;
  paths: Map<PeerPath, { nonce: string; counter: number }>;
  /** Retired nonces, oldest first. */
  retired: string[];
}

export type Verdict = { ok: true; newBoot: boolean } | { ok: false; reason: DropReason; detail: string };

export class ReplayGuard {
  private readonly senders = new Map<string, Sender>();

  /** Judges an authenticated frame and, when it is accepted, remembers it. */
  admit(frame: Pick<PeerFrame, 'from' | 'path' | 'nonce' | 'counter' | 'epoch'>): Verdict {
    const nonce = Buffer.from(frame.nonce).toString('hex');
    let sender = this.senders.get(frame.from);
    if (sender === undefined) {
      sender = { epoch: frame.epoch, paths: new Map(), retired: [] };
      this.senders.set(frame.from, sender);
    }
    if (sender.retired.includes(nonce))
      return { ok: false, reason: 'old-boot', detail: `a frame of an earlier boot of ${frame.from}` };
    const current = sender.paths.get(frame.path);
    if (current !== undefined && current.nonce === nonce) {
      if (frame.counter <= current.counter)
        return {
          ok: false,
          reason: 'replay',
          detail: `counter ${frame.counter} is not above ${current.counter} already accepted`,
        };
      current.counter = frame.counter;
      sender.epoch = Math.max(sender.epoch, frame.epoch);
      return { ok: true, newBoot: false };
    }
    // A nonce not seen on this path: the sender's first frame here, or a new boot.
    const known = [...sender.paths.values()].some((p) => p.nonce === nonce);
    if (!known && frame.epoch < sender.epoch)
      return {
        ok: false,
        reason: 'old-epoch',
        detail: `a new boot of ${frame.from} at epoch ${frame.epoch}, below ${sender.epoch} already seen`,
      };
    if (!known) for (const p of sender.paths.values()) this.retire(sender, p.nonce);
    for (const [path, p] of sender.paths) if (p.nonce !== nonce) sender.paths.delete(path);
    sender.paths.set(frame.path, { nonce, counter: frame.counter });
    sender.epoch = Math.max(sender.epoch, frame.epoch);
    return { ok: true, newBoot: !known && current !== undefined };
  }

  private retire(sender: Sender, nonce: string): void {
    if (sender.retired.includes(nonce)) return;
    sender.retired.push(nonce);
    if (sender.retired.length > RETIRED) sender.retired.shift();
  }
}
