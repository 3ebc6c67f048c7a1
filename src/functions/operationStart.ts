import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { problem } from './problem';

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
    const message = error instanceof Error ? error.message : String(error);
    if (/already exists|409/i.test(message)) {
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
    context.error(`startNew(${start.orchestration}) failed: ${message}`);
    return { response: problem({ status: 503, title: 'Could not start the operation', detail: message }) };
  }
  return { location };
}
