#!/usr/bin/env node
import { request } from '../control/index.js';
import { isConfigError } from '../../hal/errors/index.js';
import type { AgentStatus } from '../agent/index.js';
import { numberOption, parseArgs, rangeOption, stringOption, UsageError } from './args.js';
import { checkConfig } from './check.js';
import { formatStatus } from './status-format.js';
import { agentVersion } from './version.js';

const HELP: Record<string, string> = {
  main: `hotspare: keeps a service alive when a server dies (one primary, one monitor, spares)

usage: hotspare <command> [options]

commands:
  run       run the agent in the foreground
  check     validate a config and its board, and say what the agent would do
  status    ask a running agent for its role, addresses, probe statistics, transitions
  shell     the maintenance shell of a running agent (the same as on its serial console)
  simulate  run a simulated cluster in virtual time and print its role transitions
  release   remove the cluster addresses from the NIC after the agent ended (ExecStopPost)
  witness   the lease gate's third voter for a two-member cluster (lease.witness)

hotspare <command> --help shows a command's options; hotspare --version its version.`,
  run: `usage: hotspare run --config FILE

Runs the agent in the foreground until SIGTERM or SIGINT (exit 0); an uncaught error exits
70. Each releases the addresses first (a primary with the peer protocol on demotes first,
so the monitor takes over without a fence). SIGHUP reloads the config: log.level takes
effect at once; any other change is logged as needing a restart. Needs root (raw ICMP
sockets, addresses on the board's interface). Logs JSON lines to stdout (pretty on a
terminal); under systemd, journal entries with priorities and fields, and sd_notify
readiness and watchdog pings.`,
  check: `usage: hotspare check --config FILE [--no-host]

Validates the config and its board file, and this machine against them: the board's NIC
exists and has this server's MAC (--no-host skips that, for a config meant for another
machine). Prints what the agent would do; exits 1 with a message naming the file and field
on any error.`,
  status: `usage: hotspare status [--json] [--socket PATH | --config FILE]

Asks a running agent over its control socket (default /run/hotspare/control.sock, or the
control_socket of --config) for role, epoch, held addresses, RTT statistics in µs,
misses and recent transitions. --json prints the raw status object.`,
  shell: `usage: hotspare shell [--socket PATH | --config FILE]

Opens the maintenance shell of a running agent over its control socket (default
/run/hotspare/control.sock, or the control_socket of --config): the same shell as on the
server's serial console (IPMI SOL). Type help there for its commands. On a terminal the
keys go straight to the shell (Ctrl-C cancels a line, Ctrl-D on an empty line or exit
ends it); from a pipe, lines are run in order and the session ends after the last one.
Mutating commands (promote, demote, maintenance, fence) ask for confirmation and, when
shell.password_file is set, for the password.`,
  release: `usage: hotspare release --config FILE

Removes the primary and monitor addresses from the board's NIC if they are there. For the
service manager after the agent ended (the systemd unit's ExecStopPost): an agent that was
killed holding them leaves them answering for a server nothing decides about. Never run it
beside a running agent.`,
  witness: `usage: hotspare witness --config FILE

Runs the lease witness of the config's lease.witness in the foreground until SIGTERM or
SIGINT: a voter of fencing.gate: lease that is no member, so two members and the witness
make three voters. Reads the cluster's config file (its node is ignored) and the peer key,
binds peer.port on the witness's address, and answers authenticated lease requests by the
voter rule (quiet for (L + drop)·(1+drift) after it starts, one promise at a time). Holds no
address, fences nobody. Logs JSON lines to stdout (pretty on a terminal).`,
  simulate: `usage: hotspare simulate [--nodes N] [--seed S] [--seconds T] [--kill-primary-at S]
                         [--cut-primary-at S] [--bmc-off-delay-ms MS]

Runs N simulated servers (default 3) in virtual time for T seconds (default 5, more than 0,
at most 3600; fault times between 0 and T) and prints
each role transition. --kill-primary-at cuts the primary's power at that second;
--cut-primary-at unplugs its LAN cable instead (it stays powered until fenced).
--bmc-off-delay-ms: the BMCs acknowledge power off at once and cut the power this much
later, like real ones (default 0).
Exits 0 if the cluster ends converged (one primary, one monitor, the rest spares, a spare
in its periodic check of the monitor address included), else 1.`,
};

/** The longest `hotspare simulate` run, in simulated seconds. */
const MAX_SIMULATED_S = 3600;

