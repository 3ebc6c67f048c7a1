/**
 * Geo-DR aware CMK enablement (docs/ARCHITECTURE.md "Geo-DR"): the request findings, the Geo-DR
 * preflight (rules as data, every finding at once) and the plan, for both orders the article describes:
 *
 * - already paired, system-assigned identity: break the pairing (on the primary) → wait until the break
 *   has completed → give the secondary's identity access to the keys → enable CMK on the primary (the
 *   `enableCmk` flow, which also grants the primary's identity) → re-pair with the same alias and partner
 *   → wait until the pairing has succeeded and replication has settled;
 * - CMK first, then Geo-DR: (encrypt the primary when it is not yet) → grant the secondary's identity on
 *   the primary's keys → pair → wait. With a user-assigned identity the secondary must be encrypted with
 *   the same identity before pairing, so both are encrypted first; an already paired primary cannot be
 *   encrypted with a user-assigned identity, which is refused with the documented order.
 *
 * Pure: no SDK, no I/O. The facts are read by the gateways; a dry run and the real run see the same plan.
 */
import {
  evaluateRequestFindings,
  isAlreadyConfigured,
  type EnablePreflightFacts,
  type Finding,
  type GeoDrRole,
  type RuleSettings,
} from './preflight';
import type { EncryptionIdentity, KeyRef } from './cmkState';
import { buildEnablePlan, type EnsureIdentityStep, type GrantKeyAccessStep } from './plan';
import { sameResourceId, type GroupedResourceId } from './resourceIds';

// ---------------------------------------------------------------------------------------------------
// Facts
// ---------------------------------------------------------------------------------------------------

/** One side of a Geo-DR alias (`disasterRecoveryConfigs` of one namespace). */
export interface GeoDrAliasFacts {
  name: string;
  role: GeoDrRole;
  partnerNamespaceId?: string;
  /** `Accepted` while a pairing, break or failover runs; `Succeeded` after; `Failed`. */
  provisioningState?: string;
  pendingReplicationOperationsCount: number;
}

export interface GeoDrFacts {
  alias: string;
  /** The enable preflight facts of the primary (the requested keys, identity and flags). */
  primary: EnablePreflightFacts;
  /** The same request read against the secondary (its identity's access to the keys). */
  secondary: EnablePreflightFacts;
  /** The alias the primary namespace is part of, whatever its name. */
  primaryAlias?: GeoDrAliasFacts;
  /** The alias the secondary namespace is part of, whatever its name. */
  secondaryAlias?: GeoDrAliasFacts;
}

/** Where the pairing is, seen from the request. */
export type PairingState =
  | 'paired' // alias on the primary (Primary) with the requested partner, which is its Secondary
  | 'broken' // the alias stays on the primary as PrimaryNotReplicating, the partner is standalone
  | 'unpaired' // neither namespace is in an alias
  | 'mismatch'; // something else: another alias, another partner, roles reversed

export function pairingState(
  f: Pick<GeoDrFacts, 'alias' | 'primaryAlias' | 'secondaryAlias'> & {
    secondaryId: string;
  },
): PairingState {
  const p = f.primaryAlias;
  const s = f.secondaryAlias;
  if (!p && !s) return 'unpaired';
  if (!p || p.name.toLowerCase() !== f.alias.toLowerCase()) return 'mismatch';
  if (
    p.role === 'Primary' &&
    p.partnerNamespaceId &&
    sameResourceId(p.partnerNamespaceId, f.secondaryId) &&
    s?.role === 'Secondary' &&
    s.name.toLowerCase() === p.name.toLowerCase()
  ) {
    return 'paired';
  }
  // Broken — or being broken: until the break completes the partner still shows the Secondary role.
  if (
    p.role === 'PrimaryNotReplicating' &&
    (!s || s.role !== 'Secondary' || s.name.toLowerCase() === p.name.toLowerCase())
  )
    return 'broken';
  return 'mismatch';
}

const busy = (a?: GeoDrAliasFacts) =>
  !!a && (a.provisioningState?.toLowerCase() === 'accepted' || a.pendingReplicationOperationsCount > 0);

