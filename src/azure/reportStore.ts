/**
 * The compliance reports in the app's storage account (docs/ARCHITECTURE.md "Compliance report"),
 * container REPORTS_CONTAINER:
 *
 * - `history/<generatedAt ISO>.json` — one copy per sweep, never rewritten (the `?at=` reads);
 * - `latest.json` — the newest report (what `GET /api/compliance/report` reads in one call);
 * - `trend.json` — the summary counts of every stored report, so the page's trend costs one read
 *   however large and many the reports are.
 *
 * Written through the one blob module (./blobStore) with ETag conditions: a replayed save rewrites
 * the same history blob, and `latest.json` never moves back to an older sweep.
 */
import type { ComplianceReport, TrendPoint } from '../domain/complianceReport';
import { complianceTrend } from '../domain/complianceReport';
import { BlobConflictError, blobContainer, type BlobContainer } from './blobStore';
import type { AzureClients } from './clients';

export const LATEST_BLOB = 'latest.json';
export const TREND_BLOB = 'trend.json';
export const HISTORY_PREFIX = 'history/';
/** Trend points kept in trend.json (the history blobs themselves are all kept). */
export const TREND_LIMIT = 1000;

export type ReportBlobs = Pick<
  BlobContainer,
  'readJson' | 'writeJson' | 'writeText' | 'properties' | 'listBlobs'
>;

/**
 * Blob metadata of the report blobs: the report's generatedAt, so "is latest.json newer than this
 * report?" costs one HEAD — never a download of the previous report (as large as the estate).
 */
export const GENERATED_AT_METADATA = 'generatedat';

interface TrendDocument {
  version: 1;
  points: TrendPoint[];
}

/** `history/2026-06-01T00:00:42.000Z.json` — ISO instants sort as text, so listing order = time order. */
export function historyBlobName(generatedAt: string): string {
  return `${HISTORY_PREFIX}${new Date(generatedAt).toISOString()}.json`;
}

function instantOfBlob(name: string): number | undefined {
  if (!name.startsWith(HISTORY_PREFIX) || !name.endsWith('.json')) return undefined;
  const ms = Date.parse(name.slice(HISTORY_PREFIX.length, -'.json'.length));
  return Number.isNaN(ms) ? undefined : ms;
}

export class ReportStore {
  constructor(private readonly blobs: ReportBlobs) {}

  /** Stores the report: its history copy, the trend point, then latest.json (unless a newer one is there). */
  async save(report: ComplianceReport): Promise<{ historyBlob: string; latest: boolean }> {
    const historyBlob = historyBlobName(report.generatedAt);
    // Serialised once for both copies (a report holds every namespace of the estate).
    const body = JSON.stringify(report);
    const metadata = { [GENERATED_AT_METADATA]: report.generatedAt };
    await this.blobs.writeText(historyBlob, body, undefined, metadata);
    await this.update<TrendDocument>(TREND_BLOB, (current) => {
      const points = (current?.points ?? []).filter((p) => p.generatedAt !== report.generatedAt);
      points.push(...complianceTrend([report]));
      return { version: 1, points: complianceTrend(points.map(fromPoint)).slice(-TREND_LIMIT) };
    });
    const latest = await this.replaceLatest(body, report.generatedAt, metadata);
    return { historyBlob, latest };
  }

  /**
   * latest.json := body unless the stored one is newer; judged by its metadata (one HEAD), under
   * its ETag. A latest.json written before the metadata existed is read once for its generatedAt.
   */
  private async replaceLatest(
    body: string,
    generatedAt: string,
    metadata: Record<string, string>,
  ): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const props = await this.blobs.properties(LATEST_BLOB);
      let etag = props?.etag;
      let current = props?.metadata[GENERATED_AT_METADATA];
      if (props && current === undefined) {
        const read = await this.blobs.readJson<Pick<ComplianceReport, 'generatedAt'>>(LATEST_BLOB);
        current = read?.value.generatedAt;
        etag = read?.etag;
      }
      if (current !== undefined && Date.parse(current) > Date.parse(generatedAt)) return false;
      try {
        await this.blobs.writeText(
          LATEST_BLOB,
          body,
          etag !== undefined ? { ifMatch: etag } : { ifNoneMatch: '*' },
          metadata,
        );
        return true;
      } catch (error) {
        // Another writer got there first: look again (bounded; a bug would loop).
        if (!(error instanceof BlobConflictError) || attempt >= 4) throw error;
      }
    }
  }

  async latest(): Promise<ComplianceReport | undefined> {
    return (await this.blobs.readJson<ComplianceReport>(LATEST_BLOB))?.value;
  }

  /** The newest report generated at or before `at` (as of that instant); undefined when none is. */
  async at(at: Date): Promise<ComplianceReport | undefined> {
    let best: { name: string; ms: number } | undefined;
    for (const name of await this.blobs.listBlobs(HISTORY_PREFIX)) {
      const ms = instantOfBlob(name);
      if (ms !== undefined && ms <= at.getTime() && (!best || ms > best.ms)) best = { name, ms };
    }
    return best ? (await this.blobs.readJson<ComplianceReport>(best.name))?.value : undefined;
  }

  /** Instants of the stored reports, oldest first. */
  async history(): Promise<string[]> {
    return (await this.blobs.listBlobs(HISTORY_PREFIX))
      .flatMap((n) => {
        const ms = instantOfBlob(n);
        return ms === undefined ? [] : [ms];
      })
      .sort((a, b) => a - b)
      .map((ms) => new Date(ms).toISOString());
  }

  /** The compliance trend over the stored reports, oldest first (one read). */
  async trend(): Promise<TrendPoint[]> {
    return (await this.blobs.readJson<TrendDocument>(TREND_BLOB))?.value.points ?? [];
  }

  /** Read-modify-write under the blob's ETag; `change` returning undefined leaves it as it is. */
  private async update<T>(blob: string, change: (current: T | undefined) => T | undefined): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const current = await this.blobs.readJson<T>(blob);
      const next = change(current?.value);
      if (next === undefined) return;
      try {
        await this.blobs.writeJson(blob, next, current ? { ifMatch: current.etag } : { ifNoneMatch: '*' });
        return;
      } catch (error) {
        // Another writer got there first: re-read and decide again (bounded; a bug would loop).
        if (!(error instanceof BlobConflictError) || attempt >= 4) throw error;
      }
    }
  }
}

function fromPoint(p: TrendPoint): Parameters<typeof complianceTrend>[0][number] {
  return {
    generatedAt: p.generatedAt,
    summary: { namespaces: p.namespaces, compliant: p.compliant, couldNotAssess: p.couldNotAssess },
  };
}

/** The app's report store (container REPORTS_CONTAINER of AzureWebJobsStorage). */
export function reportStore(clients: AzureClients): ReportStore {
  return new ReportStore(blobContainer(clients, clients.config.reportsContainer));
}
