import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep } from './exec.js';
import { childrenOf, isSameLiveProcess, readProcStat, signalIfSame } from './proc-stat.js';

export interface SpawnSpec {
  /** For logs and errors: `agent-a`, `bmc-b`, `monitor-c`. */
  name: string;
  argv: readonly string[];
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  /**
   * Run as init of a fresh PID namespace (`unshare --pid --fork --kill-child`). When that init
   * is killed, the kernel kills and reaps everything it started: a clean "power loss" that
   * leaves no orphan behind, even though PID 1 of this machine does not reap orphans.
   */
  pidNamespace?: boolean;
  /**
   * With `pidNamespace`: the namespace's PID 1 is a small init (./pidns-init.ts) that runs the
   * program as its child, so a SIGKILL of the program alone leaves the processes it started
   * running (as on a real server), while `stop()` (power loss) still ends them all.
   */
  init?: boolean;
  /** Append stdout and stderr to this file; otherwise stdout/stderr are pipes. */
  logFile?: string;
  /** Give the process a stdin pipe (default: /dev/null). */
  stdin?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One child of this (harness) process. Its PID is recorded with its start time, and it is
 * never signalled once it exited or its PID could belong to someone else.
 * Every child runs under `setpriv --pdeathsig KILL`, so it dies with the harness.
 */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly startTime: number;
  readonly pidNamespace: boolean;
  readonly exited: Promise<ExitInfo>;
  exit: ExitInfo | null = null;
  /** With `pidNamespace`: the real program (the namespace's init, or the init's child), once known. */
  innerPid: number | null = null;
  innerStartTime: number | null = null;
  /** With `init`: the namespace's init (./pidns-init.ts), once known. */
  private initPid: number | null = null;
  private initStartTime: number | null = null;
  private readonly withInit: boolean;
  /** Set by the owner before it kills the process on purpose. */
  expectedExit = false;

