/**
 * The lab's TLS material for its Redfish BMCs, made fresh per lab run with openssl: a CA, one
 * server certificate for every BMC address (subjectAltName IP entries) signed by it, and an
 * unrelated self-signed certificate (a BMC the agent must not trust).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exec } from './exec.js';

export interface RedfishTls {
  /** The lab CA's certificate: what `bmc.redfish.ca_file` names. */
  caFile: string;
  certFile: string;
  keyFile: string;
  /** SHA-256 of the server certificate (DER), lower-case hex: what `bmc.redfish.fingerprint` pins. */
  fingerprint: string;
  /** Another CA nobody signed the BMCs' certificate with. */
  otherCaFile: string;
}

const DAYS = '2';

export async function makeRedfishTls(dir: string, addresses: readonly string[]): Promise<RedfishTls> {
  const path = (name: string): string => join(dir, name);
  const tls: RedfishTls = {
    caFile: path('redfish-ca.pem'),
    certFile: path('redfish-bmc.pem'),
    keyFile: path('redfish-bmc.key'),
    fingerprint: '',
    otherCaFile: path('redfish-other-ca.pem'),
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await exec('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    path('redfish-ca.key'),
    '-out',
    tls.caFile,
    '-days',
    DAYS,
    '-subj',
    '/CN=hotspare lab CA',
  ]);
  await exec('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    path('redfish-other-ca.key'),
    '-out',
    tls.otherCaFile,
    '-days',
    DAYS,
    '-subj',
    '/CN=not the lab CA',
  ]);
  await exec('openssl', [
    'req',
    ...ec,
    '-keyout',
    tls.keyFile,
    '-out',
    path('redfish-bmc.csr'),
    '-subj',
    '/CN=hotspare lab BMC',
  ]);
  await writeFile(
    path('redfish-bmc.ext'),
    `subjectAltName=${addresses.map((a) => `IP:${a}`).join(',')}\nextendedKeyUsage=serverAuth\n`,
  );
  await exec('openssl', [
    'x509',
    '-req',
    '-in',
    path('redfish-bmc.csr'),
    '-CA',
    tls.caFile,
    '-CAkey',
    path('redfish-ca.key'),
    '-CAcreateserial',
    '-out',
    tls.certFile,
    '-days',
    DAYS,
    '-extfile',
    path('redfish-bmc.ext'),
  ]);
  tls.fingerprint = fingerprintOf(await readFile(tls.certFile, 'utf8'));
  return tls;
}

/** SHA-256 of a PEM certificate's DER form, lower-case hex without colons. */
export function fingerprintOf(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}
