/**
 * The booted-image lab's root filesystem: a minimal Debian 12 built with mmdebstrap (cached
 * as a tarball keyed by its package list), and from it an image with the hotspare .deb
 * installed (cached by the .deb's hash). Both live in CACHE_DIR; nothing is downloaded
 * when both are there.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { exec } from '../lab/exec.js';

export const CACHE_DIR = '/var/cache/hotspare-image';
export const SUITE = 'bookworm';
/**
 * What the image holds besides the .deb: systemd as PID 1 and journald, and the .deb's
 * Depends (iproute2, ipmitool, libstdc++6), so that dpkg -i needs no network. procps for
 * the operator's ps/kill in the lab's commands.
 */
export const PACKAGES = ['systemd', 'systemd-sysv', 'dbus', 'iproute2', 'libstdc++6', 'ipmitool', 'procps'] as const;

function key(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The base tarball for `packages`, built with mmdebstrap (under a minute) unless cached. */
export async function baseTarball(
  packages: readonly string[] = PACKAGES,
  log: (line: string) => void = () => undefined,
): Promise<string> {
  mkdirSync(CACHE_DIR, { recursive: true, mode: 0o755 });
  const list = [...packages].sort().join(',');
  const tarball = join(CACHE_DIR, `base-${SUITE}-${key(`${SUITE} minbase ${list}`)}.tar`);
  if (existsSync(tarball)) return tarball;
  log(`building the base root filesystem (mmdebstrap ${SUITE}, minbase + ${list}) into ${tarball}`);
  const partial = `${tarball}.partial-${process.pid}`;
  try {
    await exec('mmdebstrap', ['--variant=minbase', `--include=${list}`, '--format=tar', SUITE, partial], 600_000);
    renameSync(partial, tarball);
  } finally {
    rmSync(partial, { force: true });
  }
  return tarball;
}

/**
 * A directory with the base and the .deb installed (dpkg -i in a chroot: the package's
 * postinst enables hotspare.service), cached by the .deb's content. Returns its path.
 */
export async function imageWithPackage(deb: string, log: (line: string) => void = () => undefined): Promise<string> {
  const base = await baseTarball(PACKAGES, log);
  const debKey = key(readFileSync(deb));
  const dir = join(CACHE_DIR, `image-${basename(base, '.tar')}-${debKey}`);
  if (existsSync(join(dir, '.hotspare-image-ready'))) return dir;
  log(`installing ${basename(deb)} into a copy of the base at ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await exec('tar', ['-xf', base, '-C', dir], 300_000);
  const inside = '/tmp/hotspare.deb';
  await exec('cp', [deb, join(dir, inside)]);
  await exec('chroot', [dir, 'dpkg', '-i', inside], 300_000);
  rmSync(join(dir, inside));
  // Timers that would only add noise to a lab boot.
  for (const unit of ['apt-daily.timer', 'apt-daily-upgrade.timer', 'e2scrub_all.timer', 'dpkg-db-backup.timer'])
    await exec('chroot', [dir, 'systemctl', 'mask', unit]).catch(() => undefined);
  writeFileSync(join(dir, '.hotspare-image-ready'), `${new Date().toISOString()} ${basename(deb)}\n`);
  return dir;
}

/** The newest package `make package` wrote (dist/hotspare_latest.deb). */
export function latestDeb(repo: string): string {
  const deb = join(repo, 'dist', 'hotspare_latest.deb');
  if (!existsSync(deb)) throw new Error(`${deb} is missing: run make package first`);
  return deb;
}
