/**
 * The names of every orchestration, activity and fixed instance id, in one module that imports
 * nothing: `src/index.ts` registers each function under its name at start-up without loading the
 * module that implements it (docs/ARCHITECTURE.md "Cold start"). Each orchestration module
 * re-exports its own names, so callers keep importing them from there.
 */

// assess.ts — assessment of a selection of namespaces, the key index and its refresh timer.
export const ASSESS_NAMESPACES = 'assessNamespaces';
export const REFRESH_KEY_INDEX = 'refreshKeyIndex';
export const KEY_INDEX_REFRESH_ORCHESTRATION = 'keyIndexRefresh';
export const KEY_INDEX_REFRESH_TIMER = 'keyIndexRefreshTimer';
/** One refresh at a time from the timer: a tick while one runs is skipped. */
export const KEY_INDEX_REFRESH_INSTANCE = 'key-index-refresh';

// assessKeyImpact.ts
export const ASSESS_KEY_IMPACT_ORCHESTRATION = 'assessKeyImpact';

// complianceSweep.ts
export const COMPLIANCE_SWEEP_ORCHESTRATION = 'complianceSweep';
/** The one sweep instance: a second start while it runs collapses into a 409. */
export const COMPLIANCE_SWEEP_INSTANCE_ID = 'complianceSweep';
export const SWEEP_SCOPE_ACTIVITY = 'complianceSweep_scope';
export const SWEEP_KEY_MATERIAL_ACTIVITY = 'complianceSweep_readKeyMaterial';
export const SWEEP_EVALUATE_ACTIVITY = 'complianceSweep_evaluate';
export const SWEEP_FINISH_ACTIVITY = 'complianceSweep_finish';

// complianceSweepSubscription.ts
export const SWEEP_SUBSCRIPTION_ORCHESTRATION = 'complianceSweepSubscription';
export const SWEEP_LIST_NAMESPACES_ACTIVITY = 'complianceSweep_listNamespaces';

// confirmRotation.ts
export const CONFIRM_ROTATION_ORCHESTRATION = 'confirmRotation';
export const ROTATION_EVIDENCE_ACTIVITY = 'confirmRotation_readEvidence';
export const MOVE_PINNED_ACTIVITY = 'confirmRotation_movePinned';

// enableCmkGeoDrOrchestrator.ts
export const ENABLE_CMK_GEO_DR_ORCHESTRATION = 'enableCmkGeoDr';
export const GEO_READ_FACTS_ACTIVITY = 'enableCmkGeoDr_readFacts';
export const GEO_READ_ALIASES_ACTIVITY = 'enableCmkGeoDr_readAliases';
export const GEO_BREAK_ACTIVITY = 'enableCmkGeoDr_breakPairing';
export const GEO_PAIR_ACTIVITY = 'enableCmkGeoDr_pair';

// enableCmkOrchestrator.ts
export const ENABLE_CMK_ORCHESTRATION = 'enableCmk';
export const READ_ENABLE_FACTS_ACTIVITY = 'enableCmk_readFacts';
export const ENSURE_IDENTITY_ACTIVITY = 'enableCmk_ensureIdentity';
export const GRANT_KEY_ACCESS_ACTIVITY = 'enableCmk_grantKeyAccess';
export const SET_ENCRYPTION_ACTIVITY = 'enableCmk_setEncryption';
export const READ_NAMESPACE_ACTIVITY = 'enableCmk_readNamespace';

// keyWatch.ts
export const KEY_WATCH_ORCHESTRATION = 'keyWatch';
/** One watch at a time: the timer skips a cycle while this instance still runs. */
export const KEY_WATCH_INSTANCE_ID = 'key-watch';
