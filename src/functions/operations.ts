import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { instanceStatusCode } from './durableStatus';
import { problem } from './problem';

// Instance ids we hand out are GUIDs or deterministic ids built from [A-Za-z0-9:_-]; anything else is
// refused before it reaches the Durable API (whose client interpolates ids into URLs unescaped).
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,255}$/;

/** Status of one orchestration: where it is (customStatus = the step log), and how it ended. */
export async function getOperationHandler(
  request: HttpRequest,
  context: InvocationContext,
): Promise<HttpResponseInit> {
  const instanceId = request.params.instanceId ?? '';
  if (!INSTANCE_ID.test(instanceId)) {
    return problem({
      status: 400,
      title: 'Invalid operation id',
      detail: `"${instanceId}" is not a valid operation id.`,
    });
  }
  const client = df.getClient(context);
  let status: df.DurableOrchestrationStatus;
  try {
    status = await client.getStatus(instanceId, { showInput: false });
  } catch (error) {
    // The client folds the HTTP status into a message: ask the status URL itself which one it was.
    const code = await instanceStatusCode(client, instanceId);
    if (code === 404) {
      return problem({
        status: 404,
        title: 'Operation not found',
        detail: `No operation with id ${instanceId}.`,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    context.error(`getStatus(${instanceId}) failed (status URL answered ${code ?? 'nothing'}): ${message}`);
    return problem({ status: 502, title: 'Durable Functions status unavailable', detail: message });
  }
  const runtimeStatus = String(status.runtimeStatus);
  const done = ['Completed', 'Failed', 'Terminated', 'Canceled'].includes(runtimeStatus);
  return {
    status: 200,
    jsonBody: {
      id: status.instanceId,
      name: status.name,
      runtimeStatus,
      done,
      createdTime: toIso(status.createdTime),
      lastUpdatedTime: toIso(status.lastUpdatedTime),
      customStatus: status.customStatus ?? null,
      output: status.output ?? null,
    },
  };
}

function toIso(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const date = value instanceof Date ? value : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
