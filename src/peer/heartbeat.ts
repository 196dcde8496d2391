/**
 * The peer heartbeat service: every `interval_ms` sends this server's phase, role, epoch
 * and held addresses to every other member on every path both have; authenticates, checks
 * and replay-filters what arrives; reports observations (throttled) and, once per silence,
 * a member's path that has gone `dead_after_ms` without an authenticated frame.
 * Observation only: it decides nothing.
 */
import type { Cancel, Clock } from '../../hal/clock/index.js';
import type { PeerDatagram, PeerTransport } from '../../hal/peer/index.js';
import type { PersistedRole } from '../../hal/store/index.js';
import type { LogFields } from '../log/index.js';
import type { LogLevel, PeerPath, Phase } from '../role/types.js';
import { RefusalLog } from '../sync/server/refusal-log.js';
import { decodeFrame, encodeFrame, noDrops } from './frame.js';
import { isLeaseDatagram } from '../lease/frame.js';
import type { DropReason } from './frame.js';
import type { PeerKey } from './key.js';
import { ReplayGuard } from './replay.js';
import { ObservationThrottle } from './throttle.js';
import type { LocalView, PeerObservation } from './observation.js';

export type { LocalView, PeerObservation } from './observation.js';

export interface PeerSilence {
  node: string;
  path: PeerPath;
  nowUs: number;
}

export interface PeerMemberAddresses {
  name: string;
  /** Bare IPv4 addresses; null: the member has no address on that path. */
  lan: string | null;
  mgmt: string | null;
}

export interface HeartbeatOptions {
  self: string;
  members: readonly PeerMemberAddresses[];
  port: number;
  intervalMs: number;
  deadAfterMs: number;
  key: PeerKey;
  transport: PeerTransport;
  clock: Clock;
  /** Random per boot of the process, NONCE_BYTES long. */
  nonce: Uint8Array;
  local: () => LocalView;
  onObservation: (observation: PeerObservation) => void;
  onSilent: (silence: PeerSilence) => void;
  log: (level: LogLevel, event: string, message: string, fields?: LogFields) => void;
}

export interface PeerPathStatus {
  /** Milliseconds since the last authenticated frame on this path; null: none yet. */
  heardMsAgo: number | null;
  silent: boolean;
}

export interface PeerMemberStatus {
  node: string;
  phase: Phase | null;
  role: PersistedRole | null;
  epoch: number | null;
  holdsPrimary: boolean;
  holdsMonitor: boolean;
  lan: PeerPathStatus | null;
  mgmt: PeerPathStatus | null;
}

/** What `hotspare status` shows of the peers; no key, no nonce. */
export interface PeerStatus {
  port: number;
  intervalMs: number;
  deadAfterMs: number;
  sent: number;
  received: number;
  accepted: number;
  dropped: Record<DropReason, number>;
  /** The highest (epoch, node) any peer has claimed, by epoch then name. */
  highest: { epoch: number; node: string } | null;
  members: PeerMemberStatus[];
}

interface Track {
  /** When silence is counted from: the service's start, then each frame. */
  sinceUs: number;
  lastHeardUs: number | null;
  silentReported: boolean;
}

const PATHS: readonly PeerPath[] = ['lan', 'mgmt'];

export class PeerHeartbeat {
  private readonly replay = new ReplayGuard();
  private readonly throttle: ObservationThrottle;
  private readonly dropLog: RefusalLog;
  private readonly tracks = new Map<string, Track>();
  private readonly last = new Map<string, LocalView>();
  private readonly byAddress = new Map<string, string>();
  private readonly selfAddresses: PeerMemberAddresses;
  private highest: { epoch: number; node: string } | null = null;
  private counter = 0;
  private timer: Cancel | null = null;
  private nextUs = 0;
  private stopped = true;
  private readonly counts = {
    sent: 0,
    received: 0,
    accepted: 0,
    dropped: noDrops(),
  };

