/**
 * Gratuitous ARP without the helper: one `hotspare-arp announce` process, or, without the
 * tool, iputils arping, which (20221126) takes only whole seconds for -i/-w, so each
 * announcement is one `arping -U -c 1`, `intervalMs` apart.
 */
import { NicError } from '../errors/nic-error.js';
import { until, type ProbeSite } from './conflict-check.js';
import { failureOf, waitExit } from './processes.js';

const ANNOUNCE_TIMEOUT_MS = 3000;
/** Waits between arping's banner and our SIGTERM, per attempt; null: let it end by itself. */
const ANNOUNCE_TERM_DELAYS_MS: ReadonlyArray<number | null> = [3, 15, 60, null];

/** `count` announcements by one `hotspare-arp announce` process. */
export async function toolAnnounce(
  site: ProbeSite,
  tool: string,
  ip: string,
  address: string,
  count: number,
  intervalMs: number,
): Promise<void> {
  const child = site.children.spawn('announce', address, tool, [
    'announce',
    site.name,
    ip,
    String(count),
    String(Math.round(intervalMs)),
  ]);
  const exit = await waitExit(child, count * intervalMs + ANNOUNCE_TIMEOUT_MS);
  if (exit.code !== 0 || !exit.stdout.includes(`sent ${count}`)) {
    throw new NicError(site.name, 'announce', `gratuitous ARP not sent: ${failureOf(exit)}`, address);
  }
}

/** `count` announcements by arping, one process each, `intervalMs` apart. */
export async function arpingAnnounce(
  site: ProbeSite,
  stdbuf: boolean,
  ip: string,
  address: string,
  count: number,
  intervalMs: number,
): Promise<void> {
  const startUs = site.clock.nowUs();
  for (let i = 0; i < count; i += 1) {
    if (i > 0) {
      await until(site.clock, startUs + i * intervalMs * 1000);
    }
    await gratuitousArp(site, stdbuf, ip, address);
  }
}

/**
 * One gratuitous ARP. arping prints its banner, then blocks SIGTERM (read from a signalfd
 * instead), then sends. A SIGTERM that lands before the block kills it by signal, and then
 * nothing was sent; one handled after it ends arping normally with "Sent 1 probes". So: wait
 * a little after the banner, SIGTERM, and try again with a longer wait if it died of the
 * signal; the last attempt lets arping end on its own (1 s later). Without stdbuf arping's
 * banner is not seen in time, so it always ends on its own.
 */
async function gratuitousArp(site: ProbeSite, stdbuf: boolean, ip: string, address: string): Promise<void> {
  const args = ['-U', '-c', '1', '-I', site.name, '-s', ip, ip];
  let last = '';
  for (const waitMs of stdbuf ? ANNOUNCE_TERM_DELAYS_MS : [null]) {
    const child = site.children.spawn(
      'announce',
      address,
      stdbuf ? 'stdbuf' : 'arping',
      stdbuf ? ['-o0', 'arping', ...args] : args,
    );
    const exited = waitExit(child, ANNOUNCE_TIMEOUT_MS);
    let timer: NodeJS.Timeout | null = null;
    if (waitMs !== null) {
      child.stdout.on('data', (chunk: Buffer) => {
        if (timer === null && chunk.toString('utf8').includes('ARPING')) {
          timer = setTimeout(() => child.kill('SIGTERM'), waitMs);
        }
      });
    }
    const exit = await exited;
    if (timer !== null) {
      clearTimeout(timer);
    }
    const sent = /Sent (\d+) probes/.exec(exit.stdout);
    if (sent !== null && Number(sent[1]) >= 1) {
      return;
    }
    last = failureOf(exit);
    if (exit.code !== null) {
      // arping ended by itself without sending: retrying will not help.
      break;
    }
  }
  throw new NicError(site.name, 'announce', `gratuitous ARP not sent: ${last}`, address);
}