// ---------------------------------------------------------------------------------------------------
// Preflight (rules as data)
// ---------------------------------------------------------------------------------------------------

interface GeoDrRuleContext {
  facts: GeoDrFacts;
  state: PairingState;
  userAssigned: boolean;
  primaryEncrypted: boolean;
}

interface GeoDrRule {
  id: string;
  title: string;
  subject: 'primary' | 'secondary';
  check: (ctx: GeoDrRuleContext) => { message: string; fix: string; command?: string } | undefined;
}

const nsName = (f: EnablePreflightFacts) => f.namespace.name;
const rg = (f: EnablePreflightFacts) => f.namespace.resourceGroup;

/** The Azure CLI command that (re-)creates the pairing. */
export function repairCommand(primary: GroupedResourceId, secondaryId: string, alias: string): string {
  return `az servicebus georecovery-alias set --resource-group ${primary.resourceGroup} --namespace-name ${primary.name} --alias ${alias} --partner-namespace ${secondaryId}`;
}

export const GEO_DR_RULES: readonly GeoDrRule[] = [
  {
    id: 'GEO-001',
    title: 'Primary namespace is not Premium',
    subject: 'primary',
    check: ({ facts }) =>
      facts.primary.namespace.skuTier.toLowerCase() === 'premium'
        ? undefined
        : {
            message: `Primary namespace ${nsName(facts.primary)} is ${facts.primary.namespace.skuTier}; customer-managed keys need Premium.`,
            fix: 'Use a Premium namespace pair (a namespace cannot be upgraded in place while paired).',
          },
  },
  {
    id: 'GEO-002',
    title: 'Secondary namespace is not Premium',
    subject: 'secondary',
    check: ({ facts }) =>
      facts.secondary.namespace.skuTier.toLowerCase() === 'premium'
        ? undefined
        : {
            message: `Secondary namespace ${nsName(facts.secondary)} is ${facts.secondary.namespace.skuTier}; Geo-DR with customer-managed keys needs both namespaces Premium.`,
            fix: 'Pair the primary with a Premium secondary.',
          },
  },
  {
    id: 'GEO-003',
    title: 'Primary namespace has queues or topics',
    subject: 'primary',
    check: ({ facts, primaryEncrypted }) => {
      const n = facts.primary.namespace;
      if (primaryEncrypted || n.queueCount + n.topicCount === 0) return undefined;
      return {
        message: `Primary namespace ${n.name} has ${n.queueCount} queue(s) and ${n.topicCount} topic(s); Service Bus enables customer-managed keys only on an empty namespace, and breaking the pairing does not change that. Nothing was broken.`,
        fix: 'Create a new, empty Premium namespace pair with customer-managed keys (CMK first, then Geo-DR), and move the entities there.',
      };
    },
  },
  {
    id: 'GEO-004',
    title: 'Alias and partner do not match the request',
    subject: 'primary',
    check: ({ facts, state }) => {
      if (state !== 'mismatch') return undefined;
      const p = facts.primaryAlias;
      const s = facts.secondaryAlias;
      const seen = [
        p
          ? `${nsName(facts.primary)} is the ${p.role} of alias ${p.name}${p.partnerNamespaceId ? ` (partner ${p.partnerNamespaceId})` : ''}`
          : `${nsName(facts.primary)} is in no alias`,
        s
          ? `${nsName(facts.secondary)} is the ${s.role} of alias ${s.name}${s.partnerNamespaceId ? ` (partner ${s.partnerNamespaceId})` : ''}`
          : `${nsName(facts.secondary)} is in no alias`,
      ].join('; ');
      return {
        message: `The request names alias ${facts.alias} with primary ${nsName(facts.primary)} and secondary ${nsName(facts.secondary)}, but ${seen}.`,
        fix: 'Name the alias, primary and secondary as they are paired now (the primary is the namespace whose alias role is Primary), or pair them first.',
      };
    },
  },
  {
    id: 'GEO-005',
    title: 'A Geo-DR operation or replication is still in progress',
    subject: 'primary',
    check: ({ facts, state }) => {
      // A break still completing (e.g. a run terminated right after it): the plan waits for it.
      if (state === 'broken') return undefined;
      const a = [facts.primaryAlias, facts.secondaryAlias].find(busy);
      if (!a) return undefined;
      return {
        message: `Alias ${a.name} is ${a.provisioningState ?? 'busy'} with ${a.pendingReplicationOperationsCount} replication operation(s) pending (a pairing, break or failover is in progress).`,
        fix: `Wait until the alias shows provisioningState Succeeded and no pending replication (az servicebus georecovery-alias show --resource-group ${rg(facts.primary)} --namespace-name ${nsName(facts.primary)} --alias ${a.name}), then start again.`,
      };
    },
  },
  {
    id: 'GEO-006',
    title: 'A paired primary cannot be encrypted with a user-assigned identity',
    subject: 'primary',
    check: ({ state, userAssigned, primaryEncrypted, facts }) => {
      if (!userAssigned || primaryEncrypted || (state !== 'paired' && state !== 'broken')) return undefined;
      const command = `az servicebus georecovery-alias break-pair --resource-group ${rg(facts.primary)} --namespace-name ${nsName(facts.primary)} --alias ${facts.alias}`;
      return {
        message: `Namespace ${nsName(facts.primary)} is paired through alias ${facts.alias}; Service Bus cannot enable encryption on an already paired primary, even when the secondary has the user-assigned identity.`,
        fix: `The documented order with a user-assigned identity: grant the identity on the keys, enable encryption with it on BOTH namespaces, then pair. Here: remove the pairing (${command}; then delete the alias), then call this operation again on the unpaired namespaces — it encrypts the secondary, then the primary, then pairs them. Or use a system-assigned identity, which this operation can apply to a paired namespace (break, encrypt, re-pair).`,
        command,
      };
    },
  },
  {
    id: 'GEO-007',
    title: 'The secondary namespace is not empty',
    subject: 'secondary',
    check: ({ facts, state }) => {
      const n = facts.secondary.namespace;
      if (state === 'paired' || n.queueCount + n.topicCount === 0) return undefined;
      return {
        message: `Secondary namespace ${n.name} has ${n.queueCount} queue(s) and ${n.topicCount} topic(s); only a new namespace without entities can be added to a Geo-DR pairing.`,
        fix: 'Pair with a new, empty Premium namespace.',
      };
    },
  },
];

