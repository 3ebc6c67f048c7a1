import {
  ActionType,
  EventType,
  decodeActionInput,
  event,
  flattenActions,
  toStatusHistory,
} from '../../sandbox/host/durable/history';

describe('durable history helpers', () => {
  it('flattens compound actions depth-first, the order both sides hand out event ids', () => {
    const actions = flattenActions({
      isDone: false,
      actions: [
        [
          { actionType: ActionType.CallActivity, functionName: 'a' },
          {
            actionType: ActionType.WhenAll,
            compoundActions: [
              { actionType: ActionType.CallActivity, functionName: 'b' },
              {
                actionType: ActionType.WhenAny,
                compoundActions: [
                  { actionType: ActionType.CreateTimer },
                  { actionType: ActionType.WaitForExternalEvent, externalEventName: 'e' },
                ],
              },
            ],
          },
        ],
      ],
    });
    expect(actions.map((a) => a.functionName ?? a.externalEventName ?? ActionType[a.actionType])).toEqual([
      'a',
      'b',
      'CreateTimer',
      'e',
    ]);
  });

  it('decodes the once-stringified string inputs of callActivity, and leaves the rest alone', () => {
    expect(decodeActionInput('"Tokyo"')).toBe('Tokyo');
    expect(decodeActionInput('"123"')).toBe('123');
    expect(decodeActionInput({ a: 1 })).toEqual({ a: 1 });
    expect(decodeActionInput(5)).toBe(5);
  });

  it('shows history as the status API does: names, scheduled function names, no scheduling noise', () => {
    const at = Date.UTC(2026, 0, 1);
    const history = [
      event(EventType.ExecutionStarted, at, { Name: 'enableCmk', Input: '{"x":1}' }),
      event(EventType.OrchestratorStarted, at),
      event(EventType.TaskScheduled, at, { Name: 'preflight' }, 0),
      event(EventType.OrchestratorCompleted, at),
      event(EventType.TaskCompleted, at + 5, { TaskScheduledId: 0, Result: '{"ok":true}' }),
    ];
    const view = toStatusHistory(history, true);
    expect(view).toEqual([
      expect.objectContaining({ EventType: 'ExecutionStarted', FunctionName: 'enableCmk', Input: { x: 1 } }),
      expect.objectContaining({
        EventType: 'TaskCompleted',
        FunctionName: 'preflight',
        Result: { ok: true },
        ScheduledTime: new Date(at).toISOString(),
      }),
    ]);
    expect(toStatusHistory(history, false)[1]).not.toHaveProperty('Result');
  });
});
