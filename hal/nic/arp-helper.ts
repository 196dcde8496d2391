/**
 * One long-lived `hotspare-arp serve IFACE` child (hal/nic/hotspare-arp.c): ARP probes and
 * gratuitous ARP without starting a process per call, several requests in flight at once.
 *
 * Protocol (one line each way per request): we write `ID probe IPV4 WINDOW_MS` or
 * `ID announce IPV4 COUNT INTERVAL_MS`; it answers `ID silent`, `ID arp-reply MAC ...`,
 * `ID done` or `ID error MESSAGE`. A watch (`ID watch IPV4 INTERVAL_MS LIMIT_MS`) is answered
 * by one `ID seen KIND MAC` line per packet as it arrives and `ID ended` at its limit or after
 * our `ID end`. It prints `ready` once its packet socket is open and bound,
 * so a probe sent after `start` resolves hears every packet of its window.
 *
 * Contract:
 * - `start` resolves once the child printed `ready`; rejects (and kills it) when it exits
 *   first, cannot be run, or says nothing within `readyTimeoutMs`.
 * - Every request settles: with its answer; with an Error carrying the helper's message; with
 *   an Error after its window plus `marginMs` (the helper is then stuck and is killed); or with
 *   an Error when the child exits, naming how it ended.
 * - `onExit` listeners run once, when the child has exited, after pending requests failed.
 * - `stop` kills the child (by its PID: it is our child) and fails what is pending.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface ArpHelperOptions {
  /** Path of the hotspare-arp binary. */
  tool: string;
  interface: string;
  readyTimeoutMs: number;
  /** How long past its window (or last announcement) a request may take before it fails. */
  marginMs: number;
  /** Called with the child as soon as it is spawned (the NIC keeps and reaps its children). */
  track: (child: ChildProcessWithoutNullStreams) => void;
  /** An argv put before the tool (`chrt -f N`, see realtimePrefix); default none. */
  prefix?: readonly string[];
}

/** One observation of a probe: `arp-reply MAC` (someone uses it), `arp-probe MAC` (someone probes for it). */
export type ArpObservation = `arp-reply ${string}` | `arp-probe ${string}`;

/** A watch in flight (see `watch`). */
export interface ArpWatch {
  /** Asks the helper to end the watch now; `ended` settles when it has. Idempotent. */
  end(): void;
  /** Settles when the watch ended (its limit, `end`), or fails (the helper exited, an error). */
  readonly ended: Promise<void>;
}

interface Watching {
  onSeen: (observation: ArpObservation) => void;
  resolve: () => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

interface Pending {
  resolve: (answer: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

const MAC = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/;
const STDERR_KEPT = 2000;

export class ArpHelper {
  private readonly pending = new Map<string, Pending>();
  private readonly watches = new Map<string, Watching>();
  private readonly exitListeners: Array<(error: Error) => void> = [];
  private nextId = 1;
  private stdoutPending = '';
  private stderr = '';
  private exit: Error | null = null;
  private ready: (() => void) | null = null;

  private constructor(
    readonly child: ChildProcessWithoutNullStreams,
    private readonly marginMs: number,
  ) {
    child.stdin.on('error', () => undefined);
    child.stdout.on('data', (chunk: Buffer) => {
      this.stdoutPending += chunk.toString('utf8');
      const lines = this.stdoutPending.split('\n');
      this.stdoutPending = lines.pop() ?? '';
      lines.forEach((line) => this.receive(line));
    });
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-STDERR_KEPT);
    });
    child.on('error', (error) => this.exited(new Error(`cannot run hotspare-arp: ${error.message}`)));
    child.on('close', (code, signal) => {
      const how = signal !== null ? `killed by ${signal}` : `exit status ${code ?? 'unknown'}`;
      const detail = this.stderr.trim().split('\n').pop() ?? '';
      this.exited(new Error(`hotspare-arp helper exited (${how})${detail === '' ? '' : `: ${detail}`}`));
    });
  }