/** The primary's enable findings that also apply here (the Geo-DR rules replace the namespace ones). */
const REPLACED_BY_GEO = new Set(['PRE-001', 'PRE-002', 'PRE-003']);

function geoFinding(
  rule: GeoDrRule,
  facts: GeoDrFacts,
  r: { message: string; fix: string; command?: string },
): Finding {
  const ns = rule.subject === 'primary' ? facts.primary.namespace : facts.secondary.namespace;
  return {
    ruleId: rule.id,
    severity: 'error',
    blocks: true,
    title: rule.title,
    message: r.message,
    fix: r.fix,
    ...(r.command ? { command: r.command } : {}),
    subject: { kind: 'namespace', id: ns.id },
  };
}

/** The facts as they will be once the pairing is broken (what `enableCmk` will see on each side). */
export function unpairedView(f: EnablePreflightFacts, ignoreEntities = false): EnablePreflightFacts {
  const { geoDr: _geo, ...namespace } = f.namespace;
  return {
    ...f,
    namespace: ignoreEntities ? { ...namespace, queueCount: 0, topicCount: 0 } : namespace,
  };
}

/** One finding per rule, subject and message (both namespaces' preflights report key findings alike). */
function findingKey(f: Finding): string {
  return `${f.ruleId}|${f.subject.id}|${f.message}`;
}

/**
 * The Geo-DR findings known from the request alone (key count, duplicates, foreign Key Vault host):
 * the ones the plan would report for the primary — and for the secondary, which a user-assigned
 * identity encrypts too — so a real request with one of them is refused before anything is read.
 */
