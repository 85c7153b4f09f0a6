-- A break-glass access whose after-the-fact review is overdue is flagged in
-- the audit trail once: this records when that happened.
ALTER TABLE playback_requests ADD COLUMN review_overdue_at timestamptz;