  constructor(private readonly o: HeartbeatOptions) {
    const self = o.members.find((m) => m.name === o.self);
    if (self === undefined) throw new Error(`${o.self} is not a member`);
    this.selfAddresses = self;
    // Each heartbeat reaches the role machine (a burst of duplicates does not): a claim from
    // silence trusts a member's last word only while it is fresh (MachineConfig peer.freshUs,
    // 2.5 intervals), so the machine must know when it was last heard to within an interval.
    this.throttle = new ObservationThrottle(Math.min(o.deadAfterMs / 4, o.intervalMs / 2) * 1000);
    // At most one line per reason and sender address a second, ten a second in all.
    this.dropLog = new RefusalLog({ perPeerMs: 1000, perWindow: 10 }, () => o.clock.nowUs() / 1000);
    for (const m of o.members) {
      if (m.name === o.self) continue;
      for (const path of PATHS) {
        const address = m[path];
        if (address !== null) this.byAddress.set(`${path}/${address}`, m.name);
      }
    }
    o.transport.onDatagram((d) => this.receive(d));
  }

  /** Starts sending, and counting silence from now. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const nowUs = this.o.clock.nowUs();
    for (const [name, path] of this.peerPaths())
      this.tracks.set(`${name}/${path}`, { sinceUs: nowUs, lastHeardUs: null, silentReported: false });
    this.nextUs = nowUs;
    this.tick();
  }

  /**
   * Sends a heartbeat now, between the periodic ones: what this server holds just changed
   * (a release must reach the monitor before its probes miss), and the next tick is up to
   * an interval away.
   */
  sendNow(): void {
    if (!this.stopped) this.send();
  }

  stop(): void {
    this.stopped = true;
    this.timer?.();
    this.timer = null;
  }

  status(): PeerStatus {
    const nowUs = this.o.clock.nowUs();
    const pathStatus = (name: string, path: PeerPath): PeerPathStatus | null => {
      const t = this.tracks.get(`${name}/${path}`);
      if (t === undefined) return null;
      return {
        heardMsAgo: t.lastHeardUs === null ? null : Math.round((nowUs - t.lastHeardUs) / 1000),
        silent: nowUs - t.sinceUs >= this.o.deadAfterMs * 1000,
      };
    };
    return {
      port: this.o.port,
      intervalMs: this.o.intervalMs,
      deadAfterMs: this.o.deadAfterMs,
      sent: this.counts.sent,
      received: this.counts.received,
      accepted: this.counts.accepted,
      dropped: { ...this.counts.dropped },
      highest: this.highest === null ? null : { ...this.highest },
      members: this.o.members
        .filter((m) => m.name !== this.o.self)
        .map((m) => {
          const seen = this.last.get(m.name);
          return {
            node: m.name,
            phase: seen?.phase ?? null,
            role: seen?.role ?? null,
            epoch: seen?.epoch ?? null,
            holdsPrimary: seen?.holdsPrimary ?? false,
            holdsMonitor: seen?.holdsMonitor ?? false,
            lan: pathStatus(m.name, 'lan'),
            mgmt: pathStatus(m.name, 'mgmt'),
          };
        }),
    };
  }

  /** (member, path) pairs this server exchanges heartbeats on: both ends have the path. */
  private *peerPaths(): Generator<[string, PeerPath]> {
    for (const m of this.o.members) {
      if (m.name === this.o.self) continue;
      for (const path of PATHS) if (m[path] !== null && this.selfAddresses[path] !== null) yield [m.name, path];
    }
  }

  private tick(): void {
    if (this.stopped) return;
    const nowUs = this.o.clock.nowUs();
    this.send();
    this.checkSilence(nowUs);
    // Absolute deadlines: lateness does not accumulate, missed slots are skipped.
    const intervalUs = this.o.intervalMs * 1000;
    while (this.nextUs <= nowUs) this.nextUs += intervalUs;
    this.timer = this.o.clock.at(this.nextUs, () => this.tick());
  }

  private send(): void {
    const view = this.o.local();
    for (const m of this.o.members) {
      if (m.name === this.o.self) continue;
      for (const path of PATHS) {
        const to = m[path];
        if (to === null || this.selfAddresses[path] === null) continue;
        this.counter += 1;
        const data = encodeFrame(
          { ...view, path, from: this.o.self, to: m.name, nonce: this.o.nonce, counter: this.counter },
          this.o.key,
        );
        try {
          this.o.transport.send(path, to, this.o.port, data);
          this.counts.sent += 1;
        } catch (error) {
          this.o.log('error', 'peer-send-failed', `cannot send a heartbeat to ${m.name} on ${path}: ${text(error)}`);
        }
      }
    }
  }