export function geoDrRequestFindings(
  request: {
    primaryId: string;
    secondaryId: string;
    keys: KeyRef[];
    identity: EncryptionIdentity;
    requireInfrastructureEncryption: boolean;
  },
  settings: RuleSettings,
  now: Date,
): Finding[] {
  const { keys, identity, requireInfrastructureEncryption } = request;
  const req = { keys, identity, requireInfrastructureEncryption };
  const findings = evaluateRequestFindings(request.primaryId, req, settings, now);
  if (identity.type === 'UserAssigned') {
    // Each finding once, as the plan reports them (a key finding is the same for both namespaces).
    const seen = new Set(findings.map(findingKey));
    for (const f of evaluateRequestFindings(request.secondaryId, req, settings, now)) {
      if (!seen.has(findingKey(f))) findings.push(f);
    }
  }
  return findings;
}

// ---------------------------------------------------------------------------------------------------
// Plan
// ---------------------------------------------------------------------------------------------------

export type GeoDrStepKind =
  | 'breakPairing'
  | 'waitForBreak'
  | 'grantSecondary'
  | 'encryptSecondary'
  | 'encryptPrimary'
  | 'pair'
  | 'waitForReplication';

export interface GeoDrStep {
  kind: GeoDrStepKind;
  description: string;
}

/**
 * `breakEncryptRepair` and `cmkFirstThenPair` are the article's two orders; `grantSecondaryOnly`
 * repairs a pairing whose encrypted primary's keys the secondary can no longer use (CMK-012) without
 * breaking anything.
 */
export type GeoDrOrder = 'breakEncryptRepair' | 'cmkFirstThenPair' | 'grantSecondaryOnly';

export interface GeoDrPlan {
  outcome: 'apply' | 'noOp' | 'blocked';
  order?: GeoDrOrder;
  pairing: PairingState;
  summary: string;
  findings: Finding[];
  steps: GeoDrStep[];
}

/**
 * The Geo-DR preflight and plan. Blocking findings → `blocked` with no steps (nothing is broken);
 * everything in place (primary encrypted with these keys, pairing intact and settled, secondary able
 * to use the keys) → `noOp`.
 */
