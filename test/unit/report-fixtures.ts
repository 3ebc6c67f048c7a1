// Compliance reports built from real evaluator output (evaluateDiagnosis on domain facts), never
// hand-typed verdicts: each namespace is built to trigger one verdict, and one carries a hostile name.
import { cmkStateFromEncryption, type KeyFacts } from '../../src/domain/cmkState';
import {
  buildComplianceReport,
  reportNamespaceFromDiagnosis,
  type ComplianceReport,
  type CouldNotAssessEntry,
  type ReportSubscription,
} from '../../src/domain/complianceReport';
import {
  evaluateDiagnosis,
  type DiagnoseFacts,
  type NamespaceFacts,
  type VaultFacts,
} from '../../src/domain/preflight';
import { NOW, RG, SUB, SUFFIX, keyFacts, namespaceFacts, vaultFacts } from './domain-fixtures';

export const SUB2 = '00000000-0000-0000-0000-0000000000bb';
export const SUB_FORBIDDEN = '00000000-0000-0000-0000-0000000000cc';
/** A name no Service Bus would accept, as a hostile or broken sandbox could still return it. */
export const HOSTILE_NAME = `sb-<script>alert("x")</script>-&'"<img src=x onerror=alert(1)>`;

const nsId = (name: string, sub = SUB): string =>
  `/subscriptions/${sub}/resourceGroups/${RG}/providers/Microsoft.ServiceBus/namespaces/${name}`;

interface Spec {
  name: string;
  sub?: string;
  keys?: { vault: string; key: string; version?: string; facts: KeyFacts | undefined; access?: boolean }[];
  vaults?: VaultFacts[];
  location?: string;
}

function diagnoseFacts(spec: Spec): { namespace: NamespaceFacts; facts: DiagnoseFacts } {
  const keys = spec.keys ?? [];
  const cmk =
    keys.length === 0
      ? { encrypted: false as const }
      : cmkStateFromEncryption(
          {
            keyVaultProperties: keys.map((k) => ({
              keyName: k.key,
              keyVaultUri: `https://${k.vault}.${SUFFIX}/`,
              ...(k.version ? { keyVersion: k.version } : {}),
            })),
          },
          SUFFIX,
        );
  const namespace = namespaceFacts({
    id: nsId(spec.name, spec.sub),
    name: spec.name,
    subscriptionId: spec.sub ?? SUB,
    cmk,
    queueCount: 1,
    location: spec.location ?? 'westeurope',
  });
  const vaultNames = [...new Set(keys.map((k) => k.vault))];
  return {
    namespace,
    facts: {
      namespace,
      vaults: spec.vaults ?? vaultNames.map((v) => vaultFacts(v)),
      keys: keys.map((k) => ({ ...(k.facts ? { key: k.facts } : {}), identityHasAccess: k.access ?? true })),
      principalId: 'p-ns',
      settings: { keyVaultDnsSuffix: SUFFIX, keyExpiryWarningDays: 30 },
    },
  };
}

/** The estate: one namespace per verdict (plus a hostile name) over two subscriptions and one forbidden. */
export const ESTATE: Spec[] = [
  { name: 'sb-healthy', keys: [{ vault: 'kv-prod', key: 'cmk-1', facts: keyFacts() }] },
  { name: 'sb-plain' },
  {
    name: 'sb-expired',
    keys: [{ vault: 'kv-prod', key: 'cmk-old', facts: keyFacts({ expiresOn: '2026-05-01T00:00:00.000Z' }) }],
  },
  {
    name: 'sb-degraded',
    sub: SUB2,
    location: 'northeurope',
    keys: [
      { vault: 'kv-prod', key: 'cmk-1', facts: keyFacts() },
      { vault: 'kv-dr', key: 'cmk-2', facts: keyFacts({ enabled: false }) },
    ],
  },
  {
    name: 'sb-soon',
    sub: SUB2,
    keys: [{ vault: 'kv-dr', key: 'cmk-soon', facts: keyFacts({ expiresOn: '2026-06-11T00:00:00.000Z' }) }],
  },
  {
    name: 'sb-firewalled',
    sub: SUB2,
    keys: [{ vault: 'kv-locked', key: 'cmk-x', facts: undefined }],
    vaults: [vaultFacts('kv-locked', { status: 'forbidden', detail: 'ForbiddenByFirewall' })],
  },
  { name: HOSTILE_NAME, keys: [{ vault: 'kv-prod', key: 'cmk-1', facts: keyFacts() }] },
];

export const FORBIDDEN_ENTRY: CouldNotAssessEntry = {
  scope: 'subscription',
  id: SUB_FORBIDDEN,
  subscriptionId: SUB_FORBIDDEN,
  cause: 'forbidden',
  status: 403,
  code: 'AuthorizationFailed',
  message: `could not assess: the identity cannot list Service Bus namespaces in subscription ${SUB_FORBIDDEN}`,
  fix: 'Grant the app identity the Reader role on the subscription',
  command: `az role assignment create --assignee <principalId> --role Reader --scope /subscriptions/${SUB_FORBIDDEN}`,
};

/** A report over `specs` evaluated at `now`, as a sweep finishing at `finishedAt` would build it. */
export function reportFrom(
  options: {
    specs?: Spec[];
    now?: Date;
    finishedAt?: string;
    sweepId?: string;
    withForbidden?: boolean;
  } = {},
): ComplianceReport {
  const now = options.now ?? NOW;
  const specs = options.specs ?? ESTATE;
  const namespaces = specs.map((s) => {
    const { namespace, facts } = diagnoseFacts(s);
    return reportNamespaceFromDiagnosis(namespace, evaluateDiagnosis(facts, now));
  });
  const withForbidden = options.withForbidden ?? true;
  const count = (sub: string): number => namespaces.filter((n) => n.subscriptionId === sub).length;
  const subscriptions: ReportSubscription[] = [
    { subscriptionId: SUB, status: 'assessed', namespaces: count(SUB) },
    { subscriptionId: SUB2, status: 'assessed', namespaces: count(SUB2) },
    ...(withForbidden
      ? [{ subscriptionId: SUB_FORBIDDEN, status: 'skipped' as const, namespaces: 0, reason: 'forbidden' }]
      : []),
  ];
  const finishedAt = options.finishedAt ?? new Date(now.getTime() + 42_000).toISOString();
  return buildComplianceReport({
    sweep: {
      sweepId: options.sweepId ?? 'sweep-fixture',
      trigger: 'onDemand',
      startedAt: now.toISOString(),
      finishedAt,
      durationMs: Date.parse(finishedAt) - now.getTime(),
      calls: 17,
      settings: { keyExpiryWarningDays: 30, requireInfrastructureEncryption: false },
      subscriptions,
    },
    namespaces,
    couldNotAssess: withForbidden ? [FORBIDDEN_ENTRY] : [],
  });
}
