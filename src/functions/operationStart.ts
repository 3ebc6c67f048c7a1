import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { problem } from './problem';

const TERMINAL: ReadonlySet<string> = new Set(['Completed', 'Failed', 'Terminated', 'Canceled']);

/**
 * Starts an orchestration under a deterministic instance id, so a second request for the same target
 * while one runs collapses into a 409 that points at the running operation. Returns the operation's
 * status URL, or the problem response to send.
 */
export async function startSingletonOperation(
  request: HttpRequest,
  context: InvocationContext,
  start: { orchestration: string; instanceId: string; input: unknown; conflictTitle: string },
): Promise<{ location: string } | { response: HttpResponseInit }> {
  const location = new URL(`/api/operations/${start.instanceId}`, request.url).toString();
  try {
    await df
      .getClient(context)
      .startNew(start.orchestration, { input: start.input, instanceId: start.instanceId });
  } catch (error) {
    // Decided by the instance's state, not the error's wording: it exists and has not ended → 409.
    const client = df.getClient(context);
    const existing = await client.getStatus(start.instanceId, { showInput: false }).catch(() => undefined);
    if (existing && !TERMINAL.has(String(existing.runtimeStatus))) {
      return {
        response: {
          ...problem({
            status: 409,
            title: start.conflictTitle,
            detail: `Follow it at ${location}; start again once it has finished.`,
            operationId: start.instanceId,
          }),
          headers: { 'content-type': 'application/problem+json', location },
        },
      };
    }
    const message = error instanceof Error ? error.message : String(error);
    context.error(`startNew(${start.orchestration}) failed: ${message}`);
    return {
      response: problem({
        status: 503,
        title: 'Could not start the operation',
        detail: `The Durable Functions backend did not accept the operation (${message}); retry later.`,
      }),
    };
  }
  return { location };
}
