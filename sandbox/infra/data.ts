/**
 * The data `infra/main.bicep` and the offline sandbox share (`infra/roles.json`, `infra/wiring/*.json`):
 * its types and one loader. Read from disk at call time (not imported), so a test can point the loader
 * at a changed copy and see the sandbox wiring change with it.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** `infra/` of the repository, from the source tree (ts-jest) or from `dist/` alike. */
function findInfraDir(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'infra', 'roles.json'))) return path.join(dir, 'infra');
    if (path.dirname(dir) === dir) throw new Error(`infra/roles.json not found above ${from}`);
  }
}

export const INFRA_DIR = findInfraDir(__dirname);

export type ScopeKind =
  | 'subscription'
  | 'namespace'
  | 'accessPolicyVault'
  | 'rbacVault'
  | 'userAssignedIdentity'
  | 'alertResourceGroup';

export interface RoleEntry {
  roleName: string;
  roleDefinitionId: string;
  /** A key of `conditions`: the ABAC condition the assignment carries. */
  condition?: string;
  /** Feature ids (keys of `features`) that fail without this role. Absent for the app's own resources. */
  features?: string[];
  /** Granted only in this configuration (e.g. ALERT_RULES=managed). */
  onlyWhen?: string;
  why: string;
}

export interface RolesFile {
  description: string;
  features: Record<string, string>;
  conditions: Record<string, { description: string; version: string; expression: string }>;
  scopes: Partial<Record<ScopeKind, { description: string; roles: RoleEntry[] }>>;
  appStorage: { description: string; roles: RoleEntry[] };
  appInsights: { description: string; roles: RoleEntry[] };
}

export interface ArmResourceSpec {
  description: string;
  type: string;
  apiVersion: string;
  name: string;
  properties: Record<string, unknown>;
}

export interface EventSubscriptionFile extends ArmResourceSpec {
  systemTopic: { type: string; topicType: string; namePrefix: string };
  /** The app function the subscription delivers to (AzureFunction destination). */
  function: string;
  deadLetterContainer: string;
  destinationProperties: { maxEventsPerBatch: number; preferredBatchSizeInKilobytes: number };
}

export interface AuditAlertFile extends ArmResourceSpec {
  kind: string;
  /** The app's HTTP route the action group's webhook calls (below /api/). */
  webhookRoute: string;
  actionGroup: { type: string; apiVersion: string; name: string; shortName: string; receiverName: string };
}

export interface MetricAlertRulesFile {
  description: string;
  type: string;
  apiVersion: string;
  rules: Array<{ namePrefix: string; properties: Record<string, unknown> }>;
}

export interface InfraData {
  roles: RolesFile;
  eventSubscription: EventSubscriptionFile;
  diagnosticSetting: ArmResourceSpec;
  auditAlert: AuditAlertFile;
  metricAlertRules: MetricAlertRulesFile;
}

/** The files as `infra/main.bicep` loads them (`loadJsonContent` paths relative to `infra/`). */
export const INFRA_FILES = {
  roles: 'roles.json',
  eventSubscription: 'wiring/keyVaultEventSubscription.json',
  diagnosticSetting: 'wiring/keyVaultDiagnosticSetting.json',
  auditAlert: 'wiring/keyVaultAuditAlert.json',
  metricAlertRules: 'wiring/metricAlertRules.json',
} as const satisfies Record<keyof InfraData, string>;

export function loadInfraData(dir = INFRA_DIR): InfraData {
  const read = <T>(file: string): T => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as T;
  return {
    roles: read<RolesFile>(INFRA_FILES.roles),
    eventSubscription: read<EventSubscriptionFile>(INFRA_FILES.eventSubscription),
    diagnosticSetting: read<ArmResourceSpec>(INFRA_FILES.diagnosticSetting),
    auditAlert: read<AuditAlertFile>(INFRA_FILES.auditAlert),
    metricAlertRules: read<MetricAlertRulesFile>(INFRA_FILES.metricAlertRules),
  };
}

/** Every (scope kind, role) pair of roles.json that the app holds outside its own resources. */
export function scopedRoles(roles: RolesFile): Array<{ kind: ScopeKind; role: RoleEntry }> {
  return (Object.entries(roles.scopes) as Array<[ScopeKind, { roles: RoleEntry[] }]>).flatMap(([kind, s]) =>
    s.roles.map((role) => ({ kind, role })),
  );
}
