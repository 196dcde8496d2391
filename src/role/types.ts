import type { PersistedRole, PoweredOffAt, RoleRecord } from '../../hal/store/index.js';
import type { TimerName } from './timers.js';

/** Which of the two cluster addresses an action or result is about. */
export type AddressName = 'primary' | 'monitor';

/** What a check listens for: a cluster address, or the uplink host (heard = reachable). */
export type CheckTarget = AddressName | 'uplink';

/** A peer heartbeat path: the service LAN, or the management LAN. */
export type PeerPath = 'lan' | 'mgmt';

export type HookName = 'on_primary' | 'on_monitor' | 'on_spare';

/**
 * Where the machine is. Boot phases follow the patent's FIG. 1 and FIG. 2:
 * - `booting`: waiting for the persisted record.
 * - `boot-wait`: a random delay before the first conflict check, so servers booted
 *   together do not probe in lockstep.
 * - `checking-uplink`: before any claim, can this server hear its uplink host at all?
 * - `checking-primary` / `checking-monitor`: conflict check before claiming.
 * - `rechecking-primary`: the monitor address was taken; is the primary taken too?
 * - `primary`, `monitor`, `spare`: operating.
 * - `spare-checking`: a spare is checking whether the monitor address freed up.
 * - `confirming`: [0013] after fencing, is the primary address still silent?
 * - `link-down`: our own link is down; we hold nothing and wait for it.
 * - `halted`: persisting failed; we hold nothing and take no part.
 */
export type Phase =
  | 'booting'
  | 'boot-wait'
  | 'checking-uplink'
  | 'checking-primary'
  | 'checking-monitor'
  | 'rechecking-primary'
  | 'primary'
  | 'monitor'
  | 'confirming'
  | 'spare'
  | 'spare-checking'
  | 'link-down'
  | 'halted';

export interface MachineConfig {
  self: string;
  /** This server's own LAN MAC: the address defence compares it with other holders'. */
  selfMac: string;
  /** Every member's name and LAN MAC, self included. */
  members: ReadonlyArray<{ name: string; mac: string }>;
  /**
   * An uplink host is configured: boot claims wait until it is heard, and a monitor hears
   * it before it fences (a server behind a silent switch port hears nobody, and its silence
   * proves nothing about the others).
   */
  uplink: boolean;
  /**
   * A Prober device runs the cadence (send, time out, read replies) and reports
   * `probe-batch` events; the machine asks for `probe-start` / `probe-stop`.
   */
  probe: { intervalUs: number; timeoutUs: number; misses: number };
  fencing: {
    required: boolean;
    /** [0013] second window: how long the primary address must stay silent after fencing. */
    confirmUs: number;
    retryUs: number;
    retryMaxUs: number;
    /** `off-on`: power off, confirm off, claim, power on. `cycle`: one cycle command. */
    powerCycle: 'cycle' | 'off-on';
    /** fencing.power_timeout_ms: the longest a fence may wait for a BMC's power off. */
    powerTimeoutUs: number;
    /**
     * What a fence result must show before a claim (README "Takeover gates"): `confirmed`
     * the power read back off; `isolated` also an isolation device's cut read back (the
     * power-off still runs, and its failure is an alarm); `lease` also a lease quorum.
     */
    gate: 'confirmed' | 'isolated' | 'lease';
  };
  /**
   * The peer heartbeat, when configured: for each other member, the paths it is heard on.
   * A primary that hears the monitor on none of them while its address still answers treats
   * the monitor's agent as dead (issue 11: a killed monitor agent is otherwise never noticed).
   */
  peer: {
    paths: Readonly<Record<string, readonly PeerPath[]>>;
    /**
     * How long a member's last heartbeat speaks for it in a claim from silence (two and a half
     * heartbeat intervals, at most `dead_after_ms`): a member not heard for longer may have
     * claimed since, behind a silent switch port, unheard.
     */
    freshUs: number;
    /**
     * How long a boot claim defers at most to a member of a higher name that is heard, lately,
     * on its own way to a boot claim (`dead_after_ms`): past that, it checks and claims as
     * before (a member stuck in its boot, its uplink silent, say, must not keep every lower
     * member from ever claiming).
     */
    deferUs: number;
  } | null;
  /**
   * The `lease` gate (README "Takeover gates"): no claim of the primary address without a
   * lease granted by a majority of voters; `acquireUs`: how long a claim waits for it.
   */
  lease: { acquireUs: number } | null;
  syncEveryProbes: number;
  /**
   * A handover's final sync (sync.final_ms; 0: none): after an authenticated release the
   * monitor pulls once more from the releaser and claims when that pull ended or this long
   * passed, whichever is first (the [0013] confirmation runs meanwhile).
   */
  finalSyncUs: number;
  boot: { jitterUs: number; checkUs: number };
  spare: { checkUs: number; jitterUs: number };
  /** How often a primary or monitor checks that nobody else holds its address (0: never). */
  defendUs: number;
  health: { intervalUs: number; fails: number } | null;
  /** 0: no periodic re-announcement of the primary address. */
  announceRefreshUs: number;
}

