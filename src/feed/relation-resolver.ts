// RelationResolver: turns what the commit gate releases (row counts per relation file, the files a commit
// created and dropped) into payloads, in WAL order (contract R3, R4, R20, R28). Pure: it asks for lookups
// and takes their answers; raw-feed.ts runs them on the catalog connection. It never blocks the stream:
// releases wait in a bounded queue while a lookup is out, and the status replies go on regardless.
//
// - Rows: a file the cache knows (read in the current names generation) nudges at once; any other file
//   is looked up first, once the committing transaction is visible to the lookup's snapshot.
// - TRUNCATE, VACUUM FULL, CLUSTER (and REFRESH MATERIALIZED VIEW, a rewriting ALTER TABLE): the commit
//   drops the relation's old file and created its new one. The new file is looked up after the commit,
//   and its table nudges with count 1 when it replaced a file: one the cache knew as the same relation's,
//   or one the cache did not know at all (then it cannot tell, and nudges: coarser, never wrong). A
//   CREATE TABLE drops nothing and a DROP TABLE creates nothing, so neither nudges (contract R3); both in
//   one transaction with a file the cache does not know may. Dropped files are evicted from the cache.
// - A commit that changed names (see NAMES_CHANGED in physical-stream.ts) starts a new generation: every
//   cached entry is read again, by OID, before it nudges again.
// - What cannot be named (a file no relation owns once the commit is visible, a transaction that stays
//   invisible past the retries, a queue past its bound) becomes a Resync: coarser, never wrong.

import type { GateRelease } from '../decode/wal/commit-gate.js';
import { isNamesChanged } from './physical-stream.js';
import {
  type LookupAnswer,
  type LookupItem,
  nameCatalogOf,
  type PartitionReport,
  payloadOf,
  type RelationCache,
  type RelationRow,
  type RelFile,
  snapshotShows,
} from './relation-names.js';
import type { TableFilter } from './tables.js';

/** Where the resolver's results go. */
export interface ResolverOutput {
  change(payload: string, count: number): void;
  resync(why: string): void;
  /**
   * Whether released transactions wait in the queue (behind a lookup, or before start()): true when the
   * first does, false once the queue is empty (emitted, or dropped for a Resync). The feed's batch stays
   * open meanwhile (batch-engine.ts, invariant 3).
   */
  holding?(held: boolean): void;
  /** A lookup found the file of pg_class, pg_namespace or pg_inherits (`catalog`): one a VACUUM FULL made. */
  nameCatalogFound?(catalog: string, kind: 'renames' | 'parents', file: RelFile): void;
}

/** Options for {@link RelationResolver}. */
export interface ResolverOptions {
  readonly filter: TableFilter | null;
  readonly partitions: PartitionReport;
  /** Relations and files held in the queue, across releases, before it is dropped for a Resync. */
  readonly maxHeld?: number;
  /** Lookups of one release that find its transaction not yet visible, before it becomes a Resync. */
  readonly maxAttempts?: number;
}

export const DEFAULT_MAX_HELD = 100_000;
export const DEFAULT_MAX_ATTEMPTS = 30;

/** A lookup the shell should run, and pass back with its answer. */
export interface LookupRequest {
  /** The committing transaction: the answer counts only once its snapshot shows it. */
  readonly xid: number;
  readonly items: readonly LookupItem[];
  /** Which lookup of this release this is (0 first): the shell waits retryDelayMs(attempt) before it. */
  readonly attempt: number;
}

type Queued =
  | { readonly type: 'release'; readonly release: GateRelease }
  | { readonly type: 'resync'; readonly why: string };

/** The lookup the queue's head waits for, and what each item is for. */
interface Waiting {
  readonly request: LookupRequest;
  readonly release: GateRelease;
  /** Per item: the file it resolves (a row's or a created one's), and whether it was created. */
  readonly targets: readonly { readonly file: RelFile; readonly created: boolean }[];
  readonly held: number;
  readonly replaced: Replaced;
}

/** The files a commit dropped, as the cache knew them before the commit: whose they were. */
interface Replaced {
  readonly oids: ReadonlySet<number>;
  /** Whether a dropped file was one the cache did not know. */
  readonly unknown: boolean;
}

/** The delay before lookup attempt `attempt` of one release: none first, then 5, 10, 20 ... up to 200 ms. */
export function retryDelayMs(attempt: number): number {
  return attempt === 0 ? 0 : Math.min(200, 5 * 2 ** (attempt - 1));
}

