import { randomBytes } from 'node:crypto';
import { openClock } from '../../hal/clock/native/open.js';
import { LinuxPeerTransport } from '../../hal/peer/linux.js';
import { ip, loadConfig } from '../config/index.js';
import type { LogFields } from '../log/index.js';
import { TslogLog } from '../log/index.js';
import { LeaseWitness } from '../lease/witness.js';
import { leaseTiming, leaseVoters } from '../lease/voters.js';
import { NONCE_BYTES, PeerKey } from '../peer/index.js';
import type { LogLevel } from '../role/index.js';
import { keepMemoryOutOfCoreDumps } from './core-dumps.js';

/**
 * `hotspare witness --config FILE`: the lease gate's third voter for a cluster of two members
 * (README "Takeover gates"), on a machine that is neither. It reads the cluster's config
 * (`node` is ignored: the witness is `lease.witness`), binds the peer port on its address,
 * and answers lease requests until SIGTERM or SIGINT. It needs the peer key, no BMC, no
 * board interface and no root beyond binding its address.
 */
export async function runWitness(configPath: string): Promise<void> {
  keepMemoryOutOfCoreDumps();
  const config = loadConfig(configPath, { witness: true });
  const witness = config.lease.witness;
  if (witness === null) throw new Error('lease.witness is not set');
  if (config.peer.keyFile === null) throw new Error(`${configPath}: peer.key_file is required for a witness`);
  const key = PeerKey.fromFile(config.peer.keyFile);
  const text = new TslogLog(config.log.level, config.log.format);
  const opened = openClock({ native: config.clock.native, realtime: config.clock.realtime });
  const clock = opened.clock;
  const log = (level: LogLevel, event: string, message: string, fields: LogFields = {}): void =>
    text.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: witness.name, event, message, fields });
  const transport = new LinuxPeerTransport({
    clock,
    port: config.peer.port,
    bindings: [{ path: 'lan', address: ip(witness.address) }],
    onBound: (path, address) =>
      log('info', 'peer-bound', `lease witness bound to ${address}:${config.peer.port}`, { path, address }),
    onBindProblem: (path, address, detail) => log('warn', 'peer-bind', `lease witness: ${detail}`, { path, address }),
  });
  const service = new LeaseWitness({
    self: witness.name,
    voters: leaseVoters(config),
    port: config.peer.port,
    key,
    transport,
    clock,
    nonce: randomBytes(NONCE_BYTES),
    timing: leaseTiming(config),
    log,
  });
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      const s = service.status();
      log(
        'info',
        'witness-stopped',
        `${signal}: stopping (${s.grantsSent} grants, ${s.refusalsSent} refusals, ${s.dropped} frames dropped)`,
        {
          grants: s.grantsSent,
          refusals: s.refusalsSent,
          dropped: s.dropped,
        },
      );
      service.stop();
      transport.close();
      opened.close();
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
