/**
 * Persistent snapshot metadata: one small JSON file per snapshot under `<root>/metadata`,
 * written atomically (temp file, fsync, rename), loaded whole at open. The event log mirrors
 * these records later; the files stay the snapshotter's own source of truth for its directories.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidSnapshotKeyError } from './errors.js';
import type { SnapshotInfo, SnapshotKind } from './snapshotter.js';

/** The stored form of a snapshot: its info plus the id naming its directory. */
export interface SnapshotRecord extends SnapshotInfo {
  /** Short numeric id: the data lives in `<root>/snapshots/<id>` (short, so overlay option strings stay short). */
  readonly id: string;
}

const RECORD_VERSION = 1;

export function validateKey(key: string): void {
  if (key.length === 0) throw new InvalidSnapshotKeyError(key, 'it is empty');
  if (Buffer.byteLength(key) > 1024)
    throw new InvalidSnapshotKeyError(key.slice(0, 64) + '…', 'it is longer than 1024 bytes');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(key)) throw new InvalidSnapshotKeyError(key, 'it contains control characters');
}

export class MetaStore {
  private readonly records = new Map<string, SnapshotRecord>();
  private nextId = 1;

  private constructor(private readonly dir: string) {}

  /** Loads every record under `dir`. A crash mid-commit can leave the active and committed record of one id: the committed one wins. */
  static async open(dir: string): Promise<MetaStore> {
    await mkdir(dir, { recursive: true });
    const store = new MetaStore(dir);
    const byId = new Map<string, SnapshotRecord>();
    for (const file of await readdir(dir)) {
      if (file.endsWith('.tmp')) {
        await rm(join(dir, file), { force: true });
        continue;
      }
      if (!file.endsWith('.json')) continue;
      const rec = parseRecord(await readFile(join(dir, file), 'utf8'), file);
      const other = byId.get(rec.id);
      if (other) {
        const [keep, drop] = other.kind === 'committed' ? [other, rec] : [rec, other];
        await rm(join(dir, recordFile(drop.name)), { force: true });
        byId.set(rec.id, keep);
      } else {
        byId.set(rec.id, rec);
      }
    }
    for (const rec of byId.values()) {
      store.records.set(rec.name, rec);
      store.nextId = Math.max(store.nextId, Number(rec.id) + 1);
    }
    return store;
  }

  get(name: string): SnapshotRecord | undefined {
    return this.records.get(name);
  }

  all(): SnapshotRecord[] {
    return [...this.records.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  children(name: string): string[] {
    return this.all()
      .filter((r) => r.parent === name)
      .map((r) => r.name);
  }

  /** Ids of every record: directories under snapshots/ with no record are leftovers of a crash. */
  ids(): Set<string> {
    return new Set([...this.records.values()].map((r) => r.id));
  }

  /** Reserves a fresh id; ids also above any directory that already exists (see `bumpPast`). */
  allocateId(): string {
    return String(this.nextId++);
  }

  bumpPast(id: number): void {
    if (Number.isSafeInteger(id)) this.nextId = Math.max(this.nextId, id + 1);
  }

  async put(rec: SnapshotRecord): Promise<void> {
    const path = join(this.dir, recordFile(rec.name));
    const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify({ version: RECORD_VERSION, ...rec }) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
    this.records.set(rec.name, rec);
  }

  async delete(name: string): Promise<void> {
    await rm(join(this.dir, recordFile(name)), { force: true });
    this.records.delete(name);
  }
}

/** File names are hashes of the key: keys may hold any character, including '/'. */
function recordFile(name: string): string {
  return createHash('sha256').update(name).digest('hex') + '.json';
}

function parseRecord(text: string, file: string): SnapshotRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const kinds: SnapshotKind[] = ['active', 'view', 'committed'];
  if (
    raw.version !== RECORD_VERSION ||
    typeof raw.name !== 'string' ||
    typeof raw.id !== 'string' ||
    !kinds.includes(raw.kind as SnapshotKind) ||
    (raw.parent !== undefined && typeof raw.parent !== 'string')
  ) {
    throw new Error(`snapshot metadata file ${file} is not a version ${RECORD_VERSION} record`);
  }
  return {
    name: raw.name,
    id: raw.id,
    kind: raw.kind as SnapshotKind,
    ...(typeof raw.parent === 'string' ? { parent: raw.parent } : {}),
    labels: (raw.labels ?? {}) as Record<string, string>,
    created: String(raw.created),
    updated: String(raw.updated),
  };
}
