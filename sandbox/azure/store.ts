import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The state of the emulated estate. Resource providers keep their records here — never in module-level
 * variables — so reset, snapshots and several sandboxes in one process (tests) just work.
 *
 * Records are plain JSON values (no Dates, no class instances) so the optional snapshot file can
 * round-trip them. Keys are case-insensitive, as ARM resource ids are: `put('vaults', '/subscriptions/A/…')`
 * and `get('vaults', '/SUBSCRIPTIONS/a/…')` address the same record. Iteration order is insertion order.
 */
export interface Store {
  get<T>(collection: string, key: string): T | undefined;
  /** All records of a collection, optionally those whose key starts with `prefix` (case-insensitive). */
  list<T>(collection: string, prefix?: string): T[];
  /** Like list, with the keys (as first written). */
  entries<T>(collection: string, prefix?: string): Array<[string, T]>;
  put<T>(collection: string, key: string, value: T): void;
  delete(collection: string, key: string): boolean;
  /** Deletes every record of the collection whose key starts with `prefix`; returns how many. */
  deletePrefix(collection: string, prefix: string): number;
  /** Forgets everything (the control API's reset). */
  clear(): void;
  /** Writes pending changes to the snapshot file, if any (called on close). */
  flush(): void;
}

interface Entry {
  key: string;
  value: unknown;
}

const norm = (key: string): string => key.toLowerCase();

export class MemoryStore implements Store {
  protected readonly data = new Map<string, Map<string, Entry>>();

  get<T>(collection: string, key: string): T | undefined {
    return this.data.get(collection)?.get(norm(key))?.value as T | undefined;
  }

  list<T>(collection: string, prefix?: string): T[] {
    return this.entries<T>(collection, prefix).map(([, v]) => v);
  }

  entries<T>(collection: string, prefix?: string): Array<[string, T]> {
    const col = this.data.get(collection);
    if (!col) return [];
    const p = prefix === undefined ? undefined : norm(prefix);
    const out: Array<[string, T]> = [];
    for (const [k, e] of col) if (p === undefined || k.startsWith(p)) out.push([e.key, e.value as T]);
    return out;
  }

  put<T>(collection: string, key: string, value: T): void {
    let col = this.data.get(collection);
    if (!col) this.data.set(collection, (col = new Map<string, Entry>()));
    const existing = col.get(norm(key));
    // Keep the first spelling of the key (ARM echoes the casing the resource was created with).
    col.set(norm(key), { key: existing?.key ?? key, value: structuredClone(value) });
    this.changed();
  }

  delete(collection: string, key: string): boolean {
    const removed = this.data.get(collection)?.delete(norm(key)) ?? false;
    if (removed) this.changed();
    return removed;
  }

  deletePrefix(collection: string, prefix: string): number {
    const col = this.data.get(collection);
    if (!col) return 0;
    const p = norm(prefix);
    let n = 0;
    for (const k of [...col.keys()]) if (k.startsWith(p) && col.delete(k)) n++;
    if (n) this.changed();
    return n;
  }

  clear(): void {
    this.data.clear();
    this.changed();
  }

  flush(): void {}

  protected changed(): void {}
}

/**
 * The in-memory store plus a JSON snapshot file, so `npm start` keeps its estate across restarts.
 * Writes are coalesced (one write per tick of changes) and atomic (temp file + rename).
 */
export class SnapshotStore extends MemoryStore {
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly file: string) {
    super();
    if (existsSync(file)) {
      const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, Entry[]>;
      for (const [collection, entries] of Object.entries(raw)) {
        this.data.set(collection, new Map(entries.map((e) => [norm(e.key), e])));
      }
    }
  }

  override flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.dirty) return;
    this.dirty = false;
    const out: Record<string, Entry[]> = {};
    for (const [collection, col] of this.data) out[collection] = [...col.values()];
    mkdirSync(dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(out));
    renameSync(tmp, this.file);
  }

  protected override changed(): void {
    this.dirty = true;
    if (this.timer) return;
    this.timer = setTimeout(() => this.flush(), 50);
    this.timer.unref();
  }
}
