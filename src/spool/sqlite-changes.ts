/**
 * spool/sqlite-changes — what PostgreSQL's `mta_change` notifications are (spool/pg-wakeups.ts)
 * for stores on one SQLite file: a queue operation one store applied is heard, after its
 * commit, by the other stores of this process on the same file, never by its own. A SQLite
 * spool has one daemon (the data dir's lock), so in production nobody listens; the stores
 * that share a file in one process are the tests' nodes, and they behave as PostgreSQL's
 * do, so one conformance scenario holds both to it. Another process on the file hears
 * nothing: the file has no channel to carry it.
 */
import type { RemoteQueueChange } from './types-queue.js';

type Observer = (c: RemoteQueueChange) => void;

/** Every open store's observers, by the file its connection is on. */
const byFile = new Map<string, Set<SqliteChanges>>();

export class SqliteChanges {
  private readonly observers = new Set<Observer>();

  constructor(private readonly file: string) {
    // An in-memory database is nobody else's.
    if (file === '' || file === ':memory:') return;
    let peers = byFile.get(file);
    if (!peers) { peers = new Set(); byFile.set(file, peers); }
    peers.add(this);
  }

  on(observer: Observer): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** After the commit: the other stores on the file hear `c`, on a later turn of the event loop as a notification would come. */
  announce(c: RemoteQueueChange): void {
    for (const peer of byFile.get(this.file) ?? []) {
      if (peer === this) continue;
      setImmediate(() => { for (const o of peer.observers) { try { o(c); } catch { /* an observer must not stop the others */ } } });
    }
  }

  close(): void {
    const peers = byFile.get(this.file);
    peers?.delete(this);
    if (peers?.size === 0) byFile.delete(this.file);
    this.observers.clear();
  }
}
