import { createHash } from 'node:crypto';
import type { RoleAssignment } from '@azure/arm-authorization';
import type { AzureClients } from './clients';
import { refusalOrThrow, type Result } from './results';
import { roleAssignmentFactsFromSdk } from './transformations';
import { parseResourceId, type RoleAssignmentFacts } from '../domain';

/**
 * A deterministic role assignment name (a GUID) for (scope, role, principal): a re-run or a duplicate
 * activity PUTs the same assignment instead of creating a second one.
 */
export function roleAssignmentName(scope: string, roleDefinitionGuid: string, principalId: string): string {
  const h = createHash('sha256')
    .update(`${scope.toLowerCase()}|${roleDefinitionGuid.toLowerCase()}|${principalId.toLowerCase()}`)
    .digest('hex');
  // RFC 4122 layout, version 5-style nibble and variant bits.
  const v = `5${h.slice(13, 16)}`;
  const variant = ((parseInt(h.slice(16, 18), 16) & 0x3f) | 0x80).toString(16).padStart(2, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${v}-${variant}${h.slice(18, 20)}-${h.slice(20, 32)}`;
}

export type AssignResult = { created: boolean; assignmentId: string; name: string };

/** Role assignments: who can use a key in an RBAC vault, and granting the CMK role at key scope. */
export class AuthorizationGateway {
  constructor(private readonly clients: AzureClients) {}

  /** Assignments of `principalId` at, above or below `scope` (ARM's `principalId eq` filter). */
  async listForPrincipal(scope: string, principalId: string): Promise<Result<RoleAssignmentFacts[]>> {
    const sub = parseResourceId(scope).subscriptionId;
    const out: RoleAssignment[] = [];
    try {
      for await (const a of this.clients
        .authorization(sub)
        .roleAssignments.listForScope(scope, { filter: `principalId eq '${principalId}'` }))
        out.push(a);
      return { ok: true, value: roleAssignmentFactsFromSdk(out) };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /**
   * EVERY assignment at, above or below `scope` (no `$filter`: Azure's documented unfiltered list, and
   * the sandbox's). At a vault scope one list covers every principal's vault- and key-scope grants, so
   * a batch read needs one list per RBAC vault, not one per namespace identity (docs/ARCHITECTURE.md
   * "Batch reads"). Group memberships are not expanded (the `principalId eq` filter would) [U].
   */
  async listAllForScope(
    scope: string,
  ): Promise<Result<{ assignments: RoleAssignmentFacts[]; pages: number }>> {
    const sub = parseResourceId(scope).subscriptionId;
    const out: RoleAssignment[] = [];
    let pages = 0;
    try {
      for await (const page of this.clients.authorization(sub).roleAssignments.listForScope(scope).byPage()) {
        pages++;
        out.push(...page);
      }
      return { ok: true, value: { assignments: roleAssignmentFactsFromSdk(out), pages } };
    } catch (error) {
      return refusalOrThrow(error);
    }
  }

  /**
   * Assigns a built-in role to a service principal at `scope` under a deterministic name. An
   * assignment that already exists (same name, or ARM's RoleAssignmentExists) counts as done.
   */
  async assignRole(
    scope: string,
    roleDefinitionGuid: string,
    principalId: string,
  ): Promise<Result<AssignResult>> {
    const sub = parseResourceId(scope).subscriptionId;
    const name = roleAssignmentName(scope, roleDefinitionGuid, principalId);
    const assignmentId = `${scope}/providers/Microsoft.Authorization/roleAssignments/${name}`;
    try {
      await this.clients.authorization(sub).roleAssignments.create(scope, name, {
        roleDefinitionId: `/subscriptions/${sub}/providers/Microsoft.Authorization/roleDefinitions/${roleDefinitionGuid}`,
        principalId,
        principalType: 'ServicePrincipal',
        description: 'Service Bus customer-managed key access (granted by Service Bus CMK Guardian)',
      });
      return { ok: true, value: { created: true, assignmentId, name } };
    } catch (error) {
      const refusal = refusalOrThrow(error);
      if (refusal.status === 409 && refusal.code.toLowerCase() === 'roleassignmentexists') {
        return { ok: true, value: { created: false, assignmentId, name } };
      }
      return refusal;
    }
  }
}
