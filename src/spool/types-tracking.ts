/**
 * spool/types-tracking — what open and click tracking (src/tracking) needs from the spool:
 * each hit on a tracking link stored with who asked and how it was classified, a
 * recipient's hits (the timeline), and the raw and unique counts. Must never: classify a
 * hit or decide what counts as unique beyond "one recipient" (src/tracking does).
 */
import type { QueueId, RecipientId } from '../util/ids.js';

export type TrackingKind = 'open' | 'click';
/** human: a person; machine: a proxy or prefetcher fetched the pixel; scanner: a security gateway followed the link */
export type HitClass = 'human' | 'machine' | 'scanner';

export interface TrackingHit {
  at: number;
  kind: TrackingKind;
  queueId: QueueId;
  recipientId: RecipientId;
  /** the link's index in the message and its target (clicks) */
  link?: number | undefined;
  url?: string | undefined;
  ip: string | null;
  userAgent: string | null;
  method: string;
  class: HitClass;
  reason: string | null;
  /** which hits emit an `open`/`click` webhook: the recipient's first of the kind, or every one */
  notify?: 'first' | 'every' | undefined;
}

export interface TrackingHitRecord extends TrackingHit {
  id: number;
  /** the recipient's first hit of this kind */
  first: boolean;
}

/** Raw hits and distinct recipients, per kind and class. */
export interface TrackingCounts {
  opens: number; uniqueOpens: number; clicks: number; uniqueClicks: number;
}

/** Clicks on one link of a task's mail (per class). */
export interface LinkClicks { link: number; url: string; class: HitClass; clicks: number; uniqueClicks: number }

export interface TrackingStore {
  /** Counts over the hits of a batch task's mail, per class, and its clicks per link. */
  trackingCountsOfTask(taskId: string): Promise<{ counts: Record<HitClass, TrackingCounts>; links: LinkClicks[] }>;
  /** Stores a hit; `first` says whether the recipient had no hit of this kind before. */
  recordTrackingHit(hit: TrackingHit): Promise<TrackingHitRecord>;
  /** Marks stored hits with another class (a honeypot click shows earlier clicks were a scanner's). */
  reclassifyTrackingHits(ids: readonly number[], cls: HitClass, reason: string): Promise<void>;
  /** A recipient's hits, oldest first. */
  trackingHitsOf(recipientId: RecipientId): Promise<TrackingHitRecord[]>;
  /** The hits of these recipients (a page of send details), oldest first. */
  trackingHitsOfRecipients(ids: readonly RecipientId[]): Promise<TrackingHitRecord[]>;
  /** Counts over the hits of one message (every recipient), per class. */
  trackingCountsOf(queueId: QueueId): Promise<Record<HitClass, TrackingCounts>>;
  /** Counts over the hits made in [from, to) (ms), whatever mail they came from, per class. */
  trackingCountsBetween(from: number, to: number): Promise<Record<HitClass, TrackingCounts>>;
}
