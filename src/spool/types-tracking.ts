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

/** What tracking statistics group by: the day of receipt, the sending domain, the sender, the tag or the batch task. */
export type TrackingGroup = 'day' | 'domain' | 'sender' | 'tag' | 'task';

/** One day of receipt, as the caller's calendar bounds it: messages received in [from, to) (ms). */
export interface DayBounds { day: string; from: number; to: number }

export interface TrackingStatsQuery {
  days: readonly DayBounds[];
  by: TrackingGroup;
  /** sending domain, sender (both compared in lower case), tag ('' = none), task id */
  domain?: string | undefined;
  sender?: string | undefined;
  tag?: string | undefined;
  task?: string | undefined;
}

/**
 * The hits on the mail of one day of receipt and group key (the day itself, the sending
 * domain, the lower-case sender, the tag or the task id; '' for none) of one kind: raw
 * (`hits`) and distinct recipients, of people (`human`: class human) or not (every other
 * class). A recipient belongs to one message, so distinct counts of different days or keys
 * add up.
 */
export interface TrackingStatsRow { day: string; key: string; kind: TrackingKind; human: boolean; hits: number; recipients: number }
/** Delivered recipients of the mail of one day of receipt and group key (the rates' base). */
export interface DeliveredRow { day: string; key: string; delivered: number }
/** Clicks on one URL by the mail of one day of receipt (the honeypot left out). */
export interface UrlClicksRow { day: string; url: string; human: boolean; clicks: number; recipients: number }

export interface TrackingStatsRows { hits: TrackingStatsRow[]; delivered: DeliveredRow[]; urls: UrlClicksRow[] }

export interface TrackingStore {
  /** Grouped counts for tracking statistics over the given days (src/stats/tracking-stats.ts does the sums and rates). */
  trackingStats(q: TrackingStatsQuery): Promise<TrackingStatsRows>;
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
