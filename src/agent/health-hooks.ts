import type { HookName } from '../role/index.js';
import type { ExecutorContext } from './context.js';
import { message } from './context.js';

/**
 * How long past its own time limit a health command may take to answer before the check
 * counts as failed: the command runner enforces the limit; this only backs it up, so a
 * runner that never settles cannot stop health checking.
 */
const HEALTH_GRACE_MS = 1000;

/** How long a hook may run. */
const HOOK_LIMIT_MS = 60_000;

/** The operator's commands the agent runs: the primary's health check and the role hooks. */
export class HealthAndHooks {
  constructor(private readonly x: ExecutorContext) {}

  /**
   * Runs the health command and always answers with exactly one `health-result`, which is
   * what re-arms the health timer: a failed or thrown run is a failed check, and so is a
   * runner that has not answered HEALTH_GRACE_MS after the command's own limit.
   */
  healthCheck(): void {
    const x = this.x;
    const health = x.ports.config.health;
    if (health === null) return;
    let answered = false;
    const answer = (ok: boolean, detail: string): void => {
      if (answered) return;
      answered = true;
      cancelGuard();
      x.dispatch({ type: 'health-result', nowUs: x.now(), ok, detail });
    };
    const cancelGuard = x.ports.clock.at(x.now() + (health.intervalMs + HEALTH_GRACE_MS) * 1000, () =>
      answer(false, `no answer within ${health.intervalMs + HEALTH_GRACE_MS} ms`),
    );
    // Started inside a promise so that a runner throwing synchronously is a failed check too.
    Promise.resolve()
      .then(() => x.ports.commands.run(health.command, this.env(), health.intervalMs))
      .then(
        (result) => answer(result.ok, `exit ${result.status}${result.output === '' ? '' : `: ${result.output}`}`),
        (error: unknown) => answer(false, message(error)),
      );
  }

  hook(name: HookName): void {
    const x = this.x;
    const hooks = x.ports.config.hooks;
    const command = name === 'on_primary' ? hooks.onPrimary : name === 'on_monitor' ? hooks.onMonitor : hooks.onSpare;
    if (command === null) return;
    x.ports.commands.run(command, this.env(), HOOK_LIMIT_MS).then(
      (result) =>
        x.log(result.ok ? 'info' : 'error', 'hook', `${name} exited ${result.status}`, {
          hook: name,
          ok: result.ok,
          output: result.output,
        }),
      (error: unknown) => x.log('error', 'hook', `${name} could not run: ${message(error)}`, { hook: name }),
    );
  }

  private env(): Record<string, string> {
    const { config } = this.x.ports;
    const s = this.x.state();
    return {
      HOTSPARE_NODE: config.node,
      HOTSPARE_ROLE: s.role,
      HOTSPARE_EPOCH: String(s.epoch),
      HOTSPARE_PRIMARY_ADDRESS: config.cluster.primaryAddress,
      HOTSPARE_MONITOR_ADDRESS: config.cluster.monitorAddress,
    };
  }
}
