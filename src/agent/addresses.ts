import type { ConflictReport } from '../../hal/nic/index.js';
import type { AddressName, CheckTarget, Phase } from '../role/index.js';
import { ClaimGuard } from './claim-guard.js';
import { ConfirmWatch } from './confirm-watch.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';
import type { EchoResult } from './operator.js';
import type { PeerLinks } from './peer-links.js';

/** A confirmation watched through the fence ends with a check this long (or the window, if shorter). */
const FINAL_CHECK_MS = 2;

/** The boot checks whose silence leads straight to a claim of the address checked. */
const CLAIMING_CHECKS: ReadonlyMap<Phase, AddressName> = new Map<Phase, AddressName>([
  ['checking-primary', 'primary'],
  ['checking-monitor', 'monitor'],
]);

/** One echo round to an address (the operator's `probe`), for the uplink check. */
export type Echo = (address: string, count: number, timeoutMs: number) => Promise<EchoResult[]>;

/**
 * The executor's address work on the NIC: assign, release and announce the cluster
 * addresses, the conflict checks the role machine asks for (and the uplink check), and the
 * lookup of who holds the primary address. Checks and lookups answer as events.
 */
export class Addresses {
  /** [0013] through the fence: the primary address watched while a takeover's fences run. */
  readonly confirmWatch: ConfirmWatch;
  /** A boot check's watch that runs on until its claim is assigned. */
  private readonly claimGuard: ClaimGuard;

  constructor(
    private readonly x: ExecutorContext,
    private readonly peers: PeerLinks,
    private readonly echo: Echo,
  ) {
    this.confirmWatch = new ConfirmWatch(x);
    this.claimGuard = new ClaimGuard(x);
  }

  address(name: AddressName): string {
    const cluster = this.x.ports.config.cluster;
    return name === 'primary' ? cluster.primaryAddress : cluster.monitorAddress;
  }

  async assign(name: AddressName): Promise<void> {
    const against = await this.claimGuard.take(name);
    if (against !== null) throw new Error(`not claimed: ${against}`);
    this.peers.mayAssign(name);
    await this.x.ports.nic.assign(this.address(name));
    this.peers.assigned(name);
    this.x.log('info', 'address-assigned', `holding the ${name} address ${this.address(name)}`, {
      address: this.address(name),
    });
  }

  async release(name: AddressName): Promise<void> {
    const address = this.address(name);
    if (!(await this.x.ports.nic.holds(address))) return this.peers.released(name, { releasedNow: false });
    await this.x.ports.nic.release(address);
    this.peers.released(name, { releasedNow: true });
    this.x.log('info', 'address-released', `released the ${name} address ${address}`, { address });
  }

  async announce(name: AddressName): Promise<void> {
    const { count, intervalMs } = this.x.ports.config.announce;
    if (count === 0) return;
    const startUs = this.x.now();
    await this.x.ports.nic.announce(this.address(name), count, intervalMs);
    this.x.log('info', 'announced', `sent ${count} gratuitous ARP for ${this.address(name)}`, {
      address: this.address(name),
      count,
      tookUs: this.x.now() - startUs,
    });
  }

  /** Runs a conflict check without holding up the queue; the result comes back as an event. */
  check(id: number, name: CheckTarget, windowUs: number): void {
    if (name === 'uplink') return this.checkUplink(id, windowUs);
    const x = this.x;
    const startUs = x.now();
    const address = this.address(name);
    const phase = x.state().phase;
    this.claimGuard.endAll();
    if (name === 'primary' && phase === 'confirming') {
      const watched = this.confirmWatch.take(windowUs);
      if (watched !== null) return this.finalCheck(id, address, windowUs, watched.evidence);
    }
    if (CLAIMING_CHECKS.get(phase) === name) this.claimGuard.start(name, address, windowUs);
    x.ports.nic.detectConflict(address, windowUs / 1000).then(
      (report) => {
        x.log('info', 'checked', `${name} address ${address} is ${report.taken ? 'taken' : 'silent'}`, {
          address: address,
          taken: report.taken,
          evidence: report.evidence.join(', '),
          tookUs: x.now() - startUs,
        });
        this.answer(id, startUs, name, report);
      },
      (error: unknown) => {
        // Rule: a check that could not be made proves nothing is free: treat it as taken.
        x.log('error', 'check-failed', `conflict check of ${address} failed: ${message(error)}; treating it as taken`);
        this.answer(id, startUs, name, { taken: true, evidence: ['check-failed'] });
      },
    );
  }