  private checkSilence(nowUs: number): void {
    for (const [key, t] of this.tracks) {
      if (t.silentReported || nowUs - t.sinceUs < this.o.deadAfterMs * 1000) continue;
      t.silentReported = true;
      const [node = '', path = 'lan'] = key.split('/') as [string, PeerPath];
      this.throttle.forget(node, path);
      this.o.log(
        'warn',
        'peer-silent',
        `no authenticated heartbeat from ${node} on ${path} for ${this.o.deadAfterMs} ms`,
        { peer: node, path, heardMsAgo: t.lastHeardUs === null ? null : Math.round((nowUs - t.lastHeardUs) / 1000) },
      );
      this.o.onSilent({ node, path, nowUs });
    }
  }

  private receive(d: PeerDatagram): void {
    // Lease frames share the port; the lease service reads them.
    if (this.stopped || isLeaseDatagram(d.data)) return;
    this.counts.received += 1;
    // Cheapest first: only a member's address on this path may speak on it.
    const claimed = this.byAddress.get(`${d.path}/${d.from}`);
    if (claimed === undefined) return this.drop('stranger', d, `${d.from} is no member's ${d.path} address`);
    const decoded = decodeFrame(d.data, this.o.key);
    if (!decoded.ok) return this.drop(decoded.reason, d, decoded.detail);
    const f = decoded.frame;
    if (!this.o.members.some((m) => m.name === f.from) || f.from === this.o.self)
      return this.drop('not-member', d, `claims to be ${JSON.stringify(f.from)}, not another member`);
    if (f.from !== claimed) return this.drop('stranger', d, `claims to be ${f.from} from ${claimed}'s address`);
    if (f.to !== this.o.self) return this.drop('not-for-us', d, `addressed to ${f.to}`);
    if (f.path !== d.path) return this.drop('wrong-path', d, `sent for the ${f.path} path`);
    const verdict = this.replay.admit(f);
    if (!verdict.ok) return this.drop(verdict.reason, d, verdict.detail);
    this.counts.accepted += 1;
    const view: LocalView = {
      phase: f.phase,
      role: f.role,
      epoch: f.epoch,
      holdsPrimary: f.holdsPrimary,
      holdsMonitor: f.holdsMonitor,
    };
    this.last.set(f.from, view);
    if (
      this.highest === null ||
      f.epoch > this.highest.epoch ||
      (f.epoch === this.highest.epoch && f.from > this.highest.node)
    )
      this.highest = { epoch: f.epoch, node: f.from };
    const track = this.tracks.get(`${f.from}/${d.path}`);
    if (track !== undefined) {
      if (track.silentReported)
        this.o.log('info', 'peer-heard', `${f.from} heard again on ${d.path}`, { peer: f.from, path: d.path });
      track.lastHeardUs = d.receivedUs;
      track.sinceUs = d.receivedUs;
      track.silentReported = false;
    }
    if (verdict.newBoot)
      this.o.log('info', 'peer-new-boot', `${f.from} started again (new boot nonce) at epoch ${f.epoch}`, {
        peer: f.from,
        epoch: f.epoch,
      });
    const observation: PeerObservation = { ...view, node: f.from, path: d.path, atUs: d.receivedUs };
    if (this.throttle.due(observation)) this.o.onObservation(observation);
  }

  private drop(reason: DropReason, d: PeerDatagram, detail: string): void {
    this.counts.dropped[reason] += 1;
    const admitted = this.dropLog.admit(`${reason}/${d.from}`);
    if (admitted === null) return;
    const heldBack = admitted.peerSuppressed + admitted.otherSuppressed;
    const more = heldBack === 0 ? '' : ` (${heldBack} more dropped since the last line)`;
    if (reason === 'version')
      this.o.log('error', 'peer-version', `refused a heartbeat from ${d.from} on ${d.path}: ${detail}${more}`, {
        from: d.from,
        path: d.path,
        reason,
      });
    else
      this.o.log(
        'warn',
        'peer-dropped',
        `dropped a datagram from ${d.from} on ${d.path}: ${reason}: ${detail}${more}`,
        {
          from: d.from,
          path: d.path,
          reason,
        },
      );
  }
}

function text(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
