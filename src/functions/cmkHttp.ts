import type { HttpResponseInit, InvocationContext } from '@azure/functions';
import { getConfig, infrastructureEncryptionSettings } from '../config';
import type { Finding, RequestProblem, RuleSettings } from '../domain';
import { errorProblem, problem } from './problem';

/** Problem responses and settings shared by the CMK HTTP functions (enable, diagnose, geo-dr). */

/** A namespace that could not be read, as the fact readers report it. */
export interface NamespaceReadFailure {
  namespaceId: string;
  status?: number | undefined;
  code: string;
  detail: string;
}

export function invalid(problems: RequestProblem[]): HttpResponseInit {
  return problem({
    status: 400,
    title: 'Invalid request',
    detail: problems.map((p) => `${p.field}: ${p.message}`).join('; '),
    errors: problems,
  });
}

/**
 * Findings known from the request alone (PRE-005 key count, PRE-006 duplicates, PRE-007 foreign Key
 * Vault host or port) refuse a real run at once: 422 with the same finding objects a dry run reports,
 * and nothing started or read.
 */
export function refusedAtOnce(findings: Finding[]): HttpResponseInit {
  const blocking = findings.filter((f) => f.blocks);
  return problem({
    status: 422,
    title: 'The request cannot be carried out as given',
    detail: blocking.map((f) => `${f.ruleId}: ${f.message}`).join(' '),
    outcome: 'blocked',
    findings,
  });
}

export function ruleSettings(): RuleSettings {
  const config = getConfig();
  return {
    keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
    keyExpiryWarningDays: config.keyExpiryWarningDays,
    ...infrastructureEncryptionSettings(config),
  };
}

/** The namespace itself could not be read: say why, in the status Azure gave. */
export function namespaceProblem(r: NamespaceReadFailure): HttpResponseInit {
  if (r.status === 404) {
    return problem({
      status: 404,
      title: 'Namespace not found',
      detail: `${r.namespaceId} does not exist (${r.detail}).`,
      code: r.code,
    });
  }
  if (r.status === 403 || r.status === 401) {
    return problem({
      status: 403,
      title: "The app's identity may not read the namespace",
      detail: `${r.detail}. Give the app's identity the roles the README lists (Reader on the namespace's subscription at least).`,
      code: r.code,
    });
  }
  return problem({ status: 502, title: 'Azure refused the read', detail: r.detail, code: r.code });
}

/** A thrown error (platform fault, refusal or bug) as its class's problem response (problem.ts). */
export function platformProblem(error: unknown, context: InvocationContext): HttpResponseInit {
  return errorProblem(error, context);
}
