/**
 * The alert path's I/O (docs/ARCHITECTURE.md "Alerting"): each assessed namespace's verdict becomes
 * custom metrics on the namespace resource (regional ingestion endpoint, token audience
 * https://monitoring.azure.com/), one structured log record per verdict change, and — with
 * ALERT_RULES=managed — its metric alert rules, ensured once when it becomes guarded. What to publish,
 * at which level, whether it is a duplicate and whether it changed are decided in src/domain/alerting.ts.
 *
 * State: the last verdict and sample per namespace, one JSON blob per subscription
 * (`cmk-guardian/health/<subscriptionId>.json`), updated with the ETag so two assessments running at
 * once cannot lose each other's records; a lost race is re-read and re-decided (what this call already
 * posted is not posted again).
 */
import type { AppConfig } from '../config';
import {
  alertRulesFor,
  decideHealth,
  healthKey,
  healthSample,
  METRIC_NAMESPACE,
  METRICS,
  regionLabel,
  rulesFingerprint,
  type HealthSample,
  type PublishedHealth,
  type VerdictChange,
} from '../domain/alerting';
import type { NamespaceHealth } from '../domain/health';
import { parseServiceBusNamespaceId } from '../domain/resourceIds';
import { ensureAlertRule, type RuleOutcome } from './alertRules';
import { BlobConflictError, blobContainer, type BlobContainer } from './blobStore';
import type { AzureClients } from './clients';
import { classifyError } from './errors';

export interface HealthState {
  version: 1;
  namespaces: Record<string, PublishedHealth>;
}

export interface PublishRefusal {
  namespaceId: string;
  code: string;
  detail: string;
  fix?: string;
}

/** Small JSON (it is part of an activity's output). */
export interface PublishSummary {
  /** Namespaces whose sample was posted by this call. */
  published: number;
  /** Same values in the same minute bucket as the last publish: not posted again. */
  duplicates: number;
  /** No verdict to publish (unknown, not encrypted). */
  unpublished: number;
  /** Verdict changes logged. */
  changes: number;
  refused: PublishRefusal[];
  rules: RuleOutcome[];
}

export interface PublishOptions {
  /** Where the verdict-change records go (one JSON object each). Default: console (the Functions log). */
  log?: (record: VerdictChange) => void;
}

/** MONITORING_ENDPOINT is missing (a Custom cloud must name its ingestion host). */
export class MonitoringNotConfiguredError extends Error {
  readonly code = 'MonitoringNotConfigured';
  constructor() {
    super(
      'Custom metrics cannot be published: set MONITORING_ENDPOINT (https://{region}.monitoring.azure.com in Azure).',
    );
    this.name = 'MonitoringNotConfiguredError';
  }
}

/** A non-2xx answer of the ingestion endpoint, classified like any Azure error (status + code). */
export class MetricsIngestionError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'MetricsIngestionError';
  }
}

const STATE_PREFIX = 'health/';
const MAX_RACES = 5;
const CONCURRENCY = 8;

/**
 * Publishes the health of assessed namespaces. `at` is the assessment's time — the orchestration's
 * clock (an activity has no replay-safe clock of its own); the metric points are stamped with it.
 * Platform faults are thrown after what succeeded is remembered, so the retried activity posts only
 * the rest; refusals (403 without Monitoring Metrics Publisher, a namespace without a region) are
 * returned with their fix and tried again at the next assessment.
 */
export async function publishHealth(
  clients: AzureClients,
  health: readonly NamespaceHealth[],
  at: Date,
  options: PublishOptions = {},
): Promise<PublishSummary> {
  const summary: PublishSummary = {
    published: 0,
    duplicates: 0,
    unpublished: 0,
    changes: 0,
    refused: [],
    rules: [],
  };
  if (health.length === 0) return summary;
  const config = clients.config;
  const log = options.log ?? ((r: VerdictChange) => console.log(JSON.stringify(r)));
  const store = blobContainer(clients);
  const bySubscription = new Map<string, NamespaceHealth[]>();
  for (const h of health) {
    const sub = parseServiceBusNamespaceId(h.namespaceId).subscriptionId.toLowerCase();
    bySubscription.set(sub, [...(bySubscription.get(sub) ?? []), h]);
  }
  let platformFault: Error | undefined;
  for (const [subscriptionId, items] of bySubscription) {
    try {
      await publishSubscription(clients, config, store, subscriptionId, items, at, log, summary);
    } catch (e) {
      if (classifyError(e).class !== 'platform') throw e;
      platformFault ??= asError(e);
    }
  }
  if (platformFault !== undefined) throw platformFault;
  return summary;
}