/**
 * See the file comment. One per session, with a cache of its own: names may change while no stream is
 * watching, and a new session cannot see that in the WAL.
 */
export class RelationResolver {
  readonly #cache: RelationCache;
  readonly #output: ResolverOutput;
  readonly #filter: TableFilter | null;
  readonly #partitions: PartitionReport;
  readonly #maxHeld: number;
  readonly #maxAttempts: number;
  readonly #queue: Queued[] = [];
  #head = 0;
  #held = 0;
  #generation = 0;
  #waiting: Waiting | null = null;
  #paused = true;
  /** What holding() last said, so it is said once per change, not per transaction. */
  #saidHolding = false;

  constructor(cache: RelationCache, options: ResolverOptions, output: ResolverOutput) {
    this.#cache = cache;
    this.#output = output;
    this.#filter = options.filter;
    this.#partitions = options.partitions;
    this.#maxHeld = options.maxHeld ?? DEFAULT_MAX_HELD;
    this.#maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  /** Relations and files held in the queue right now. */
  get held(): number {
    return this.#held;
  }

  /** The names generation: it moves on at every commit that changed names. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Lets results out. Until then releases only queue: a session starts the resolver once its Resync is
   * queued, so that no wakeup lands before the Resync that would swallow it.
   */
  start(): void {
    this.#paused = false;
    this.#drain();
  }

  /** A released transaction, in WAL order. */
  release(release: GateRelease): void {
    this.#enqueue(
      { type: 'release', release },
      1 + release.relations.length + release.createdRelFiles.length,
    );
  }

  /** A Resync, in WAL order with the releases around it. */
  resync(why: string): void {
    this.#enqueue({ type: 'resync', why }, 1);
  }

  /** The lookup to run now, if the head of the queue waits for one and it is not already out. */
  request(): LookupRequest | undefined {
    return this.#paused ? undefined : this.#waiting?.request;
  }

