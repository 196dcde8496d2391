/** The agent's configuration after validation; times in milliseconds as written. */
export interface Config {
  /** The config file this came from (absolute). */
  file: string;
  node: string;
  board: Board;
  cluster: {
    primaryAddress: string;
    monitorAddress: string;
    /** Always-present LAN host (gateway, switch) heard before any claim or fence; null: no check. */
    uplinkAddress: string | null;
    members: Member[];
  };
  /**
   * `engine`: who runs the probe cadence, reporting to the role machine in batches. `native`:
   * a thread in the prober addon (hal/prober/prober.c); `event-loop`: the same cadence in
   * TypeScript on the agent's clock (hal/prober/event-loop.ts); `auto`: native when the addon
   * loads.
   */
  probe: { intervalMs: number; timeoutMs: number; misses: number; engine: 'auto' | 'native' | 'event-loop' };
  /**
   * `powerPollMs` / `powerTimeoutMs`: after the BMC acknowledged power off (or cycle), the
   * fence reads the power state this often until it reads off, for at most this long.
   */
  fencing: {
    required: boolean;
    confirmMs: number;
    retryMs: number;
    retryMaxMs: number;
    powerPollMs: number;
    powerTimeoutMs: number;
    /**
     * Status polls this often in a window around the board's typical power-off time
     * (`board.bmc.powerOffMs`; none without it), so a fence reads the off soon after it
     * happens without asking the BMC that often for the whole wait; 0: none.
     */
    powerPollQuickMs: number;
    /**
     * A fence whose power still reads on this long after its command was last sent sends it
     * again (someone may have powered the server on before a poll read it off); 0: never.
     */
    powerResendMs: number;
    /**
     * What a takeover waits for before it claims (README "Takeover gates"). `confirmed`: the
     * old holder's power read back off; `isolated`: its isolation device (switch port) read
     * back cut, or its power off, whichever comes first; `lease`: a majority of voters
     * confirmed the old holder's lease expired, or its power off.
     */
    gate: TakeoverGate;
    /**
     * At start, each member's BMC is asked for its system's identity (IPMI system GUID,
     * Redfish ComputerSystem UUID) and compared with the member's `uuid`: `off`: not asked;
     * `warn`: a mismatch is an alarm in the log; `refuse`: also no fence through that BMC.
     */
    bmcIdentity: 'off' | 'warn' | 'refuse';
  };
  sync: {
    everyProbes: number;
    /** Absolute files or directories on the primary to replicate to the monitor (same paths). */
    paths: string[];
    port: number;
    /** Pre-shared key file (TLS-PSK); null: replication off. */
    keyFile: string | null;
    maxFileBytes: number;
    maxTotalBytes: number;
    timeoutMs: number;
    /**
     * A handover's final sync: the monitor pulls once more from the releaser's LAN peer
     * address before it claims, waiting at most this long (0: no final sync).
     */
    finalMs: number;
  };
  /**
   * The authenticated peer heartbeat (README "Peer protocol"). `keyFile` null: off. A member
   * counts as silent on a path after `deadAfterMs` without an authenticated heartbeat there.
   */
  peer: { keyFile: string | null; port: number; intervalMs: number; deadAfterMs: number };
  /**
   * The `lease` gate's timing (README "Takeover gates"): L (`durationMs`), how often the
   * holder asks for renewal, ρ (`drift`), d_drop (`dropMs`). A voter's promise, and the quiet
   * period after a start, last (L + d_drop)·(1+ρ). `thread`: where the lease service runs:
   * `worker`, a worker thread of its own with the peer sockets and the enforcer; `twins`, two
   * such threads pinned to two CPUs that renew one lease (the second on `peer.port` + 1);
   * `event-loop`, the agent's event loop.
   */
  lease: {
    durationMs: number;
    renewMs: number;
    drift: number;
    dropMs: number;
    witness: LeaseWitness | null;
    thread: LeaseThreadMode;
  };
  shell: {
    /** When set, mutating shell commands ask for this password. */
    passwordFile: string | null;
  };
  announce: { count: number; intervalMs: number; refreshS: number };
  boot: { jitterMs: number; checkMs: number; defendMs: number };
  /**
   * The probe core's clock. `native`: the timerfd addon (auto: when built), else Node timers.
   * `realtime`: SCHED_FIFO priority of the agent's main thread (0: the normal scheduler).
   */
  clock: { native: 'auto' | 'on' | 'off'; realtime: number };
  spare: { checkMs: number; jitterMs: number };
  hooks: { onPrimary: string | null; onMonitor: string | null; onSpare: string | null };
  health: { command: string; intervalMs: number; fails: number } | null;
  stateDir: string;
  controlSocket: string;
  log: { level: 'debug' | 'info' | 'warn' | 'error'; format: 'json' | 'pretty' | 'auto' };
}

