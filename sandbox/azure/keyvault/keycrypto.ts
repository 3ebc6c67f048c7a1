/**
 * Real key material for sandbox keys (node:crypto), so a value wrapped by a client with the public key
 * unwraps in the sandbox and vice versa — the CMK path is exercised with actual cryptography.
 */
import {
  constants,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  privateDecrypt,
  privateEncrypt,
  publicDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';
import { KeyVaultError, kvErrors } from './errors';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyType = 'RSA' | 'RSA-HSM' | 'EC' | 'EC-HSM';
export type CurveName = 'P-256' | 'P-384' | 'P-521' | 'P-256K';

export const RSA_SIZES = [2048, 3072, 4096] as const;
export const CURVES: Record<CurveName, { node: string; hash: string; size: number }> = {
  'P-256': { node: 'prime256v1', hash: 'sha256', size: 32 },
  'P-384': { node: 'secp384r1', hash: 'sha384', size: 48 },
  'P-521': { node: 'secp521r1', hash: 'sha512', size: 66 },
  'P-256K': { node: 'secp256k1', hash: 'sha256', size: 32 },
};

export interface KeyMaterial {
  kty: KeyType;
  keySize?: number;
  curve?: CurveName;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export const isRsa = (kty: KeyType): boolean => kty === 'RSA' || kty === 'RSA-HSM';

export async function generateMaterial(
  kty: KeyType,
  keySize?: number,
  curve?: CurveName,
): Promise<KeyMaterial> {
  if (isRsa(kty)) {
    const size = keySize ?? 2048;
    const { privateKey, publicKey } = await generateKeyPairAsync('rsa', {
      modulusLength: size,
      publicExponent: 0x10001,
    });
    return { kty, keySize: size, privateKey, publicKey };
  }
  const crv = curve ?? 'P-256';
  const { privateKey, publicKey } = await generateKeyPairAsync('ec', { namedCurve: CURVES[crv].node });
  return { kty, curve: crv, privateKey, publicKey };
}

/**
 * Key material from an imported JSON Web Key (private parts required: Key Vault stores keys it can use).
 * Returns undefined when the JWK is not a usable RSA / EC private key.
 */
export function materialFromJwk(jwk: Record<string, unknown>, hsm: boolean): KeyMaterial | undefined {
  const kty = typeof jwk.kty === 'string' ? jwk.kty : '';
  const rsa = kty === 'RSA' || kty === 'RSA-HSM';
  const ec = kty === 'EC' || kty === 'EC-HSM';
  if ((!rsa && !ec) || typeof jwk.d !== 'string') return undefined;
  const curve = ec ? (jwk.crv as CurveName | undefined) : undefined;
  if (ec && (!curve || !(curve in CURVES))) return undefined;
  const fields = rsa ? ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] : ['x', 'y', 'd'];
  const nodeJwk: Record<string, string> = { kty: rsa ? 'RSA' : 'EC' };
  for (const f of fields) {
    if (typeof jwk[f] !== 'string') return undefined;
    nodeJwk[f] = jwk[f];
  }
  // node:crypto names secp256k1 what JOSE / Key Vault call P-256K.
  if (curve) nodeJwk.crv = curve === 'P-256K' ? 'secp256k1' : curve;
  try {
    const privateKey = createPrivateKey({ key: nodeJwk, format: 'jwk' });
    const publicKey = createPublicKey(privateKey);
    const protectedByHsm = hsm || kty.endsWith('-HSM');
    const type: KeyType = rsa ? (protectedByHsm ? 'RSA-HSM' : 'RSA') : protectedByHsm ? 'EC-HSM' : 'EC';
    if (rsa) {
      const keySize = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
      return { kty: type, keySize, privateKey, publicKey };
    }
    return { kty: type, ...(curve ? { curve } : {}), privateKey, publicKey };
  } catch {
    return undefined;
  }
}

/** The public JSON Web Key as Key Vault returns it (never private parts; base64url fields). */
export function publicJwk(material: KeyMaterial): Record<string, string> {
  const jwk = material.publicKey.export({ format: 'jwk' }) as Record<string, string>;
  if (isRsa(material.kty)) return { n: jwk.n ?? '', e: jwk.e ?? '' };
  return { crv: material.curve ?? 'P-256', x: jwk.x ?? '', y: jwk.y ?? '' };
}

export const ENCRYPTION_ALGORITHMS = ['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5'] as const;
export const SIGNATURE_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'ES256K',
] as const;

