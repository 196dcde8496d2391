/**
 * A busy maintenance-shell session against a running agent: `hotspare shell`'s protocol over
 * the control socket (`{"command":"shell"}`, then raw terminal bytes), typing `status`,
 * `log 20` and `history` one after the other, each as soon as the prompt is back (plus a short
 * pause). When the agent has no shell (refused), a busy control-socket client takes its place:
 * a loop of `status` and `log` requests. Which one ran is reported.
 */
import { createConnection } from 'node:net';
import type { Socket } from 'node:net';
import { request } from '../../src/control/client.js';
import { sleep } from '../lab/exec.js';

export interface BusyClientResult {
  kind: 'shell' | 'control-requests';
  commands: number;
  errors: number;
  /** Command sent -> prompt back (shell) or answer (requests), ms. */
  latencyMs: { p50: number; p99: number; max: number } | null;
  note: string;
}

export interface BusyClient {
  stop(): Promise<BusyClientResult>;
}

const COMMANDS = ['status', 'log 20', 'history'];
const PROMPT = /hotspare \S+ [^\n>]*> $/;

function summary(latencies: number[]): BusyClientResult['latencyMs'] {
  if (latencies.length === 0) return null;
  const sorted = [...latencies].sort((a, b) => a - b);
  const at = (q: number): number =>
    Math.round((sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? NaN) * 100) / 100;
  return { p50: at(0.5), p99: at(0.99), max: at(1) };
}

/** Opens a shell session; resolves null when the agent refuses or does not answer like a shell. */
function openShell(path: string): Promise<{ socket: Socket; output: { text: string } } | null> {
  return new Promise((resolve) => {
    const socket = createConnection(path);
    const output = { text: '' };
    let head = '';
    let acknowledged = false;
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(null);
    }, 3000);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${JSON.stringify({ command: 'shell' })}\n`));
    socket.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    socket.on('data', (chunk: string) => {
      if (acknowledged) {
        output.text += chunk;
        if (PROMPT.test(output.text)) {
          clearTimeout(timer);
          resolve({ socket, output });
        }
        return;
      }
      head += chunk;
      const newline = head.indexOf('\n');
      if (newline < 0) return;
      const first = head.slice(0, newline);
      let ok = false;
      try {
        const answer = JSON.parse(first) as { ok?: boolean; result?: unknown };
        ok = answer.ok === true && answer.result === 'shell';
      } catch {
        ok = false;
      }
      if (!ok) {
        clearTimeout(timer);
        socket.destroy();
        resolve(null);
        return;
      }
      acknowledged = true;
      output.text = head.slice(newline + 1);
      if (PROMPT.test(output.text)) {
        clearTimeout(timer);
        resolve({ socket, output });
      }
    });
  });
}

export async function startBusyClient(controlSocket: string, pauseMs: number): Promise<BusyClient> {
  const shell = await openShell(controlSocket);
  let running = true;
  let commands = 0;
  let errors = 0;
  const latencies: number[] = [];
  let loop: Promise<void>;
  if (shell !== null) {
    const { socket, output } = shell;
    loop = (async () => {
      while (running && !socket.destroyed) {
        const command = COMMANDS[commands % COMMANDS.length] ?? 'status';
        output.text = '';
        const started = performance.now();
        socket.write(`${command}\n`);
        const deadline = Date.now() + 5000;
        while (running && !PROMPT.test(output.text) && Date.now() < deadline && !socket.destroyed) await sleep(1);
        if (PROMPT.test(output.text)) latencies.push(performance.now() - started);
        else if (running) errors += 1;
        commands += 1;
        await sleep(pauseMs);
      }
    })();
    return {
      stop: async () => {
        running = false;
        await loop;
        socket.end('exit\n');
        socket.destroy();
        return {
          kind: 'shell',
          commands,
          errors,
          latencyMs: summary(latencies),
          note: `hotspare shell session over the control socket typing ${COMMANDS.join(', ')} in turn, each as soon as the prompt was back plus ${pauseMs} ms`,
        };
      },
    };
  }
  loop = (async () => {
    while (running) {
      const command = commands % 2 === 0 ? 'status' : 'log';
      const started = performance.now();
      try {
        await request(controlSocket, command, command === 'log' ? ['20'] : []);
        latencies.push(performance.now() - started);
      } catch {
        errors += 1;
      }
      commands += 1;
      await sleep(pauseMs);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return {
        kind: 'control-requests',
        commands,
        errors,
        latencyMs: summary(latencies),
        note: `the agent refused a shell; a busy control-socket client instead: status and log 20 requests in turn, ${pauseMs} ms apart`,
      };
    },
  };
}