  /**
   * The end of a confirmation watched through the fence: one short check now (a holder that
   * claimed since the watch's last probe, before its gratuitous ARP, answers it), and the
   * role machine reads both as one check of the window that ended now.
   */
  private finalCheck(id: number, address: string, windowUs: number, watched: string[]): void {
    const x = this.x;
    const startUs = x.now();
    const finalMs = Math.min(windowUs / 1000, FINAL_CHECK_MS);
    x.ports.nic.detectConflict(address, finalMs).then(
      (report) => {
        const evidence = report.taken ? report.evidence : watched;
        x.log('info', 'checked', `primary address ${address} is ${report.taken ? 'taken' : 'silent'}`, {
          address,
          taken: report.taken,
          evidence: evidence.join(', '),
          tookUs: x.now() - startUs,
        });
        this.answer(id, startUs - windowUs, 'primary', { ...report, evidence });
      },
      (error: unknown) => {
        x.log('error', 'check-failed', `conflict check of ${address} failed: ${message(error)}; treating it as taken`);
        this.answer(id, startUs, 'primary', { taken: true, evidence: ['check-failed'] });
      },
    );
  }

  /** Asks the ARP cache who holds the primary address; the answer is a `holder` event. */
  lookupHolder(): void {
    const x = this.x;
    x.ports.nic.neighborMac(x.primaryIp).then(
      (mac) => x.dispatch({ type: 'holder', nowUs: x.now(), mac }),
      (error: unknown) =>
        x.log('warn', 'holder-lookup-failed', `cannot read the ARP entry of ${x.primaryIp}: ${message(error)}`),
    );
  }

  /** Points our ARP entry for the primary address back at a member's MAC (a forged reply moved it). */
  pinNeighbor(mac: string): void {
    const x = this.x;
    x.ports.nic.setNeighbor(x.primaryIp, mac).then(
      () => undefined,
      (error: unknown) =>
        x.log(
          'error',
          'neighbor-pin-failed',
          `cannot set the ARP entry of ${x.primaryIp} to ${mac}: ${message(error)}`,
        ),
    );
  }

  /**
   * The uplink host is heard when it answers one echo within the window: unlike an address
   * check, the answer counts at once (the monitor's check runs beside its detection window,
   * and a fence must not wait for the rest of a window that has already answered).
   */
  private checkUplink(id: number, windowUs: number): void {
    const x = this.x;
    const startUs = x.now();
    const uplink = x.ports.config.cluster.uplinkAddress;
    const ip = uplink === null ? null : (uplink.split('/')[0] ?? null);
    const answer = (heard: boolean, evidence: string[]): void => {
      x.log(heard ? 'debug' : 'warn', 'uplink', `uplink host ${ip ?? 'unset'} ${heard ? 'answers' : 'is silent'}`, {
        heard,
        tookUs: x.now() - startUs,
      });
      this.answer(id, startUs, 'uplink', { taken: heard, evidence });
    };
    if (ip === null) return answer(false, ['cluster.uplink_address is not set']);
    this.echo(ip, 1, Math.max(1, Math.round(windowUs / 1000))).then(
      ([result]) =>
        result?.rttUs === null || result === undefined
          ? answer(false, [])
          : answer(true, [`icmp-reply ${result.rttUs} us`]),
      (error: unknown) => answer(false, [`echo failed: ${message(error)}`]),
    );
  }

  /** A check's answer, as the role machine's event (only the latest check's id counts). */
  private answer(id: number, startedUs: number, address: CheckTarget, report: ConflictReport): void {
    const { actions } = this.x.dispatch({
      type: 'check-result',
      nowUs: this.x.now(),
      id,
      startedUs,
      address,
      taken: report.taken,
      contended: report.contended === true,
      evidence: report.evidence,
    });
    if (address !== 'uplink') {
      this.claimGuard.settle(
        address,
        actions.some((a) => a.type === 'assign' && a.address === address),
      );
    }
  }

  /** Ends what still watches (the agent stops). */
  close(): void {
    this.claimGuard.endAll();
    this.confirmWatch.stop();
  }
}
