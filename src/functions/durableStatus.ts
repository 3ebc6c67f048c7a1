import type { DurableClient } from 'durable-functions';

/**
 * The HTTP status the Durable extension answers for one instance's status URL (404: no such instance;
 * 200/202: it exists; anything else: the extension is not well) — or undefined when it could not be
 * asked. The `durable-functions` client folds these into messages; this asks the documented HTTP API
 * (statusQueryGetUri) itself, so callers decide by status, not by the wording of an error.
 */
export async function instanceStatusCode(
  client: DurableClient,
  instanceId: string,
): Promise<number | undefined> {
  const url = new URL(client.createHttpManagementPayload(instanceId).statusQueryGetUri);
  url.searchParams.set('showInput', 'false');
  try {
    const response = await fetch(url, { method: 'GET', signal: AbortSignal.timeout(10_000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return undefined;
  }
}
