/**
 * Shared setup for the Azure Monitor integration tests: the Service Bus harness (virtual clock, real
 * SDK clients) plus the real @azure/arm-monitor client, the custom-metrics POST through
 * @azure/core-rest-pipeline with a bearer-token policy (the app's credential style), and readers of the
 * webhook sink and the audit log over the control API.
 */
import type { Agent } from 'node:https';
import { MonitorClient } from '@azure/arm-monitor';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import { sinkUrl } from '../../sandbox/azure/monitor';
import type { SinkEntry } from '../../sandbox/azure/monitor/sink';
import { httpsJson, sandboxAgent } from '../../sandbox/azure/testing';
import type { SbHarness } from './servicebus-support';

export const MONITORING_SCOPE = 'https://monitoring.azure.com//.default';

export function monitorClient(h: SbHarness, objectId = h.admin): MonitorClient {
  return new MonitorClient(h.credential(objectId), h.sandbox.subscriptionId, {
    endpoint: h.sandbox.url,
    credentialScopes: [`${h.sandbox.url}/.default`],
    tlsOptions: { ca: h.sandbox.caPem },
    retryOptions: { maxRetries: 0 },
  });
}

/** POSTs a custom-metrics document as `objectId`, as the app would (bearer token for `scope`). */
export async function publishMetric(
  h: SbHarness,
  agent: Agent,
  objectId: string,
  resourceId: string,
  body: unknown,
  scope = MONITORING_SCOPE,
): Promise<{ status: number; body: unknown }> {
  const pipeline = createPipelineFromOptions({ retryOptions: { maxRetries: 0 } });
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: h.credential(objectId), scopes: scope }));
  const request = createPipelineRequest({
    url: `${h.sandbox.core.urls.monitoringEndpoint('westeurope')}${resourceId}/metrics`,
    method: 'POST',
    body: JSON.stringify(body),
    headers: createHttpHeaders({ 'content-type': 'application/json' }),
  });
  // In-process: the agent resolves the regional host (a process with sandbox.env uses HTTPS_PROXY).
  request.agent = agent;
  const res = await pipeline.sendRequest(createDefaultHttpClient(), request);
  return { status: res.status, body: res.bodyAsText ? (JSON.parse(res.bodyAsText) as unknown) : undefined };
}

export function metricDocument(
  time: number,
  metric: string,
  value: number,
  dims: Record<string, string> = {},
): Record<string, unknown> {
  return {
    time: new Date(time).toISOString(),
    data: {
      baseData: {
        metric,
        namespace: 'CmkGuardian',
        dimNames: Object.keys(dims),
        series: [{ dimValues: Object.values(dims), min: value, max: value, sum: value, count: 1 }],
      },
    },
  };
}

export function agentFor(h: SbHarness): Agent {
  return sandboxAgent(h.sandbox);
}

export const sink = (h: SbHarness, name: string): string => sinkUrl(h.sandbox.core, name);

async function control(
  h: SbHarness,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: unknown }> {
  return httpsJson(h.sandbox, method, `${h.sandbox.url}/_sandbox${path}`, {
    token: h.sandbox.adminSecret,
    ...(body === undefined ? {} : { body }),
  });
}

/** What a sink received (deliveries only unless `all`). */
export async function sinkEntries(h: SbHarness, name: string, all = false): Promise<SinkEntry[]> {
  const res = await control(h, 'GET', `/sink/${name}`);
  if (res.status !== 200) throw new Error(`sink ${name}: ${res.status}`);
  return (res.body as SinkEntry[]).filter((e) => all || e.kind === 'delivery');
}

export async function auditRows(h: SbHarness, workspace: string): Promise<Array<Record<string, unknown>>> {
  const res = await control(h, 'GET', `/logs?workspace=${encodeURIComponent(workspace)}`);
  if (res.status !== 200) throw new Error(`logs: ${res.status}`);
  return res.body as Array<Record<string, unknown>>;
}

export async function setRate(
  h: SbHarness,
  namespaceId: string,
  requestsPerMinute: number | null,
): Promise<void> {
  const res = await control(h, 'PUT', '/traffic/namespaces', { namespaceId, requestsPerMinute });
  if (res.status !== 200) throw new Error(`traffic: ${res.status}`);
}

export const controlRequest = control;

/** The common alert schema's parts a test reads. */
export interface CommonAlert {
  schemaId: string;
  data: {
    essentials: Record<string, unknown> & { monitorCondition: string; alertId: string };
    alertContext: Record<string, unknown>;
    customProperties: unknown;
  };
}