  /** Starts `hotspare-arp serve IFACE` and waits for its `ready`. */
  static start(options: ArpHelperOptions): Promise<ArpHelper> {
    const argv = [...(options.prefix ?? []), options.tool, 'serve', options.interface];
    const child = spawn(argv[0] ?? options.tool, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    options.track(child);
    const helper = new ArpHelper(child, options.marginMs);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        helper.stop();
        reject(new Error(`hotspare-arp helper not ready within ${options.readyTimeoutMs} ms`));
      }, options.readyTimeoutMs);
      helper.ready = () => {
        clearTimeout(timer);
        resolve(helper);
      };
      helper.onExit((error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  get alive(): boolean {
    return this.exit === null && this.ready === null;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  onExit(listener: (error: Error) => void): void {
    this.exitListeners.push(listener);
  }

  /** RFC 5227 probe for `ip` over `windowMs` (whole ms, 1-600000); what was seen, or nothing. */
  async probe(ip: string, windowMs: number): Promise<ArpObservation[]> {
    const answer = await this.request(`probe ${ip} ${windowMs}`, windowMs);
    if (answer === 'silent') {
      return [];
    }
    const words = answer.split(' ');
    const seen: ArpObservation[] = [];
    for (let i = 0; i + 1 < words.length; i += 2) {
      const kind = words[i];
      const mac = words[i + 1] ?? '';
      if ((kind !== 'arp-reply' && kind !== 'arp-probe') || !MAC.test(mac)) {
        break;
      }
      seen.push(`${kind} ${mac}`);
    }
    // Never read an answer we do not understand as "nothing seen".
    if (seen.length * 2 !== words.length) {
      throw new Error(`unexpected answer from hotspare-arp helper: ${JSON.stringify(answer)}`);
    }
    return seen;
  }

  /** `count` gratuitous ARPs for `ip`, the first at once, then `intervalMs` (whole ms) apart. */
  async announce(ip: string, count: number, intervalMs: number): Promise<void> {
    const answer = await this.request(`announce ${ip} ${count} ${intervalMs}`, count * intervalMs);
    if (answer !== 'done') {
      throw new Error(`unexpected answer from hotspare-arp helper: ${JSON.stringify(answer)}`);
    }
  }

  /**
   * Probes for `ip` at once and every `intervalMs` (whole ms) until `limitMs` or `end()`,
   * calling `onSeen` as each packet from a holder (`arp-reply`) or a prober (`arp-probe`) of
   * the address arrives, so the caller knows when it was heard.
   */
  watch(ip: string, intervalMs: number, limitMs: number, onSeen: (observation: ArpObservation) => void): ArpWatch {
    if (this.exit !== null) {
      const failed = Promise.reject(this.exit);
      failed.catch(() => undefined);
      return { end: () => undefined, ended: failed };
    }
    const id = String(this.nextId);
    this.nextId += 1;
    let endSent = false;
    const ended = new Promise<void>((resolve, reject) => {
      const limit = limitMs + this.marginMs;
      const timer = setTimeout(() => {
        this.watches.delete(id);
        reject(new Error(`hotspare-arp helper did not end watch ${id} within ${limit} ms (stopped)`));
        this.stop('SIGKILL');
      }, limit);
      this.watches.set(id, { onSeen, resolve, reject, timer });
      this.child.stdin.write(`${id} watch ${ip} ${intervalMs} ${limitMs}\n`);
    });
    ended.catch(() => undefined);
    return {
      end: () => {
        if (endSent || !this.watches.has(id) || this.exit !== null) return;
        endSent = true;
        this.child.stdin.write(`${id} end\n`);
      },
      ended,
    };
  }

  /** Kills the child; pending requests fail when it has exited. Idempotent. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
  }

  private request(command: string, busyMs: number): Promise<string> {
    if (this.exit !== null) {
      return Promise.reject(this.exit);
    }
    const id = String(this.nextId);
    this.nextId += 1;
    return new Promise((resolve, reject) => {
      const limitMs = busyMs + this.marginMs;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`hotspare-arp helper gave no answer within ${limitMs} ms (stopped)`));
        // It answers within microseconds of a deadline when well: it is stuck, start afresh.
        this.stop('SIGKILL');
      }, limitMs);
      this.pending.set(id, { resolve, reject, timer });
      this.child.stdin.write(`${id} ${command}\n`);
    });
  }

  private receive(line: string): void {
    if (this.ready !== null) {
      if (line === 'ready') {
        const ready = this.ready;
        this.ready = null;
        ready();
      }
      return;
    }
    const space = line.indexOf(' ');
    const id = line.slice(0, space);
    const answer = line.slice(space + 1);
    const watching = this.watches.get(id);
    if (space > 0 && watching !== undefined) return this.watched(id, watching, answer);
    const request = this.pending.get(id);
    if (space < 0 || request === undefined) {
      return;
    }
    this.pending.delete(id);
    clearTimeout(request.timer);
    if (answer.startsWith('error ')) {
      request.reject(new Error(`hotspare-arp: ${answer.slice('error '.length)}`));
    } else {
      request.resolve(answer);
    }
  }

  private watched(id: string, w: Watching, answer: string): void {
    const [word, kind, mac] = answer.split(' ');
    if (word === 'seen' && (kind === 'arp-reply' || kind === 'arp-probe') && MAC.test(mac ?? '')) {
      w.onSeen(`${kind} ${mac ?? ''}`);
      return;
    }
    this.watches.delete(id);
    clearTimeout(w.timer);
    if (answer === 'ended') w.resolve();
    else if (answer.startsWith('error ')) w.reject(new Error(`hotspare-arp: ${answer.slice('error '.length)}`));
    // Never read an answer we do not understand as "nothing seen".
    else w.reject(new Error(`unexpected answer from hotspare-arp helper: ${JSON.stringify(answer)}`));
  }

  private exited(error: Error): void {
    if (this.exit !== null) {
      return;
    }
    this.exit = error;
    for (const request of this.pending.values()) {
      clearTimeout(request.timer);
      request.reject(error);
    }
    this.pending.clear();
    for (const w of this.watches.values()) {
      clearTimeout(w.timer);
      w.reject(error);
    }
    this.watches.clear();
    for (const listener of this.exitListeners) {
      listener(error);
    }
  }
}
