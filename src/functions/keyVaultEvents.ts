import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { KeyIndexStore } from '../azure/keyIndexStore';
import { azureClients } from '../azure/runtime';
import { getConfig, type AppConfig } from '../config';
import {
  namespacesUsingKey,
  namespacesUsingVault,
  parseKeyVaultEvent,
  type KeyIndex,
  type KeyVaultEvent,
} from '../domain';
import {
  ASSESS_KEY_IMPACT_ORCHESTRATION,
  assessKeyImpactInstanceId,
  type AssessKeyImpactInput,
} from '../orchestrations/assessKeyImpact';
import {
  CONFIRM_ROTATION_ORCHESTRATION,
  confirmRotationInstanceId,
  type ConfirmRotationInput,
} from '../orchestrations/confirmRotation';

/**
 * Event Grid trigger for the Key Vault system topics (docs/ARCHITECTURE.md "Reactions"): parse the
 * event (either delivery schema, src/domain/keyVaultEvents.ts), look the key or vault up in the key
 * index, and start the reaction under a deterministic instance id — so a duplicate or a second
 * delivery of the same key version collapses into the instance already there. Nothing else: no call
 * to Azure, and never to a host an event names. An event that is not for us (another type, a forged
 * or foreign vault, a key no indexed namespace uses) is ignored with one log line and acknowledged, so
 * Event Grid does not retry it; only a failure to start the reaction is thrown (Event Grid retries).
 */

export type EventDecision =
  | { action: 'ignore'; reason: string; detail: string }
  | {
      action: 'start';
      orchestration: string;
      instanceId: string;
      input: ConfirmRotationInput | AssessKeyImpactInput;
      namespaces: number;
    };

/** What to do with one delivered event, given the key index (pure apart from the instance-id hash). */
export function decideKeyVaultEvent(
  raw: unknown,
  index: KeyIndex | undefined,
  config: AppConfig,
): EventDecision {
  const parsed = parseKeyVaultEvent(raw, config.endpoints.keyVaultDnsSuffix);
  if (parsed.outcome === 'ignored')
    return {
      action: 'ignore',
      reason: parsed.reason,
      detail: `${parsed.eventType ?? 'event'} ${parsed.id ?? '(no id)'}: ${parsed.detail}`,
    };
  const event = parsed.event;
  if (!index)
    return {
      action: 'ignore',
      reason: 'noIndex',
      detail: `${describe(event)}: the key index has not been built yet; the key watch and the sweep will assess it.`,
    };
  const namespaces = event.key
    ? namespacesUsingKey(index, { vaultName: event.vault.name, keyName: event.key.name })
    : namespacesUsingVault(index, event.vault.name);
  if (namespaces.length === 0)
    return {
      action: 'ignore',
      reason: 'notIndexed',
      detail: `${describe(event)}: no indexed namespace uses ${event.key ? `key ${event.key.name} of vault` : 'vault'} ${event.vault.name}.`,
    };
  const namespaceIds = namespaces.map((n) => n.id);

  if (event.kind === 'KeyNewVersionCreated') {
    const key = event.key!;
    const rotated = {
      vaultName: event.vault.name,
      keyName: key.name,
      version: key.version!,
      versionlessKeyId: key.versionlessKeyId,
    };
    return {
      action: 'start',
      orchestration: CONFIRM_ROTATION_ORCHESTRATION,
      instanceId: confirmRotationInstanceId(rotated),
      namespaces: namespaceIds.length,
      input: {
        eventId: event.id,
        ...(event.eventTime ? { eventTime: event.eventTime } : {}),
        key: rotated,
        namespaceIds,
        settings: {
          keyVaultDnsSuffix: config.endpoints.keyVaultDnsSuffix,
          keyExpiryWarningDays: config.keyExpiryWarningDays,
        },
        keyPollMinutes: config.keyPollMinutes,
        uptakeDeadlineMinutes: config.uptakeDeadlineMinutes,
        pinnedVersionPolicy: config.pinnedVersionPolicy,
      } satisfies ConfirmRotationInput,
    };
  }
  const kind = event.kind;
  // Key events: one assessment per key version and kind; access changes: one per event.
  const identity = event.key ? `${event.vault.name}/${event.key.name}/${event.key.version ?? ''}` : event.id;
  return {
    action: 'start',
    orchestration: ASSESS_KEY_IMPACT_ORCHESTRATION,
    instanceId: assessKeyImpactInstanceId(kind, identity),
    namespaces: namespaceIds.length,
    input: {
      kind,
      sourceId: event.id,
      keys: event.key
        ? [
            {
              vaultName: event.vault.name,
              keyName: event.key.name,
              versionlessKeyId: event.key.versionlessKeyId,
              ...(event.key.version ? { version: event.key.version } : {}),
            },
          ]
        : [],
      vaults: event.key ? [] : [event.vault.name],
      reason: `${kind} event ${event.id}`,
    } satisfies AssessKeyImpactInput,
  };
}

