import { createInterface } from 'node:readline';
import type { ManagedProcess, ProcessGroup } from './children.js';

/** A `link show` of lo: its one line of output marks the end of a group of commands. */
const MARKER_COMMAND = 'link show dev lo';
const MARKER_LINE = /^1: lo:/;

/**
 * A long-running `ip -force -n NS -batch -`: each line written to it runs without a fork or
 * exec (a link goes down within a few milliseconds, where starting `ip` costs 10 to 20 ms).
 * `run()` resolves when the commands were executed, using a marker command whose output
 * ip flushes after each command.
 */
export class IpBatch {
  readonly netns: string;
  private readonly process: ManagedProcess;
  private readonly waiting: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  /** Error lines ip printed (a failing command does not stop the batch: -force). */
  readonly errors: string[] = [];

  constructor(group: ProcessGroup, netns: string) {
    this.netns = netns;
    this.process = group.spawn({
      name: `ip-batch-${netns}`,
      argv: ['ip', '-force', '-o', '-n', netns, '-batch', '-'],
      stdin: true,
    });
    const stdout = this.process.child.stdout;
    const stderr = this.process.child.stderr;
    if (stdout !== null) {
      createInterface({ input: stdout }).on('line', (line) => {
        if (MARKER_LINE.test(line)) {
          this.waiting.shift()?.resolve();
        }
      });
    }
    if (stderr !== null) {
      createInterface({ input: stderr }).on('line', (line) => {
        this.errors.push(line);
        if (this.errors.length > 1000) {
          this.errors.splice(0, 500);
        }
      });
    }
    void this.process.exited.then(() => {
      for (const waiter of this.waiting.splice(0)) {
        waiter.reject(new Error(`ip batch for ${netns} exited`));
      }
    });
  }

  /** Runs the commands (lines without the leading `ip`); resolves once ip went past them. */
  run(commands: readonly string[]): Promise<void> {
    const stdin = this.process.child.stdin;
    if (stdin === null || !this.process.running) {
      return Promise.reject(new Error(`ip batch for ${this.netns} is not running`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      stdin.write(`${[...commands, MARKER_COMMAND].join('\n')}\n`);
    });
  }

  async close(): Promise<void> {
    this.process.child.stdin?.end();
    await this.process.stop(1000);
  }
}