  constructor(spec: SpawnSpec) {
    this.name = spec.name;
    this.pidNamespace = spec.pidNamespace === true;
    this.withInit = this.pidNamespace && spec.init === true;
    const argv = ['--pdeathsig', 'KILL'];
    if (spec.netns !== undefined) {
      argv.push('ip', 'netns', 'exec', spec.netns);
    }
    if (this.pidNamespace) {
      argv.push('unshare', '--pid', '--fork', '--kill-child');
      if (this.withInit) {
        argv.push(process.execPath, fileURLToPath(new URL('./pidns-init.js', import.meta.url)));
      }
    }
    argv.push(...spec.argv);
    let logFd: number | null = null;
    if (spec.logFile !== undefined) {
      logFd = openSync(spec.logFile, 'a', 0o600);
    }
    const stdin = spec.stdin === true ? 'pipe' : 'ignore';
    try {
      this.child = spawn('setpriv', argv, { stdio: logFd === null ? [stdin, 'pipe', 'pipe'] : [stdin, logFd, logFd] });
    } finally {
      if (logFd !== null) {
        closeSync(logFd);
      }
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.once('error', () => {
        if (this.child.pid === undefined) {
          this.exit = { code: null, signal: null };
          resolve(this.exit);
        }
      });
    });
    const pid = this.child.pid;
    const stat = pid === undefined ? null : readProcStat(pid);
    if (pid === undefined || stat === null) {
      this.pid = pid ?? -1;
      this.startTime = -1;
      return;
    }
    this.pid = pid;
    this.startTime = stat.startTime;
  }

  get running(): boolean {
    return this.exit === null && this.pid > 0;
  }

  /** Waits until the PID-namespace init exists (and exec'd past `unshare`, when `comm` is given). */
  async waitInner(timeoutMs = 3000, comm?: string): Promise<number> {
    if (!this.pidNamespace) {
      return this.pid;
    }
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && this.running) {
      let [inner] = childrenOf(this.pid);
      if (this.withInit && inner !== undefined) {
        const initStat = readProcStat(inner);
        if (initStat !== null) {
          this.initPid = inner;
          this.initStartTime = initStat.startTime;
        }
        [inner] = childrenOf(inner);
      }
      const stat = inner === undefined ? null : readProcStat(inner);
      if (inner !== undefined && stat !== null && (comm === undefined || stat.comm === comm.slice(0, 15))) {
        this.innerPid = inner;
        this.innerStartTime = stat.startTime;
        return inner;
      }
      await sleep(2);
    }
    throw new Error(
      `${this.name}: its program did not start (pid ${this.pid}, ${this.running ? 'running' : 'exited'})`,
    );
  }

  /** The PID of the program itself: the namespace init, or the direct child. */
  get programPid(): number | null {
    return this.pidNamespace ? this.innerPid : this.pid;
  }

  /** Signals the program (not the wrapper). Returns whether a signal was sent. */
  signal(signal: NodeJS.Signals): boolean {
    if (!this.running) {
      return false;
    }
    if (this.pidNamespace) {
      if (this.innerPid === null || this.innerStartTime === null) {
        return false;
      }
      return signalIfSame(this.innerPid, this.innerStartTime, signal);
    }
    return signalIfSame(this.pid, this.startTime, signal);
  }

  /**
   * Signals the namespace's PID 1: the init with `init`, else the program. A SIGKILL of it
   * ends every process of the namespace.
   */
  signalNamespaceInit(signal: NodeJS.Signals): boolean {
    if (!this.withInit) {
      return this.signal(signal);
    }
    if (!this.running || this.initPid === null || this.initStartTime === null) {
      return false;
    }
    return signalIfSame(this.initPid, this.initStartTime, signal);
  }

  /** Program still alive (inner init for PID namespaces). */
  get programAlive(): boolean {
    if (!this.running) {
      return false;
    }
    if (this.pidNamespace) {
      return (
        this.innerPid !== null && this.innerStartTime !== null && isSameLiveProcess(this.innerPid, this.innerStartTime)
      );
    }
    return true;
  }

  /**
   * Ends the process and waits until it was reaped. PID-namespace programs get SIGKILL at once
   * (the kernel then takes down their namespace); others SIGTERM (and SIGCONT, in case they
   * are stopped), then SIGKILL after `graceMs`.
   */
  async stop(graceMs = 1000): Promise<ExitInfo> {
    if (!this.running) {
      return this.exit ?? (await this.exited);
    }
    if (this.pidNamespace) {
      if (this.innerPid === null) {
        // Not started yet: the wrapper can still be killed without leaving an orphan behind
        // only if unshare has not forked; try to learn the init first.
        await this.waitInner(500).catch(() => undefined);
      }
      if (!this.signalNamespaceInit('SIGKILL')) {
        signalIfSame(this.pid, this.startTime, 'SIGKILL');
      }
    } else {
      signalIfSame(this.pid, this.startTime, 'SIGTERM');
      signalIfSame(this.pid, this.startTime, 'SIGCONT');
    }
    const ended = await Promise.race([this.exited, sleep(graceMs).then(() => null)]);
    if (ended !== null) {
      return ended;
    }
    signalIfSame(this.pid, this.startTime, 'SIGKILL');
    return this.exited;
  }

  describe(): { name: string; pid: number; startTime: number; innerPid: number | null; innerStartTime: number | null } {
    return {
      name: this.name,
      pid: this.pid,
      startTime: this.startTime,
      innerPid: this.innerPid,
      innerStartTime: this.innerStartTime,
    };
  }
}

/** All children of one lab, so that they can be ended together. */
export class ProcessGroup {
  private readonly members = new Set<ManagedProcess>();

  spawn(spec: SpawnSpec): ManagedProcess {
    const managed = new ManagedProcess(spec);
    this.members.add(managed);
    void managed.exited.then(() => {
      // Keep exited ones out of the live set, so long labs do not grow it forever.
      this.members.delete(managed);
    });
    return managed;
  }

  live(): ManagedProcess[] {
    return [...this.members].filter((member) => member.running);
  }

  async stopAll(graceMs = 1000): Promise<void> {
    await Promise.all([...this.members].map((member) => member.stop(graceMs)));
  }
}
