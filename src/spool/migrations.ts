/**
 * spool/migrations — the database schema, one numbered step at a time. A step is never
 * edited once released; changes are new steps. `PRAGMA user_version` records the step
 * reached, so an older program refuses a newer database instead of corrupting it.
 *
 * Long on purpose (over the ~400 lines the house allows): it is the schema's history, SQL
 * text in order, and released steps are never edited or moved.
 */

export const MIGRATIONS: readonly string[] = [
  // 1: messages, recipients, events, managed data
  `
  CREATE TABLE messages (
    id           TEXT PRIMARY KEY,         -- QueueId, time-sortable
    received_at  INTEGER NOT NULL,         -- ms since epoch
    sender       TEXT NOT NULL,            -- envelope MAIL FROM ('' for DSNs we generate)
    auth_user    TEXT,
    client_ip    TEXT,
    helo         TEXT,
    message_id   TEXT NOT NULL,            -- the Message-ID header value
    size         INTEGER NOT NULL,
    lane         TEXT NOT NULL CHECK (lane IN ('trigger','batch')),
    tag          TEXT,
    subject      TEXT
  ) WITHOUT ROWID;

  -- Bodies are written once, in chunks, and never rewritten on retries.
  CREATE TABLE message_chunks (
    message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    data       BLOB NOT NULL,
    PRIMARY KEY (message_id, seq)
  ) WITHOUT ROWID;

  CREATE TABLE recipients (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    rcpt            TEXT NOT NULL,
    domain          TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued','sending','deferred','held','delivered','failed','suppressed','expired')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_reply      TEXT,
    updated_at      INTEGER NOT NULL
  );
  CREATE INDEX recipients_due ON recipients(state, next_attempt_at);
  CREATE INDEX recipients_message ON recipients(message_id);
  CREATE INDEX recipients_domain ON recipients(domain, state);

  -- Append-only history of each recipient (and of the message as a whole).
  CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    message_id   TEXT,
    recipient_id INTEGER,
    type         TEXT NOT NULL,
    detail       TEXT NOT NULL DEFAULT '{}'
  );
  CREATE INDEX events_message ON events(message_id, id);
  CREATE INDEX events_recipient ON events(recipient_id, id);

  CREATE TABLE domains (
    name             TEXT PRIMARY KEY,
    dkim_selector    TEXT NOT NULL,
    dkim_algorithm   TEXT NOT NULL CHECK (dkim_algorithm IN ('rsa','ed25519')),
    dkim_private_key TEXT NOT NULL,
    dkim_public_key  TEXT NOT NULL,        -- base64 of the DER SubjectPublicKeyInfo / raw key, as published
    ownership_token  TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'unverified',
    created_at       INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE senders (
    address       TEXT PRIMARY KEY,
    domain        TEXT NOT NULL REFERENCES domains(name),
    type          TEXT NOT NULL CHECK (type IN ('trigger','batch')),
    reply_to      TEXT,
    password_hash TEXT,
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX senders_domain ON senders(domain);

  -- scope '' = every sender; otherwise a sender domain (unsubscribe is per domain).
  CREATE TABLE suppressions (
    address    TEXT NOT NULL,
    scope      TEXT NOT NULL DEFAULT '',
    reason     TEXT NOT NULL,
    source     TEXT NOT NULL CHECK (source IN ('bounce','complaint','unsubscribe','manual')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (address, scope)
  ) WITHOUT ROWID;
  `,
  // 2: delivery — each recipient carries its lane so the scheduler reads due work from one
  // partial index (trigger first, then batch, oldest due first) without touching messages.
  `
  ALTER TABLE recipients ADD COLUMN lane TEXT NOT NULL DEFAULT 'batch' CHECK (lane IN ('trigger','batch'));
  ALTER TABLE recipients ADD COLUMN last_attempt_at INTEGER;
  UPDATE recipients SET lane = (SELECT m.lane FROM messages m WHERE m.id = recipients.message_id);
  CREATE INDEX recipients_ready ON recipients(lane, next_attempt_at) WHERE state IN ('queued','deferred');
  `,
  // 3: the DNS self-checker — the last result of each check per domain, when the domain
  // was last checked, and a DKIM key waiting to replace the current one (rotation).
  `
  CREATE TABLE domain_checks (
    domain     TEXT NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
    name       TEXT NOT NULL,              -- ownership, spf, dkim, dmarc, mx, tracking, ptr, hostname
    status     TEXT NOT NULL CHECK (status IN ('ok','missing','mismatch','error','skipped')),
    expected   TEXT,
    found      TEXT,
    detail     TEXT,
    checked_at INTEGER NOT NULL,
    PRIMARY KEY (domain, name)
  ) WITHOUT ROWID;
  ALTER TABLE domains ADD COLUMN checked_at INTEGER;
  ALTER TABLE domains ADD COLUMN next_dkim_selector TEXT;
  ALTER TABLE domains ADD COLUMN next_dkim_private_key TEXT;
  ALTER TABLE domains ADD COLUMN next_dkim_public_key TEXT;
  CREATE INDEX events_type ON events(type, at);
  `,
  // 4: async notifications and statistics. Webhooks (account level when sender is NULL),
  // their durable outbox (one row per event per target webhook, written in the transaction
  // that records the outcome), the log of every POST, daily counters kept by UPSERT in
  // the same transactions, and per-recipient memory of the last `deferred` notification.
  `
  CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    url        TEXT NOT NULL,
    sender     TEXT,                       -- NULL: account level; else a sender address (lower case)
    events     TEXT NOT NULL DEFAULT '*',  -- '*' or a JSON array of event names
    format     TEXT NOT NULL DEFAULT 'json' CHECK (format IN ('json','form')),
    secret     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled   INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX webhooks_sender ON webhooks(sender);

  CREATE TABLE webhook_outbox (
    id              INTEGER PRIMARY KEY,
    webhook_id      INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,         -- JSON object, encoded per the webhook's format when sent
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER,               -- a dispatcher is sending it (lease; cleared at start-up)
    attempts        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed','dead')),
    last_status     TEXT,                  -- "HTTP 503" or the network error
    updated_at      INTEGER NOT NULL
  );
  CREATE INDEX webhook_outbox_due ON webhook_outbox(next_attempt_at) WHERE state IN ('pending','failed');
  CREATE INDEX webhook_outbox_hook ON webhook_outbox(webhook_id, state);
  CREATE INDEX webhook_outbox_done ON webhook_outbox(updated_at) WHERE state IN ('delivered','dead');

  CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    outbox_id   INTEGER,                   -- NULL for \`mta webhook test\`
    event       TEXT NOT NULL,
    at          INTEGER NOT NULL,
    status      INTEGER,                   -- HTTP status; NULL when no answer came
    error       TEXT,
    duration_ms INTEGER NOT NULL
  );
  CREATE INDEX webhook_attempts_hook ON webhook_attempts(webhook_id, id);
  CREATE INDEX webhook_attempts_at ON webhook_attempts(at);

  -- Counters per UTC day of the request (received_at), sender domain, sender and tag ('' = none).
  CREATE TABLE stats_daily (
    day       TEXT NOT NULL,               -- 'YYYY-MM-DD'
    domain    TEXT NOT NULL,
    sender    TEXT NOT NULL,
    tag       TEXT NOT NULL DEFAULT '',
    requests  INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    invalid   INTEGER NOT NULL DEFAULT 0,
    deferred  INTEGER NOT NULL DEFAULT 0,
    expired   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, domain, sender, tag)
  ) WITHOUT ROWID;

  ALTER TABLE recipients ADD COLUMN deferred_event_at INTEGER;  -- last \`deferred\` notification
  CREATE INDEX messages_received ON messages(received_at);
  CREATE INDEX recipients_rcpt ON recipients(rcpt COLLATE NOCASE);
  `,
  // 5: the send API — the first response to each Idempotency-Key (per account), kept 24 hours.
  `
  CREATE TABLE api_idempotency (
    account     TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,             -- sha256 of the request: the same key for another request is refused
    status      INTEGER NOT NULL,          -- HTTP status of the first response
    response    TEXT NOT NULL,             -- its JSON body
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account, key)
  ) WITHOUT ROWID;
  CREATE INDEX api_idempotency_age ON api_idempotency(created_at);
  `,
  // 6: tags (labels for mail, statistics filter) and templates (draft → approved | rejected).
  `
  CREATE TABLE tags (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created_at  INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE templates (
    name          TEXT PRIMARY KEY,
    subject       TEXT NOT NULL,
    from_name     TEXT,
    html          TEXT NOT NULL,
    text          TEXT,                    -- NULL: generated from the HTML when rendered
    state         TEXT NOT NULL CHECK (state IN ('draft','approved','rejected')),
    reject_reason TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 7: recipient lists (name and alias address unique) and their members, keyed by the
  // normalised address; \`columns\` is the union of variable names imported, for export.
  // \`import_id\` marks the import that last wrote a member (duplicates within one file).
  `
  CREATE TABLE lists (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    alias       TEXT NOT NULL UNIQUE,      -- canonical (lower-case) address
    description TEXT,
    columns     TEXT NOT NULL DEFAULT '[]',-- JSON array of variable names, in first-seen order
    created_at  INTEGER NOT NULL
  );

  CREATE TABLE list_members (
    list_id    INTEGER NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
    address    TEXT NOT NULL,              -- canonical (lower-case) address
    variables  TEXT NOT NULL DEFAULT '{}', -- JSON object: UserName, NickName, ... (not EAddr)
    updated_at INTEGER NOT NULL,
    import_id  TEXT,
    PRIMARY KEY (list_id, address)
  ) WITHOUT ROWID;
  `,
  // 8: batch tasks (src/tasks). A task expands its list lazily: \`cursor\` is the last
  // member address expanded, moved in the transaction that stores that chunk's messages.
  // Outcome counters are kept by the transactions that record outcomes (sqlite-notify.ts).
  // Messages remember their task and, when it differs from the sender, the envelope
  // MAIL FROM (\`return_path\`: a VERP address); \`sender\` stays the sender address so
  // statistics and webhooks stay keyed by it.
  `
  CREATE TABLE tasks (
    id               TEXT PRIMARY KEY,     -- TaskId
    kind             TEXT NOT NULL CHECK (kind IN ('template','alias')),
    list             TEXT NOT NULL,
    template         TEXT,                 -- kind 'template': the template's name
    content          TEXT,                 -- kind 'template': JSON snapshot (subject, from_name, html, text) approved at creation
    source_id        TEXT,                 -- kind 'alias': the queue id of the message sent to the alias
    sender           TEXT NOT NULL,
    tag              TEXT,
    address_type     TEXT NOT NULL DEFAULT 'sender' CHECK (address_type IN ('sender','random')),
    tracking         INTEGER NOT NULL DEFAULT 0,
    unsubscribe      INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL CHECK (state IN ('queued','sending','paused','paused_quota','done','cancelled')),
    pause_reason     TEXT,
    resume_at        INTEGER,
    cursor           TEXT,                 -- last member address expanded; NULL: none yet
    exhausted        INTEGER NOT NULL DEFAULT 0,
    list_size        INTEGER,              -- members when expansion started
    requested        INTEGER NOT NULL DEFAULT 0,
    suppressed       INTEGER NOT NULL DEFAULT 0,
    invalid          INTEGER NOT NULL DEFAULT 0, -- members with an invalid address (never queued)
    delivered        INTEGER NOT NULL DEFAULT 0,
    failed           INTEGER NOT NULL DEFAULT 0, -- failed, expired or deleted
    bounced_invalid  INTEGER NOT NULL DEFAULT 0, -- failed with DirectMail status 2 (invalid address)
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX tasks_state ON tasks(state);
  CREATE INDEX tasks_source ON tasks(source_id) WHERE source_id IS NOT NULL;
  ALTER TABLE messages ADD COLUMN task_id TEXT;
  ALTER TABLE messages ADD COLUMN return_path TEXT;
  CREATE INDEX messages_task ON messages(task_id) WHERE task_id IS NOT NULL;
  `,
  // 9: quotas and reputation (src/quota)
  `
  -- Usage itself is stats_daily.requests (bumped in the intake commit); these are the rest.
  -- Spam bounces per sending domain and UTC day of receipt (stats_daily counts them as failed).
  CREATE TABLE quota_daily (
    day          TEXT NOT NULL,
    domain       TEXT NOT NULL,
    spam_bounces INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, domain)
  ) WITHOUT ROWID;

  -- One row per domain and period once quota.reached was emitted: the event goes out once.
  CREATE TABLE quota_reached (
    domain TEXT NOT NULL,
    which  TEXT NOT NULL CHECK (which IN ('daily','monthly')),
    period TEXT NOT NULL,                 -- 'YYYY-MM-DD' or 'YYYY-MM'
    at     INTEGER NOT NULL,
    PRIMARY KEY (domain, which, period)
  ) WITHOUT ROWID;

  CREATE TABLE reputation (
    domain       TEXT PRIMARY KEY,
    level        INTEGER NOT NULL,        -- 0: banned until an operator sets a level
    day          TEXT NOT NULL,           -- the UTC day this row is current for; earlier days are evaluated at rollover
    banned_until INTEGER,                 -- ms; a one-day ban ends at the next UTC midnight
    ban_reason   TEXT,
    updated_at   INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE reputation_history (
    id         INTEGER PRIMARY KEY,
    domain     TEXT NOT NULL,
    at         INTEGER NOT NULL,
    from_level INTEGER NOT NULL,
    to_level   INTEGER NOT NULL,
    change     TEXT NOT NULL CHECK (change IN ('up','down','ban','set')),
    reason     TEXT NOT NULL
  );
  CREATE INDEX reputation_history_domain ON reputation_history(domain, id);
  `,
  // 10: webhook ids are never reused: a script, log line or receiver that knew webhook 3 must
  // never meet a later, different webhook 3. The highest id ever given out survives deletes
  // (AUTOINCREMENT's guarantee, without rebuilding a table that two others reference with
  // ON DELETE CASCADE); the insert takes the next one (sqlite-webhooks.ts).
  `
  CREATE TABLE webhook_ids (last INTEGER NOT NULL);
  INSERT INTO webhook_ids (last) SELECT coalesce(max(id), 0) FROM webhooks;
  CREATE TRIGGER webhook_ids_last AFTER INSERT ON webhooks BEGIN
    UPDATE webhook_ids SET last = max(last, NEW.id);
  END;
  `,
  // 11: egress warm-up counters
  `
  -- Egress (delivery/egress.ts): recipients sent per source and destination provider and
  -- UTC day (the warm-up cap counts these), with the deferral (4xx) and block (5xx) replies.
  CREATE TABLE egress_daily (
    day      TEXT NOT NULL,
    source   TEXT NOT NULL,
    provider TEXT NOT NULL,
    sent     INTEGER NOT NULL DEFAULT 0,
    deferred INTEGER NOT NULL DEFAULT 0,
    blocked  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, source, provider)
  ) WITHOUT ROWID;
  `,
  // 12: recipients of a task the operator cancelled: counted apart from failed, so the delivery
  // rate is delivered / (requests - cancelled) and a cancel does not read as failed mail.
  `ALTER TABLE stats_daily ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;`,
  // 13: statistics per recipient domain (spool/sqlite-rcpt-stats.ts): counters per day of
  // receipt, sender domain and recipient domain; final failures per category; and a
  // delivery-latency histogram in fixed buckets (stats/latency.ts), so a median or p95 is
  // read from a few rows instead of scanning events.
  `
  CREATE TABLE stats_rcpt_daily (
    day         TEXT NOT NULL,              -- 'YYYY-MM-DD' of receipt, configured timezone
    domain      TEXT NOT NULL,              -- sender domain
    rcpt_domain TEXT NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    delivered   INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    invalid     INTEGER NOT NULL DEFAULT 0,
    deferred    INTEGER NOT NULL DEFAULT 0,
    expired     INTEGER NOT NULL DEFAULT 0,
    cancelled   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, rcpt_domain, domain)
  ) WITHOUT ROWID;
  CREATE TABLE stats_rcpt_failed (
    day         TEXT NOT NULL,
    domain      TEXT NOT NULL,
    rcpt_domain TEXT NOT NULL,
    category    TEXT NOT NULL,              -- the bounce category; 'expired', 'deleted'
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, rcpt_domain, domain, category)
  ) WITHOUT ROWID;
  CREATE TABLE stats_rcpt_latency (
    day         TEXT NOT NULL,
    domain      TEXT NOT NULL,
    rcpt_domain TEXT NOT NULL,
    bucket      INTEGER NOT NULL,           -- index into LATENCY_BUCKETS_MS
    n           INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, rcpt_domain, domain, bucket)
  ) WITHOUT ROWID;
  `,
  // 14: MTA-STS policies (delivery/mta-sts.ts), kept across restarts: a cached policy holds
  // until its max_age runs out (RFC 8461 §5.1), so a restart must not forget it.
  `
  CREATE TABLE mta_sts_policies (
    domain     TEXT PRIMARY KEY,
    id         TEXT NOT NULL,
    mode       TEXT NOT NULL,
    mx         TEXT NOT NULL,
    max_age    INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 15: leased claims (spool/sqlite-queue.ts, spool/sqlite-webhooks.ts): a claimed recipient or
  // outbox row records the claiming node, a token of the claim and (recipients) when its lease
  // runs out, so start-up recovery takes back only this node's claims and expired ones, and a
  // late outcome of a lost claim is not recorded over the new claimer's. Rows 'sending' from
  // before have no owner: their lease is expired at once (0), so any node may take them back.
  `
  ALTER TABLE recipients ADD COLUMN claimed_by TEXT;
  ALTER TABLE recipients ADD COLUMN claim_token INTEGER;
  ALTER TABLE recipients ADD COLUMN lease_until INTEGER;
  UPDATE recipients SET lease_until = 0 WHERE state = 'sending';
  CREATE INDEX recipients_lease ON recipients(lease_until) WHERE state = 'sending';
  ALTER TABLE webhook_outbox ADD COLUMN claimed_by TEXT;
  ALTER TABLE webhook_outbox ADD COLUMN claim_token INTEGER;
  `,
  // 16 (issue 17, complaints and late bounces): complaints and late bounces per day of receipt in
  // the daily counters (statistics, the reputation's rates), late bounces per task, and an index
  // to find a reported message by its Message-ID.
  `
  ALTER TABLE stats_daily ADD COLUMN complaints INTEGER NOT NULL DEFAULT 0;
  CREATE INDEX messages_message_id ON messages(message_id);
  -- Late bounces (events/effects.ts): asynchronous bounces of delivered mail, counted apart
  -- from the outcomes (late_invalid: those for an invalid address), and per batch task.
  ALTER TABLE stats_daily ADD COLUMN late_bounces INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE stats_daily ADD COLUMN late_invalid INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE tasks ADD COLUMN bounced_after_delivery INTEGER NOT NULL DEFAULT 0;
  `,
  // 17: TLS reporting (RFC 8460, delivery/tls-rpt*.ts): sessions counted per policy domain
  // and UTC day; one report row per domain and day, claimed by the node that sends it.
  `
  CREATE TABLE tls_rpt_counts (
    domain TEXT NOT NULL,
    day    TEXT NOT NULL,
    policy TEXT NOT NULL,
    result TEXT NOT NULL,
    mx     TEXT NOT NULL,
    ip     TEXT NOT NULL,
    count  INTEGER NOT NULL,
    PRIMARY KEY (domain, day, policy, result, mx, ip)
  ) WITHOUT ROWID;
  CREATE INDEX tls_rpt_counts_day ON tls_rpt_counts (day);
  CREATE TABLE tls_rpt_reports (
    domain     TEXT NOT NULL,
    day        TEXT NOT NULL,
    node       TEXT NOT NULL,
    claimed_at INTEGER NOT NULL,
    sent_at    INTEGER,
    error      TEXT,
    PRIMARY KEY (domain, day)
  ) WITHOUT ROWID;
  `,
  // 18: web console users and their sessions (spool/sqlite-users.ts). A session row holds
  // only the SHA-256 of its cookie; it goes with its user.
  `
  CREATE TABLE console_users (
    name                TEXT PRIMARY KEY,
    role                TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    password_hash       TEXT NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE console_sessions (
    id_hash      TEXT PRIMARY KEY,
    user         TEXT NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX console_sessions_user ON console_sessions (user);
  `,
  // 19: open and click hits (spool/sqlite-tracking.ts, src/tracking): one row per request
  // to a tracking link, with who asked (IP, user agent) and whether it was a person or a
  // machine; `first` marks a recipient's first hit of a kind (the unique counts).
  `
  CREATE TABLE tracking_hits (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,             -- open, click
    queue_id     TEXT NOT NULL,
    recipient_id INTEGER NOT NULL,
    link         INTEGER,                   -- the link's index in the message (clicks)
    url          TEXT,                      -- where the click went
    ip           TEXT,
    user_agent   TEXT,
    method       TEXT NOT NULL,
    class        TEXT NOT NULL,             -- human, machine, scanner
    reason       TEXT,
    first        INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX tracking_hits_rcpt ON tracking_hits (recipient_id, kind, at);
  CREATE INDEX tracking_hits_queue ON tracking_hits (queue_id);
  CREATE INDEX tracking_hits_at ON tracking_hits (at);
  `,
  // 20: reply-to verification (accounts/reply-to.ts, spool/sqlite-senders.ts): a sender's
  // reply-to is pending (a link is out: its nonce, when sent, until when) or verified; one
  // row per verification mail sent, for the rate limits and the "already used" page.
  // Reply-to addresses set before this step were set by the operator and have been in use:
  // they count as verified (verified_at unknown) rather than vanishing from mail at upgrade.
  `
  ALTER TABLE senders ADD COLUMN reply_to_state TEXT CHECK (reply_to_state IN ('pending', 'verified'));
  ALTER TABLE senders ADD COLUMN reply_to_nonce TEXT;
  ALTER TABLE senders ADD COLUMN reply_to_sent_at INTEGER;
  ALTER TABLE senders ADD COLUMN reply_to_expires_at INTEGER;
  ALTER TABLE senders ADD COLUMN reply_to_verified_at INTEGER;
  UPDATE senders SET reply_to_state = 'verified' WHERE reply_to IS NOT NULL;
  CREATE TABLE reply_to_sends (
    nonce      TEXT PRIMARY KEY,
    sender     TEXT NOT NULL,
    address    TEXT NOT NULL,
    sent_at    INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
  ) WITHOUT ROWID;
  CREATE INDEX reply_to_sends_sender ON reply_to_sends (sender, sent_at);
  CREATE INDEX reply_to_sends_address ON reply_to_sends (address COLLATE NOCASE, sent_at);
  `,
  // 21 (issue 19, clusters): the nodes sharing the
  // store, each with its last heartbeat (spool/sqlite-cluster.ts), and the leases of the
  // one-at-a-time jobs (util/cluster-jobs.ts): one row per job, held by one node until lease_until.
  `
  CREATE TABLE nodes (
    node_id      TEXT PRIMARY KEY,
    version      TEXT NOT NULL,
    hostname     TEXT NOT NULL,
    listeners    TEXT NOT NULL,             -- JSON array of strings
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE job_leases (
    job         TEXT PRIMARY KEY,
    node_id     TEXT NOT NULL,
    since       INTEGER NOT NULL,           -- when node_id took the job; renewals keep it
    lease_until INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 22 (issue 19, cluster-wide limits): connection slots, one leased row per (key, slot)
  // held by one connection of one node (spool/sqlite-throttles.ts), and pace rows, one per
  // paced key, holding when its next message may start (moved by compare-and-set).
  `
  CREATE TABLE throttle_slots (
    key         TEXT NOT NULL,
    slot        INTEGER NOT NULL,
    holder      TEXT NOT NULL,
    node_id     TEXT NOT NULL,
    lease_until INTEGER NOT NULL,
    PRIMARY KEY (key, slot)
  ) WITHOUT ROWID;
  CREATE INDEX throttle_slots_node ON throttle_slots (node_id);
  CREATE TABLE throttle_pace (
    key     TEXT PRIMARY KEY,
    next_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];
