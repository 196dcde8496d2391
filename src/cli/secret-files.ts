/**
 * The files that hold secrets (BMC and fencing-level passwords, switch communities, the shell
 * password, the sync key) as `check` and `run` vet them, and keeping their names out of
 * messages: a password typed where its file's path belongs would otherwise be printed back.
 * Errors name the config field instead.
 */
import { accessSync, constants, statSync } from 'node:fs';
import type { Config } from '../config/index.js';

export interface SecretFile {
  /** The config field that names the file, e.g. `cluster.members[1].bmc.password_file`. */
  field: string;
  path: string;
}

/** Every secret file the config names, with its field. */
export function secretFiles(config: Config): SecretFile[] {
  const files: SecretFile[] = [];
  config.cluster.members.forEach((member, i) => {
    if (member.bmc !== null)
      files.push({ field: `cluster.members[${i}].bmc.password_file`, path: member.bmc.passwordFile });
    member.fenceLevels.forEach((level, j) =>
      files.push({ field: `cluster.members[${i}].fence_levels[${j}].password_file`, path: level.device.passwordFile }),
    );
    if (member.isolation !== null)
      files.push({ field: `cluster.members[${i}].isolation.community_file`, path: member.isolation.communityFile });
  });
  if (config.shell.passwordFile !== null) files.push({ field: 'shell.password_file', path: config.shell.passwordFile });
  if (config.sync.keyFile !== null) files.push({ field: 'sync.key_file', path: config.sync.keyFile });
  if (config.peer.keyFile !== null) files.push({ field: 'peer.key_file', path: config.peer.keyFile });
  return files;
}

/** Why a secret file cannot be read, or null: it must be a regular file. Never names the path. */
export function secretFileProblem(path: string): string | null {
  try {
    if (!statSync(path).isFile()) return 'the file named there is not a regular file';
    accessSync(path, constants.R_OK);
    return null;
  } catch (error) {
    return `cannot read the file named there (${(error as NodeJS.ErrnoException).code ?? 'error'})`;
  }
}

/** Why a readable secret file is too open (group or others may access it), or null. */
export function secretFileModeProblem(path: string): string | null {
  try {
    const mode = statSync(path).mode & 0o777;
    if ((mode & 0o077) === 0) return null;
    return `the file named there is open to group or others (mode ${mode.toString(8).padStart(4, '0')}); chmod 600 it`;
  } catch {
    return null; // unreadable: secretFileProblem says so
  }
}

/** Unreadable secret files, each as `FILE: FIELD: problem`. */
export function secretFileProblems(config: Config): string[] {
  return secretFiles(config).flatMap(({ field, path }) => {
    const problem = secretFileProblem(path);
    return problem === null ? [] : [`${config.file}: ${field}: ${problem}`];
  });
}

/** Secret files open to group or others, each as `FILE: FIELD: problem`. */
export function secretFileModeProblems(config: Config): string[] {
  return secretFiles(config).flatMap(({ field, path }) => {
    const problem = secretFileModeProblem(path);
    return problem === null ? [] : [`${config.file}: ${field}: ${problem}`];
  });
}

/** `text` with every secret file's path replaced by the field that names it. */
export function redactSecretPaths(text: string, config: Config): string {
  // Longest first, so a path that contains another is replaced whole.
  const files = secretFiles(config).sort((a, b) => b.path.length - a.path.length);
  return files.reduce((out, { field, path }) => out.split(path).join(`(the file named in ${field})`), text);
}