function requireRsaAlgorithm(material: KeyMaterial, algorithm: string): void {
  if (!(ENCRYPTION_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw kvErrors.badParameter(`Invalid algorithm: ${algorithm}`);
  }
  if (!isRsa(material.kty)) throw kvErrors.badParameter('Key and algorithm are not compatible.');
}

/** encrypt / wrapKey: same transform, RSA public-key encryption. */
export function rsaEncrypt(material: KeyMaterial, algorithm: string, value: Buffer): Buffer {
  requireRsaAlgorithm(material, algorithm);
  const modulusBytes = (material.keySize ?? 2048) / 8;
  // The plaintext limit of each padding scheme; Key Vault reports an oversized value as a bad parameter.
  const max =
    algorithm === 'RSA1_5' ? modulusBytes - 11 : modulusBytes - 2 * (algorithm === 'RSA-OAEP' ? 20 : 32) - 2;
  if (value.length > max) throw kvErrors.badParameter('The value is too long for the key and algorithm.');
  if (algorithm === 'RSA1_5') {
    return publicEncrypt({ key: material.publicKey, padding: constants.RSA_PKCS1_PADDING }, value);
  }
  return publicEncrypt(
    {
      key: material.publicKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: algorithm === 'RSA-OAEP' ? 'sha1' : 'sha256',
    },
    value,
  );
}

/** decrypt / unwrapKey. */
export function rsaDecrypt(material: KeyMaterial, algorithm: string, value: Buffer): Buffer {
  requireRsaAlgorithm(material, algorithm);
  try {
    if (algorithm === 'RSA1_5')
      return pkcs1v15Unpad(
        privateDecrypt({ key: material.privateKey, padding: constants.RSA_NO_PADDING }, value),
      );
    return privateDecrypt(
      {
        key: material.privateKey,
        padding: constants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: algorithm === 'RSA-OAEP' ? 'sha1' : 'sha256',
      },
      value,
    );
  } catch (error) {
    if (error instanceof Error && error.name === 'KeyVaultError') throw error;
    throw kvErrors.badParameter('Decryption failed: the ciphertext is not valid for this key and algorithm.');
  }
}

// Node 20 refuses PKCS#1 v1.5 private decryption (CVE-2023-46809); Key Vault still offers RSA1_5, so the
// padding is removed here from the raw RSA result: 0x00 0x02 <≥8 non-zero bytes> 0x00 <message>.
function pkcs1v15Unpad(block: Buffer): Buffer {
  if (block[0] !== 0x00 || block[1] !== 0x02) throw new Error('bad padding');
  const sep = block.indexOf(0x00, 2);
  if (sep < 10) throw new Error('bad padding');
  return block.subarray(sep + 1);
}

const HASHES: Record<string, string> = { RS256: 'sha256', RS384: 'sha384', RS512: 'sha512' };
// DER DigestInfo prefixes (RFC 8017 §9.2 note 1): RS* signs a caller-supplied digest, not the message.
const DIGEST_INFO: Record<string, string> = {
  sha256: '3031300d060960864801650304020105000420',
  sha384: '3041300d060960864801650304020205000430',
  sha512: '3051300d060960864801650304020305000440',
};

function signatureHash(material: KeyMaterial, algorithm: string, digest: Buffer): string {
  if (!(SIGNATURE_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw kvErrors.badParameter(`Invalid algorithm: ${algorithm}`);
  }
  if (algorithm.startsWith('ES') === isRsa(material.kty)) {
    throw kvErrors.badParameter('Key and algorithm are not compatible.');
  }
  const hash = HASHES[algorithm];
  // node:crypto cannot sign a pre-computed digest with PSS or ECDSA (it always hashes again), so those
  // are refused openly rather than answered with a signature Key Vault would not produce.
  if (!hash) {
    throw new KeyVaultError(501, 'NotImplemented', `The sandbox does not model ${algorithm} signatures.`);
  }
  if (digest.length !== createHash(hash).digest().length) {
    throw kvErrors.badParameter('Invalid digest length for the algorithm.');
  }
  return hash;
}

export function signDigest(material: KeyMaterial, algorithm: string, digest: Buffer): Buffer {
  const hash = signatureHash(material, algorithm, digest);
  const info = Buffer.concat([Buffer.from(DIGEST_INFO[hash] ?? '', 'hex'), digest]);
  return privateEncrypt({ key: material.privateKey, padding: constants.RSA_PKCS1_PADDING }, info);
}

export function verifyDigest(
  material: KeyMaterial,
  algorithm: string,
  digest: Buffer,
  signature: Buffer,
): boolean {
  const hash = signatureHash(material, algorithm, digest);
  const expected = Buffer.concat([Buffer.from(DIGEST_INFO[hash] ?? '', 'hex'), digest]);
  try {
    return publicDecrypt({ key: material.publicKey, padding: constants.RSA_PKCS1_PADDING }, signature).equals(
      expected,
    );
  } catch {
    return false;
  }
}
