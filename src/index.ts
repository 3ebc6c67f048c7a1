/**
 * Function App entry (package.json "main"). Loading the configuration first makes a bad setting fail
 * the whole app at start-up with a message naming it; then every function is registered here, each
 * with a thin handler that loads its module on the first call (docs/ARCHITECTURE.md "Cold start"):
 * start-up pays for @azure/functions, durable-functions, config.ts and the names — not for the
 * triggers, orchestrations, gateways and domain behind them.
 */
import { app } from '@azure/functions';
import * as df from 'durable-functions';
import type { OrchestrationHandler } from 'durable-functions';
import { getConfig } from './config';
import { keyWatchSchedule } from './domain/keyWatch';
import * as names from './orchestrations/names';

const config = getConfig();

/** The module's export `key`, behind a function that `require`s the module on its first call. */
function lazy<M, K extends keyof M>(load: () => M, key: K): M[K] {
  let fn: ((...args: unknown[]) => unknown) | undefined;
  const handler = (...args: unknown[]): unknown => {
    fn ??= load()[key] as (...args: unknown[]) => unknown;
    return fn(...args);
  };
  return handler as M[K];
}

/* eslint-disable @typescript-eslint/no-require-imports -- loaded on the first call, see lazy() */
const m = {
  health: () => require('./functions/health') as typeof import('./functions/health'),
  operations: () => require('./functions/operations') as typeof import('./functions/operations'),
  azureHealth: () => require('./functions/azureHealth') as typeof import('./functions/azureHealth'),
  cmk: () => require('./functions/cmk') as typeof import('./functions/cmk'),
  cmkGeoDr: () => require('./functions/cmkGeoDr') as typeof import('./functions/cmkGeoDr'),
  sweepHttp: () => require('./functions/complianceSweep') as typeof import('./functions/complianceSweep'),
  report: () => require('./functions/complianceReport') as typeof import('./functions/complianceReport'),
  kvEvents: () => require('./functions/keyVaultEvents') as typeof import('./functions/keyVaultEvents'),
  kvAudit: () => require('./functions/keyVaultAudit') as typeof import('./functions/keyVaultAudit'),
  keyImpact: () => require('./functions/keyImpact') as typeof import('./functions/keyImpact'),
  keyWatchTimer: () => require('./functions/keyWatch') as typeof import('./functions/keyWatch'),
  assess: () => require('./orchestrations/assess') as typeof import('./orchestrations/assess'),
  impact: () =>
    require('./orchestrations/assessKeyImpact') as typeof import('./orchestrations/assessKeyImpact'),
  sweep: () =>
    require('./orchestrations/complianceSweep') as typeof import('./orchestrations/complianceSweep'),
  sweepSub: () =>
    require('./orchestrations/complianceSweepSubscription') as typeof import('./orchestrations/complianceSweepSubscription'),
  rotation: () =>
    require('./orchestrations/confirmRotation') as typeof import('./orchestrations/confirmRotation'),
  geoDr: () =>
    require('./orchestrations/enableCmkGeoDrOrchestrator') as typeof import('./orchestrations/enableCmkGeoDrOrchestrator'),
  enable: () =>
    require('./orchestrations/enableCmkOrchestrator') as typeof import('./orchestrations/enableCmkOrchestrator'),
  keyWatch: () => require('./orchestrations/keyWatch') as typeof import('./orchestrations/keyWatch'),
};
/* eslint-enable @typescript-eslint/no-require-imports */

const durableClient = [df.input.durableClient()];

// ---- HTTP triggers (src/functions) -----------------------------------------------------------------
app.http('health', {
  route: 'health',
  methods: ['GET'],
  authLevel: 'anonymous',
  handler: lazy(m.health, 'healthHandler'),
});
app.http('getOperation', {
  route: 'operations/{instanceId}',
  methods: ['GET'],
  authLevel: 'function',
  extraInputs: durableClient,
  handler: lazy(m.operations, 'getOperationHandler'),
});
app.http('azureHealth', {
  route: 'health/azure',
  methods: ['GET'],
  authLevel: 'function',
  handler: lazy(m.azureHealth, 'azureHealthHandler'),
});
app.http('cmkEnable', {
  route: 'cmk/enable',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: durableClient,
  handler: lazy(m.cmk, 'enableCmkHandler'),
});
app.http('cmkDiagnose', {
  route: 'cmk/diagnose',
  methods: ['POST'],
  authLevel: 'function',
  handler: lazy(m.cmk, 'diagnoseCmkHandler'),
});
app.http('cmkGeoDr', {
  route: 'cmk/geo-dr',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: durableClient,
  handler: lazy(m.cmkGeoDr, 'enableCmkGeoDrHandler'),
});
app.http('complianceSweepStart', {
  route: 'compliance/sweeps',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: durableClient,
  handler: lazy(m.sweepHttp, 'startSweepHandler'),
});
app.http('getComplianceReport', {
  route: 'compliance/report',
  methods: ['GET'],
  authLevel: 'function',
  handler: lazy(m.report, 'getComplianceReportHandler'),
});
app.http('getComplianceReportPage', {
  route: 'compliance/report.html',
  methods: ['GET'],
  authLevel: 'function',
  handler: lazy(m.report, 'getComplianceReportPageHandler'),
});
app.http('keyVaultAuditAlert', {
  route: 'alerts/keyvault-audit',
  methods: ['POST'],
  authLevel: 'function',
  extraInputs: durableClient,
  handler: lazy(m.kvAudit, 'keyVaultAuditHandler'),
});
app.http('keysImpact', {
  route: 'keys/impact',
  methods: ['POST'],
  authLevel: 'function',
  handler: lazy(m.keyImpact, 'keyImpactHandler'),
});

