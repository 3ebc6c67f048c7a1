/**
 * The reads behind `POST /api/keys/impact` (docs/ARCHITECTURE.md "Blast radius"): the namespaces the
 * key index names for the target (and their indexed Geo-DR partners), then the truth about their keys
 * through the batch reader — each distinct vault and key once — assembled into each namespace's
 * DiagnoseFacts. Read-only: nothing here writes.
 */
import { readKeyMaterial } from './estate';
import type { CmkGateways } from './cmkFacts';
import {
  assembleDiagnoseFacts,
  impactNamespaces,
  keyMaterialRequest,
  keyReferenceKey,
  type DiagnoseFacts,
  type ImpactTarget,
  type IndexedNamespace,
  type KeyIndex,
  type KeyObservations,
  type KeyRef,
  type ListedNamespace,
  type RuleSettings,
} from '../domain';

export interface ImpactFacts {
  /** The target's namespaces, then their partners (each once). */
  facts: DiagnoseFacts[];
  /** Current version per versionless key id (lower case), from the key reads. */
  currentVersions: Map<string, string>;
  calls: number;
  callsByOperation: Record<string, number>;
}

/** An index entry as the assembly judges it (only CMK namespaces are indexed: Premium when unsaid). */
function asListed(ns: IndexedNamespace): ListedNamespace {
  return { ...ns, skuTier: ns.skuTier ?? 'Premium' };
}

function versionless(ref: KeyRef): KeyRef {
  const { keyVersion: _pinned, ...rest } = ref;
  void _pinned;
  return { ...rest, keyId: ref.versionlessKeyId };
}

export async function readImpactFacts(
  gw: CmkGateways,
  index: KeyIndex,
  target: ImpactTarget,
  settings: RuleSettings,
  observations: KeyObservations = {},
): Promise<ImpactFacts> {
  const { named, partners } = impactNamespaces(index, target);
  const namespaces = [...named, ...partners].map(asListed);
  const request = keyMaterialRequest(namespaces);
  // The versionless reference of every pinned key too: the reader fetches each key's current
  // version anyway, and disable/expire hit the current version (a pinned namespace only if it is it).
  const seen = new Set(request.keys.map((k) => keyReferenceKey(k)));
  for (const ref of [...request.keys]) {
    const plain = versionless(ref);
    if (!seen.has(keyReferenceKey(plain))) {
      seen.add(keyReferenceKey(plain));
      request.keys.push(plain);
    }
  }
  const material = namespaces.length
    ? await readKeyMaterial(gw, request, settings)
    : { vaults: {}, keys: {}, identities: {}, partners: {}, calls: 0, callsByOperation: {} };
  const currentVersions = new Map<string, string>();
  for (const ref of request.keys) {
    if (ref.keyVersion) continue;
    const current = material.keys[keyReferenceKey(ref)]?.currentVersion;
    if (current) currentVersions.set(ref.versionlessKeyId.toLowerCase(), current.toLowerCase());
  }
  return {
    facts: namespaces.map((ns) => assembleDiagnoseFacts(ns, material, settings, observations)),
    currentVersions,
    calls: material.calls,
    callsByOperation: material.callsByOperation,
  };
}
