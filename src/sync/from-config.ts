import type { Clock } from '../../hal/clock/index.js';
import type { Config } from '../config/index.js';
import type { EventLog } from '../log/index.js';
import { TlsReplicator } from './replicator.js';

/** The replicator `hotspare run` uses: a TlsReplicator when sync.paths is set, else none. */
export function replicatorFor(config: Config, log: EventLog, clock: Clock): TlsReplicator | null {
  if (config.sync.paths.length === 0) return null;
  return TlsReplicator.fromConfig(
    config.sync,
    (level, event, message, fields = {}) => {
      log.emit({ atMs: clock.wallMs(), atUs: clock.nowUs(), level, node: config.node, event, message, fields });
    },
    config.stateDir,
  );
}