/** How long a failed command may take to finish closing before the process exits anyway. */
const EXIT_GRACE_MS = 2000;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === 'version') {
    console.log(`hotspare ${agentVersion()}`);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(HELP['main']);
    return command === undefined ? 2 : 0;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    const help = HELP[command];
    if (help === undefined) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    console.log(help);
    return 0;
  }
  switch (command) {
    case 'run': {
      const args = parseArgs(rest, { config: 'value' });
      const config = stringOption(args, 'config');
      if (config === null) throw new UsageError('run needs --config FILE');
      const { runAgent } = await import('./run.js');
      await runAgent(config);
      return -1; // keeps running
    }
    case 'check': {
      const args = parseArgs(rest, { config: 'value', 'no-host': 'flag' });
      const config = stringOption(args, 'config');
      if (config === null) throw new UsageError('check needs --config FILE');
      const { report, warnings } = checkConfig(config, { host: !args.options.has('no-host') });
      for (const line of report) console.log(line);
      for (const line of warnings) console.log(`warning: ${line}`);
      return 0;
    }
    case 'status': {
      const args = parseArgs(rest, { json: 'flag', socket: 'value', config: 'value' });
      let socket = stringOption(args, 'socket');
      const config = stringOption(args, 'config');
      if (socket === null && config !== null) socket = checkConfig(config).config.controlSocket;
      const status = (await request(socket ?? '/run/hotspare/control.sock', 'status')) as AgentStatus;
      console.log(args.options.has('json') ? JSON.stringify(status, null, 2) : formatStatus(status));
      return 0;
    }
    case 'shell': {
      const args = parseArgs(rest, { socket: 'value', config: 'value' });
      if (args.positional.length > 0)
        throw new UsageError(`shell takes no arguments, got ${JSON.stringify(args.positional.join(' '))}`);
      let socket = stringOption(args, 'socket');
      const config = stringOption(args, 'config');
      if (socket === null && config !== null) socket = checkConfig(config).config.controlSocket;
      const { runShellClient } = await import('../shell/client.js');
      return runShellClient(socket ?? '/run/hotspare/control.sock');
    }
    case 'release': {
      const args = parseArgs(rest, { config: 'value' });
      const config = stringOption(args, 'config');
      if (config === null) throw new UsageError('release needs --config FILE');
      const { releaseAddresses } = await import('./release.js');
      for (const line of await releaseAddresses(config)) console.log(line);
      return 0;
    }
    case 'witness': {
      const args = parseArgs(rest, { config: 'value' });
      const config = stringOption(args, 'config');
      if (config === null) throw new UsageError('witness needs --config FILE');
      const { runWitness } = await import('./witness.js');
      await runWitness(config);
      return 0;
    }
    case 'simulate': {
      const args = parseArgs(rest, {
        nodes: 'value',
        seed: 'value',
        seconds: 'value',
        'kill-primary-at': 'value',
        'cut-primary-at': 'value',
        'bmc-off-delay-ms': 'value',
      });
      const nodes = numberOption(args, 'nodes', 3);
      if (!Number.isInteger(nodes) || nodes < 2 || nodes > 26)
        throw new UsageError('--nodes must be a whole number from 2 to 26');
      const kill = stringOption(args, 'kill-primary-at');
      const cut = stringOption(args, 'cut-primary-at');
      if (kill !== null && cut !== null)
        throw new UsageError('--kill-primary-at and --cut-primary-at exclude each other');
      // Bounded: virtual time still costs real time (a simulated hour takes a while), and a
      // negative or unbounded duration is a typo, not a request.
      const seconds = rangeOption(args, 'seconds', 5, { min: 0.001, max: MAX_SIMULATED_S });
      const faultAt = { min: 0, max: seconds };
      const { simulate } = await import('./simulate.js');
      const converged = await simulate(
        {
          nodes,
          seed: rangeOption(args, 'seed', 1, { min: 0, max: 2 ** 32 - 1, integer: true }),
          seconds,
          killPrimaryAtS: kill === null ? null : rangeOption(args, 'kill-primary-at', 0, faultAt),
          cutPrimaryAtS: cut === null ? null : rangeOption(args, 'cut-primary-at', 0, faultAt),
          bmcOffDelayMs: rangeOption(args, 'bmc-off-delay-ms', 0, { min: 0, max: 60_000 }),
        },
        (line) => console.log(line),
      );
      return converged ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}; try hotspare --help`);
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) console.error(`hotspare: ${error.message}`);
    else if (isConfigError(error)) console.error(`hotspare: config error: ${error.message}`);
    else console.error(`hotspare: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = error instanceof UsageError ? 2 : 1;
    // A failed start has closed what it opened; should anything still hold the event loop
    // (a bug), the process must end anyway rather than sit there half started.
    setTimeout(() => {
      console.error(`hotspare: something was left open after the failure; exiting anyway`);
      process.exit();
    }, EXIT_GRACE_MS).unref();
  },
);
