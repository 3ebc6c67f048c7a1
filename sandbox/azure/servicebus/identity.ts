/**
 * Namespace identities: `SystemAssigned`, `UserAssigned` (≤ 4, must exist), both, `None` — how a
 * request's `identity` is read and how the namespace shows it. The system identity's principal is what
 * a vault grants for CMK.
 */
import { messages } from './errors';
import type { IdentityType, NamespaceRecord } from './model';
import { asObject, same, type Json, type ServiceBusRouting } from './routing';

const IDENTITY_TYPES: IdentityType[] = [
  'SystemAssigned',
  'UserAssigned',
  'SystemAssigned, UserAssigned',
  'None',
];

export interface NamespaceIdentity {
  /** identity → { type, user-assigned ids }, validated (the UAIs must exist). */
  parseIdentity: (
    input: unknown,
    current: { type: IdentityType; uais: string[] },
  ) => { type: IdentityType; uais: string[] };
  identityBody: (ns: NamespaceRecord) => Json | undefined;
}

export function namespaceIdentity({ core, err400 }: ServiceBusRouting): NamespaceIdentity {
  const identityBody = (ns: NamespaceRecord): Json | undefined => {
    if (ns.identityType === 'None') return undefined;
    const system = ns.identityType.includes('SystemAssigned')
      ? core.principals.findByResourceId(ns.id, 'systemAssigned')
      : undefined;
    const uais = Object.fromEntries(
      ns.userAssignedIdentities.map((id) => {
        const p = core.principals.findByResourceId(id, 'userAssigned');
        return [id, p ? { principalId: p.objectId, clientId: p.clientId } : {}];
      }),
    );
    return {
      type: ns.identityType,
      ...(system ? { principalId: system.objectId, tenantId: system.tenantId } : {}),
      ...(ns.userAssignedIdentities.length ? { userAssignedIdentities: uais } : {}),
    };
  };

  const parseIdentity = (
    input: unknown,
    current: { type: IdentityType; uais: string[] },
  ): { type: IdentityType; uais: string[] } => {
    if (input === undefined || input === null) return current;
    const obj = asObject(input);
    if (!obj) throw err400('The identity property must be an object.');
    const rawType = typeof obj.type === 'string' ? obj.type.replace(/\s*,\s*/, ', ') : undefined;
    const type = IDENTITY_TYPES.find((t) => same(t, rawType));
    if (!type)
      throw err400(`The identity type '${String(obj.type)}' is not valid; use ${IDENTITY_TYPES.join(', ')}.`);
    if (!type.includes('UserAssigned')) return { type, uais: [] };
    // Given: the identities with a non-null value (null removes one, ARM's convention); absent: unchanged.
    const given = asObject(obj.userAssignedIdentities);
    const uais = given
      ? Object.entries(given)
          .filter(([, value]) => value !== null)
          .map(([id]) => id)
      : [...current.uais];
    if (uais.length === 0)
      throw err400("The identity ids must not be null or empty for 'UserAssigned' identity type.");
    if (uais.length > 4) throw err400(messages.tooManyIdentities(uais.length));
    for (const id of uais) {
      if (!core.principals.findByResourceId(id, 'userAssigned')) throw err400(messages.uaiNotFound(id));
    }
    return { type, uais };
  };

  return { parseIdentity, identityBody };
}
