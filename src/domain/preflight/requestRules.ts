/**
 * Rules judged on the request alone, before any Azure read (key count, duplicates, foreign Key Vault
 * host): a real enable or Geo-DR request with one of these is answered 422 at once.
 */
import { BOTH, ENABLE, keyParams, type RequestRule } from './rule';

export const REQUEST_RULES: readonly RequestRule[] = [
  {
    id: 'PRE-005',
    severity: 'error',
    title: 'Wrong number of keys',
    modes: ENABLE,
    reads: 'request',
    subject: 'namespace',
    templates: {
      default: {
        message: '{count} keys were given; a namespace takes 1 to 3 customer-managed keys.',
        fix: 'Pass between one and three keys (more than one only for redundancy, ideally in different vaults).',
      },
    },
    check: (ctx) => {
      const count = ctx.request?.keys.length ?? 0;
      return count >= 1 && count <= 3 ? undefined : { params: { count } };
    },
  },
  {
    id: 'PRE-006',
    severity: 'error',
    title: 'Key is listed more than once',
    modes: ENABLE,
    reads: 'request',
    subject: 'key',
    templates: {
      default: {
        message: 'Key {keyName} in key vault {vaultName} is listed more than once (key {position}).',
        fix: 'List each key once.',
      },
    },
    check: (k, ctx) => {
      const first = ctx.subjects.find(
        (o) => o.ref.versionlessKeyId.toLowerCase() === k.ref.versionlessKeyId.toLowerCase(),
      );
      return first && first.index < k.index ? { params: keyParams(k) } : undefined;
    },
  },
  {
    id: 'PRE-007',
    severity: 'error',
    title: 'Key vault host outside the cloud',
    modes: BOTH,
    reads: 'request',
    subject: 'key',
    templates: {
      default: {
        message:
          'Key {keyId} is on host {host}, which is not a Key Vault of this cloud (https://<vault>.{suffix}/, no port); the app does not call it.',
        fix: 'Use a key in a vault of this cloud, e.g. https://<vault>.{suffix}/keys/<key>.',
      },
    },
    check: (k, ctx) =>
      k.ref.hostTrusted ? undefined : { params: { ...keyParams(k), suffix: ctx.settings.keyVaultDnsSuffix } },
  },
];