export function buildGeoDrPlan(facts: GeoDrFacts, now: Date): GeoDrPlan {
  const state = pairingState({ ...facts, secondaryId: facts.secondary.namespace.id });
  const userAssigned = facts.primary.request.identity.type === 'UserAssigned';
  const primaryEncrypted = isAlreadyConfigured(facts.primary.namespace.cmk, facts.primary.request);
  const secondaryEncrypted = isAlreadyConfigured(facts.secondary.namespace.cmk, facts.secondary.request);
  const ctx: GeoDrRuleContext = { facts, state, userAssigned, primaryEncrypted };

  const findings: Finding[] = [];
  for (const rule of GEO_DR_RULES) {
    const r = rule.check(ctx);
    if (r) findings.push(geoFinding(rule, facts, r));
  }
  // Keys, vaults and identity: the enable preflight of each namespace that will be encrypted, as it
  // will run once unpaired.
  const enableFindings = (f: EnablePreflightFacts) =>
    buildEnablePlan(unpairedView(f), now).findings.filter((x) => !REPLACED_BY_GEO.has(x.ruleId));
  const seen = new Set<string>();
  const add = (list: Finding[]) => {
    for (const x of list) {
      const key = findingKey(x);
      if (!seen.has(key)) {
        seen.add(key);
        findings.push(x);
      }
    }
  };
  if (!primaryEncrypted) add(enableFindings(facts.primary));
  if (userAssigned && !secondaryEncrypted) add(enableFindings(facts.secondary));

  const blocked = findings.some((f) => f.blocks);
  const base = { pairing: state, findings };
  if (blocked) {
    return {
      ...base,
      outcome: 'blocked',
      summary: `Nothing was changed (the pairing of alias ${facts.alias} is left as it is): ${findings.filter((f) => f.blocks).length} blocking finding(s).`,
      steps: [],
    };
  }

  const secondaryHasAccess = facts.secondary.keys.every((k) => k.identityHasAccess === true);
  const p = nsName(facts.primary);
  const s = nsName(facts.secondary);
  const steps: GeoDrStep[] = [];
  let order: GeoDrOrder;

  if (state === 'paired' || state === 'broken') {
    if (primaryEncrypted && state === 'paired' && (userAssigned ? secondaryEncrypted : secondaryHasAccess)) {
      return {
        ...base,
        outcome: 'noOp',
        summary: `Namespace ${p} already uses these keys and is paired with ${s} through alias ${facts.alias}; nothing to do.`,
        steps: [],
      };
    }
    const secondaryPrincipal = facts.secondary.namespace.identity.systemAssigned?.principalId;
    if (primaryEncrypted && state === 'paired' && !userAssigned && secondaryPrincipal) {
      return {
        ...base,
        outcome: 'apply',
        order: 'grantSecondaryOnly',
        summary: `Namespace ${p} already uses these keys and is paired with ${s}, but ${s}'s identity cannot use them (CMK-012): grant it; the pairing is not touched.`,
        steps: [
          {
            kind: 'grantSecondary',
            description: `Give ${s}'s system-assigned identity access to ${p}'s keys`,
          },
          {
            kind: 'waitForReplication',
            description: `Confirm alias ${facts.alias} is Succeeded and settled`,
          },
        ],
      };
    }
    order = 'breakEncryptRepair';
    if (state === 'paired')
      steps.push({ kind: 'breakPairing', description: `Break the pairing of alias ${facts.alias} on ${p}` });
    steps.push({
      kind: 'waitForBreak',
      description: `Wait until the break has completed and ${s} is standalone`,
    });
    steps.push({
      kind: 'grantSecondary',
      description: `Give ${s}'s system-assigned identity access to the keys`,
    });
    steps.push({ kind: 'encryptPrimary', description: `Enable customer-managed keys on ${p} (enableCmk)` });
    steps.push({ kind: 'pair', description: `Re-pair ${p} with ${s} through alias ${facts.alias}` });
  } else {
    order = 'cmkFirstThenPair';
    if (userAssigned) {
      if (!secondaryEncrypted)
        steps.push({
          kind: 'encryptSecondary',
          description: `Enable customer-managed keys on ${s} with the same user-assigned identity (enableCmk)`,
        });
      if (!primaryEncrypted)
        steps.push({
          kind: 'encryptPrimary',
          description: `Enable customer-managed keys on ${p} (enableCmk)`,
        });
    } else {
      if (!primaryEncrypted)
        steps.push({
          kind: 'encryptPrimary',
          description: `Enable customer-managed keys on ${p} (enableCmk)`,
        });
      steps.push({
        kind: 'grantSecondary',
        description: `Give ${s}'s system-assigned identity access to ${p}'s keys`,
      });
    }
    steps.push({ kind: 'pair', description: `Pair ${p} with ${s} through alias ${facts.alias}` });
  }
  steps.push({
    kind: 'waitForReplication',
    description: `Wait until alias ${facts.alias} is Succeeded and replication has settled`,
  });
  return {
    ...base,
    outcome: 'apply',
    order,
    summary:
      order === 'breakEncryptRepair'
        ? `Break alias ${facts.alias}, grant ${s}, encrypt ${p}, re-pair with ${s}: ${steps.length} step(s). The pairing is restored if a step after the break fails.`
        : `Encrypt, grant and pair ${p} with ${s} through alias ${facts.alias}: ${steps.length} step(s).`,
    steps,
  };
}

/**
 * The secondary's identity steps (system-assigned): enable its identity when missing, then grant it
 * on each vault of the keys — the enable plan of the secondary as an unpaired namespace, without its
 * encryption (the secondary takes the primary's keys through the pairing). Empty when it already has
 * access. `blocked` findings when that plan cannot be made.
 */
export function secondaryAccessPlan(
  secondary: EnablePreflightFacts,
  now: Date,
): { steps: (EnsureIdentityStep | GrantKeyAccessStep)[]; findings: Finding[] } {
  const plan = buildEnablePlan(unpairedView(secondary, true), now);
  if (plan.outcome === 'blocked') return { steps: [], findings: plan.findings.filter((f) => f.blocks) };
  const steps = plan.steps.filter(
    (s): s is EnsureIdentityStep | GrantKeyAccessStep =>
      s.kind === 'ensureIdentity' || s.kind === 'grantKeyAccess',
  );
  return { steps, findings: [] };
}
