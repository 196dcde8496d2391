import { createWriteStream } from 'node:fs';
import type { WriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { monoUs } from './exec.js';
import { parseMonitorLine } from './monitor-parse.js';
import type { MonitorEvent } from './monitor-parse.js';
import type { LabPlan } from './topology.js';

export type RecordedEvent = MonitorEvent & {
  server: string;
  /** The event's wall-clock time converted to the monotonic clock (µs). */
  atUs: number;
  /** When the harness read the line (monotonic µs). */
  seenUs: number;
};

/** Wall-clock µs minus monotonic µs, measured now. */
export function wallMinusMonoUs(): number {
  const wallUs = (performance.timeOrigin + performance.now()) * 1000;
  return Math.round(wallUs - monoUs());
}

/**
 * Ground-truth recorder of one server namespace: `ip -ts -o monitor address link`, every line
 * kept in a log file and parsed into events.
 */
export class NetRecorder {
  readonly server: string;
  private readonly process: ManagedProcess;
  private readonly file: WriteStream;

  /**
   * `server` names the server whose namespace is watched; for the LAN namespace it is `lan`
   * and `objects` is `['link']` (the switch ports).
   */
  constructor(
    group: ProcessGroup,
    server: string,
    netns: string,
    logFile: string,
    offsetUs: number,
    sink: (event: RecordedEvent) => void,
    objects: readonly string[] = ['address', 'link'],
  ) {
    this.server = server;
    this.file = createWriteStream(logFile, { flags: 'a', mode: 0o600 });
    this.process = group.spawn({
      name: `monitor-${server}`,
      argv: ['ip', '-n', netns, '-ts', '-o', 'monitor', ...objects],
    });
    const stdout = this.process.child.stdout;
    if (stdout !== null) {
      createInterface({ input: stdout }).on('line', (line) => {
        const seenUs = monoUs();
        this.file.write(`${line}\n`);
        const event = parseMonitorLine(line);
        if (event !== null) {
          sink({ ...event, server, atUs: event.wallUs - offsetUs, seenUs });
        }
      });
    }
    this.process.child.stderr?.on('data', (chunk: Buffer) => this.file.write(chunk));
  }

  get running(): boolean {
    return this.process.running;
  }

  async stop(): Promise<void> {
    await this.process.stop(1000);
    await new Promise<void>((resolve) => this.file.end(resolve));
  }
}

/**
 * The lab's ground truth: a recorder per server namespace (addresses and links) and one of
 * the LAN switch (its ports' links, each named for the server it serves). Logs in the run dir.
 */
export function recordLab(
  group: ProcessGroup,
  plan: LabPlan,
  offsetUs: number,
  sink: (event: RecordedEvent) => void,
): NetRecorder[] {
  const recorders = plan.servers.map(
    (server) =>
      new NetRecorder(
        group,
        server.name,
        server.netns,
        join(plan.runDir, `monitor-${server.name}.log`),
        offsetUs,
        sink,
      ),
  );
  recorders.push(
    new NetRecorder(
      group,
      'lan',
      plan.lanNetns,
      join(plan.runDir, 'monitor-lan.log'),
      offsetUs,
      (event) => {
        const owner = plan.servers.find((server) => server.lanPort === event.ifname);
        if (owner !== undefined && event.kind === 'link') sink({ ...event, server: owner.name });
      },
      ['link'],
    ),
  );
  return recorders;
}