export interface Member {
  name: string;
  mac: string;
  /** Its fixed service-LAN address (CIDR), where peer heartbeats reach it; null: not given. */
  address: string | null;
  /** Its address on the management LAN (CIDR): the second heartbeat path; null: none. */
  mgmtAddress: string | null;
  /**
   * `port` null: the client's default (623 for IPMI, 443 for Redfish, the agent's own for a
   * fence agent). `plug`: the outlet, switch port or VM of a fence agent's device that powers
   * this member (`plug=`); null: none.
   */
  bmc: MemberBmc | null;
  /**
   * The member's SMBIOS system UUID (lower case, dashed), compared at start with what its BMC
   * reports (fencing.bmc_identity); null: not given (for this server itself, the agent reads
   * /sys/class/dmi/id/product_uuid).
   */
  uuid: string | null;
  /** Where the member is cut off the LAN for the `isolated` takeover gate; null: nowhere. */
  isolation: MemberIsolation | null;
  /**
   * Fencing levels after the BMC (Pacemaker's fencing topology): tried in order when the
   * level before failed. Empty: the BMC is the only level.
   */
  fenceLevels: FenceLevelConfig[];
}

export interface MemberBmc {
  host: string;
  port: number | null;
  username: string;
  passwordFile: string;
  plug: string | null;
}

/**
 * `snmp-ifmib`: the member's switch port (`ifIndex`) shut through SNMPv2c IF-MIB
 * ifAdminStatus, with the write community read from `communityFile` (0600).
 */
export interface MemberIsolation {
  device: 'snmp-ifmib';
  host: string;
  port: number;
  communityFile: string;
  ifIndex: number;
  /** Upper bound for one cut or restore, the SET and its read-back. */
  timeoutMs: number;
}

/**
 * One fencing level after the BMC: another device that can cut the member's power (a PDU
 * through a fence agent, the same BMC through another client). `timeoutMs` bounds the whole
 * attempt: the power command and the reads until the power reads off.
 */
export interface FenceLevelConfig {
  client: 'fence-agent' | 'redfish' | 'ipmitool';
  timeoutMs: number;
  device: MemberBmc;
  /** With client fence-agent. */
  fenceAgent: { name: string; options: Record<string, string> } | null;
  /** With client redfish. */
  redfish: RedfishBoard | null;
}

/** A hardware profile: data only. */
export interface Board {
  file: string;
  name: string;
  description: string;
  /** The LAN interface that carries the cluster addresses. */
  nic: string;
  serial: { device: string | null; baud: number };
  bmc: {
    /**
     * `rmcp`: the in-process RMCP+ client with a kept-open session; `ipmitool`: one run per
     * command; `fence-agent`: an installed fence agent per command (`fenceAgent`); `redfish`:
     * the in-process Redfish client with a kept session (`redfish`).
     */
    client: BmcClient;
    interface: 'lanplus' | 'lan';
    cipherSuite: number;
    powerCycle: 'cycle' | 'off-on';
    timeoutMs: number;
    retries: number;
    /** With `client: fence-agent`: which agent, and extra `key=value` options for it. */
    fenceAgent: { name: string; options: Record<string, string> } | null;
    /** With `client: redfish`: how the BMC's certificate is checked and which system is ours. */
    redfish: RedfishBoard | null;
    /**
     * Typical time on this board from an acknowledged power off to the power reading off
     * (a quirk, as data; null: not known). `hotspare check` warns when fencing.power_timeout_ms
     * leaves less than twice this.
     */
    powerOffMs: number | null;
  };
  reboot: 'restart' | 'exit' | 'system';
}

export type TakeoverGate = 'confirmed' | 'isolated' | 'lease';

export type LeaseThreadMode = 'worker' | 'twins' | 'event-loop';

export type BmcClient = 'rmcp' | 'ipmitool' | 'fence-agent' | 'redfish';

/**
 * `system`: the ComputerSystem's path (null: the only member of the service root's Systems).
 * The certificate is checked against `caFile`, or its SHA-256 must be `fingerprint` (hex,
 * colons allowed); `insecure` (written explicitly) checks nothing.
 */
export interface RedfishBoard {
  system: string | null;
  /** Whether ComputerSystem.Reset takes `PowerCycle` on this board (not every BMC lists it). */
  powerCycleSupported: boolean;
  caFile: string | null;
  fingerprint: string | null;
  insecure: boolean;
}

/**
 * A lease voter that is no member (`lease.witness`): `hotspare witness` on a third machine,
 * so that two members have a majority of three. `address`: its fixed service-LAN address
 * with prefix; lease frames go to it there, on `peer.port`.
 */
export interface LeaseWitness {
  name: string;
  address: string;
}
