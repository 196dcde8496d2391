/**
 * The lab's LAN switch as the harness drives it: a port's link (a cable pulled at the
 * switch), a port that stops forwarding with its link up (bridge port state), and strangers
 * plugged in. It records the silent ports for the split-brain check.
 */
import { exec, monoUs } from './exec.js';
import type { IpBatch } from './ip-batch.js';
import { addNetns, deleteNetns, ipBatchOnce } from './netns.js';
import type { HolderEvent } from './split-brain.js';
import { bare } from './topology.js';
import type { LabPlan } from './topology.js';

export class LabSwitch {
  /** Silent switch ports, as port events for the split-brain check. */
  readonly silences: HolderEvent[] = [];
  private strangers = 0;

  constructor(
    private readonly plan: LabPlan,
    /** The kept `ip -batch` of the LAN namespace. */
    private readonly batch: IpBatch,
    /** Namespaces made here go on this list, which the lab's teardown deletes. */
    private readonly createdNetns: string[],
    private readonly log: (line: string) => void,
  ) {}

  /** The port's link: down is a cable pulled at the switch (the server's eth0 loses carrier). */
  async setLink(port: string, up: boolean): Promise<void> {
    await this.batch.run([`link set dev ${port} ${up ? 'up' : 'down'}`]);
  }

  /**
   * The server's port stops (or starts again) forwarding with its link up. Recorded on the
   * stricter side for the split-brain check: a silence once the port is disabled, its end
   * before the port forwards again. A port that is down (its server off, or shut through
   * SNMP) takes no state: it forwards again by itself when it comes up (no STP), so then
   * only the record changes.
   */
  async setSilent(server: string, port: string, silent: boolean, portUp = true): Promise<void> {
    if (silent) {
      await this.setPortState(port, 'disabled');
      this.silences.push({ server, atUs: monoUs(), kind: 'silence', up: false });
      return;
    }
    this.silences.push({ server, atUs: monoUs(), kind: 'silence', up: true });
    if (portUp)
      await this.setPortState(port, 'forwarding').catch((error: unknown) => {
        if (!String(error).includes('Network is down')) throw error;
      });
  }

  /** A power off ended a silence: the port forwards again once the link is back. */
  silenceEndedByPowerOff(server: string): void {
    this.silences.push({ server, atUs: monoUs(), kind: 'silence', up: true });
  }

  /**
   * A host that is no member appears on the LAN with `mac` and holds `address` (a
   * misconfigured host, or a forger answering ARP for it). Returns its removal.
   */
  async stranger(address: string, mac: string): Promise<() => Promise<void>> {
    const { remove } = await this.plugHost(`${bare(address)}/32`, mac);
    this.log(`stranger ${mac} holds ${address}`);
    return remove;
  }

  /**
   * A machine of its own plugged into the switch: a namespace whose eth0 (with `mac`) holds
   * `address` (with its prefix, so it reaches the subnet). Returns the namespace and its removal.
   */
  async plugHost(address: string, mac: string): Promise<{ netns: string; remove: () => Promise<void> }> {
    const netns = `hs${this.plan.id}-x${this.strangers++}`;
    await addNetns(netns);
    this.createdNetns.push(netns);
    const port = `l-${netns.slice(-3)}`;
    await ipBatchOnce(netns, [
      'link set lo up',
      `link add eth0 address ${mac} type veth peer name ${port} netns ${this.plan.lanNetns}`,
      `address add ${address} dev eth0`,
      'link set eth0 up',
    ]);
    await ipBatchOnce(this.plan.lanNetns, [`link set ${port} master br0 up`]);
    this.log(`host ${mac} at ${address} plugged in (${netns})`);
    return { netns, remove: () => deleteNetns(netns) };
  }

  /** Bridge port state through `bridge(8)`: `ip link ... bridge_slave state 0` is ignored here. */
  private async setPortState(port: string, state: 'disabled' | 'forwarding'): Promise<void> {
    await exec('ip', [
      'netns',
      'exec',
      this.plan.lanNetns,
      'bridge',
      'link',
      'set',
      'dev',
      port,
      'state',
      state === 'disabled' ? '0' : '3',
    ]);
  }
}
