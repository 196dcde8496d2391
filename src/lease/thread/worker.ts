/**
 * The lease worker thread (`lease.thread: worker`, README "Takeover gates"): this server's
 * lease service, its enforcer and the peer sockets run here, on an event loop and a V8 heap
 * of their own, so the agent thread's garbage collection and long callbacks do not hold up
 * the holder's requests or a voter's answers. The peer sockets are here because lease frames
 * and heartbeats share a port: datagrams that are no lease frame go on to the agent's thread,
 * and its heartbeats come back to be sent. Messages: ./messages.ts.
 *
 * Under `lease.thread: twins` two of these run, each pinned to a CPU of its own (README
 * "Takeover gates"): twin 0 as above with the enforcer, twin 1 with a socket of its own on
 * the service LAN (lease frames only) and slot 1 of twin 0's enforcer. They share the voter
 * state (./voter-cell.ts), so they are one voter, and each renews the lease on its own.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadTimerBinding } from '../../../hal/clock/native/binding.js';
import { openClock } from '../../../hal/clock/native/open.js';
import type { LeaseEnforcer } from '../../../hal/lease/index.js';
import { ChannelEnforcer, enforcerCommand, LinuxLeaseEnforcer } from '../../../hal/lease/linux.js';
import { LinuxPeerTransport } from '../../../hal/peer/linux.js';
import type { PeerDatagram, PeerTransport } from '../../../hal/peer/index.js';
import { PeerKey } from '../../peer/key.js';
import { isLeaseDatagram } from '../frame.js';
import { LeaseService } from '../service.js';
import { SharedVoterCell } from '../voter-cell.js';
import { STATUS_EVERY_MS, TWIN_SEQ_BASE } from './messages.js';
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
const twin = data.twin;
const ends = twin === null ? null : new BigInt64Array(twin.ends);
const binding = twin === null ? null : loadTimerBinding();
// A twin on a CPU of its own: when the host stops one CPU (a virtual CPU not run for 100 ms
// happens), the other twin's timer still fires and its renewals still go out.
let pinned = '';
if (twin !== null && binding !== null) {
  const cpus = binding.allowedCpus();
  pinned =
    cpus >= 2
      ? `, twin ${twin.index} pinned to CPU ${binding.pinCpu(twin.index)}`
      : `, twin ${twin.index} not pinned: this process may run on ${cpus} CPU only, so both twins share it`;
}
const sockets = new LinuxPeerTransport({
  clock,
  port: twin?.index === 1 ? twin.twinPort : data.port,
  // Twin 1 hears lease frames only, and those go on the service LAN.
  bindings: twin?.index === 1 ? data.bindings.filter((b) => b.path === 'lan') : data.bindings,
  onBound: (path, address) => post({ type: 'bound', path, address }),
  onBindProblem: (path, address, detail) => post({ type: 'bind-problem', path, address, detail }),
});
// The lease service hears only lease frames; everything else is the agent thread's.
const leaseListeners: Array<(datagram: PeerDatagram) => void> = [];
sockets.onDatagram((datagram) => {
  if (isLeaseDatagram(datagram.data)) for (const l of leaseListeners) l(datagram);
  else if (twin?.index !== 1) post({ type: 'datagram', datagram });
});
const transport: PeerTransport = {
  send: (path, address, peerPort, bytes) => sockets.send(path, address, peerPort, bytes),
  onDatagram: (listener) => leaseListeners.push(listener),
  bound: () => sockets.bound(),
  close: () => undefined,
};
const enforcerError = (message: string): void =>
  post({ type: 'log', level: 'error', event: 'lease-enforcer', message, fields: {} });
const channel = twin === null || twin.channelId === null || binding === null ? null : { binding, id: twin.channelId };
let twinEnforcer: ChannelEnforcer | null = null;
let enforcer: LeaseEnforcer | null = null;
if (data.enforcer !== null && twin?.index === 1) {
  if (channel === null) throw new Error('lease twin 1: no enforcer channel');
  twinEnforcer = new ChannelEnforcer(channel, enforcerError);
  enforcer = twinEnforcer;
} else if (data.enforcer !== null) {
  const { iface, cidr } = data.enforcer;
  const linux = new LinuxLeaseEnforcer(iface, cidr, enforcerError, enforcerCommand(iface, cidr), channel);
  // Twin 1 hears of each removal through the agent's thread.
  if (twin !== null) linux.onExpired((lateUs, deadlineUs) => post({ type: 'enforced', lateUs, deadlineUs }));
  enforcer = linux;
}
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
  onLost: (epoch, detail, byEnforcer) => {
    status();
    post({ type: 'lost', epoch, detail, byEnforcer });
  },
  onYield: (epoch, detail) => {
    status();
    post({ type: 'yield', epoch, detail });
  },
  log: (level, event, message, fields = {}) => post({ type: 'log', level, event, message, fields }),
  onChange: () => {
    const until = service.untilUs();
    if (ends === null) post({ type: 'state', untilUs: until });
    else Atomics.store(ends, twin?.index ?? 0, BigInt(until === null ? -1 : Math.round(until)));
  },
  loopName: twin === null ? 'lease thread' : `lease thread (twin ${twin.index})`,
  ...(twin === null
    ? {}
    : {
        twin: {
          cell: new SharedVoterCell(
            twin.cell,
            data.voters.map((v) => v.name),
          ),
          seqBase: twin.index === 1 ? TWIN_SEQ_BASE : 0,
          askPort: twin.index === 1 ? twin.twinPort : data.port,
          twinMembers: twin.twinMembers,
        },
      }),
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
    case 'enforced':
      return twinEnforcer?.expired(message.lateUs, message.deadlineUs);
    case 'stop':
      clearInterval(statusTimer);
      service.stop();
      sockets.close();
      opened.close();
      port.close();
      return;
  }
});
post({ type: 'ready', description: `${opened.description}${pinned}` });
status();