function describe(e: KeyVaultEvent): string {
  return `${e.kind} ${e.id} (vault ${e.vault.name}${e.key ? `, key ${e.key.name}${e.key.version ? `/${e.key.version}` : ''}` : ''})`;
}

/** The part of the Durable client the trigger uses (so the start rule is testable without a host). */
export interface OrchestrationStarter {
  getStatus(instanceId: string): Promise<{ runtimeStatus?: unknown } | undefined>;
  startNew(name: string, options: { instanceId: string; input: unknown }): Promise<string>;
}

/**
 * Starts `instanceId` unless it exists in any state: a duplicate of a finished reaction is not run
 * again (the same version confirmed twice would publish twice). Returns what happened.
 */
export async function startOnce(
  client: OrchestrationStarter,
  name: string,
  instanceId: string,
  input: unknown,
): Promise<'started' | 'duplicate'> {
  if (await client.getStatus(instanceId)) return 'duplicate';
  try {
    await client.startNew(name, { instanceId, input });
    return 'started';
  } catch (error) {
    // Decided by the instance's state, not the error's wording: two deliveries raced, one won.
    if (await client.getStatus(instanceId)) return 'duplicate';
    throw error;
  }
}

/** The durable client as an OrchestrationStarter: a 404 status is "no such instance". */
export function durableStarter(client: df.DurableClient): OrchestrationStarter {
  return {
    getStatus: async (id) => {
      try {
        const s = await client.getStatus(id, { showInput: false });
        return s.instanceId ? s : undefined;
      } catch {
        return undefined;
      }
    },
    startNew: (name, options) => client.startNew(name, options),
  };
}

export async function keyVaultEventsHandler(event: unknown, context: InvocationContext): Promise<void> {
  const config = getConfig();
  const first = parseKeyVaultEvent(event, config.endpoints.keyVaultDnsSuffix);
  // The index is read only for an event the app could react to: a forged or foreign one costs nothing.
  const index = first.outcome === 'accepted' ? await new KeyIndexStore(azureClients()).load() : undefined;
  const decision = decideKeyVaultEvent(event, index, config);
  if (decision.action === 'ignore') {
    // Not for us is routine (other types, other vaults); anything forged-looking is worth a warning.
    const routine =
      decision.reason === 'unknownType' || decision.reason === 'notIndexed' || decision.reason === 'noIndex';
    const line = `keyVaultEvents: ignored (${decision.reason}) ${decision.detail}`;
    if (routine) context.log(line);
    else context.warn(line);
    return;
  }
  const outcome = await startOnce(
    durableStarter(df.getClient(context)),
    decision.orchestration,
    decision.instanceId,
    decision.input,
  );
  context.log(
    `keyVaultEvents: ${outcome === 'started' ? 'started' : 'duplicate of'} ${decision.orchestration} ${decision.instanceId} for ${decision.namespaces} namespace(s)`,
  );
}
