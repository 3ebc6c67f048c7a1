import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

/**
 * TLS for the sandbox. Azure SDKs refuse bearer tokens over http, so the sandbox needs HTTPS that clients
 * trust. A CA is generated once and kept in the state folder (`ca.pem` → NODE_EXTRA_CA_CERTS); every
 * start issues a fresh leaf for localhost, 127.0.0.1 and the Key Vault wildcard, signed by that CA.
 *
 * Several processes (jest workers) may start at once: the CA is published with link(2), which fails if
 * the file exists, so exactly one CA wins and everyone reads it.
 */
export interface Tls {
  /** Path of the CA certificate (PEM) — what NODE_EXTRA_CA_CERTS should point to. */
  caPath: string;
  caPem: string;
  certPem: string;
  keyPem: string;
}

interface CaFile {
  certPem: string;
  keyPem: string;
}

const rsaKeys = (): {
  publicKey: forge.pki.rsa.PublicKey;
  privateKey: forge.pki.rsa.PrivateKey;
  privateKeyPem: string;
} => {
  // node:crypto generates keys natively (fast); forge then signs the certificates.
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const privateKeyPem = privateKey.export({ format: 'pem', type: 'pkcs1' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(privateKeyPem);
  return {
    privateKey: forgeKey,
    publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e),
    privateKeyPem,
  };
};

const serial = (): string => '01' + randomBytes(15).toString('hex'); // positive, 16 bytes

function createCa(): CaFile {
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  cert.validity.notBefore = new Date(Date.now() - 24 * 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 10 * 365 * 24 * 3600_000);
  const attrs = [
    { name: 'commonName', value: 'Service Bus CMK Guardian sandbox CA' },
    { name: 'organizationName', value: 'Offline Azure sandbox (not trusted anywhere else)' },
  ];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

function createLeaf(ca: CaFile, dnsNames: string[], ips: string[]): { certPem: string; keyPem: string } {
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const caKey = forge.pki.privateKeyFromPem(ca.keyPem);
  const keys = rsaKeys();
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = serial();
  // TLS validity is checked against the real clock by Node, whatever the sandbox clock says.
  cert.validity.notBefore = new Date(Date.now() - 3600_000);
  cert.validity.notAfter = new Date(Date.now() + 365 * 24 * 3600_000);
  cert.setSubject([{ name: 'commonName', value: dnsNames[0] ?? 'localhost' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: [...dnsNames.map((value) => ({ type: 2, value })), ...ips.map((ip) => ({ type: 7, ip }))],
    },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKeyPem };
}

/** Publishes `content` at `file` only if nobody else did first; returns what is there afterwards. */
function publishOnce(file: string, content: string): string {
  if (existsSync(file)) return readFileSync(file, 'utf8');
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  try {
    linkSync(tmp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(tmp);
  }
  return readFileSync(file, 'utf8');
}

/** Loads (or creates) the CA in `dir` and issues a leaf for the given host names. */
export function loadTls(dir: string, dnsNames: string[], ips: string[] = ['127.0.0.1', '::1']): Tls {
  mkdirSync(dir, { recursive: true });
  const caJsonPath = join(dir, 'ca.json');
  const ca = JSON.parse(publishOnce(caJsonPath, JSON.stringify(createCa()))) as CaFile;
  const caPath = join(dir, 'ca.pem');
  const published = publishOnce(caPath, ca.certPem);
  if (published.trim() !== ca.certPem.trim()) {
    // ca.pem from an older CA (ca.json deleted by hand): rewrite it so trust follows the CA in use.
    writeFileSync(caPath, ca.certPem);
  }
  const leaf = createLeaf(ca, dnsNames, ips);
  return { caPath, caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem };
}

/** A persisted secret (token signing key, admin secret) in the state folder, created once. */
export function loadOrCreateFile(dir: string, name: string, create: () => string): string {
  mkdirSync(dir, { recursive: true });
  return publishOnce(join(dir, name), create());
}
