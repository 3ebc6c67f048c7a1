import type { Clock } from '../../clock';
import { ArmErrors } from '../errors';
import type { Store } from '../store';
import { conditionHolds, type ConditionContext } from './conditions';
import { normalizeScope, permissionGrants, scopeContains, type OperationKind } from './match';
import { BUILT_IN_ROLES, type RoleDefinition } from './roles';

/**
 * Role assignments and the permission check every ARM request (and RBAC-mode Key Vault data-plane
 * request) goes through. Assignments live in the store; a new assignment may take effect only after
 * `propagationDelayMs` on the sandbox clock, as Azure's "it can take up to 10 minutes" caveat.
 */
export interface RoleAssignment {
  /** Full id: `{scope}/providers/Microsoft.Authorization/roleAssignments/{name}`. */
  id: string;
  name: string;
  scope: string;
  /** As written by the client (`/subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/{guid}`). */
  roleDefinitionId: string;
  principalId: string;
  principalType: string;
  description?: string | null;
  condition?: string | null;
  conditionVersion?: string | null;
  createdOn: string;
  updatedOn: string;
  createdBy: string;
  updatedBy: string;
  /** Clock time (ms) from which the assignment is honoured (sandbox-internal; never on the wire). */
  effectiveAt: number;
}

const COLLECTION = 'roleAssignments';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const isGuid = (s: string): boolean => GUID.test(s);

export class Rbac {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    /** Delay before a new assignment is honoured (0 = immediately). Mutable via the control API. */
    public propagationDelayMs = 0,
    private readonly roles: readonly RoleDefinition[] = BUILT_IN_ROLES,
  ) {}

  // ---- role definitions -------------------------------------------------------------------------

  roleDefinitions(): readonly RoleDefinition[] {
    return this.roles;
  }

  /** Finds a role by GUID or by any id that ends in it (`…/roleDefinitions/{guid}`). */
  roleDefinition(idOrGuid: string): RoleDefinition | undefined {
    const guid = idOrGuid.split('/').pop()?.toLowerCase();
    return this.roles.find((r) => r.name === guid);
  }

  roleByName(roleName: string): RoleDefinition | undefined {
    return this.roles.find((r) => r.roleName.toLowerCase() === roleName.toLowerCase());
  }

  // ---- assignments --------------------------------------------------------------------------------

  getAssignment(id: string): RoleAssignment | undefined {
    return this.store.get<RoleAssignment>(COLLECTION, id);
  }

  allAssignments(): RoleAssignment[] {
    return this.store.list<RoleAssignment>(COLLECTION);
  }

  /** Creates an assignment; validation (role exists, principal exists, duplicates) is the caller's. */
  putAssignment(input: {
    scope: string;
    name: string;
    roleDefinitionId: string;
    principalId: string;
    principalType: string;
    createdBy: string;
    description?: string | null;
    condition?: string | null;
    conditionVersion?: string | null;
  }): RoleAssignment {
    const scope = input.scope === '/' ? '' : input.scope.replace(/\/+$/, '');
    const id = `${scope}/providers/Microsoft.Authorization/roleAssignments/${input.name}`;
    const now = new Date(this.clock.now()).toISOString();
    const assignment: RoleAssignment = {
      id,
      name: input.name,
      scope: scope || '/',
      roleDefinitionId: input.roleDefinitionId,
      principalId: input.principalId,
      principalType: input.principalType,
      description: input.description ?? null,
      condition: input.condition ?? null,
      conditionVersion: input.conditionVersion ?? null,
      createdOn: now,
      updatedOn: now,
      createdBy: input.createdBy,
      updatedBy: input.createdBy,
      effectiveAt: this.clock.now() + this.propagationDelayMs,
    };
    this.store.put(COLLECTION, id, assignment);
    return assignment;
  }

  deleteAssignment(id: string): RoleAssignment | undefined {
    const existing = this.getAssignment(id);
    if (existing) this.store.delete(COLLECTION, id);
    return existing;
  }

  /** Removes every assignment at or below `scope` (a deleted resource group or resource takes them along). */
  deleteAssignmentsUnder(scope: string): number {
    if (normalizeScope(scope) === '/') return 0;
    let n = 0;
    for (const a of this.allAssignments()) {
      if (scopeContains(scope, a.scope)) {
        this.store.delete(COLLECTION, a.id);
        n++;
      }
    }
    return n;
  }

  /** Assignments that apply at `scope` (at or above it), optionally for one principal. */
  assignmentsApplyingTo(scope: string, principalId?: string): RoleAssignment[] {
    return this.allAssignments().filter(
      (a) =>
        scopeContains(a.scope, scope) &&
        (!principalId || a.principalId.toLowerCase() === principalId.toLowerCase()),
    );
  }

  // ---- checks -------------------------------------------------------------------------------------

  /**
   * True when some assignment of the principal, at `scope` or above, in effect now (on the clock),
   * grants `operation`. `kind` picks actions vs dataActions.
   */
  isAllowed(
    principalId: string,
    operation: string,
    scope: string,
    kind: OperationKind = 'action',
    attributes: Omit<ConditionContext, 'action'> = {},
  ): boolean {
    const now = this.clock.now();
    return this.assignmentsApplyingTo(scope, principalId).some((a) => {
      if (a.effectiveAt > now) return false;
      const role = this.roleDefinition(a.roleDefinitionId);
      if (!role || !role.permissions.some((p) => permissionGrants(p, operation, kind))) return false;
      // An ABAC condition narrows what the assignment grants (conditions.ts).
      return !a.condition || conditionHolds(a.condition, { action: operation, ...attributes });
    });
  }

  /**
   * Throws Azure's 403 AuthorizationFailed unless the principal may perform the (control-plane) action;
   * `attributes` feed the ABAC conditions of role assignments (e.g. the role being assigned).
   */
  authorize(
    principalId: string,
    action: string,
    scope: string,
    attributes: Omit<ConditionContext, 'action'> = {},
  ): void {
    if (!this.isAllowed(principalId, action, scope, 'action', attributes)) {
      throw ArmErrors.authorizationFailed(principalId, action, scope);
    }
  }
}
