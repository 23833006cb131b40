/**
 * spool/types — the storage interface every other module uses. It is asynchronous on
 * purpose: the SQLite backend answers at once, a PostgreSQL backend will not, and
 * callers must not be able to tell. Nothing outside src/spool/ touches tables.
 */
import type { QueueId, RecipientId } from '../util/ids.js';
import type { RecipientState } from './states.js';

export type Lane = 'trigger' | 'batch';
export type SenderType = 'trigger' | 'batch';
export type DkimAlgorithm = 'rsa' | 'ed25519';
export type SuppressionSource = 'bounce' | 'complaint' | 'unsubscribe' | 'manual';

/** What the spool knows about a message apart from its body and recipients. */
export interface MessageEnvelope {
  id: QueueId;
  receivedAt: number;
  sender: string;
  authUser: string | null;
  clientIp: string | null;
  helo: string | null;
  messageId: string;
  subject: string | null;
  size: number;
  lane: Lane;
  tag: string | null;
}

export interface IncomingMessage extends MessageEnvelope {
  chunks: Buffer[];
  recipients: string[];
}

export interface QueueEntry {
  recipientId: RecipientId;
  queueId: QueueId;
  sender: string;
  rcpt: string;
  domain: string;
  state: RecipientState;
  attempts: number;
  nextAttemptAt: number;
  lastReply: string | null;
  receivedAt: number;
  size: number;
}

export interface QueueFilter {
  state?: RecipientState | undefined;
  domain?: string | undefined;
  limit?: number | undefined;
  /** cursor: recipient id to start after */
  after?: number | undefined;
}

export interface SpoolEvent {
  id: number;
  at: number;
  recipientId: RecipientId | null;
  type: string;
  detail: Record<string, unknown>;
}

export interface MessageDetail extends MessageEnvelope {
  recipients: QueueEntry[];
  events: SpoolEvent[];
}

export interface DomainRecord {
  name: string;
  dkimSelector: string;
  dkimAlgorithm: DkimAlgorithm;
  dkimPrivateKey: string;
  dkimPublicKey: string;
  ownershipToken: string;
  status: string;
  createdAt: number;
}

export interface SenderRecord {
  address: string;
  domain: string;
  type: SenderType;
  replyTo: string | null;
  passwordHash: string | null;
  disabled: boolean;
  createdAt: number;
}

export interface SuppressionRecord {
  address: string;
  scope: string;
  reason: string;
  source: SuppressionSource;
  createdAt: number;
}

export interface CommitObserver { (ids: readonly QueueId[]): void }

export interface MessageStore {
  /** Durably stores a message and its recipients; resolves only after the fsynced commit. */
  commitIncoming(msg: IncomingMessage): Promise<void>;
  listQueue(filter: QueueFilter): Promise<QueueEntry[]>;
  getMessage(id: QueueId): Promise<MessageDetail | undefined>;
  readBody(id: QueueId): AsyncIterable<Buffer>;
  countByState(): Promise<Record<RecipientState, number>>;
  /** Called after every intake commit with the ids it made durable. */
  onCommit(observer: CommitObserver): () => void;
}

export interface DomainStore {
  addDomain(d: DomainRecord): Promise<void>;
  getDomain(name: string): Promise<DomainRecord | undefined>;
  listDomains(): Promise<DomainRecord[]>;
  removeDomain(name: string): Promise<boolean>;
}

export interface SenderStore {
  addSender(s: SenderRecord): Promise<void>;
  getSender(address: string): Promise<SenderRecord | undefined>;
  listSenders(domain?: string): Promise<SenderRecord[]>;
  setSenderPassword(address: string, hash: string | null): Promise<boolean>;
  removeSender(address: string): Promise<boolean>;
}

export interface SuppressionStore {
  addSuppression(s: SuppressionRecord): Promise<boolean>;
  removeSuppression(address: string, scope?: string): Promise<number>;
  listSuppressions(filter: { search?: string; limit?: number; after?: string }): Promise<SuppressionRecord[]>;
  /** Whether mail from `senderDomain` to `address` is suppressed (global or domain scope). */
  isSuppressed(address: string, senderDomain: string): Promise<SuppressionRecord | undefined>;
}

export interface Store extends MessageStore, DomainStore, SenderStore, SuppressionStore {
  close(): Promise<void>;
}
