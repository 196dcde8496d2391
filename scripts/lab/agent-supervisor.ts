/**
 * Starts, kills and restarts the lab's agents, as systemd would on a real server: an agent
 * that exits on its own is started again (or its server rebooted, or left alone), at most
 * RESTART_BURST times within RESTART_WINDOW_MS.
 */
import { appendFileSync } from 'node:fs';
import type { AgentCommand } from './agent-command.js';
import type { ManagedProcess, ProcessGroup } from './children.js';
import { monoUs, sleep } from './exec.js';
import type { LabServer } from './lab-server.js';

const RESTART_DELAY_MS = 200;
const RESTART_BURST = 5;
const RESTART_WINDOW_MS = 10_000;

export interface AgentSupervisorOptions {
  group: ProcessGroup;
  runDir: string;
  command: AgentCommand;
  /** What happens when an agent exits on its own while its server is powered (LabOptions.agentExit). */
  onExit: 'restart' | 'reboot' | 'stay';
  /** The lab is stopping: start nothing, and every exit is expected. */
  closed: () => boolean;
  /** Power cycle of a server by the harness (the `reboot` policy). */
  reboot: (name: string) => Promise<void>;
  log: (line: string) => void;
}

export class AgentSupervisor {
  private readonly restarts = new Map<string, number[]>();

  constructor(private readonly o: AgentSupervisorOptions) {}

  /** Starts the server's agent unless it is off, already running, or the lab is stopping. */
  async start(server: LabServer): Promise<void> {
    const previous = server.agent;
    if (previous !== null && previous.running && previous.expectedExit) {
      // Powered on again before the agent killed by the power off has exited (a fast power
      // cycle on a busy machine): wait for it, or the new agent would never be started.
      await Promise.race([previous.exited, sleep(5000)]);
    }
    if (this.o.closed() || !server.powered || server.agent?.running === true) {
      return;
    }
    const command = this.o.command({
      server: server.plan.name,
      netns: server.plan.netns,
      configPath: server.paths.config,
      boardPath: server.paths.board,
      runDir: this.o.runDir,
    });
    server.agentStarts += 1;
    appendFileSync(
      server.paths.log,
      `\n=== lab: agent start #${server.agentStarts} at ${new Date().toISOString()}: ${command.join(' ')}\n`,
    );
    const agent = this.o.group.spawn({
      name: `agent-${server.plan.name}`,
      netns: server.plan.netns,
      pidNamespace: true,
      init: true,
      argv: command,
      logFile: server.paths.log,
    });
    server.agent = agent;
    void agent.exited.then((exit) => this.exited(server, agent, exit.code, exit.signal));
    await agent.waitInner(3000).catch((error: unknown) => this.o.log(`agent-${server.plan.name}: ${String(error)}`));
  }

  /** Ends the agent and everything it started, as at a power loss. */
  kill(server: LabServer): void {
    const agent = server.agent;
    if (agent === null) {
      return;
    }
    agent.expectedExit = true;
    // The namespace's init: the agent and everything it started end, as at a power loss.
    if (!agent.signalNamespaceInit('SIGKILL')) {
      void agent.stop(500);
    }
  }

  /** A power-on through the BMC starts a new count of restarts. */
  forgetRestarts(name: string): void {
    this.restarts.delete(name);
  }

  private exited(server: LabServer, agent: ManagedProcess, code: number | null, signal: string | null): void {
    const expected = agent.expectedExit || this.o.closed();
    server.agentExits.push({ atUs: monoUs(), code, signal, expected });
    if (server.agent === agent) {
      server.agent = null;
    }
    if (expected) {
      return;
    }
    const name = server.plan.name;
    this.o.log(`agent-${name} exited on its own (code ${String(code)}, signal ${String(signal)})`);
    if (this.o.onExit === 'stay' || !server.powered) {
      return;
    }
    const now = Date.now();
    const times = (this.restarts.get(name) ?? []).filter((time) => now - time < RESTART_WINDOW_MS);
    if (times.length >= RESTART_BURST) {
      this.o.log(`agent-${name}: ${RESTART_BURST} restarts within ${RESTART_WINDOW_MS} ms, giving up`);
      return;
    }
    times.push(now);
    this.restarts.set(name, times);
    setTimeout(() => {
      if (this.o.closed() || !server.powered || server.agent !== null) {
        return;
      }
      if (this.o.onExit === 'reboot') {
        void this.o.reboot(name).catch((error: unknown) => this.o.log(`reboot ${name}: ${String(error)}`));
      } else {
        void this.start(server);
      }
    }, RESTART_DELAY_MS);
  }
}
