import type { RoleRecord } from '../../hal/store/index.js';
import type { Action } from '../role/index.js';
import type { Addresses } from './addresses.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';

/**
 * The executor's life on this host: what boot reads (the persisted role record and the
 * link), saving the role record, and the board's reboot. The core owns the role state and
 * re-enters boot; these do the I/O around it.
 */
export class Lifecycle {
  constructor(
    private readonly x: ExecutorContext,
    private readonly addresses: Addresses,
  ) {}

  /** Monitors identify the primary's holder by this server's MAC: a wrong one means no fence. */
  checkOwnMac(): void {
    const { config, nic } = this.x.ports;
    const configured = config.cluster.members.find((m) => m.name === config.node)?.mac;
    if (configured === undefined || configured === this.x.mc.selfMac) return;
    this.x.log(
      'error',
      'mac-mismatch',
      `cluster.members says ${config.node} has MAC ${configured}, but ${nic.name} has ${this.x.mc.selfMac}; other monitors cannot fence this server`,
    );
  }

  /** The `boot` event's inputs: the persisted record (null: none or unreadable) and the link. */
  async readBoot(): Promise<{ record: RoleRecord | null; linkUp: boolean }> {
    const { store, nic } = this.x.ports;
    let record = null;
    try {
      record = await store.load();
    } catch (error) {
      // A corrupt record: boot as the default role rather than not at all; the boot checks
      // still protect the addresses. Loudly, since the operator must look at the file.
      this.x.log('error', 'store-unreadable', `${message(error)}; booting with the default role`);
    }
    let linkUp = true;
    try {
      linkUp = await nic.linkUp();
    } catch (error) {
      this.x.log('error', 'link-unknown', `cannot read link state: ${message(error)}; assuming up`);
    }
    return { record, linkUp };
  }

  async persist(action: Extract<Action, { type: 'persist' }>): Promise<void> {
    const x = this.x;
    const startedUs = x.now();
    const { role, epoch, reason, poweredOff, poweredOffAt } = action;
    await x.ports.store.save({
      ...{ role, epoch, reason, atMs: x.ports.clock.wallMs() },
      ...(poweredOff === undefined ? {} : { poweredOff }),
      ...(poweredOffAt === undefined ? {} : { poweredOffAt }),
    });
    const ms = Math.round((x.now() - startedUs) / 10) / 100;
    x.log('info', 'persisted', `role ${role} persisted at epoch ${epoch} (${ms} ms)`, { role, epoch, ms });
  }

  /**
   * The patent's "reboot", as the board says: exit, or reboot the host; true when the core
   * is to re-enter boot in process instead (`restart`, or the exit or reboot failed).
   */
  async reboot(reason: string): Promise<boolean> {
    const x = this.x;
    // Rule: a reboot always ends in boot. Whatever fails on the way (a release, the exit or
    // system reboot) is logged, and the agent re-enters boot here, whose checks decide again.
    for (const name of ['primary', 'monitor'] as const) {
      await this.addresses
        .release(name)
        .catch((error: unknown) =>
          x.log('error', 'release-failed', `reboot: could not release the ${name} address: ${message(error)}`),
        );
    }
    const mode = x.ports.config.board.reboot;
    x.log('warn', 'reboot', `reboot (${mode}): ${reason}`, { mode });
    try {
      if (mode === 'exit') await x.ports.rebooter.exit(75);
      else if (mode === 'system') await x.ports.rebooter.system();
      else return true;
      return false;
    } catch (error) {
      x.log('error', 'reboot-failed', `reboot (${mode}) failed: ${message(error)}; re-entering boot in process`);
      return true;
    }
  }
}