export interface ProbeState {
  misses: number;
  okProbes: number;
  /** Member last seen holding the primary address (from the ARP entry of a reply). */
  holder: string | null;
  /** MAC seen holding the primary address that is no member's. */
  strangerMac: string | null;
  /**
   * Runs of misses forgiven in the current streak because this monitor's ARP entry pointed
   * at a stranger (the probes never reached a member); bounded by MAX_NEIGHBOR_REPAIRS.
   */
  repairs: number;
  /** When the last counted repair was asked for (null: none in this run). */
  pinnedUs: number | null;
  lastReplyUs: number | null;
  /**
   * This monitor's own uplink during the current run of misses: asked at the first miss so
   * the answer is in before the window closes; `unknown` when not asked (or superseded).
   */
  uplink: 'unknown' | 'pending' | 'heard' | 'silent';
  /** When this monitor began probing: a fresh monitor first gives a booting primary time. */
  sinceUs: number;
}

export interface FenceState {
  /**
   * idle: nothing to do; uplink: checking this monitor's own uplink before fencing; running:
   * fences are in flight (`pending`); backoff: a fence failed and fencing is required,
   * waiting to retry the targets not yet fenced.
   */
  status: 'idle' | 'uplink' | 'running' | 'backoff';
  /**
   * Whom this takeover must fence: the member seen holding the primary address, or, when no
   * member was seen holding it and fencing is required, every other member (any of them
   * could hold it unseen).
   */
  targets: readonly string[];
  /** Targets whose fence is in flight. */
  pending: readonly string[];
  /** Targets whose power was confirmed off (or cycled), or whose cut was, since this takeover began. */
  fenced: readonly string[];
  /** Of `fenced`, those confirmed by an isolation device (their power-off still running). */
  isolated?: readonly string[];
  attempt: number;
  /** The holder released the address itself (authenticated heartbeat): no fence needed. */
  released?: boolean;
  /**
   * The `lease` gate: targets whose fence waits for the lease this takeover asked for. The
   * first takeover of a run of misses fences only once a majority granted the lease (the
   * holder's lease ran out); a refusal fences nobody (`leaseTakeover`).
   */
  afterLease?: readonly string[];
  /** The `lease` gate: this takeover's fences went out (a retry does not issue them again). */
  leaseFenced?: boolean;
  /** A handover's final sync from the releaser: in flight, or ended (done or given up). */
  finalSync?: 'running' | 'ended';
  /** The [0013] confirmation found the address silent while the final sync still ran. */
  silent?: boolean;
  /**
   * With no member seen holding the address: the other members not fenced because each said,
   * authenticated and recently, that it is a spare holding nothing (`releasedPrimary`).
   */
  spares?: readonly string[];
}

