import type { HttpRequest, HttpResponseInit, InvocationContext, Timer } from '@azure/functions';
import * as df from 'durable-functions';
import {
  COMPLIANCE_SWEEP_INSTANCE_ID,
  COMPLIANCE_SWEEP_ORCHESTRATION,
  type ComplianceSweepInput,
} from '../orchestrations/complianceSweep';
import { startSingletonOperation } from './operationStart';
import { problem } from './problem';

const TERMINAL: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

/**
 * POST /api/compliance/sweeps — start a compliance sweep now: 202 with the operation to follow
 * (`GET /api/operations/complianceSweep`), 409 while one runs. It takes no body: what a sweep covers
 * is configuration (SWEEP_SUBSCRIPTIONS), not a request's choice.
 */
export async function startSweepHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const text = (await request.text()).trim();
  if (text !== '' && text !== '{}') {
    return problem({
      status: 400,
      title: 'This request takes no body',
      detail: 'A sweep covers SWEEP_SUBSCRIPTIONS; send an empty POST.',
    });
  }
  const started = await startSingletonOperation(request, context, {
    orchestration: COMPLIANCE_SWEEP_ORCHESTRATION,
    instanceId: COMPLIANCE_SWEEP_INSTANCE_ID,
    input: { trigger: 'onDemand' } satisfies ComplianceSweepInput,
    conflictTitle: 'A compliance sweep is already running',
  });
  if ('response' in started) return started.response;
  context.log(`complianceSweep started on demand`);
  return {
    status: 202,
    headers: { location: started.location, 'retry-after': '10' },
    jsonBody: {
      id: COMPLIANCE_SWEEP_INSTANCE_ID,
      statusQueryGetUri: started.location,
      reportUri: new URL('/api/compliance/report', request.url).toString(),
    },
  };
}

/** The schedule: SWEEP_SCHEDULE (checked by config.ts); a sweep already running is left alone. */
export async function sweepTimerHandler(timer: Timer, context: InvocationContext): Promise<void> {
  const client = df.getClient(context);
  const existing = await client
    .getStatus(COMPLIANCE_SWEEP_INSTANCE_ID, { showInput: false })
    .catch(() => undefined);
  if (existing && !TERMINAL.has(String(existing.runtimeStatus))) {
    context.log(
      `complianceSweep: the scheduled sweep is skipped, one is running (${String(existing.runtimeStatus)})`,
    );
    return;
  }
  await client.startNew(COMPLIANCE_SWEEP_ORCHESTRATION, {
    instanceId: COMPLIANCE_SWEEP_INSTANCE_ID,
    input: { trigger: 'schedule' } satisfies ComplianceSweepInput,
  });
  context.log(`complianceSweep started on schedule${timer.isPastDue ? ' (past due)' : ''}`);
}
