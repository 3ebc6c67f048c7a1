/**
 * Rotation policies: Key Vault's rules for a policy (`validatePolicy`) and when a lifetime action falls
 * due for a key version (`triggerTime`). Pure; timers.ts schedules what these compute.
 */
import { addDuration, approxMs, DAY_MS, parseDuration, type Duration } from './duration';
import { kvErrors } from './errors';
import {
  lower,
  type KeyVersion,
  type LifetimeAction,
  type PolicyInput,
  type RotationPolicy,
} from './records';

/** The Notify action a key gets when its policy names none (or it has no policy). */
export const DEFAULT_NOTIFY: LifetimeAction = {
  trigger: { timeBeforeExpiry: 'P30D' },
  action: { type: 'Notify' },
};

export function triggerTime(action: LifetimeAction, version: KeyVersion): number | undefined {
  if (action.trigger.timeAfterCreate) {
    const d = parseDuration(action.trigger.timeAfterCreate);
    return d ? addDuration(version.created, d) : undefined;
  }
  if (action.trigger.timeBeforeExpiry && version.exp !== undefined) {
    const d = parseDuration(action.trigger.timeBeforeExpiry);
    return d ? addDuration(version.exp, d, -1) : undefined;
  }
  return undefined;
}

export function hasExpiryTrigger(policy: RotationPolicy | undefined): boolean {
  return !!policy?.lifetimeActions.some((a) => a.action.type === 'Rotate' && a.trigger.timeBeforeExpiry);
}

/**
 * Rotation policy rules (key-rotation docs and observed service behaviour): at most one Rotate and one
 * Notify; each trigger names exactly one of timeAfterCreate / timeBeforeExpiry; Notify only before
 * expiry; triggers at least 7 days; expiryTime at least 28 days and triggers at least 7 days inside it.
 * A policy without Notify gets the default Notify 30 days before expiry; an empty list resets to it.
 */
export function validatePolicy(input: PolicyInput): {
  lifetimeActions: LifetimeAction[];
  expiryTime?: string;
} {
  const raw = input.lifetimeActions ?? [];
  if (!Array.isArray(raw)) throw kvErrors.badParameter('lifetimeActions must be an array.');
  let expiry: Duration | undefined;
  const expiryTime = input.attributes?.expiryTime ?? undefined;
  if (expiryTime !== undefined && expiryTime !== null) {
    expiry = parseDuration(expiryTime);
    if (!expiry) throw kvErrors.badParameter(`Invalid ISO 8601 duration for expiryTime: '${expiryTime}'.`);
    if (approxMs(expiry) < 28 * DAY_MS)
      throw kvErrors.badParameter('The expiryTime of a rotation policy must be at least 28 days (P28D).');
  }
  const actions: LifetimeAction[] = [];
  for (const item of raw) {
    const type = item?.action?.type;
    const normalised = typeof type === 'string' ? lower(type) : '';
    if (normalised !== 'rotate' && normalised !== 'notify') {
      throw kvErrors.badParameter(
        `Invalid lifetime action type: '${String(type)}'. Supported: Rotate, Notify.`,
      );
    }
    const kind = normalised === 'rotate' ? 'Rotate' : 'Notify';
    if (actions.some((a) => a.action.type === kind)) {
      throw kvErrors.badParameter(`A rotation policy can contain only one ${kind} action.`);
    }
    const after = item.trigger?.timeAfterCreate ?? undefined;
    const before = item.trigger?.timeBeforeExpiry ?? undefined;
    if ((after === undefined) === (before === undefined)) {
      throw kvErrors.badParameter(
        'Each lifetime action trigger must specify exactly one of timeAfterCreate or timeBeforeExpiry.',
      );
    }
    if (kind === 'Notify' && after !== undefined) {
      throw kvErrors.badParameter('A Notify action supports only a timeBeforeExpiry trigger.');
    }
    const text = (after ?? before) as string;
    const d = parseDuration(text);
    if (!d) throw kvErrors.badParameter(`Invalid ISO 8601 duration in trigger: '${text}'.`);
    if (approxMs(d) < 7 * DAY_MS)
      throw kvErrors.badParameter('A lifetime action trigger must be at least 7 days (P7D).');
    if (expiry && approxMs(d) > approxMs(expiry) - 7 * DAY_MS) {
      throw kvErrors.badParameter(
        'A lifetime action trigger must be at least 7 days before the expiryTime of the policy.',
      );
    }
    actions.push({
      trigger: after !== undefined ? { timeAfterCreate: after } : { timeBeforeExpiry: before },
      action: { type: kind },
    });
  }
  if (!actions.some((a) => a.action.type === 'Notify')) actions.push(DEFAULT_NOTIFY);
  return { lifetimeActions: actions, ...(expiryTime ? { expiryTime } : {}) };
}