export interface RoleState {
  phase: Phase;
  /** The role last persisted (or read at boot). */
  role: PersistedRole;
  epoch: number;
  linkUp: boolean;
  /** PRNG state for jitter; the machine stays a pure function of its inputs. */
  rng: number;
  probe: ProbeState;
  fence: FenceState;
  healthFails: number;
  /**
   * Operator maintenance: the server keeps the address it holds but takes no decisions: a
   * monitor does not probe (so never fences), a primary runs no health checks, a spare does
   * not claim. Not persisted: a reboot ends it.
   */
  maintenance: boolean;
  /** Id of the latest check asked for; results of older checks are stale and ignored. */
  checkSeq: number;
  /** Id of the latest fence asked for, of any target (fence ids count up per process). */
  fenceSeq: number;
  /**
   * Per target, the id of the latest fence whose result this machine waits for: the result
   * of an earlier fence of the same target (one of a round given up, still running) is
   * superseded and does not count for the later one.
   */
  fenceIds: Readonly<Record<string, number>>;
  /**
   * Members this server powered off for its last takeover (off-on fencing), persisted with
   * the takeover: powered on again if that persist fails, and by a restarted agent.
   */
  poweredOff: readonly string[];
  /**
   * When this server last decided to power members off (its clock and boot), persisted with
   * them: a power-on within `fencing.power_timeout_ms` of it, on the same boot, waits for the
   * power to read off first (the BMC may still be carrying out that off).
   */
  poweredOffAt: PoweredOffAt | null;
  /** The boot ID of this server's clock (`Clock.bootId`), from the boot event. */
  bootId: string;
  /** What the peer heartbeats say (authenticated), for the dead-monitor rule. */
  peers: PeerView;
  /** The `lease` gate: the lease this server asked for or holds, and the claim waiting for it. */
  lease: LeaseClaim;
  /**
   * Since when this boot has deferred its claim to members of a higher name on their own way
   * to a boot claim (`claimsAhead`); null: it has not. A new boot starts afresh.
   */
  deferSinceUs: number | null;
}

export interface LeaseClaim {
  status: 'none' | 'acquiring' | 'held';
  /** The epoch asked for (and claimed with once held). */
  epoch: number;
  /**
   * What becomes primary once the lease is held. `recorded`: the claim's role record
   * (primary at `epoch`, with these powered-off members) is saved in the claim's own step,
   * right after its first request (`claimPrimary`), so the grant, whose actions run after
   * that save, assigns without saving it again.
   */
  claim: { reason: string; after: readonly Action[]; recorded?: { poweredOff: readonly string[] } } | null;
}

export interface PeerView {
  /** The member last heard saying it holds the monitor address. */
  monitor: string | null;
  /** The member last heard saying it holds the primary address. */
  primary: string | null;
  /** Each member's phase, as its last heartbeat said. */
  phases: Readonly<Record<string, Phase>>;
  /** Each member's persisted role, as its last heartbeat said. */
  roles: Readonly<Record<string, PersistedRole>>;
  /** Per member, its heartbeat paths that are silent now. */
  silent: Readonly<Record<string, readonly PeerPath[]>>;
  /** Since when the monitor has been silent on every path while this server is primary. */
  deadSinceUs: number | null;
  /** A fence of the monitor's server is in flight. */
  fencing: boolean;
  /** The highest epoch any member was heard with (authenticated). */
  highestEpoch: number;
  /** When each member was last heard (authenticated, on any path). */
  heardUs: Readonly<Record<string, number>>;
}