// ---- Event Grid and timers ---------------------------------------------------------------------------
app.eventGrid('keyVaultEvents', {
  extraInputs: durableClient,
  handler: lazy(m.kvEvents, 'keyVaultEventsHandler'),
});
// The setting name when it is set (the host resolves it, as in Azure); config.ts's default otherwise.
app.timer('complianceSweepTimer', {
  schedule: process.env.SWEEP_SCHEDULE?.trim() ? '%SWEEP_SCHEDULE%' : config.sweep.schedule,
  extraInputs: durableClient,
  handler: lazy(m.sweepHttp, 'sweepTimerHandler'),
});
df.app.client.timer('keyWatchTimer', {
  schedule: keyWatchSchedule(config.keyPollMinutes),
  handler: lazy(m.keyWatchTimer, 'keyWatchTimerHandler'),
});
df.app.client.timer(names.KEY_INDEX_REFRESH_TIMER, {
  schedule: config.keyIndexRefreshSchedule,
  handler: lazy(m.assess, 'keyIndexRefreshTimerHandler'),
});

// ---- orchestrations and their activities (src/orchestrations, one file each) ----------------------------
// assess.ts
df.app.activity(names.ASSESS_NAMESPACES, { handler: lazy(m.assess, 'assessNamespacesActivity') });
df.app.activity(names.REFRESH_KEY_INDEX, { handler: lazy(m.assess, 'refreshKeyIndexActivity') });
df.app.orchestration(names.KEY_INDEX_REFRESH_ORCHESTRATION, lazy(m.assess, 'keyIndexRefreshOrchestrator'));
// enableCmkOrchestrator.ts
df.app.activity(names.READ_ENABLE_FACTS_ACTIVITY, { handler: lazy(m.enable, 'readFactsActivity') });
df.app.activity(names.ENSURE_IDENTITY_ACTIVITY, { handler: lazy(m.enable, 'ensureIdentityActivity') });
df.app.activity(names.GRANT_KEY_ACCESS_ACTIVITY, { handler: lazy(m.enable, 'grantKeyAccessActivity') });
df.app.activity(names.SET_ENCRYPTION_ACTIVITY, { handler: lazy(m.enable, 'setEncryptionActivity') });
df.app.activity(names.READ_NAMESPACE_ACTIVITY, { handler: lazy(m.enable, 'readNamespaceActivity') });
df.app.orchestration(names.ENABLE_CMK_ORCHESTRATION, lazy(m.enable, 'enableCmkOrchestrator'));
// enableCmkGeoDrOrchestrator.ts
df.app.activity(names.GEO_READ_FACTS_ACTIVITY, { handler: lazy(m.geoDr, 'readFactsActivity') });
df.app.activity(names.GEO_READ_ALIASES_ACTIVITY, { handler: lazy(m.geoDr, 'readAliasesActivity') });
df.app.activity(names.GEO_BREAK_ACTIVITY, { handler: lazy(m.geoDr, 'breakPairingActivity') });
df.app.activity(names.GEO_PAIR_ACTIVITY, { handler: lazy(m.geoDr, 'pairActivity') });
df.app.orchestration(names.ENABLE_CMK_GEO_DR_ORCHESTRATION, lazy(m.geoDr, 'enableCmkGeoDrOrchestrator'));
// complianceSweep.ts, complianceSweepSubscription.ts
df.app.activity(names.SWEEP_SCOPE_ACTIVITY, { handler: lazy(m.sweep, 'scopeActivity') });
df.app.activity(names.SWEEP_KEY_MATERIAL_ACTIVITY, { handler: lazy(m.sweep, 'keyMaterialActivity') });
df.app.activity(names.SWEEP_EVALUATE_ACTIVITY, { handler: lazy(m.sweep, 'evaluateActivity') });
df.app.activity(names.SWEEP_FINISH_ACTIVITY, { handler: lazy(m.sweep, 'finishActivity') });
df.app.orchestration(names.COMPLIANCE_SWEEP_ORCHESTRATION, lazy(m.sweep, 'complianceSweepOrchestrator'));
df.app.activity(names.SWEEP_LIST_NAMESPACES_ACTIVITY, {
  handler: lazy(m.sweepSub, 'listNamespacesActivityHandler'),
});
df.app.orchestration(
  names.SWEEP_SUBSCRIPTION_ORCHESTRATION,
  lazy(m.sweepSub, 'sweepSubscriptionOrchestrator') as unknown as OrchestrationHandler,
);
// confirmRotation.ts
df.app.activity(names.ROTATION_EVIDENCE_ACTIVITY, { handler: lazy(m.rotation, 'readEvidenceActivity') });
df.app.activity(names.MOVE_PINNED_ACTIVITY, { handler: lazy(m.rotation, 'movePinnedActivity') });
df.app.orchestration(names.CONFIRM_ROTATION_ORCHESTRATION, lazy(m.rotation, 'confirmRotationOrchestrator'));
// assessKeyImpact.ts, keyWatch.ts
df.app.orchestration(names.ASSESS_KEY_IMPACT_ORCHESTRATION, lazy(m.impact, 'assessKeyImpactOrchestrator'));
df.app.orchestration(names.KEY_WATCH_ORCHESTRATION, lazy(m.keyWatch, 'keyWatchOrchestrator'));
