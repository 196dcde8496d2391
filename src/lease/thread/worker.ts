/**
 * The lease worker thread (`lease.thread: worker`, README "Takeover gates"): this server's
 * lease service, its enforcer and the peer sockets run here, on an event loop and a V8 heap
 * of their own, so the agent thread's garbage collection and long callbacks do not hold up
 * the holder's requests or a voter's answers. The peer sockets are here because lease frames
 * and heartbeats share a port: datagrams that are no lease frame go on to the agent's thread,
 * and its heartbeats come back to be sent. Messages: ./messages.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openClock } from '../../../hal/clock/native/open.js';
import { LinuxLeaseEnforcer } from '../../../hal/lease/linux.js';
import { LinuxPeerTransport } from '../../../hal/peer/linux.js';
import type { PeerDatagram, PeerTransport } from '../../../hal/peer/index.js';
import { PeerKey } from '../../peer/key.js';
import { isLeaseDatagram } from '../frame.js';
import { LeaseService } from '../service.js';
import { STATUS_EVERY_MS } from './messages.js';
import type { FromLeaseWorker, LeaseWorkerData, ToLeaseWorker } from './messages.js';

const port = parentPort;
if (port === null) throw new Error('the lease worker runs as a worker thread');
const data = workerData as LeaseWorkerData;
const post = (message: FromLeaseWorker): void => port.postMessage(message);

// One priority above the agent thread's: a garbage collection there (which runs at its
// priority on its CPU) cannot hold this thread back.
const realtime = data.clockOptions.realtime > 0 ? Math.min(99, data.clockOptions.realtime + 1) : 0;
const opened = openClock({ native: data.clockOptions.native, realtime });
const clock = opened.clock;
const sockets = new LinuxPeerTransport({
  clock,
  port: data.port,
  bindings: data.bindings,
  onBound: (path, address) => post({ type: 'bound', path, address }),
  onBindProblem: (path, address, detail) => post({ type: 'bind-problem', path, address, detail }),
});
// The lease service hears only lease frames; everything else is the agent thread's.
const leaseListeners: Array<(datagram: PeerDatagram) => void> = [];
sockets.onDatagram((datagram) => {
  if (isLeaseDatagram(datagram.data)) for (const l of leaseListeners) l(datagram);
  else post({ type: 'datagram', datagram });
});
const transport: PeerTransport = {
  send: (path, address, peerPort, bytes) => sockets.send(path, address, peerPort, bytes),
  onDatagram: (listener) => leaseListeners.push(listener),
  bound: () => sockets.bound(),
  close: () => undefined,
};
const enforcer =
  data.enforcer === null
    ? null
    : new LinuxLeaseEnforcer(data.enforcer.iface, data.enforcer.cidr, (message) =>
        post({ type: 'log', level: 'error', event: 'lease-enforcer', message, fields: {} }),
      );
let holdsPrimary = false;
const status = (): void => post({ type: 'status', status: service.status() });
const service: LeaseService = new LeaseService({
  self: data.self,
  members: data.voters,
  port: data.port,
  key: PeerKey.fromDerived(data.key),
  transport,
  clock,
  nonce: data.nonce,
  timing: data.timing,
  renewUs: data.renewUs,
  enforcer,
  holdsPrimary: () => holdsPrimary,
  onHeld: (epoch, detail) => {
    status();
    post({ type: 'held', epoch, detail });
  },
  onLost: (epoch, detail) => {
    status();
    post({ type: 'lost', epoch, detail });
  },
  onYield: (epoch, detail) => {
    status();
    post({ type: 'yield', epoch, detail });
  },
  log: (level, event, message, fields = {}) => post({ type: 'log', level, event, message, fields }),
  onChange: () => post({ type: 'state', untilUs: service.untilUs() }),
  loopName: 'lease thread',
});
const statusTimer = setInterval(status, STATUS_EVERY_MS);

port.on('message', (message: ToLeaseWorker) => {
  switch (message.type) {
    case 'send':
      return sockets.send(message.path, message.address, message.port, message.data);
    case 'acquire':
      return service.acquire(message.epoch);
    case 'release':
      return service.release();
    case 'assigned':
      holdsPrimary = true;
      return service.reassert();
    case 'gone':
      holdsPrimary = false;
      return service.addressGone();
    case 'stop':
      clearInterval(statusTimer);
      service.stop();
      sockets.close();
      opened.close();
      port.close();
      return;
  }
});
post({ type: 'ready', description: opened.description });
status();