  /**
   * The answer to `request`. Returns the next request of the same release when its transaction was not
   * yet visible (the shell runs it after retryDelayMs(attempt)), else undefined. An answer to a request
   * that is no longer the head's (the queue was dropped meanwhile) is ignored.
   */
  answer(request: LookupRequest, answer: LookupAnswer): LookupRequest | undefined {
    const waiting = this.#waiting;
    if (waiting === null || waiting.request !== request) return undefined;
    if (!snapshotShows(answer.snapshot, request.xid)) {
      if (request.attempt + 1 >= this.#maxAttempts) {
        this.#finishHead(waiting.held);
        this.#output.resync(
          `transaction ${request.xid} committed in the WAL but stayed invisible to ${this.#maxAttempts} catalog lookups`,
        );
        this.#drain();
        return undefined;
      }
      const next: LookupRequest = { ...request, attempt: request.attempt + 1 };
      this.#waiting = { ...waiting, request: next };
      return next;
    }
    const { release, targets, replaced } = waiting;
    let unnamed: RelFile | undefined;
    const truncated = new Set<string>();
    for (const [i, target] of targets.entries()) {
      const row = answer.rows[i] ?? null;
      if (row === null) {
        // A row's file that no relation owns: rewritten or dropped again since. A created one only matters
        // when the commit may have replaced a file: then what was truncated cannot be named.
        if (!target.created || replaced.unknown || replaced.oids.size > 0) unnamed ??= target.file;
        continue;
      }
      const entry = this.#learn(target.file, row);
      if (target.created && entry.payload !== null && (replaced.unknown || replaced.oids.has(row.oid))) {
        truncated.add(entry.payload);
      }
    }
    this.#finishHead(waiting.held);
    if (unnamed !== undefined) {
      this.#evictDropped(release);
      this.#output.resync(
        `no relation owns file ${unnamed.spcOid}/${unnamed.relNumber} once transaction ${release.xid} is visible: it was rewritten or dropped since`,
      );
    } else {
      this.#emit(release, truncated);
    }
    this.#drain();
    return undefined;
  }

  #enqueue(item: Queued, weight: number): void {
    if (this.#held + weight > this.#maxHeld) {
      this.#overflow();
      return;
    }
    this.#held += weight;
    this.#queue.push(item);
    this.#drain();
  }

  /** Drops everything queued (the Resync covers it) and reads every name again afterwards. */
  #overflow(): void {
    this.#queue.length = 0;
    this.#head = 0;
    this.#held = 0;
    this.#waiting = null;
    // A dropped release may have renamed a table: the next use of each entry reads it again.
    this.#generation += 1;
    this.#sayHolding();
    this.#output.resync(
      `more than ${this.#maxHeld} relations waited for catalog lookups (maxHeld); the queue was dropped`,
    );
  }

  #sayHolding(): void {
    const holding = this.#head < this.#queue.length;
    if (holding === this.#saidHolding) return;
    this.#saidHolding = holding;
    this.#output.holding?.(holding);
  }

  /** Processes the queue from its head until a release needs a lookup, or the queue is empty. */
  #drain(): void {
    while (!this.#paused && this.#waiting === null && this.#head < this.#queue.length) {
      const item = this.#queue[this.#head]!;
      if (item.type === 'resync') {
        this.#finishHead(1);
        this.#output.resync(item.why);
        continue;
      }
      this.#plan(item.release);
    }
    this.#sayHolding();
  }

  /** Emits `release` if the cache names every file it needs, or makes the lookup it waits for. */
  #plan(release: GateRelease): void {
    const held = 1 + release.relations.length + release.createdRelFiles.length;
    if (release.relations.some(isNamesChanged)) this.#generation += 1;
    const items: LookupItem[] = [];
    const targets: { file: RelFile; created: boolean }[] = [];
    for (const relation of release.relations) {
      if (isNamesChanged(relation)) continue;
      const entry = this.#cache.get(relation);
      if (entry !== undefined && entry.generation === this.#generation) continue;
      items.push(entry === undefined ? { by: 'file', ...fileOf(relation) } : { by: 'oid', oid: entry.oid });
      targets.push({ file: fileOf(relation), created: false });
    }
    for (const file of release.createdRelFiles) {
      // Created and dropped in one transaction: a file that never outlived it.
      if (release.droppedRelFiles.some((dropped) => sameFile(dropped, file))) continue;
      items.push({ by: 'file', ...fileOf(file) });
      targets.push({ file: fileOf(file), created: true });
    }
    if (items.length === 0) {
      this.#finishHead(held);
      this.#emit(release, new Set());
      return;
    }
    const oids = new Set<number>();
    let unknown = false;
    for (const file of release.droppedRelFiles) {
      const entry = this.#cache.get(file);
      if (entry === undefined) unknown = true;
      else oids.add(entry.oid);
    }
    this.#waiting = {
      request: { xid: release.xid, items, attempt: 0 },
      release,
      targets,
      held,
      replaced: { oids, unknown },
    };
  }

  #learn(file: RelFile, row: RelationRow): { payload: string | null } {
    const nameCatalog = nameCatalogOf(row);
    const entry = {
      oid: row.oid,
      payload: payloadOf(row, this.#filter, this.#partitions),
      generation: this.#generation,
      ...(nameCatalog === undefined ? {} : { nameCatalog }),
    };
    this.#cache.set(file, entry);
    if (nameCatalog !== undefined) this.#output.nameCatalogFound?.(row.name, nameCatalog, file);
    return entry;
  }

  /** The release's nudges: its rows per table, then 1 per table whose file it replaced. */
  #emit(release: GateRelease, truncated: ReadonlySet<string>): void {
    for (const relation of release.relations) {
      if (isNamesChanged(relation)) continue;
      const payload = this.#cache.get(relation)?.payload;
      if (payload != null) this.#output.change(payload, relation.count);
    }
    // After the rows: a transaction may have written to a file it then dropped (INSERT, then TRUNCATE).
    this.#evictDropped(release);
    // TRUNCATE counts 1 per table (contract R4), however many of its partitions' files were replaced.
    for (const payload of truncated) this.#output.change(payload, 1);
  }

  /** Forgets the files the commit dropped: their numbers may one day name another relation's file. */
  #evictDropped(release: GateRelease): void {
    for (const file of release.droppedRelFiles) this.#cache.delete(file);
  }

  #finishHead(held: number): void {
    this.#waiting = null;
    this.#held -= held;
    this.#head += 1;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#head);
      this.#head = 0;
    }
  }
}

function fileOf(file: RelFile): RelFile {
  return { spcOid: file.spcOid, relNumber: file.relNumber };
}

function sameFile(a: RelFile, b: RelFile): boolean {
  return a.spcOid === b.spcOid && a.relNumber === b.relNumber;
}