export type Event =
  | { type: 'boot'; nowUs: number; record: RoleRecord | null; linkUp: boolean; bootId: string }
  | { type: 'timer'; nowUs: number; timer: TimerName }
  | {
      type: 'check-result';
      nowUs: number;
      /** The `id` of the check action this answers; only the latest check counts. */
      id: number;
      /** When the check began: a result that arrives long after its window is stale. */
      startedUs: number;
      address: CheckTarget;
      taken: boolean;
      contended?: boolean;
      evidence: readonly string[];
    }
  /** From the Prober: answers counted in order, then at most one miss. */
  | { type: 'probe-batch'; nowUs: number; answered: number; lastReplyUs: number | null; missed: number | null }
  /** The Prober stopped and cannot go on (its socket failed). */
  | { type: 'probe-failed'; nowUs: number; detail: string }
  | { type: 'holder'; nowUs: number; mac: string | null }
  /**
   * A fence ended. `by`: what was confirmed: the power read back off, or (gate `isolated`)
   * the member's switch port read back cut while its power-off runs on.
   */
  | {
      type: 'fence-result';
      nowUs: number;
      /** The `id` of the fence action this answers. */
      id: number;
      target: string;
      ok: boolean;
      detail: string;
      by?: 'power' | 'isolation';
    }
  | { type: 'health-result'; nowUs: number; ok: boolean; detail: string }
  | { type: 'link'; nowUs: number; up: boolean }
  | { type: 'persist-failed'; nowUs: number; detail: string }
  /** The executor confirmed a power-on of `target` (its power read on after the on). */
  | { type: 'powered-on'; nowUs: number; target: string }
  /** The executor could not assign an address the machine asked for; what followed was dropped. */
  | { type: 'assign-failed'; nowUs: number; address: AddressName; detail: string }
  | { type: 'command'; nowUs: number; command: OperatorCommand }
  /** An authenticated peer heartbeat (throttled): what `node` says of itself, heard on `path`. */
  | {
      type: 'peer';
      nowUs: number;
      node: string;
      path: PeerPath;
      phase: Phase;
      role: PersistedRole;
      epoch: number;
      holdsPrimary: boolean;
      holdsMonitor: boolean;
    }
  /**
   * The lease service: a majority granted the lease asked for at `epoch` (`held`), or this
   * server's lease ran out or could not be renewed (`!held`; its enforcer drops the address).
   */
  | { type: 'lease'; nowUs: number; held: boolean; epoch: number; detail: string }
  /** `node` has sent no authenticated heartbeat on `path` for `peer.dead_after_ms` (once per silence). */
  | { type: 'peer-silent'; nowUs: number; node: string; path: PeerPath }
  /** A handover's final sync from `from` ended: pulled (`ok`) or failed (`detail`). */
  | { type: 'final-sync-done'; nowUs: number; from: string; ok: boolean; detail: string };

/** What an operator can ask of the role machine (the shell, the control socket). */
export type OperatorCommand = 'promote' | 'demote' | 'maintenance-on' | 'maintenance-off';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export type Action =
  | {
      type: 'persist';
      role: PersistedRole;
      epoch: number;
      reason: string;
      poweredOff?: readonly string[];
      poweredOffAt?: PoweredOffAt;
    }
  | { type: 'check'; id: number; address: CheckTarget; windowUs: number }
  | { type: 'assign'; address: AddressName }
  | { type: 'release'; address: AddressName }
  | { type: 'announce'; address: AddressName }
  | { type: 'hook'; hook: HookName }
  | { type: 'set-timer'; timer: TimerName; atUs: number }
  | { type: 'cancel-timer'; timer: TimerName }
  | { type: 'probe-start'; atUs: number }
  | { type: 'probe-stop' }
  | { type: 'lookup-holder' }
  /** Point this server's ARP entry for the primary address at `mac` (a member's). */
  | { type: 'pin-neighbor'; mac: string }
  /**
   * `detached` (the `lease` gate): the claim does not wait for this fence; the executor logs
   * its outcome (an alarm on failure) and, with off-on fencing, powers the target on after.
   */
  | { type: 'fence'; id: number; target: string; detached?: boolean }
  /** Ask a majority of voters for the lease at `epoch`; renewed until `lease-release`. */
  | { type: 'lease-acquire'; epoch: number }
  | { type: 'lease-release' }
  /**
   * `waitOffUntilUs`: until then, wait for the power to read off before the on (an off this
   * server sent may still be pending in the BMC, and some BMCs drop an on meanwhile).
   */
  | { type: 'power-on'; target: string; waitOffUntilUs?: number }
  | { type: 'sync'; okProbes: number }
  /** A handover's final sync: pull once more from the member that released the primary address. */
  | { type: 'final-sync'; from: string }
  | { type: 'health-check' }
  | { type: 'reboot'; reason: string }
  /** A phase change (`go` in phase.ts); `routine`: a spare's periodic check, logged at debug only. */
  | { type: 'transition'; from: Phase; to: Phase; role: PersistedRole; epoch: number; reason: string; routine?: true }
  | {
      type: 'log';
      level: LogLevel;
      event: string;
      message: string;
      fields?: Record<string, string | number | boolean | null>;
    };

export interface StepResult {
  state: RoleState;
  actions: Action[];
  /** An operator command this server cannot carry out now: why (the state did not change). */
  refused?: string;
}
