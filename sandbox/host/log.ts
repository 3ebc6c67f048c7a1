/** Host-style log lines ("Executing 'Functions.x' …" / "Executed 'Functions.x' (Succeeded, …)"). */
export type HostLogLevel = 'trace' | 'debug' | 'information' | 'warning' | 'error' | 'critical' | 'none';

export interface HostLogger {
  (level: HostLogLevel, message: string): void;
}

const ORDER: Record<HostLogLevel, number> = {
  trace: 0,
  debug: 1,
  information: 2,
  warning: 3,
  error: 4,
  critical: 5,
  none: 6,
};

export function consoleLogger(
  minimum: HostLogLevel = 'information',
  now: () => number = Date.now,
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): HostLogger {
  return (level, message) => {
    if (ORDER[level] < ORDER[minimum]) return;
    write(
      `[${new Date(now()).toISOString()}] ${level === 'information' ? '' : level.toUpperCase() + ': '}${message}`,
    );
  };
}

export const silentLogger: HostLogger = () => undefined;
