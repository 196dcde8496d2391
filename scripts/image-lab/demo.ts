/**
 * make image-demo: the booted-image lab's whole story, told from ground truth (addresses,
 * power, the observer) and the containers' own journals and systemd; figures written to
 * bench-results/image-lab-latest.json.
 *   1. three Debian 12 images boot; the agents (hotspare.service) converge; time to READY
 *   2. the primary's power is cut; the monitor takes over (outage next to the namespace lab)
 *   3. the old primary is powered on by the new one, boots and rejoins
 *   4. SIGSTOP of the primary's agent: systemd's watchdog kills it, ExecStopPost releases,
 *      the monitor takes over (and fences)
 *   5. `systemctl stop hotspare` on the primary: handover without a power cut
 *   6. BMC down: the fence fails, `journalctl -u hotspare -p err` on the monitor shows it
 *   7. `reboot: system`: a spare told to promote reboots its container
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { serverDir } from './container.js';
import { join } from 'node:path';
import { monoUs, sleep } from '../lab/exec.js';
import { repoRoot } from '../lab/paths.js';
import {
  converged,
  cutPrimary,
  takeoverAfter,
  journal,
  readyTiming,
  run,
  startImageLab,
  unitProperties,
  waitAllActive,
  waitRejoined,
} from './image-lab.js';
import type { ImageFailover } from './image-lab.js';

const say = (line: string): void => console.log(`${new Date().toISOString().slice(11, 23)} ${line}`);

async function main(): Promise<void> {
  const rounds = Number(process.env['IMAGE_DEMO_ROUNDS'] ?? '3');
  const startUs = monoUs();
  const { lab } = await startImageLab({ board: { reboot: 'exit' } }, (line) => {
    if (!line.startsWith('power ')) say(`lab: ${line}`);
  });
  const results: Record<string, unknown> = { date: new Date().toISOString() };
  try {
    say('1. waiting for hotspare.service to be active in the three containers');
    await waitAllActive(lab);
    const ready: Record<string, unknown> = {};
    for (const s of lab.serverNames()) ready[s] = await readyTiming(lab, s);
    say(`   container start -> agent exec / READY (ms): ${JSON.stringify(ready)}`);
    results['readyMs'] = ready;
    const first = await converged(lab, 60_000, 2000);
    say(
      `   converged: primary ${first.primary}, monitor ${first.monitor}, spares ${first.spares.join(', ')} (${((monoUs() - startUs) / 1e6).toFixed(1)} s after the lab started)`,
    );
    const status = await run(lab, first.primary, ['hotspare', 'status']);
    say(`   hotspare status on ${first.primary}: ${status.split('\n')[0] ?? ''}`);

    say('2. primary power cut, rounds: ' + rounds);
    const failovers: ImageFailover[] = [];
    for (let i = 0; i < rounds; i++) {
      const before = await converged(lab, 60_000, 2000);
      const f = await cutPrimary(lab, before);
      failovers.push(f);
      say(
        `   ${f.oldPrimary} cut: ${f.newPrimary} took over; outage ${f.outageMs} ms (detection ${f.detectionMs} ms, fence ${f.fenceMs} ms)`,
      );
      say(`3. ${f.oldPrimary} powered on by ${f.newPrimary}'s BMC command, booting`);
      const back = await waitRejoined(lab, f.oldPrimary);
      const t = await readyTiming(lab, f.oldPrimary);
      say(
        `   ${f.oldPrimary} rejoined (primary ${back.primary}, monitor ${back.monitor}); boot to READY ${t.toReadyMs} ms`,
      );
    }
    results['failover'] = failovers;

    say('4. SIGSTOP of the primary agent: the systemd watchdog');
    {
      const before = await converged(lab, 60_000, 2000);
      const pid = (await unitProperties(lab, before.primary, ['MainPID']))['MainPID'] ?? '';
      const restarts = Number((await unitProperties(lab, before.primary, ['NRestarts']))['NRestarts']);
      const f = await takeoverAfter(lab, before, () => run(lab, before.primary, ['kill', '-STOP', pid]), 30_000);
      say(
        `   ${before.primary}'s agent (pid ${pid} in its container) stopped: ${f.newPrimary} took over; outage ${f.outageMs} ms (detection ${f.detectionMs} ms after the last reply, fence ${f.fenceMs} ms)`,
      );
      const back = await waitRejoined(lab, before.primary);
      const now = Number((await unitProperties(lab, before.primary, ['NRestarts']))['NRestarts']);
      say(
        `   ${before.primary} back (primary ${back.primary}); its unit's restarts since boot: ${now} (was ${restarts} before; a fence power-cycles the container, so the count starts again)`,
      );
      results['watchdog'] = { ...f, fenced: f.fenceMs !== null };
    }

    say('5. systemctl stop hotspare on the primary');
    {
      const before = await converged(lab, 60_000, 2000);
      const offsBefore = lab.powerLog.filter((p) => !p.on).length;
      const startUs = monoUs();
      const f = await takeoverAfter(lab, before, () =>
        run(lab, before.primary, ['systemctl', 'stop', 'hotspare'], 30_000),
      );
      const monitorLog = await journal(lab, before.monitor);
      const released = monitorLog.some((e) => e['EVENT'] === 'primary-released' && Number(e['AT_US']) >= startUs);
      const powerOffs = lab.powerLog.filter((p) => !p.on).length - offsBefore;
      say(
        `   ${f.newPrimary} took over; outage ${f.outageMs} ms (detection ${f.detectionMs} ms); authenticated release seen: ${released}; fence: ${f.fenceMs === null ? 'none' : `${f.fenceMs} ms`}; power offs: ${powerOffs}`,
      );
      results['cleanStop'] = { ...f, released, powerOffs };
      await run(lab, before.primary, ['systemctl', 'start', 'hotspare'], 30_000);
      await waitRejoined(lab, before.primary);
    }

    say('6. BMC down, then the primary power cut: the fence fails');
    {
      const before = await converged(lab, 60_000, 2000);
      await lab.fail(before.primary, 'bmc-down');
      const cutUs = monoUs();
      await lab.crash(before.primary);
      await sleep(4000);
      const errors = (await journal(lab, before.monitor, ['-p', 'err'])).filter(
        (e) => Number(e['AT_US'] ?? '0') >= cutUs,
      );
      say(`   journalctl -u hotspare -p err on ${before.monitor}: ${errors.length} entries, e.g.`);
      for (const e of errors.slice(0, 3)) say(`     ${e['EVENT']}: ${e['MESSAGE']}`);
      results['bmcDown'] = { errors: errors.length, events: [...new Set(errors.map((e) => e['EVENT']))] };
      await lab.restore(before.primary, 'bmc-down');
      await lab.waitFor(
        async () => (await lab.holders()).primaryUp.length === 1,
        30_000,
        'a takeover once the BMC answers',
      );
      await lab.restore(before.primary, 'crash').catch(() => undefined);
      await waitRejoined(lab, before.primary);
    }

    say('7. reboot: system — a spare with reboot: system told to promote reboots its container');
    {
      const before = await converged(lab, 60_000, 2000);
      const spare = before.spares[0];
      if (spare !== undefined) {
        // This server's board now says reboot: system (the next boot writes exit back).
        const board = join(serverDir(lab.runDir, spare), 'etc', 'board.yaml');
        writeFileSync(board, readFileSync(board, 'utf8').replace(/reboot: .*/, 'reboot: "system"'), { mode: 0o600 });
        await run(lab, spare, ['systemctl', 'restart', 'hotspare'], 30_000);
        await waitRejoined(lab, spare);
        const starts = lab.get(spare).agentStarts;
        await run(lab, spare, ['sh', '-c', "printf 'promote\\nyes\\n' | hotspare shell"]).catch((e: unknown) =>
          String(e),
        );
        await lab.waitFor(() => lab.get(spare).agentStarts > starts, 30_000, `${spare}'s container rebooted`);
        await waitRejoined(lab, spare);
        say(`   ${spare}'s container ended (systemctl reboot inside) and booted again; rejoined`);
        results['rebootSystem'] = { server: spare, rebooted: true };
      }
    }
  } finally {
    const dir = join(repoRoot(), 'bench-results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'image-lab-latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    say(`figures: bench-results/image-lab-latest.json; run directory ${lab.runDir}`);
    await lab.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  process.exitCode = 1;
});