async function publishSubscription(
  clients: AzureClients,
  config: AppConfig,
  store: BlobContainer,
  subscriptionId: string,
  items: readonly NamespaceHealth[],
  at: Date,
  log: (record: VerdictChange) => void,
  summary: PublishSummary,
): Promise<void> {
  const blob = `${STATE_PREFIX}${subscriptionId}.json`;
  // What this call already did, kept across lost races so nothing is posted or ensured twice.
  const posted = new Map<string, HealthSample>();
  const ensured = new Map<string, string>();
  let platformFault: Error | undefined;
  for (let race = 0; ; race++) {
    const read = await store.readJson<HealthState>(blob);
    const state: HealthState = read?.value ?? { version: 1, namespaces: {} };
    const next: HealthState = { version: 1, namespaces: { ...state.namespaces } };
    const changes: VerdictChange[] = [];
    const refused: PublishRefusal[] = [];
    const toPost: Array<{ key: string; h: NamespaceHealth; sample: HealthSample; entry: PublishedHealth }> =
      [];
    let duplicates = 0;
    let unpublished = 0;
    for (const h of items) {
      const key = healthKey(h.namespaceId);
      const previous = next.namespaces[key];
      const decision = decideHealth(previous, h, at);
      if (decision.change) changes.push(decision.change);
      if (!decision.publish) {
        if (healthSample(h) === undefined) unpublished++;
        else duplicates++;
      }
      if (decision.next) next.namespaces[key] = decision.next;
      if (decision.publish && decision.next) {
        const done = posted.get(key);
        if (done && sameSample(done, decision.publish)) continue;
        toPost.push({ key, h, sample: decision.publish, entry: decision.next });
      }
    }

    // Managed rules first (once per namespace and rule shape), so the first bad value is alerted on.
    if (config.alerting.rules === 'managed' && config.alerting.actionGroupId) {
      for (const item of toPost) {
        const specs = alertRulesFor(item.h.namespaceId, {
          actionGroupId: config.alerting.actionGroupId,
          ...(config.alerting.rulesResourceGroup
            ? { rulesResourceGroup: config.alerting.rulesResourceGroup }
            : {}),
          heartbeatMinutes: config.keyPollMinutes,
        });
        const fingerprint = rulesFingerprint(specs);
        if (item.entry.rules === fingerprint || ensured.get(item.key) === fingerprint) {
          item.entry.rules = fingerprint;
          continue;
        }
        let ok = true;
        for (const spec of specs) {
          try {
            const outcome = await ensureAlertRule(clients, spec);
            summary.rules.push(outcome);
            if (outcome.action === 'refused' || outcome.action === 'foreign') ok = false;
          } catch (e) {
            platformFault ??= asError(e);
            ok = false;
          }
        }
        if (ok) {
          ensured.set(item.key, fingerprint);
          item.entry.rules = fingerprint;
        } else {
          delete item.entry.rules;
        }
      }
    }

    await pool(toPost, CONCURRENCY, async (item) => {
      try {
        await postSample(clients, config, item.h, item.sample, at);
        posted.set(item.key, item.sample);
      } catch (e) {
        const c = classifyError(e);
        if (c.class === 'platform') platformFault ??= asError(e);
        else if (c.class === 'refusal')
          refused.push({
            namespaceId: item.h.namespaceId,
            code: c.code,
            detail: c.detail,
            ...(fixFor(c.code, c.status) ? { fix: fixFor(c.code, c.status)! } : {}),
          });
        else throw e;
        // Not published: remember the verdict, not a sample that never arrived.
        const previous = state.namespaces[item.key];
        const entry: PublishedHealth = { ...item.entry };
        if (previous?.sample) {
          entry.sample = previous.sample;
          if (previous.minute !== undefined) entry.minute = previous.minute;
        } else {
          delete entry.sample;
          delete entry.minute;
        }
        next.namespaces[item.key] = entry;
      }
    });

    const dirty = JSON.stringify(next) !== JSON.stringify(state);
    try {
      if (dirty) await store.writeJson(blob, next, read ? { ifMatch: read.etag } : { ifNoneMatch: '*' });
    } catch (e) {
      if (e instanceof BlobConflictError && race < MAX_RACES) continue;
      throw e;
    }
    for (const change of changes) log(change);
    summary.changes += changes.length;
    summary.published += [...posted.keys()].length;
    summary.duplicates += duplicates;
    summary.unpublished += unpublished;
    summary.refused.push(...refused);
    if (platformFault !== undefined) throw platformFault;
    return;
  }
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

const sameSample = (a: HealthSample, b: HealthSample): boolean =>
  a.healthy === b.healthy && a.atRisk === b.atRisk && a.daysToExpiry === b.daysToExpiry;

function fixFor(code: string, status: number | undefined): string | undefined {
  if (code === 'NoRegion')
    return 'The key index has no location for this namespace; refresh the index (it is read from ARM).';
  if (status === 403)
    return "Give the app's identity the Monitoring Metrics Publisher role on the namespace (or its resource group / subscription).";
  return undefined;
}

/** One POST per metric (the ingestion API takes one metric per document). */
async function postSample(
  clients: AzureClients,
  config: AppConfig,
  h: NamespaceHealth,
  sample: HealthSample,
  at: Date,
): Promise<void> {
  const endpoint = config.alerting.monitoringEndpoint;
  if (!endpoint) throw new MonitoringNotConfiguredError();
  const region = regionLabel(h.location);
  if (!region)
    throw new MetricsIngestionError(
      400,
      'NoRegion',
      `${h.namespaceId} has no usable location ('${h.location ?? ''}'): no regional endpoint to publish to.`,
    );
  const resourceId = parseServiceBusNamespaceId(h.namespaceId).id;
  const url = `${endpoint.replace('{region}', region)}${resourceId}/metrics`;
  const values: Array<[string, number]> = [
    [METRICS.healthy, sample.healthy],
    [METRICS.atRisk, sample.atRisk],
  ];
  if (sample.daysToExpiry !== undefined) values.push([METRICS.daysToExpiry, sample.daysToExpiry]);
  for (const [metric, value] of values) {
    await postMetric(clients, config.alerting.monitoringAudience, url, {
      time: at.toISOString(),
      data: {
        baseData: {
          metric,
          namespace: METRIC_NAMESPACE,
          series: [{ min: value, max: value, sum: value, count: 1 }],
        },
      },
    });
  }
}

async function postMetric(
  clients: AzureClients,
  audience: string,
  url: string,
  document: unknown,
): Promise<void> {
  const { pipeline, httpClient } = clients.dataPlanePipeline(audience);
  const { createPipelineRequest, createHttpHeaders } = clients.pipelineRequests();
  const request = createPipelineRequest({
    url,
    method: 'POST',
    body: JSON.stringify(document),
    headers: createHttpHeaders({ 'content-type': 'application/json' }),
  });
  const response = await pipeline.sendRequest(httpClient, request);
  if (response.status >= 200 && response.status < 300) return;
  let code = `Http${response.status}`;
  let message = response.bodyAsText ?? '';
  try {
    const body = JSON.parse(response.bodyAsText ?? '') as { error?: { code?: unknown; message?: unknown } };
    if (typeof body.error?.code === 'string') code = body.error.code;
    if (typeof body.error?.message === 'string') message = body.error.message;
  } catch {
    // Not JSON: keep the status and the raw text.
  }
  throw new MetricsIngestionError(response.status, code, message);
}

async function pool<T>(items: readonly T[], size: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(size, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  });
  await Promise.all(workers);
}
